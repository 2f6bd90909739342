// A node's identity: its agency id, Ed25519 signing key and X25519 key, and
// the secret key file that holds them.
//
// Key files are written 0600 with O_EXCL (never overwriting) and refused on
// load if group or others can read or write them.
//
// Thread-safety: an Identity is immutable after creation; const methods are
// safe from any thread.
#ifndef TIDINGS_CRYPTO_IDENTITY_H_
#define TIDINGS_CRYPTO_IDENTITY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "crypto/types.h"

namespace tidings::crypto {

class Identity {
 public:
  // A fresh identity for `agency`.
  static Identity Generate(absl::string_view agency);

  // Loads a key file. kPermissionDenied if the file is readable or writable
  // by group or others ("key file <path> is accessible by group or others
  // (mode 0644); run: chmod 600 <path>"); kNotFound if missing;
  // kInvalidArgument ("key file <path> is malformed: ...") if malformed.
  static absl::StatusOr<Identity> LoadFile(const std::string& path);

  // Writes the key file with mode 0600. kAlreadyExists if `path` exists.
  absl::Status SaveFile(const std::string& path) const;

  Identity(Identity&&) = default;
  Identity& operator=(Identity&&) = default;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  const std::string& agency() const { return agency_; }
  const SigningKey& signing_key() const { return signing_key_; }
  const VerifyKey& verify_key() const { return verify_key_; }
  const BoxSecretKey& box_secret() const { return box_secret_; }
  const BoxPublicKey& box_public() const { return box_public_; }

 private:
  Identity() = default;

  std::string agency_;
  SigningKey signing_key_;
  VerifyKey verify_key_;
  BoxSecretKey box_secret_;
  BoxPublicKey box_public_;
};

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_IDENTITY_H_

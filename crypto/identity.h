// A node's identity: its principal id (an agency, or a field node of one),
// its Ed25519 signing key and X25519 key, and the secret key file that holds
// them. (The key file's field for the id is still named `agency`.)
//
// Key files are written 0600 with O_EXCL (never overwriting) and refused on
// load if group or others can read or write them. A key file may be sealed
// with a passphrase: Argon2id (crypto_pwhash) derives a key that encrypts the
// plain key file with XChaCha20-Poly1305 (format in proto/keyfile.proto and
// docs/protocol.md).
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
#include "proto/keyfile.pb.h"

namespace tidings::crypto {

// What one try of a passphrase costs (Argon2id's passes and memory). Every
// guess by someone who stole a sealed file costs the same, and so does every
// load of the file by its node. Times measured on a 2-core machine.
enum class PassphraseCost {
  // crypto_pwhash_{OPS,MEM}LIMIT_MODERATE: 3 passes over 256 MiB, ~0.4 s.
  kModerate,
  // ..._INTERACTIVE: 2 passes over 64 MiB, ~0.08 s. For tests, or machines
  // that cannot spare 256 MiB at start.
  kInteractive,
  // ..._SENSITIVE: 4 passes over 1 GiB, ~2.5 s.
  kSensitive,
};

struct SealOptions {
  // Default kModerate: a node pays it once at start, an attacker per guess.
  PassphraseCost cost = PassphraseCost::kModerate;
};

// Reads a passphrase file: its bytes without one trailing "\n" (or "\r\n").
// Refused like a key file if group or others can access it
// (kPermissionDenied "passphrase file <path> is accessible by group or others
// (mode 0644); run: chmod 600 <path>"); kNotFound if missing;
// kInvalidArgument if it is empty or larger than 4096 bytes.
absl::StatusOr<Passphrase> ReadPassphraseFile(const std::string& path);

class Identity {
 public:
  // A fresh identity for `principal` (an agency or a field node id).
  static Identity Generate(absl::string_view principal);

  // Loads a plain (unsealed) key file: LoadFile(path, nullptr).
  static absl::StatusOr<Identity> LoadFile(const std::string& path);

  // Loads a key file, sealed or plain. `passphrase` may be null (no
  // passphrase known); the caller keeps ownership. Errors:
  //  - kPermissionDenied if group or others can read or write the file ("key
  //    file <path> is accessible by group or others (mode 0644); run: chmod
  //    600 <path>"), whether sealed or not;
  //  - kNotFound if it is missing;
  //  - kInvalidArgument "key file <path> is malformed: ..." if it is not a
  //    well-formed key file of either kind;
  //  - kFailedPrecondition "key file <path> is sealed; give its passphrase"
  //    if it is sealed and `passphrase` is null, and "key file <path> is not
  //    sealed, but a passphrase was given; ..." if it is plain and
  //    `passphrase` is not null (the operator believes it is protected);
  //  - kPermissionDenied "wrong passphrase for key file <path>" if the
  //    passphrase does not open it; any tampering with a sealed file gives
  //    this same opaque error;
  //  - kResourceExhausted if Argon2id cannot get the memory the file asks
  //    for.
  static absl::StatusOr<Identity> LoadFile(const std::string& path,
                                           const Passphrase* passphrase);

  // Writes a plain key file with mode 0600. kAlreadyExists if `path` exists.
  absl::Status SaveFile(const std::string& path) const;

  // Writes a key file sealed with `passphrase`, mode 0600, with a fresh
  // random salt and nonce. kInvalidArgument if the passphrase is empty;
  // kAlreadyExists if `path` exists; kResourceExhausted if Argon2id cannot
  // get its memory.
  absl::Status SaveFile(const std::string& path, const Passphrase& passphrase,
                        const SealOptions& options = SealOptions()) const;

  // As SaveFile, but replaces whatever key file is at `path` (or creates
  // one), atomically: a crash leaves the old file or the new one, and a
  // failure leaves `path` untouched (base/durable_file.h). `tidings key seal`
  // and `key unseal` rewrite key files with these.
  absl::Status ReplaceFile(const std::string& path) const;
  absl::Status ReplaceFile(const std::string& path,
                           const Passphrase& passphrase,
                           const SealOptions& options = SealOptions()) const;

  Identity(Identity&&) = default;
  Identity& operator=(Identity&&) = default;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  const std::string& principal() const { return principal_; }
  const SigningKey& signing_key() const { return signing_key_; }
  const VerifyKey& verify_key() const { return verify_key_; }
  const BoxSecretKey& box_secret() const { return box_secret_; }
  const BoxPublicKey& box_public() const { return box_public_; }

 private:
  Identity() = default;
  // The secrets as a key file holds them (the caller wipes `file`).
  void FillSecrets(proto::SecretKeyFile& file) const;
  // The bytes of this identity's key file, sealed with `passphrase` unless it
  // is null; `path` names the file in errors.
  absl::StatusOr<SecretFileBytes> KeyFileBytes(
      const std::string& path, const Passphrase* passphrase,
      const SealOptions& options) const;
  static Identity FromSecrets(std::string principal, const SigningSeed& seed,
                              BoxSecretKey box);

  std::string principal_;
  SigningKey signing_key_;
  VerifyKey verify_key_;
  BoxSecretKey box_secret_;
  BoxPublicKey box_public_;
};

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_IDENTITY_H_

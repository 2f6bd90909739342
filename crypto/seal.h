// Sealing a body to an audience, and opening it as one member.
//
// The body is encrypted once with XChaCha20-Poly1305 (IETF) under a fresh
// random content key and nonce, with `aad` as associated data. The content key
// is then wrapped for each recipient with XChaCha20-Poly1305 under a key
// derived from the X25519 shared secret of sender and recipient:
//   pair   = crypto_box_beforenm(their_pk, my_sk)            (X25519+HSalsa20)
//   wrapkey= BLAKE2b-256(key = pair, "tidings/v1/wrap")
//   wrapped= XChaCha20-Poly1305(wrapkey, nonce, aad || 0x00 || recipient, ck)
// The X25519 step is cached per peer in a `Keyring`, so wrapping costs about
// one symmetric encryption per recipient (a crypto_box_seal would cost one
// X25519 per recipient per envelope).
//
// Thread-safety: `Keyring` is internally synchronised; free functions are
// safe from any thread.
#ifndef TIDINGS_CRYPTO_SEAL_H_
#define TIDINGS_CRYPTO_SEAL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "crypto/types.h"

namespace tidings::crypto {

struct BoxKeyPair {
  BoxSecretKey secret;
  BoxPublicKey public_key;
};
BoxKeyPair GenerateBoxKey();
// The public half of `key` (crypto_scalarmult_base).
BoxPublicKey PublicKeyOf(const BoxSecretKey& key);

// Holds one node's X25519 secret and caches the derived wrap key per peer.
class Keyring {
 public:
  explicit Keyring(BoxSecretKey secret);
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;
  ~Keyring();

  const BoxPublicKey& public_key() const { return public_key_; }

  // The wrap key shared with `peer`. kInvalidArgument if `peer` is a
  // low-order point (crypto_box_beforenm refuses it).
  absl::StatusOr<SymmetricKey> WrapKeyWith(const BoxPublicKey& peer);

 private:
  // Constant after construction
  BoxSecretKey secret_;
  BoxPublicKey public_key_;

  absl::Mutex mu_;
  // Wrap keys by peer public key (raw bytes). Guarded by mu_.
  absl::flat_hash_map<std::string, std::string> wrap_keys_ ABSL_GUARDED_BY(mu_);
};

struct Recipient {
  std::string agency;
  BoxPublicKey public_key;
};

struct WrappedKeyOut {
  std::string recipient;
  std::string wrapped;  // 48 bytes
};

struct Sealed {
  Nonce nonce;
  std::string ciphertext;
  std::vector<WrappedKeyOut> wrapped_keys;  // same order as recipients
};

// Encrypts `plaintext` for every recipient. kInvalidArgument if a recipient
// key is unusable.
absl::StatusOr<Sealed> Seal(Keyring& sender,
                            absl::Span<const Recipient> recipients,
                            absl::string_view aad, absl::string_view plaintext);

// Opens a body sealed by `sender_public` for `my_agency`. Every failure
// (wrong key, tampered wrap, tampered ciphertext, wrong aad) is the same
// kUnauthenticated "body does not decrypt".
[[nodiscard]] absl::StatusOr<std::string> Open(
    Keyring& mine, absl::string_view my_agency,
    const BoxPublicKey& sender_public, const Nonce& nonce,
    absl::string_view wrapped, absl::string_view aad,
    absl::string_view ciphertext);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_SEAL_H_

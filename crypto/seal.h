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
// Opening is two steps, so that a node can keep what it needs to read a body
// after the key it was wrapped to is erased (forward-secret epoch keys):
// `OpenContentKey` unwraps the content key, `OpenWithContentKey` decrypts the
// body with it; `Open` is the two in a row. `SealLocal` / `OpenLocal` encrypt
// small local secrets (such as content keys) under a node's own storage key:
//   sealed = nonce[24] || XChaCha20-Poly1305(key, nonce,
//                                            "tidings/v1/local" || 0x00 || aad,
//                                            plaintext)
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
#include "absl/status/status.h"
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

// OK if `key` can be used as a peer's box key; kInvalidArgument "box key is a
// low-order point" if X25519 with it gives the all-zero output whatever the
// secret (the points crypto_box_beforenm refuses), so no shared secret could
// be agreed with it.
absl::Status ValidateBoxPublicKey(const BoxPublicKey& key);

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
  std::string principal;  // an agency or a field node id
  BoxPublicKey public_key;
};

struct WrappedKeyOut {
  std::string recipient;
  std::string wrapped;  // 48 bytes
};

// Move-only: it holds the content key.
struct Sealed {
  Nonce nonce;
  std::string ciphertext;
  std::vector<WrappedKeyOut> wrapped_keys;  // same order as recipients
  // The body's content key, for the sender to keep if it must read the body
  // later without unwrapping (e.g. SealLocal'd under its storage key). Wiped
  // when the Sealed is destroyed; drop it as soon as it is not needed.
  SymmetricKey content_key;
};

// Encrypts `plaintext` for every recipient. kInvalidArgument if a recipient
// key is unusable.
absl::StatusOr<Sealed> Seal(Keyring& sender,
                            absl::Span<const Recipient> recipients,
                            absl::string_view aad, absl::string_view plaintext);

// Wraps `content_key` for `recipient` with `nonce` and `aad` (the body's):
// the step Seal runs per recipient, which OpenContentKey undoes. The nonce
// must never be used twice with one (sender, recipient) pair for another
// content key: pass a fresh random one. kInvalidArgument if the recipient
// key is unusable.
absl::StatusOr<std::string> WrapContentKey(Keyring& sender,
                                           const Recipient& recipient,
                                           const Nonce& nonce,
                                           absl::string_view aad,
                                           const SymmetricKey& content_key);

// Opens a body sealed by `sender_public` for `my_principal`: OpenContentKey
// then OpenWithContentKey. Every failure (wrong key, tampered wrap, tampered
// ciphertext, wrong aad) is the same kUnauthenticated "body does not
// decrypt".
[[nodiscard]] absl::StatusOr<std::string> Open(
    Keyring& mine, absl::string_view my_principal,
    const BoxPublicKey& sender_public, const Nonce& nonce,
    absl::string_view wrapped, absl::string_view aad,
    absl::string_view ciphertext);

// Unwraps the content key that `sender_public` wrapped for `my_principal` with
// `nonce` and `aad` (the body's). Every failure (wrong key, low-order sender
// key, tampered or wrong-size wrap, wrong aad or recipient) is
// kUnauthenticated "body does not decrypt".
[[nodiscard]] absl::StatusOr<SymmetricKey> OpenContentKey(
    Keyring& mine, absl::string_view my_principal,
    const BoxPublicKey& sender_public, const Nonce& nonce,
    absl::string_view wrapped, absl::string_view aad);

// Decrypts a body with its content key. Every failure is kUnauthenticated
// "body does not decrypt"; no unauthenticated byte is ever returned.
[[nodiscard]] absl::StatusOr<std::string> OpenWithContentKey(
    const SymmetricKey& content_key, const Nonce& nonce, absl::string_view aad,
    absl::string_view ciphertext);

// Encrypts a local secret under `key` (a node's storage key) with a fresh
// random nonce: nonce[24] || ciphertext || tag[16] (format above). `aad` binds
// it to its place (e.g. the envelope id), so it cannot be moved to another.
std::string SealLocal(const SymmetricKey& key, absl::string_view aad,
                      absl::string_view plaintext);

// Opens what SealLocal made with the same `key` and `aad`. Every failure
// (wrong key or aad, tampering, too short) is kUnauthenticated "stored data
// does not decrypt". The caller should wipe the plaintext when done.
[[nodiscard]] absl::StatusOr<std::string> OpenLocal(const SymmetricKey& key,
                                                    absl::string_view aad,
                                                    absl::string_view sealed);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_SEAL_H_

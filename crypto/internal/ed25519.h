// The raw Ed25519 primitive (RFC 8032 "pure" Ed25519, as libsodium's
// crypto_sign_detached), without tidings' domain prefix.
//
// Private to crypto/: everything else signs through sign.h so that no
// signature escapes domain separation. Exposed here so that tests can check
// the primitive byte for byte against the RFC 8032 known-answer vectors.
//
// Thread-safety: free functions on immutable inputs; safe from any thread.
#ifndef TIDINGS_CRYPTO_INTERNAL_ED25519_H_
#define TIDINGS_CRYPTO_INTERNAL_ED25519_H_

#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto::crypto_internal {

// The detached Ed25519 signature of exactly `message` under `key`.
Signature Ed25519Sign(const SigningKey& key, absl::string_view message);

// True iff `signature` is a valid signature of exactly `message` by `key`.
// libsodium rejects non-canonical and small-order encodings.
[[nodiscard]] bool Ed25519Verify(const VerifyKey& key,
                                 absl::string_view message,
                                 const Signature& signature);

}  // namespace tidings::crypto::crypto_internal

#endif  // TIDINGS_CRYPTO_INTERNAL_ED25519_H_

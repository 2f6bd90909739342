// Ed25519 signatures with domain separation.
//
// Every signature covers "tidings/v1/<domain>" || 0x00 || message, so a
// signature made for one purpose (an envelope) can never be replayed as
// another (a roster, a link proof). The labels are in crypto/labels.h.
//
// Thread-safety: free functions on immutable inputs; safe from any thread.
#ifndef TIDINGS_CRYPTO_SIGN_H_
#define TIDINGS_CRYPTO_SIGN_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto {

enum class Domain {
  kEnvelope,        // "tidings/v1/envelope"
  kRoster,          // "tidings/v1/roster"
  kLink,            // "tidings/v1/link"
  kEpoch,           // "tidings/v1/epoch": an agency's published epoch key
  kNodeCert,        // "tidings/v1/node": an agency certifies a field node
  kNodeRevocation,  // "tidings/v1/node-revocation": ... and withdraws it
  kHoldings,        // "tidings/v1/holdings": what a node holds, per audience
  kContact,         // "tidings/v1/contact": a member's own TLS pin, endpoints
};

// The domain's prefix string, e.g. "tidings/v1/envelope".
absl::string_view DomainPrefix(Domain domain);

// A new random Ed25519 key pair.
struct SigningKeyPair {
  SigningKey secret;
  VerifyKey public_key;
};
SigningKeyPair GenerateSigningKey();

// Derives the key pair from a 32-byte seed (key files store the seed).
SigningKeyPair SigningKeyFromSeed(const SigningSeed& seed);
// The seed of `key` (first half of libsodium's secret key).
SigningSeed SeedOf(const SigningKey& key);
// The public half of `key`.
VerifyKey PublicKeyOf(const SigningKey& key);

Signature Sign(const SigningKey& key, Domain domain, absl::string_view message);

// OK, or kUnauthenticated ("signature does not verify") for every failure.
[[nodiscard]] absl::Status Verify(const VerifyKey& key, Domain domain,
                                  absl::string_view message,
                                  const Signature& signature);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_SIGN_H_

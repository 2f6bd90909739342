#include "crypto/sign.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "crypto/internal/ed25519.h"
#include "crypto/labels.h"
#include "crypto/types.h"

namespace tidings::crypto {
namespace crypto_internal {

Signature Ed25519Sign(const SigningKey& key, absl::string_view message) {
  EnsureSodium();
  Signature signature;
  // crypto_sign_detached cannot fail for a well-formed 64-byte key; a
  // failure would be a libsodium bug, not bad input.
  if (crypto_sign_detached(
          signature.mutable_data(), /*siglen_p=*/nullptr,
          reinterpret_cast<const unsigned char*>(message.data()),
          message.size(), key.data()) != 0) {
    std::fprintf(stderr, "FATAL: crypto_sign_detached failed\n");
    std::abort();
  }
  return signature;
}

bool Ed25519Verify(const VerifyKey& key, absl::string_view message,
                   const Signature& signature) {
  EnsureSodium();
  return crypto_sign_verify_detached(
             signature.data(),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size(), key.data()) == 0;
}

}  // namespace crypto_internal

namespace {

// "tidings/v1/<domain>" || 0x00 || message. The NUL ends the prefix, so no
// domain string can be a prefix-extension of another's signed bytes.
std::string SignedBytes(Domain domain, absl::string_view message) {
  absl::string_view prefix = DomainPrefix(domain);
  std::string out;
  out.reserve(prefix.size() + 1 + message.size());
  out.append(prefix.data(), prefix.size());
  out.push_back('\0');
  out.append(message.data(), message.size());
  return out;
}

}  // namespace

absl::string_view DomainPrefix(Domain domain) {
  switch (domain) {
    case Domain::kEnvelope:
      return labels::kEnvelopeSignature;
    case Domain::kRoster:
      return labels::kRosterSignature;
    case Domain::kLink:
      return labels::kLinkSignature;
    case Domain::kEpoch:
      return labels::kEpochSignature;
    case Domain::kNodeCert:
      return labels::kNodeCertSignature;
    case Domain::kNodeRevocation:
      return labels::kNodeRevocationSignature;
    case Domain::kHoldings:
      return labels::kHoldingsSignature;
    case Domain::kContact:
      return labels::kContactSignature;
  }
  // Only reachable with a value cast from outside the enum: our bug.
  std::fprintf(stderr, "FATAL: unknown crypto::Domain %d\n",
               static_cast<int>(domain));
  std::abort();
}

SigningKeyPair GenerateSigningKey() {
  EnsureSodium();
  SigningKeyPair pair;
  crypto_sign_keypair(pair.public_key.mutable_data(),
                      pair.secret.mutable_data());
  return pair;
}

SigningKeyPair SigningKeyFromSeed(const SigningSeed& seed) {
  EnsureSodium();
  SigningKeyPair pair;
  crypto_sign_seed_keypair(pair.public_key.mutable_data(),
                           pair.secret.mutable_data(), seed.data());
  return pair;
}

SigningSeed SeedOf(const SigningKey& key) {
  EnsureSodium();
  SigningSeed seed;
  crypto_sign_ed25519_sk_to_seed(seed.mutable_data(), key.data());
  return seed;
}

VerifyKey PublicKeyOf(const SigningKey& key) {
  EnsureSodium();
  VerifyKey public_key;
  crypto_sign_ed25519_sk_to_pk(public_key.mutable_data(), key.data());
  return public_key;
}

Signature Sign(const SigningKey& key, Domain domain,
               absl::string_view message) {
  return crypto_internal::Ed25519Sign(key, SignedBytes(domain, message));
}

absl::Status Verify(const VerifyKey& key, Domain domain,
                    absl::string_view message, const Signature& signature) {
  if (!crypto_internal::Ed25519Verify(key, SignedBytes(domain, message),
                                      signature)) {
    // One opaque error for every cause: a caller (or a peer watching our
    // replies) learns nothing about why.
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace tidings::crypto

#include "crypto/sign.h"

#include <sodium.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "crypto/internal/ed25519.h"
#include "crypto/types.h"
#include "gtest/gtest.h"

namespace tidings::crypto {
namespace {

std::string Unhex(absl::string_view hex) {
  std::optional<std::string> bytes = FromHex(hex);
  EXPECT_TRUE(bytes.has_value()) << hex;
  return bytes.value_or("");
}

void ExpectDoesNotVerify(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_EQ(status.message(), "signature does not verify");
}

// RFC 8032 section 7.1, TESTs 1-3 (seed = "SECRET KEY" in the RFC).
struct Rfc8032Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

constexpr Rfc8032Vector kRfc8032Vectors[] = {
    {"TEST 1",
     "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821"
     "590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2",
     "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e"
     "43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3",
     "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b5"
     "38d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519Test, MatchesRfc8032Vectors) {
  for (const Rfc8032Vector& v : kRfc8032Vectors) {
    SCOPED_TRACE(v.name);
    std::optional<SigningSeed> seed = SigningSeed::FromBytes(Unhex(v.seed));
    ASSERT_TRUE(seed.has_value());
    SigningKeyPair pair = SigningKeyFromSeed(*seed);
    EXPECT_EQ(ToHex(pair.public_key.view()), v.public_key);
    EXPECT_EQ(PublicKeyOf(pair.secret), pair.public_key);
    SigningSeed seed_back = SeedOf(pair.secret);
    EXPECT_EQ(sodium_memcmp(seed_back.data(), seed->data(), seed->size()), 0);

    std::string message = Unhex(v.message);
    Signature signature = crypto_internal::Ed25519Sign(pair.secret, message);
    EXPECT_EQ(ToHex(signature.view()), v.signature);

    std::optional<VerifyKey> public_key =
        VerifyKey::FromBytes(Unhex(v.public_key));
    std::optional<Signature> published =
        Signature::FromBytes(Unhex(v.signature));
    ASSERT_TRUE(public_key.has_value());
    ASSERT_TRUE(published.has_value());
    EXPECT_TRUE(
        crypto_internal::Ed25519Verify(*public_key, message, *published));
    EXPECT_FALSE(
        crypto_internal::Ed25519Verify(*public_key, message + "x", *published));
  }
}

TEST(Ed25519Test, VectorsDoNotVerifyUnderAnotherVectorsKey) {
  std::optional<VerifyKey> key1 =
      VerifyKey::FromBytes(Unhex(kRfc8032Vectors[0].public_key));
  std::optional<Signature> sig2 =
      Signature::FromBytes(Unhex(kRfc8032Vectors[1].signature));
  ASSERT_TRUE(key1.has_value() && sig2.has_value());
  EXPECT_FALSE(crypto_internal::Ed25519Verify(
      *key1, Unhex(kRfc8032Vectors[1].message), *sig2));
}

TEST(DomainTest, PrefixesAreVersionedAndDistinct) {
  EXPECT_EQ(DomainPrefix(Domain::kEnvelope), "tidings/v1/envelope");
  EXPECT_EQ(DomainPrefix(Domain::kRoster), "tidings/v1/roster");
  EXPECT_EQ(DomainPrefix(Domain::kLink), "tidings/v1/link");
  EXPECT_EQ(DomainPrefix(Domain::kEpoch), "tidings/v1/epoch");
}

constexpr Domain kAllDomains[] = {Domain::kEnvelope, Domain::kRoster,
                                  Domain::kLink, Domain::kEpoch};

TEST(SignTest, RoundTripsInEveryDomain) {
  SigningKeyPair pair = GenerateSigningKey();
  EXPECT_EQ(PublicKeyOf(pair.secret), pair.public_key);
  for (Domain domain : kAllDomains) {
    for (const std::string& message :
         {std::string(), std::string("hello"), std::string(1, '\0'),
          std::string(100000, 'x')}) {
      Signature signature = Sign(pair.secret, domain, message);
      EXPECT_TRUE(Verify(pair.public_key, domain, message, signature).ok());
    }
  }
}

TEST(SignTest, IsDeterministic) {
  SigningKeyPair pair = GenerateSigningKey();
  EXPECT_EQ(Sign(pair.secret, Domain::kEnvelope, "m"),
            Sign(pair.secret, Domain::kEnvelope, "m"));
}

TEST(SignTest, SignsThePrefixedMessageExactly) {
  SigningKeyPair pair = GenerateSigningKey();
  Signature signature = Sign(pair.secret, Domain::kRoster, "body");
  // The documented layout: prefix || 0x00 || message, under plain Ed25519.
  EXPECT_TRUE(crypto_internal::Ed25519Verify(
      pair.public_key, std::string("tidings/v1/roster\0body", 22), signature));
  EXPECT_FALSE(
      crypto_internal::Ed25519Verify(pair.public_key, "body", signature));
  // And a bare Ed25519 signature of the message is not accepted in any
  // domain.
  Signature bare = crypto_internal::Ed25519Sign(pair.secret, "body");
  for (Domain domain : kAllDomains) {
    ExpectDoesNotVerify(Verify(pair.public_key, domain, "body", bare));
  }
}

TEST(SignTest, SignatureForOneDomainFailsInEveryOther) {
  SigningKeyPair pair = GenerateSigningKey();
  for (Domain signed_as : kAllDomains) {
    Signature signature = Sign(pair.secret, signed_as, "same bytes");
    for (Domain checked_as : kAllDomains) {
      absl::Status status =
          Verify(pair.public_key, checked_as, "same bytes", signature);
      if (checked_as == signed_as) {
        EXPECT_TRUE(status.ok()) << status;
      } else {
        ExpectDoesNotVerify(status);
      }
    }
  }
}

TEST(SignTest, EnvelopeSignatureIsNotARosterSignature) {
  SigningKeyPair pair = GenerateSigningKey();
  Signature signature = Sign(pair.secret, Domain::kEnvelope, "roster v2");
  ExpectDoesNotVerify(
      Verify(pair.public_key, Domain::kRoster, "roster v2", signature));
}

TEST(SignTest, EveryBitFlipOfTheMessageFails) {
  SigningKeyPair pair = GenerateSigningKey();
  const std::string message = "notice: road closed at km 12, 2024-05-01";
  Signature signature = Sign(pair.secret, Domain::kEnvelope, message);
  ASSERT_TRUE(
      Verify(pair.public_key, Domain::kEnvelope, message, signature).ok());
  for (size_t bit = 0; bit < message.size() * 8; ++bit) {
    std::string flipped = message;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    ExpectDoesNotVerify(
        Verify(pair.public_key, Domain::kEnvelope, flipped, signature));
  }
  ExpectDoesNotVerify(Verify(pair.public_key, Domain::kEnvelope,
                             message.substr(0, message.size() - 1), signature));
  ExpectDoesNotVerify(
      Verify(pair.public_key, Domain::kEnvelope, message + '\0', signature));
  ExpectDoesNotVerify(
      Verify(pair.public_key, Domain::kEnvelope, "", signature));
}

TEST(SignTest, EveryBitFlipOfTheSignatureFails) {
  SigningKeyPair pair = GenerateSigningKey();
  Signature signature = Sign(pair.secret, Domain::kLink, "link proof");
  for (size_t bit = 0; bit < Signature::size() * 8; ++bit) {
    Signature flipped = signature;
    flipped.mutable_data()[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    ExpectDoesNotVerify(
        Verify(pair.public_key, Domain::kLink, "link proof", flipped));
  }
  ExpectDoesNotVerify(
      Verify(pair.public_key, Domain::kLink, "link proof", Signature()));
}

TEST(SignTest, EveryBitFlipOfThePublicKeyFails) {
  SigningKeyPair pair = GenerateSigningKey();
  Signature signature = Sign(pair.secret, Domain::kLink, "link proof");
  for (size_t bit = 0; bit < VerifyKey::size() * 8; ++bit) {
    VerifyKey flipped = pair.public_key;
    flipped.mutable_data()[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    ExpectDoesNotVerify(
        Verify(flipped, Domain::kLink, "link proof", signature));
  }
}

TEST(SignTest, WrongKeyFails) {
  SigningKeyPair alice = GenerateSigningKey();
  SigningKeyPair mallory = GenerateSigningKey();
  EXPECT_FALSE(alice.public_key == mallory.public_key);
  Signature signature = Sign(alice.secret, Domain::kEnvelope, "m");
  ExpectDoesNotVerify(
      Verify(mallory.public_key, Domain::kEnvelope, "m", signature));
  ExpectDoesNotVerify(Verify(VerifyKey(), Domain::kEnvelope, "m", signature));
}

TEST(SignTest, KeysFromTheSameSeedAreTheSame) {
  SigningKeyPair original = GenerateSigningKey();
  SigningSeed seed = SeedOf(original.secret);
  SigningKeyPair again = SigningKeyFromSeed(seed);
  EXPECT_EQ(again.public_key, original.public_key);
  EXPECT_EQ(sodium_memcmp(again.secret.data(), original.secret.data(),
                          SigningKey::size()),
            0);
  Signature signature = Sign(again.secret, Domain::kRoster, "r");
  EXPECT_TRUE(
      Verify(original.public_key, Domain::kRoster, "r", signature).ok());
}

}  // namespace
}  // namespace tidings::crypto

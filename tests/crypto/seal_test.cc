#include "crypto/seal.h"

#include <sodium.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "crypto/types.h"
#include "gtest/gtest.h"

namespace tidings::crypto {
namespace {

// A member of an audience: its agency name and keyring.
struct Member {
  explicit Member(std::string name)
      : agency(std::move(name)), keyring(GenerateBoxKey().secret) {}
  Recipient AsRecipient() const { return {agency, keyring.public_key()}; }

  std::string agency;
  Keyring keyring;
};

std::vector<std::unique_ptr<Member>> MakeMembers(int n) {
  std::vector<std::unique_ptr<Member>> members;
  for (int i = 0; i < n; ++i) {
    members.push_back(std::make_unique<Member>(absl::StrCat("agency-", i)));
  }
  return members;
}

std::vector<Recipient> RecipientsOf(
    const std::vector<std::unique_ptr<Member>>& members) {
  std::vector<Recipient> out;
  for (const auto& m : members) out.push_back(m->AsRecipient());
  return out;
}

bool SameKey(const SymmetricKey& a, const SymmetricKey& b) {
  return sodium_memcmp(a.data(), b.data(), SymmetricKey::size()) == 0;
}

void ExpectDoesNotDecrypt(const absl::StatusOr<std::string>& opened) {
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(opened.status().message(), "body does not decrypt");
}

// Sealed is move-only (it holds the content key); tests that tamper with a
// copy make one explicitly.
Sealed CopyOf(const Sealed& sealed) {
  Sealed copy;
  copy.nonce = sealed.nonce;
  copy.ciphertext = sealed.ciphertext;
  copy.wrapped_keys = sealed.wrapped_keys;
  copy.content_key = *SymmetricKey::FromBytes(absl::string_view(
      reinterpret_cast<const char*>(sealed.content_key.data()),
      SymmetricKey::size()));
  return copy;
}

absl::string_view ViewOf(const SymmetricKey& key) {
  return absl::string_view(reinterpret_cast<const char*>(key.data()),
                           SymmetricKey::size());
}

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

constexpr absl::string_view kAad = "envelope-header-digest";
constexpr absl::string_view kBody = "evacuate sector 7 before 18:00";

class SealTest : public ::testing::Test {
 protected:
  Member sender_{"sender"};
  Member bob_{"bob"};
  Member carol_{"carol"};

  Sealed SealToBobAndCarol() {
    std::vector<Recipient> recipients = {bob_.AsRecipient(),
                                         carol_.AsRecipient()};
    absl::StatusOr<Sealed> sealed =
        Seal(sender_.keyring, recipients, kAad, kBody);
    EXPECT_TRUE(sealed.ok()) << sealed.status();
    return *std::move(sealed);
  }

  absl::StatusOr<std::string> OpenAsBob(const Sealed& sealed) {
    return Open(bob_.keyring, "bob", sender_.keyring.public_key(), sealed.nonce,
                sealed.wrapped_keys[0].wrapped, kAad, sealed.ciphertext);
  }
};

TEST(KeyringTest, PublicKeyMatchesTheSecret) {
  BoxKeyPair pair = GenerateBoxKey();
  EXPECT_EQ(PublicKeyOf(pair.secret), pair.public_key);
  BoxPublicKey expected = pair.public_key;
  Keyring keyring(std::move(pair.secret));
  EXPECT_EQ(keyring.public_key(), expected);
}

TEST(KeyringTest, WrapKeyIsTheSameInBothDirections) {
  Keyring a(GenerateBoxKey().secret);
  Keyring b(GenerateBoxKey().secret);
  absl::StatusOr<SymmetricKey> ab = a.WrapKeyWith(b.public_key());
  absl::StatusOr<SymmetricKey> ba = b.WrapKeyWith(a.public_key());
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_TRUE(SameKey(*ab, *ba));
  // Served from the cache the second time, with the same bytes.
  absl::StatusOr<SymmetricKey> ab_again = a.WrapKeyWith(b.public_key());
  absl::StatusOr<SymmetricKey> ba_again = b.WrapKeyWith(a.public_key());
  ASSERT_TRUE(ab_again.ok() && ba_again.ok());
  EXPECT_TRUE(SameKey(*ab, *ab_again));
  EXPECT_TRUE(SameKey(*ba, *ba_again));
}

TEST(KeyringTest, WrapKeysDifferPerPeer) {
  Keyring a(GenerateBoxKey().secret);
  Keyring b(GenerateBoxKey().secret);
  Keyring c(GenerateBoxKey().secret);
  absl::StatusOr<SymmetricKey> ab = a.WrapKeyWith(b.public_key());
  absl::StatusOr<SymmetricKey> ac = a.WrapKeyWith(c.public_key());
  absl::StatusOr<SymmetricKey> bc = b.WrapKeyWith(c.public_key());
  ASSERT_TRUE(ab.ok() && ac.ok() && bc.ok());
  EXPECT_FALSE(SameKey(*ab, *ac));
  EXPECT_FALSE(SameKey(*ab, *bc));
  EXPECT_FALSE(SameKey(*ac, *bc));
}

TEST(KeyringTest, WrapKeyIsDerivedAsDocumented) {
  BoxKeyPair mine = GenerateBoxKey();
  BoxKeyPair theirs = GenerateBoxKey();
  unsigned char pair[crypto_box_BEFORENMBYTES];
  ASSERT_EQ(
      crypto_box_beforenm(pair, theirs.public_key.data(), mine.secret.data()),
      0);
  unsigned char expected[32];
  const std::string label = "tidings/v1/wrap";
  crypto_generichash(expected, sizeof(expected),
                     reinterpret_cast<const unsigned char*>(label.data()),
                     label.size(), pair, sizeof(pair));

  Keyring keyring(std::move(mine.secret));
  absl::StatusOr<SymmetricKey> wrap_key =
      keyring.WrapKeyWith(theirs.public_key);
  ASSERT_TRUE(wrap_key.ok());
  EXPECT_EQ(sodium_memcmp(wrap_key->data(), expected, sizeof(expected)), 0);
}

// Points of small order: X25519 with them yields all zeros, which
// crypto_box_beforenm refuses.
std::vector<BoxPublicKey> LowOrderPoints() {
  std::vector<BoxPublicKey> points;
  points.push_back(BoxPublicKey());  // 0
  BoxPublicKey one;
  one.mutable_data()[0] = 1;  // 1
  points.push_back(one);
  // p - 1 = 2^255 - 20 (order 2), little-endian.
  BoxPublicKey p_minus_1;
  p_minus_1.mutable_data()[0] = 0xec;
  for (int i = 1; i < 31; ++i) p_minus_1.mutable_data()[i] = 0xff;
  p_minus_1.mutable_data()[31] = 0x7f;
  points.push_back(p_minus_1);
  return points;
}

TEST(KeyringTest, RefusesLowOrderPeers) {
  Keyring keyring(GenerateBoxKey().secret);
  for (const BoxPublicKey& point : LowOrderPoints()) {
    absl::StatusOr<SymmetricKey> wrap_key = keyring.WrapKeyWith(point);
    EXPECT_EQ(wrap_key.status().code(), absl::StatusCode::kInvalidArgument)
        << ToHex(point.view());
  }
}

TEST(KeyringTest, ConcurrentUseAgreesWithSequentialUse) {
  Keyring shared(GenerateBoxKey().secret);
  std::vector<std::unique_ptr<Keyring>> peers;
  for (int i = 0; i < 8; ++i) {
    peers.push_back(std::make_unique<Keyring>(GenerateBoxKey().secret));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (const auto& peer : peers) {
          absl::StatusOr<SymmetricKey> mine =
              shared.WrapKeyWith(peer->public_key());
          absl::StatusOr<SymmetricKey> theirs =
              peer->WrapKeyWith(shared.public_key());
          if (!mine.ok() || !theirs.ok() || !SameKey(*mine, *theirs)) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(SealAudienceTest, EveryRecipientOpens) {
  for (int n : {1, 4, 16}) {
    SCOPED_TRACE(absl::StrCat(n, " recipients"));
    Member sender("sender");
    std::vector<std::unique_ptr<Member>> members = MakeMembers(n);
    std::vector<Recipient> recipients = RecipientsOf(members);
    absl::StatusOr<Sealed> sealed =
        Seal(sender.keyring, recipients, kAad, kBody);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ(sealed->ciphertext.size(),
              kBody.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    EXPECT_EQ(sealed->ciphertext.find(std::string(kBody)), std::string::npos);
    ASSERT_EQ(sealed->wrapped_keys.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const WrappedKeyOut& wrapped =
          sealed->wrapped_keys[static_cast<size_t>(i)];
      EXPECT_EQ(wrapped.recipient, members[static_cast<size_t>(i)]->agency);
      EXPECT_EQ(wrapped.wrapped.size(), 48u);
      absl::StatusOr<std::string> opened = Open(
          members[static_cast<size_t>(i)]->keyring,
          members[static_cast<size_t>(i)]->agency, sender.keyring.public_key(),
          sealed->nonce, wrapped.wrapped, kAad, sealed->ciphertext);
      ASSERT_TRUE(opened.ok()) << opened.status();
      EXPECT_EQ(*opened, kBody);
    }
  }
}

TEST_F(SealTest, RoundTripsEmptyAndLargeBodies) {
  std::vector<Recipient> recipients = {bob_.AsRecipient()};
  for (const std::string& body :
       {std::string(), std::string(1, '\0'), std::string(1 << 20, 'b')}) {
    absl::StatusOr<Sealed> sealed =
        Seal(sender_.keyring, recipients, kAad, body);
    ASSERT_TRUE(sealed.ok());
    absl::StatusOr<std::string> opened = OpenAsBob(*sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, body);
  }
}

TEST_F(SealTest, SenderCanBeARecipient) {
  std::vector<Recipient> recipients = {sender_.AsRecipient()};
  absl::StatusOr<Sealed> sealed =
      Seal(sender_.keyring, recipients, kAad, kBody);
  ASSERT_TRUE(sealed.ok());
  absl::StatusOr<std::string> opened = Open(
      sender_.keyring, "sender", sender_.keyring.public_key(), sealed->nonce,
      sealed->wrapped_keys[0].wrapped, kAad, sealed->ciphertext);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kBody);
}

TEST_F(SealTest, EachSealHasAFreshNonceAndCiphertext) {
  Sealed a = SealToBobAndCarol();
  Sealed b = SealToBobAndCarol();
  EXPECT_FALSE(a.nonce == b.nonce);
  EXPECT_NE(a.ciphertext, b.ciphertext);
  EXPECT_NE(a.wrapped_keys[0].wrapped, b.wrapped_keys[0].wrapped);
}

TEST(SealAudienceTest, EmptyAudienceSealsWithNoWrappedKeys) {
  Member sender("sender");
  absl::StatusOr<Sealed> sealed = Seal(sender.keyring, {}, kAad, kBody);
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(sealed->wrapped_keys.empty());
}

TEST_F(SealTest, NonRecipientCannotOpen) {
  Sealed sealed = SealToBobAndCarol();
  Member mallory("mallory");
  for (const WrappedKeyOut& wrapped : sealed.wrapped_keys) {
    // Neither under its own name nor pretending to be the recipient.
    for (absl::string_view name :
         {absl::string_view("mallory"), absl::string_view(wrapped.recipient)}) {
      ExpectDoesNotDecrypt(Open(mallory.keyring, name,
                                sender_.keyring.public_key(), sealed.nonce,
                                wrapped.wrapped, kAad, sealed.ciphertext));
    }
  }
}

TEST_F(SealTest, RecipientCannotUseAnotherMembersWrap) {
  Sealed sealed = SealToBobAndCarol();
  // Bob with Carol's wrapped key, under either name.
  for (absl::string_view name : {"bob", "carol"}) {
    ExpectDoesNotDecrypt(Open(bob_.keyring, name, sender_.keyring.public_key(),
                              sealed.nonce, sealed.wrapped_keys[1].wrapped,
                              kAad, sealed.ciphertext));
  }
  // Bob's own wrap opened under Carol's name.
  ExpectDoesNotDecrypt(Open(bob_.keyring, "carol", sender_.keyring.public_key(),
                            sealed.nonce, sealed.wrapped_keys[0].wrapped, kAad,
                            sealed.ciphertext));
}

TEST_F(SealTest, RecipientNameIsBoundEvenWhenTwoMembersShareAKey) {
  // Two agencies with one box key (a misconfiguration): the wrap for one
  // must still not open under the other's name.
  std::vector<Recipient> recipients = {{"bob", bob_.keyring.public_key()},
                                       {"bob2", bob_.keyring.public_key()}};
  absl::StatusOr<Sealed> sealed =
      Seal(sender_.keyring, recipients, kAad, kBody);
  ASSERT_TRUE(sealed.ok());
  ExpectDoesNotDecrypt(Open(bob_.keyring, "bob2", sender_.keyring.public_key(),
                            sealed->nonce, sealed->wrapped_keys[0].wrapped,
                            kAad, sealed->ciphertext));
}

TEST_F(SealTest, WrongSenderKeyFails) {
  Sealed sealed = SealToBobAndCarol();
  Member impostor("impostor");
  ExpectDoesNotDecrypt(Open(bob_.keyring, "bob", impostor.keyring.public_key(),
                            sealed.nonce, sealed.wrapped_keys[0].wrapped, kAad,
                            sealed.ciphertext));
  for (const BoxPublicKey& point : LowOrderPoints()) {
    ExpectDoesNotDecrypt(Open(bob_.keyring, "bob", point, sealed.nonce,
                              sealed.wrapped_keys[0].wrapped, kAad,
                              sealed.ciphertext));
  }
}

TEST_F(SealTest, EveryBitFlipOfTheCiphertextFails) {
  Sealed sealed = SealToBobAndCarol();
  ASSERT_TRUE(OpenAsBob(sealed).ok());
  for (size_t bit = 0; bit < sealed.ciphertext.size() * 8; ++bit) {
    Sealed tampered = CopyOf(sealed);
    tampered.ciphertext = FlipBit(sealed.ciphertext, bit);
    ExpectDoesNotDecrypt(OpenAsBob(tampered));
  }
}

TEST_F(SealTest, TruncatedOrExtendedCiphertextFails) {
  Sealed sealed = SealToBobAndCarol();
  for (size_t len = 0; len < sealed.ciphertext.size(); ++len) {
    Sealed tampered = CopyOf(sealed);
    tampered.ciphertext.resize(len);
    ExpectDoesNotDecrypt(OpenAsBob(tampered));
  }
  Sealed extended = CopyOf(sealed);
  extended.ciphertext.push_back('\0');
  ExpectDoesNotDecrypt(OpenAsBob(extended));
}

TEST_F(SealTest, EveryBitFlipOfTheNonceFails) {
  Sealed sealed = SealToBobAndCarol();
  for (size_t bit = 0; bit < Nonce::size() * 8; ++bit) {
    Sealed tampered = CopyOf(sealed);
    tampered.nonce.mutable_data()[bit / 8] ^=
        static_cast<uint8_t>(1 << (bit % 8));
    ExpectDoesNotDecrypt(OpenAsBob(tampered));
  }
}

TEST_F(SealTest, EveryBitFlipOfTheWrappedKeyFails) {
  Sealed sealed = SealToBobAndCarol();
  for (size_t bit = 0; bit < size_t{48} * 8; ++bit) {
    Sealed tampered = CopyOf(sealed);
    tampered.wrapped_keys[0].wrapped =
        FlipBit(sealed.wrapped_keys[0].wrapped, bit);
    ExpectDoesNotDecrypt(OpenAsBob(tampered));
  }
}

TEST_F(SealTest, WrongSizeWrappedKeyFails) {
  Sealed sealed = SealToBobAndCarol();
  const std::string& good = sealed.wrapped_keys[0].wrapped;
  for (const std::string& bad :
       {std::string(), good.substr(0, 47), good + '\0', good + good}) {
    ExpectDoesNotDecrypt(Open(bob_.keyring, "bob", sender_.keyring.public_key(),
                              sealed.nonce, bad, kAad, sealed.ciphertext));
  }
}

TEST_F(SealTest, EveryBitFlipOfTheAadFails) {
  Sealed sealed = SealToBobAndCarol();
  const std::string aad(kAad);
  for (size_t bit = 0; bit < aad.size() * 8; ++bit) {
    ExpectDoesNotDecrypt(Open(bob_.keyring, "bob", sender_.keyring.public_key(),
                              sealed.nonce, sealed.wrapped_keys[0].wrapped,
                              FlipBit(aad, bit), sealed.ciphertext));
  }
  for (const std::string& other :
       {std::string(), aad.substr(1), aad + '\0', aad + "x"}) {
    ExpectDoesNotDecrypt(Open(bob_.keyring, "bob", sender_.keyring.public_key(),
                              sealed.nonce, sealed.wrapped_keys[0].wrapped,
                              other, sealed.ciphertext));
  }
}

TEST_F(SealTest, PartsOfTwoSealsDoNotMix) {
  Sealed a = SealToBobAndCarol();
  Sealed b = SealToBobAndCarol();
  // a's wrap with b's body, and a's body with b's nonce.
  Sealed mixed = CopyOf(a);
  mixed.ciphertext = b.ciphertext;
  ExpectDoesNotDecrypt(OpenAsBob(mixed));
  mixed = CopyOf(a);
  mixed.nonce = b.nonce;
  ExpectDoesNotDecrypt(OpenAsBob(mixed));
  mixed = CopyOf(a);
  mixed.wrapped_keys[0] = b.wrapped_keys[0];
  ExpectDoesNotDecrypt(OpenAsBob(mixed));
}

TEST_F(SealTest, RefusesUnusableRecipientKeys) {
  for (const BoxPublicKey& point : LowOrderPoints()) {
    std::vector<Recipient> recipients = {bob_.AsRecipient(), {"evil", point}};
    absl::StatusOr<Sealed> sealed =
        Seal(sender_.keyring, recipients, kAad, kBody);
    EXPECT_EQ(sealed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(sealed.status().message().find("evil"), absl::string_view::npos)
        << sealed.status();
  }
}

// Builds a sealed body with raw libsodium calls, following only the prose of
// seal.h, and checks that Open accepts it (and that Seal's output opens the
// same way): the format is the documented one, not merely self-consistent.
TEST_F(SealTest, InteroperatesWithTheDocumentedConstruction) {
  BoxKeyPair sender = GenerateBoxKey();
  unsigned char pair[crypto_box_BEFORENMBYTES];
  ASSERT_EQ(crypto_box_beforenm(pair, bob_.keyring.public_key().data(),
                                sender.secret.data()),
            0);
  unsigned char wrap_key[32];
  const std::string label = "tidings/v1/wrap";
  crypto_generichash(wrap_key, sizeof(wrap_key),
                     reinterpret_cast<const unsigned char*>(label.data()),
                     label.size(), pair, sizeof(pair));

  unsigned char content_key[32];
  crypto_aead_xchacha20poly1305_ietf_keygen(content_key);
  Nonce nonce;
  randombytes_buf(nonce.mutable_data(), nonce.size());

  const std::string aad(kAad);
  const std::string wrap_ad = aad + std::string(1, '\0') + "bob";
  std::string wrapped(48, '\0');
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(wrapped.data()), nullptr, content_key,
      sizeof(content_key),
      reinterpret_cast<const unsigned char*>(wrap_ad.data()), wrap_ad.size(),
      nullptr, nonce.data(), wrap_key);
  const std::string body(kBody);
  std::string ciphertext(body.size() + 16, '\0');
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(ciphertext.data()), nullptr,
      reinterpret_cast<const unsigned char*>(body.data()), body.size(),
      reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr,
      nonce.data(), content_key);

  absl::StatusOr<std::string> opened = Open(
      bob_.keyring, "bob", sender.public_key, nonce, wrapped, aad, ciphertext);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, body);

  // And the other way: unwrap Seal's output by hand.
  Keyring sender_ring(std::move(sender.secret));
  std::vector<Recipient> recipients = {bob_.AsRecipient()};
  absl::StatusOr<Sealed> sealed = Seal(sender_ring, recipients, aad, body);
  ASSERT_TRUE(sealed.ok());
  unsigned char unwrapped[32];
  ASSERT_EQ(crypto_aead_xchacha20poly1305_ietf_decrypt(
                unwrapped, nullptr, nullptr,
                reinterpret_cast<const unsigned char*>(
                    sealed->wrapped_keys[0].wrapped.data()),
                48, reinterpret_cast<const unsigned char*>(wrap_ad.data()),
                wrap_ad.size(), sealed->nonce.data(), wrap_key),
            0);
  std::string plain(body.size(), '\0');
  ASSERT_EQ(
      crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), nullptr, nullptr,
          reinterpret_cast<const unsigned char*>(sealed->ciphertext.data()),
          sealed->ciphertext.size(),
          reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
          sealed->nonce.data(), unwrapped),
      0);
  EXPECT_EQ(plain, body);
}

TEST_F(SealTest, ConcurrentSealAndOpen) {
  std::vector<Recipient> recipients = {bob_.AsRecipient(),
                                       carol_.AsRecipient()};
  std::vector<std::thread> threads;
  std::vector<int> failures(6, 0);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string body = absl::StrCat("body ", t, "/", i);
        absl::StatusOr<Sealed> sealed =
            Seal(sender_.keyring, recipients, kAad, body);
        if (!sealed.ok()) {
          ++failures[t];
          continue;
        }
        absl::StatusOr<std::string> opened =
            Open(carol_.keyring, "carol", sender_.keyring.public_key(),
                 sealed->nonce, sealed->wrapped_keys[1].wrapped, kAad,
                 sealed->ciphertext);
        if (!opened.ok() || *opened != body) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 6; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

// --- Opening in two steps ----------------------------------------------------

TEST_F(SealTest, SealedHoldsTheContentKeyEveryRecipientUnwraps) {
  Sealed sealed = SealToBobAndCarol();
  absl::StatusOr<SymmetricKey> bobs =
      OpenContentKey(bob_.keyring, "bob", sender_.keyring.public_key(),
                     sealed.nonce, sealed.wrapped_keys[0].wrapped, kAad);
  absl::StatusOr<SymmetricKey> carols =
      OpenContentKey(carol_.keyring, "carol", sender_.keyring.public_key(),
                     sealed.nonce, sealed.wrapped_keys[1].wrapped, kAad);
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  ASSERT_TRUE(carols.ok()) << carols.status();
  EXPECT_TRUE(SameKey(*bobs, sealed.content_key));
  EXPECT_TRUE(SameKey(*carols, sealed.content_key));

  absl::StatusOr<std::string> opened =
      OpenWithContentKey(*bobs, sealed.nonce, kAad, sealed.ciphertext);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kBody);
  // The sender reads its own body with the key Seal handed back.
  opened = OpenWithContentKey(sealed.content_key, sealed.nonce, kAad,
                              sealed.ciphertext);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kBody);
}

TEST_F(SealTest, EachSealHasAFreshContentKey) {
  Sealed a = SealToBobAndCarol();
  Sealed b = SealToBobAndCarol();
  EXPECT_FALSE(SameKey(a.content_key, b.content_key));
}

TEST_F(SealTest, OpenContentKeyFailsOpaquely) {
  Sealed sealed = SealToBobAndCarol();
  auto expect_fails = [](const absl::StatusOr<SymmetricKey>& key) {
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(key.status().message(), "body does not decrypt");
  };
  const std::string& wrapped = sealed.wrapped_keys[0].wrapped;
  // Another member's name, another member's wrap, another keyring.
  expect_fails(OpenContentKey(bob_.keyring, "carol",
                              sender_.keyring.public_key(), sealed.nonce,
                              wrapped, kAad));
  expect_fails(OpenContentKey(bob_.keyring, "bob", sender_.keyring.public_key(),
                              sealed.nonce, sealed.wrapped_keys[1].wrapped,
                              kAad));
  expect_fails(OpenContentKey(carol_.keyring, "bob",
                              sender_.keyring.public_key(), sealed.nonce,
                              wrapped, kAad));
  // Wrong aad, sender, nonce; wrong sizes; low-order sender keys.
  expect_fails(OpenContentKey(bob_.keyring, "bob", sender_.keyring.public_key(),
                              sealed.nonce, wrapped, "other aad"));
  expect_fails(OpenContentKey(bob_.keyring, "bob", carol_.keyring.public_key(),
                              sealed.nonce, wrapped, kAad));
  expect_fails(OpenContentKey(bob_.keyring, "bob", sender_.keyring.public_key(),
                              Nonce(), wrapped, kAad));
  for (const std::string& bad :
       {std::string(), wrapped.substr(0, 47), wrapped + '\0'}) {
    expect_fails(OpenContentKey(bob_.keyring, "bob",
                                sender_.keyring.public_key(), sealed.nonce, bad,
                                kAad));
  }
  for (const BoxPublicKey& point : LowOrderPoints()) {
    expect_fails(OpenContentKey(bob_.keyring, "bob", point, sealed.nonce,
                                wrapped, kAad));
  }
}

TEST_F(SealTest, OpenWithContentKeyFailsOpaquely) {
  Sealed sealed = SealToBobAndCarol();
  SymmetricKey other;
  randombytes_buf(other.mutable_data(), other.size());
  ExpectDoesNotDecrypt(
      OpenWithContentKey(other, sealed.nonce, kAad, sealed.ciphertext));
  ExpectDoesNotDecrypt(OpenWithContentKey(sealed.content_key, sealed.nonce,
                                          "other aad", sealed.ciphertext));
  ExpectDoesNotDecrypt(
      OpenWithContentKey(sealed.content_key, Nonce(), kAad, sealed.ciphertext));
  for (size_t len = 0; len < sealed.ciphertext.size(); ++len) {
    ExpectDoesNotDecrypt(OpenWithContentKey(sealed.content_key, sealed.nonce,
                                            kAad,
                                            sealed.ciphertext.substr(0, len)));
  }
  for (size_t bit = 0; bit < sealed.ciphertext.size() * 8; ++bit) {
    ExpectDoesNotDecrypt(OpenWithContentKey(sealed.content_key, sealed.nonce,
                                            kAad,
                                            FlipBit(sealed.ciphertext, bit)));
  }
}

// --- Box key validity --------------------------------------------------------

TEST(ValidateBoxPublicKeyTest, AcceptsGeneratedKeys) {
  for (int i = 0; i < 16; ++i) {
    EXPECT_TRUE(ValidateBoxPublicKey(GenerateBoxKey().public_key).ok());
  }
}

TEST(ValidateBoxPublicKeyTest, RefusesLowOrderPoints) {
  for (const BoxPublicKey& point : LowOrderPoints()) {
    absl::Status status = ValidateBoxPublicKey(point);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << ToHex(point.view());
    EXPECT_EQ(status.message(), "box key is a low-order point");
  }
}

// --- Local sealing -----------------------------------------------------------

class SealLocalTest : public ::testing::Test {
 protected:
  SealLocalTest() {
    randombytes_buf(key_.mutable_data(), key_.size());
    randombytes_buf(other_key_.mutable_data(), other_key_.size());
  }

  static void ExpectDoesNotOpen(const absl::StatusOr<std::string>& opened) {
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(opened.status().message(), "stored data does not decrypt");
  }

  SymmetricKey key_;
  SymmetricKey other_key_;
};

TEST_F(SealLocalTest, RoundTrips) {
  SymmetricKey content_key;
  crypto_aead_xchacha20poly1305_ietf_keygen(content_key.mutable_data());
  for (const std::string& plaintext :
       {std::string(), std::string(ViewOf(content_key)),
        std::string(1 << 16, 'x')}) {
    std::string sealed = SealLocal(key_, "envelope-id", plaintext);
    EXPECT_EQ(sealed.size(), 24 + plaintext.size() + 16);
    absl::StatusOr<std::string> opened = OpenLocal(key_, "envelope-id", sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST_F(SealLocalTest, FreshNonceEveryTime) {
  std::string a = SealLocal(key_, "aad", "secret");
  std::string b = SealLocal(key_, "aad", "secret");
  EXPECT_NE(a.substr(0, 24), b.substr(0, 24));
  EXPECT_NE(a, b);
}

TEST_F(SealLocalTest, WrongKeyOrAadFails) {
  std::string sealed = SealLocal(key_, "envelope-1", "content key");
  ExpectDoesNotOpen(OpenLocal(other_key_, "envelope-1", sealed));
  ExpectDoesNotOpen(OpenLocal(key_, "envelope-2", sealed));
  ExpectDoesNotOpen(OpenLocal(key_, "", sealed));
}

TEST_F(SealLocalTest, TamperingFails) {
  std::string sealed = SealLocal(key_, "aad", "content key");
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    ExpectDoesNotOpen(OpenLocal(key_, "aad", FlipBit(sealed, bit)));
  }
  for (size_t len = 0; len < sealed.size(); ++len) {
    ExpectDoesNotOpen(OpenLocal(key_, "aad", sealed.substr(0, len)));
  }
  ExpectDoesNotOpen(OpenLocal(key_, "aad", sealed + '\0'));
}

// A body key sealed with SealLocal is not a body: the label in the associated
// data keeps the two apart even under the same key bytes.
TEST_F(SealLocalTest, IsNotABodyUnderTheSameKey) {
  std::string sealed = SealLocal(key_, "aad", "text");
  std::optional<Nonce> nonce = Nonce::FromBytes(sealed.substr(0, 24));
  ASSERT_TRUE(nonce.has_value());
  ExpectDoesNotDecrypt(
      OpenWithContentKey(key_, *nonce, "aad", sealed.substr(24)));
}

TEST_F(SealLocalTest, MatchesTheDocumentedConstruction) {
  const std::string plaintext = "content key bytes";
  const std::string aad = "envelope-id";
  const std::string ad = std::string("tidings/v1/local") + '\0' + aad;
  std::string sealed = SealLocal(key_, aad, plaintext);
  std::string opened(plaintext.size(), '\0');
  ASSERT_EQ(
      crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(opened.data()), nullptr, nullptr,
          reinterpret_cast<const unsigned char*>(sealed.data()) + 24,
          sealed.size() - 24, reinterpret_cast<const unsigned char*>(ad.data()),
          ad.size(), reinterpret_cast<const unsigned char*>(sealed.data()),
          key_.data()),
      0);
  EXPECT_EQ(opened, plaintext);
}

}  // namespace
}  // namespace tidings::crypto

#include "crypto/types.h"

#include <sodium.h>

#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace tidings::crypto {
namespace {

using TestKey = SecretBytes<32, struct TestKeyTag>;
using TestId = PublicBytes<4, struct TestIdTag>;

TEST(EnsureSodiumTest, IsIdempotentAndThreadSafe) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([] { EnsureSodium(); });
  for (std::thread& t : threads) t.join();
  EnsureSodium();
  // sodium_init() returns 1 when it has already run.
  EXPECT_EQ(sodium_init(), 1);
}

TEST(HexTest, EncodesLowerCase) {
  EXPECT_EQ(ToHex(""), "");
  EXPECT_EQ(ToHex(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(ToHex("\xDE\xAD\xBE\xEF"), "deadbeef");
}

TEST(HexTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string hex = ToHex(all);
  EXPECT_EQ(hex.size(), 512u);
  std::optional<std::string> back = FromHex(hex);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
}

TEST(HexTest, AcceptsUpperAndMixedCase) {
  EXPECT_EQ(FromHex("DEADBEEF"),
            std::optional<std::string>("\xde\xad\xbe\xef"));
  EXPECT_EQ(FromHex("DeAdbEeF"),
            std::optional<std::string>("\xde\xad\xbe\xef"));
  EXPECT_EQ(FromHex(""), std::optional<std::string>(""));
}

TEST(HexTest, RejectsOddLength) {
  EXPECT_EQ(FromHex("0"), std::nullopt);
  EXPECT_EQ(FromHex("abc"), std::nullopt);
  EXPECT_EQ(FromHex("00112"), std::nullopt);
}

TEST(HexTest, RejectsNonHexCharacters) {
  for (absl::string_view bad : {"0g", "g0", "zz", " 0", "0 ", "00:11", "0x00",
                                "-1", "\n0", "ab\tc", "+0"}) {
    EXPECT_EQ(FromHex(bad), std::nullopt) << "accepted '" << bad << "'";
  }
  // An embedded NUL must not end the parse early.
  EXPECT_EQ(FromHex(absl::string_view("00\0\0", 4)), std::nullopt);
  EXPECT_EQ(FromHex(absl::string_view("\0\0", 2)), std::nullopt);
  // Every single non-hex byte in an otherwise valid string is refused.
  for (int c = 0; c < 256; ++c) {
    bool is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                  (c >= 'A' && c <= 'F');
    std::string s = "00";
    s[1] = static_cast<char>(c);
    EXPECT_EQ(FromHex(s).has_value(), is_hex) << "byte " << c;
  }
}

TEST(PublicBytesTest, FromBytesRequiresExactSize) {
  EXPECT_FALSE(TestId::FromBytes("abc").has_value());
  EXPECT_FALSE(TestId::FromBytes("abcde").has_value());
  EXPECT_FALSE(TestId::FromBytes("").has_value());
  std::optional<TestId> id = TestId::FromBytes("abcd");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->str(), "abcd");
  EXPECT_EQ(id->view(), "abcd");
}

TEST(PublicBytesTest, ComparesByValue) {
  EXPECT_EQ(*TestId::FromBytes("abcd"), *TestId::FromBytes("abcd"));
  EXPECT_FALSE(*TestId::FromBytes("abcd") == *TestId::FromBytes("abce"));
  EXPECT_TRUE(*TestId::FromBytes("abcd") < *TestId::FromBytes("abce"));
  EXPECT_EQ(TestId(), *TestId::FromBytes(std::string(4, '\0')));
}

TEST(SecretBytesTest, FromBytesRequiresExactSize) {
  EXPECT_FALSE(TestKey::FromBytes(std::string(31, 'k')).has_value());
  EXPECT_FALSE(TestKey::FromBytes(std::string(33, 'k')).has_value());
  std::optional<TestKey> key = TestKey::FromBytes(std::string(32, 'k'));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(sodium_memcmp(key->data(), std::string(32, 'k').data(), 32), 0);
}

bool IsZero(const TestKey& key) {
  return sodium_is_zero(key.data(), TestKey::size()) == 1;
}

TEST(SecretBytesTest, MoveConstructionWipesTheSource) {
  std::optional<TestKey> source = TestKey::FromBytes(std::string(32, '\x5a'));
  ASSERT_TRUE(source.has_value());
  TestKey moved(std::move(*source));
  EXPECT_TRUE(IsZero(*source));
  EXPECT_FALSE(IsZero(moved));
  EXPECT_EQ(moved.data()[0], 0x5a);
  EXPECT_EQ(moved.data()[31], 0x5a);
}

TEST(SecretBytesTest, MoveAssignmentWipesTheSource) {
  std::optional<TestKey> source = TestKey::FromBytes(std::string(32, '\x5a'));
  ASSERT_TRUE(source.has_value());
  std::optional<TestKey> target = TestKey::FromBytes(std::string(32, '\x11'));
  ASSERT_TRUE(target.has_value());
  *target = std::move(*source);
  EXPECT_TRUE(IsZero(*source));
  EXPECT_EQ(target->data()[0], 0x5a);
}

TEST(SecretBytesTest, SelfMoveAssignmentKeepsTheValue) {
  std::optional<TestKey> key = TestKey::FromBytes(std::string(32, '\x5a'));
  ASSERT_TRUE(key.has_value());
  TestKey& alias = *key;
  *key = std::move(alias);
  EXPECT_EQ(key->data()[0], 0x5a);
}

TEST(SecretBytesTest, DestructorWipes) {
  // Destroy in place in storage we own, then look at the bytes. Reading the
  // representation of a destroyed object through unsigned char is how one
  // observes a wipe; no other access is made.
  alignas(TestKey) unsigned char storage[sizeof(TestKey)];
  TestKey* key = new (storage) TestKey();
  key->mutable_data()[0] = 0x77;
  key->mutable_data()[31] = 0x77;
  key->~TestKey();
  EXPECT_EQ(sodium_is_zero(storage, sizeof(storage)), 1);
}

using TestSecret = SecretString<struct TestSecretTag>;

TEST(SecretStringTest, HoldsACopyOfItsBytes) {
  std::string source("pass\0word", 9);
  TestSecret secret(source);
  source[0] = 'X';
  EXPECT_EQ(secret.view(), absl::string_view("pass\0word", 9));
  EXPECT_EQ(secret.size(), 9u);
  EXPECT_FALSE(secret.empty());
  EXPECT_TRUE(TestSecret().empty());
  EXPECT_TRUE(TestSecret("").empty());
}

TEST(SecretStringTest, MovesLeaveTheSourceEmpty) {
  TestSecret a("correct horse");
  const char* bytes = a.view().data();
  TestSecret b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_EQ(b.view(), "correct horse");
  EXPECT_EQ(b.view().data(), bytes) << "moved, not copied";

  TestSecret c("other");
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.view(), "correct horse");
  TestSecret& alias = c;
  c = std::move(alias);
  EXPECT_EQ(c.view(), "correct horse");
}

TEST(SecretStringTest, TruncateKeepsAPrefixAndWipesTheRest) {
  TestSecret secret = TestSecret::OfSize(6);
  EXPECT_EQ(secret.view(), absl::string_view("\0\0\0\0\0\0", 6));
  std::memcpy(secret.mutable_data(), "abc\n\n\n", 6);
  secret.Truncate(3);
  EXPECT_EQ(secret.view(), "abc");
  EXPECT_EQ(
      sodium_is_zero(
          reinterpret_cast<const unsigned char*>(secret.mutable_data() + 3), 3),
      1);
  secret.Truncate(10);  // never grows
  EXPECT_EQ(secret.view(), "abc");
}

}  // namespace
}  // namespace tidings::crypto

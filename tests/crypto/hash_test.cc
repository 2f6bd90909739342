#include "crypto/hash.h"

#include <string>

#include "crypto/types.h"
#include "gtest/gtest.h"

namespace tidings::crypto {
namespace {

// BLAKE2b-256 (unkeyed, 32-byte output) known answers. The first two are the
// widely published vectors (also produced by Python's hashlib.blake2b with
// digest_size=32); the third is hashlib's answer for the pangram.
TEST(HashTest, MatchesKnownAnswers) {
  EXPECT_EQ(ToHex(Hash("").view()),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(ToHex(Hash("abc").view()),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  EXPECT_EQ(ToHex(Hash("The quick brown fox jumps over the lazy dog").view()),
            "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9");
}

std::string Bytes0To255Times5() {
  std::string data;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
  }
  return data;
}

TEST(HashTest, MatchesKnownAnswerAcrossManyBlocks) {
  // hashlib.blake2b(bytes(range(256)) * 5, digest_size=32): 10 blocks.
  EXPECT_EQ(ToHex(Hash(Bytes0To255Times5()).view()),
            "82628cbfc9689e234b0923a531f4578fe2e7138a03e2f81ed6cde97517336650");
}

TEST(HasherTest, PiecesHashLikeTheirConcatenation) {
  std::string data = Bytes0To255Times5();
  // Split at every point, including block boundaries (128 bytes).
  for (size_t split = 0; split <= data.size(); split += 7) {
    Hasher hasher;
    hasher.Update(absl::string_view(data).substr(0, split));
    hasher.Update(absl::string_view(data).substr(split));
    EXPECT_EQ(hasher.Finish(), Hash(data)) << "split at " << split;
  }
  Hasher empty;
  EXPECT_EQ(empty.Finish(), Hash(""));
}

TEST(HasherTest, UpdateFieldIsLengthPrefixedLittleEndian) {
  Hasher fields;
  fields.UpdateField("ab");
  fields.UpdateField("c");
  fields.UpdateField("");
  // hashlib over struct.pack('<Q', len(f)) + f for f in (b'ab', b'c', b'').
  EXPECT_EQ(ToHex(fields.Finish().view()),
            "83be13b801b31cd06330bcb69396b0e9507f58ddc7099a1875fa75a9cfc7e635");

  Hasher manual;
  manual.Update(std::string("\x02\0\0\0\0\0\0\0ab", 10));
  manual.Update(std::string("\x01\0\0\0\0\0\0\0c", 9));
  manual.Update(std::string(8, '\0'));
  Hasher again;
  again.UpdateField("ab");
  again.UpdateField("c");
  again.UpdateField("");
  EXPECT_EQ(manual.Finish(), again.Finish());
}

TEST(HasherTest, FieldBoundariesCannotBeShifted) {
  Hasher a;
  a.UpdateField("ab");
  a.UpdateField("c");
  Hasher b;
  b.UpdateField("a");
  b.UpdateField("bc");
  Hasher c;
  c.UpdateField("abc");
  Hasher d;
  d.UpdateField("abc");
  d.UpdateField("");
  Hash256 ha = a.Finish(), hb = b.Finish(), hc = c.Finish(), hd = d.Finish();
  EXPECT_FALSE(ha == hb);
  EXPECT_FALSE(ha == hc);
  EXPECT_FALSE(hc == hd);
  EXPECT_FALSE(hc == Hash("abc"));
}

TEST(HasherTest, LongFieldLengthUsesAllEightBytes) {
  std::string big(300, 'x');  // 300 = 0x012c: needs two length bytes.
  Hasher fields;
  fields.UpdateField(big);
  EXPECT_EQ(fields.Finish(),
            Hash(std::string("\x2c\x01\0\0\0\0\0\0", 8) + big));
}

TEST(HasherDeathTest, FinishTwiceIsABug) {
  EXPECT_DEATH(
      {
        Hasher hasher;
        hasher.Finish();
        hasher.Finish();
      },
      "Finish called twice");
}

}  // namespace
}  // namespace tidings::crypto

#include "base/json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tidings::base {
namespace {

TEST(JsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("1\n2\t3\r4"), "\"1\\n2\\t3\\r4\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonString(std::string("a\0b", 3)), "\"a\\u0000b\"");
  // DEL is not a JSON control character.
  EXPECT_EQ(JsonString("\x7f"), "\"\x7f\"");
}

TEST(JsonStringTest, KeepsValidUtf8AndReplacesEachInvalidByte) {
  EXPECT_EQ(JsonString("Kuala Lumpur \xe2\x80\x94 \xf0\x9f\x9a\xa2"),
            "\"Kuala Lumpur \xe2\x80\x94 \xf0\x9f\x9a\xa2\"");
  EXPECT_EQ(JsonString("\xff"), "\"\\ufffd\"");
  // A truncated sequence, an overlong '/', a surrogate: one U+FFFD a byte.
  EXPECT_EQ(JsonString("x\xe2\x80"), "\"x\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
}

TEST(JsonNumberTest, DoublesRoundTripAndNonFiniteIsNull) {
  EXPECT_EQ(JsonDouble(0.1), "0.10000000000000001");
  EXPECT_EQ(JsonDouble(3.0), "3");
  EXPECT_EQ(JsonDouble(1234.5678, 6), "1234.57");
  EXPECT_EQ(JsonFixed(2.0, 3), "2.000");
  EXPECT_EQ(JsonDouble(std::nan("")), "null");
  EXPECT_EQ(JsonDouble(std::numeric_limits<double>::infinity(), 6), "null");
  EXPECT_EQ(JsonFixed(-std::numeric_limits<double>::infinity(), 3), "null");
}

TEST(JsonArrayTest, StringsAreQuotedRawValuesAreNot) {
  EXPECT_EQ(JsonStringArray({}), "[]");
  EXPECT_EQ(JsonStringArray({"MY.NCB", "PH\"CG"}), "[\"MY.NCB\",\"PH\\\"CG\"]");
  EXPECT_EQ(JsonArray({"1", "{\"a\":true}"}), "[1,{\"a\":true}]");
}

TEST(JsonObjectTest, KeepsInsertionOrderOnOneLine) {
  JsonObject inner;
  inner.Int("n", uint64_t{18446744073709551615u}).Bool("ok", false);
  const std::string json = JsonObject()
                               .String("name", "x")
                               .Int("seq", -3)
                               .Double("lat", 3.5)
                               .Bool("sealed", true)
                               .Object("inner", inner)
                               .Raw("list", JsonStringArray({"a"}))
                               .Build();
  EXPECT_EQ(json,
            "{\"name\":\"x\",\"seq\":-3,\"lat\":3.5,\"sealed\":true,"
            "\"inner\":{\"n\":18446744073709551615,\"ok\":false},"
            "\"list\":[\"a\"]}");
  EXPECT_EQ(JsonObject().Build(), "{}");
}

TEST(JsonObjectTest, PrettyPutsEachFieldOnItsOwnLine) {
  JsonObject inner;
  inner.Int("a", 1).Int("b", 2);
  EXPECT_EQ(JsonObject().String("k", "v").Object("o", inner).BuildPretty(),
            "{\n  \"k\": \"v\",\n  \"o\": {\"a\":1,\"b\":2}\n}\n");
}

}  // namespace
}  // namespace tidings::base

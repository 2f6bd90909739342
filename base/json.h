// The one JSON writer: `tidings --json` output and the benchmarks' result
// files. Objects keep their fields in insertion order; values are built as
// JSON text and nested as such.
//
// Strings are UTF-8 safe: valid UTF-8 passes through, each invalid byte
// becomes U+FFFD ("\ufffd"), and control characters are escaped, so that
// any bytes (a peer's title, a file name) give valid JSON.
//
// Thread-safety: pure functions; a JsonObject is used by one thread at a
// time.
#ifndef TIDINGS_BASE_JSON_H_
#define TIDINGS_BASE_JSON_H_

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tidings::base {

// Digits that make "%.*g" round-trip any double.
inline constexpr int kJsonRoundTripDigits = 17;

// `s` as a quoted JSON string.
std::string JsonString(absl::string_view s);
// A JSON array of `values` as strings.
std::string JsonStringArray(absl::Span<const std::string> values);
// A JSON array of values that are JSON text already.
std::string JsonArray(absl::Span<const std::string> raw_values);
// `value` with `significant_digits` ("%.*g"); null if not finite.
std::string JsonDouble(double value,
                       int significant_digits = kJsonRoundTripDigits);
// `value` with `decimals` after the point ("%.*f"); null if not finite.
std::string JsonFixed(double value, int decimals);

// A JSON object, in insertion order.
class JsonObject {
 public:
  // A field whose value is JSON text already (an array, a nested object).
  JsonObject& Raw(absl::string_view key, absl::string_view raw_json) {
    fields_.emplace_back(std::string(key), std::string(raw_json));
    return *this;
  }
  JsonObject& String(absl::string_view key, absl::string_view value) {
    return Raw(key, JsonString(value));
  }
  template <typename Integer>
  JsonObject& Int(absl::string_view key, Integer value) {
    static_assert(std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>,
                  "Int takes whole numbers; use Double or Bool");
    return Raw(key, absl::StrCat(value));
  }
  JsonObject& Double(absl::string_view key, double value,
                     int significant_digits = kJsonRoundTripDigits) {
    return Raw(key, JsonDouble(value, significant_digits));
  }
  JsonObject& Bool(absl::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  JsonObject& Object(absl::string_view key, const JsonObject& value) {
    return Raw(key, value.Build());
  }

  // On one line: {"a":1,"b":"x"}.
  std::string Build() const;
  // One field per line, indented by two, nested values on their field's
  // line; ends with a newline.
  std::string BuildPretty() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace tidings::base

#endif  // TIDINGS_BASE_JSON_H_

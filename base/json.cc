#include "base/json.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/utf8.h"

namespace tidings::base {
namespace {

// The escape of an ASCII character inside a JSON string, or empty if it
// stands for itself.
std::string EscapeAscii(char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\t':
      return "\\t";
    case '\r':
      return "\\r";
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        return absl::StrFormat("\\u%04x", static_cast<unsigned>(c));
      }
      return "";
  }
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = DecodeUtf8(s, i, cp);
    if (len == 0) {
      out.append("\\ufffd");
      ++i;
      continue;
    }
    if (len == 1) {
      const std::string escaped = EscapeAscii(s[i]);
      if (escaped.empty()) {
        out.push_back(s[i]);
      } else {
        out.append(escaped);
      }
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  out.push_back('"');
  return out;
}

std::string JsonStringArray(absl::Span<const std::string> values) {
  std::vector<std::string> quoted;
  quoted.reserve(values.size());
  for (const std::string& v : values) quoted.push_back(JsonString(v));
  return JsonArray(quoted);
}

std::string JsonArray(absl::Span<const std::string> raw_values) {
  return absl::StrCat("[", absl::StrJoin(raw_values, ","), "]");
}

std::string JsonDouble(double value, int significant_digits) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.*g", significant_digits, value);
}

std::string JsonFixed(double value, int decimals) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.*f", decimals, value);
}

std::string JsonObject::Build() const {
  std::vector<std::string> parts;
  parts.reserve(fields_.size());
  for (const auto& [key, value] : fields_) {
    parts.push_back(absl::StrCat(JsonString(key), ":", value));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string JsonObject::BuildPretty() const {
  std::vector<std::string> parts;
  parts.reserve(fields_.size());
  for (const auto& [key, value] : fields_) {
    parts.push_back(absl::StrCat("  ", JsonString(key), ": ", value));
  }
  return absl::StrCat("{\n", absl::StrJoin(parts, ",\n"), "\n}\n");
}

}  // namespace tidings::base

#include "cli/text.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/utf8.h"

namespace tidings::node::cli_internal {
namespace {

using base::DecodeUtf8;

// Code points that reorder or hide text on a terminal.
bool IsBidiControl(char32_t cp) {
  return cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// Appends the one-byte character `c` (code point `cp`), escaped if it is a
// control character.
void AppendAscii(char c, char32_t cp, Lines lines, std::string& out) {
  if ((c == '\n' || c == '\t') && lines == Lines::kKeep) {
    out.push_back(c);
  } else if (cp < 0x20 || cp == 0x7F) {
    absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned>(cp));
  } else {
    out.push_back(c);
  }
}

}  // namespace

std::string Printable(absl::string_view s, Lines lines) {
  std::string out;
  out.reserve(s.size());
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = DecodeUtf8(s, i, cp);
    if (len == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    if (len == 1) {
      AppendAscii(s[i], cp, lines, out);
    } else if ((cp >= 0x80 && cp <= 0x9F) || IsBidiControl(cp)) {
      absl::StrAppendFormat(&out, "\\u{%04x}", static_cast<unsigned>(cp));
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  return out;
}

std::string Truncate(absl::string_view s, size_t max) {
  char32_t cp = 0;
  size_t i = 0;
  for (size_t n = 0; i < s.size() && n < max; ++n) {
    const size_t len = DecodeUtf8(s, i, cp);
    i += len == 0 ? 1 : len;
  }
  if (i >= s.size()) return std::string(s);
  return absl::StrCat(s.substr(0, i), "...");
}

size_t DisplayWidth(absl::string_view s) {
  char32_t cp = 0;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    const size_t len = DecodeUtf8(s, i, cp);
    i += len == 0 ? 1 : len;
  }
  return n;
}

std::string PadRight(absl::string_view s, size_t width) {
  std::string out(s);
  const size_t shown = DisplayWidth(s);
  if (shown < width) out.append(width - shown, ' ');
  return out;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows,
                std::ostream& out) {
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c + 1 < row.size(); ++c) {
      absl::StrAppend(&line, PadRight(row[c], widths[c] + 2));
    }
    absl::StrAppend(&line, row.back());
    out << absl::StripTrailingAsciiWhitespace(line) << "\n";
  }
}

std::string IsoTime(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

}  // namespace tidings::node::cli_internal

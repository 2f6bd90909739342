// UTF-8 decoding, one code point at a time: what the JSON writer
// (base/json.h) and the CLI's terminal-safe text (cli/text.h) are built on.
// Strict: overlong forms, surrogates and code points above U+10FFFF are
// invalid.
//
// Thread-safety: pure functions.
#ifndef TIDINGS_BASE_UTF8_H_
#define TIDINGS_BASE_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace tidings::base {

// The length (1 to 4) of the valid UTF-8 sequence at s[i], with its code
// point in `cp`; 0 if the bytes there are not valid UTF-8. Requires
// i < s.size().
size_t DecodeUtf8(absl::string_view s, size_t i, char32_t& cp);

bool IsValidUtf8(absl::string_view s);

}  // namespace tidings::base

#endif  // TIDINGS_BASE_UTF8_H_

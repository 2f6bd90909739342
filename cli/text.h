// Terminal-safe text. Titles, texts, names and ids come from other
// agencies; printing their bytes raw would let a peer drive the officer's
// terminal with escape sequences, reorder what is shown (bidi overrides) or
// break a table. Everything the CLI prints that it did not write itself goes
// through Printable.
//
// Private to cli/. Thread-safety: pure functions.
#ifndef TIDINGS_CLI_TEXT_H_
#define TIDINGS_CLI_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tidings::node::cli_internal {

enum class Lines {
  kEscape,  // a one-line field: newlines and tabs shown as escapes too
  kKeep,    // a text body: newlines and tabs kept
};

// `s` with control characters, C1 controls, bidi overrides and invalid bytes
// shown as escapes ("\x1b", "\u{202e}"), so that what the officer sees is
// what was sent.
std::string Printable(absl::string_view s, Lines lines);

// The first `max` code points of `s` (an invalid byte counts as one), with
// "..." when something was cut.
std::string Truncate(absl::string_view s, size_t max);

// Code points in `s` (an invalid byte counts as one): its width in a
// terminal column, near enough for our tables.
size_t DisplayWidth(absl::string_view s);

// `s` padded with spaces to `width` columns.
std::string PadRight(absl::string_view s, size_t width);

// Rows whose columns are padded to their widest cell (cells already
// Printable), the last column unpadded; the first row is the heading.
void PrintTable(const std::vector<std::vector<std::string>>& rows,
                std::ostream& out);

// "2024-05-01T12:00:00Z", or "-" for 0.
std::string IsoTime(int64_t unix_ms);

}  // namespace tidings::node::cli_internal

#endif  // TIDINGS_CLI_TEXT_H_

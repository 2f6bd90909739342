// The CLI's command line: a command's flags and positional arguments, parsed
// per call with absl's flag marshalling (absl::ParseFlag: the same syntax for
// numbers, booleans and durations as ABSL_FLAG), not with
// absl::ParseCommandLine: that one exits the process on a bad flag (exit 1,
// several lines), works on a process-global registry, and so could neither
// give "one line, exit 2" nor run in-process in tests.
//
// Private to cli/. Thread-safety: values; no global state.
#ifndef TIDINGS_CLI_ARGS_H_
#define TIDINGS_CLI_ARGS_H_

#include <cstddef>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tidings::node::cli_internal {

// A usage error: the command line itself is wrong (exit 2, kCliUsage). An
// InvalidArgument status carrying a payload that IsUsageError reads.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

struct FlagSpec {
  absl::string_view name;
  // Empty for a boolean flag ("--json", "--json=false").
  absl::string_view value_name;
  absl::string_view help;
  bool repeatable = false;
};

// Flags that many commands share.
inline constexpr FlagSpec kJsonFlag{"json", "", "print JSON instead of text"};
inline constexpr FlagSpec kSocketFlag{
    "socket", "PATH", "the node's client socket (or give --config)"};
inline constexpr FlagSpec kConfigFlag{
    "config", "FILE", "the node's config file; its client_socket is used"};
inline constexpr FlagSpec kPassphraseCostFlag{
    "passphrase-cost", "COST",
    "what one passphrase try costs (Argon2id): interactive (64 MiB), "
    "moderate (256 MiB, default) or sensitive (1 GiB)"};

// The parsed command line of one command.
class Args {
 public:
  bool Has(absl::string_view name) const {
    return values_.contains(std::string(name));
  }
  // The value of a flag given once, or nullptr.
  const std::string* Find(absl::string_view name) const;
  std::vector<std::string> All(absl::string_view name) const;
  // The flag's value; a usage error "missing required flag --<name>".
  absl::StatusOr<std::string> Required(absl::string_view name) const;
  // The flag parsed as T with absl's flag syntax; nullopt if absent.
  // `what` describes a valid value for the error message.
  template <typename T>
  absl::StatusOr<std::optional<T>> Get(absl::string_view name,
                                       absl::string_view what) const {
    const std::string* raw = Find(name);
    if (raw == nullptr) return std::optional<T>();
    T value{};
    std::string error;
    // Explicit <T>: Debian's Abseil also has a deprecated non-template
    // ParseFlag(std::string, Duration*) that would win otherwise.
    if (!absl::ParseFlag<T>(*raw, &value, &error)) {
      return UsageError(absl::StrCat("--", name, " '", absl::CHexEscape(*raw),
                                     "' is not ", what));
    }
    return std::optional<T>(std::move(value));
  }
  // A boolean flag: true if given (and not "=false").
  bool Bool(absl::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  void Add(absl::string_view name, std::string value) {
    values_[std::string(name)].push_back(std::move(value));
  }
  void AddPositional(std::string value) {
    positional_.push_back(std::move(value));
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Runs a command on its parsed arguments, writing its result to `out`.
using Handler = absl::Status (*)(const Args& args, std::ostream& out);

// One command of the table: its help text (data) and its handler.
struct Command {
  absl::string_view name;      // "keygen", "roster init"
  absl::string_view synopsis;  // what follows the name in the usage line
  absl::string_view summary;   // one line for `tidings --help`
  absl::string_view description;
  std::vector<FlagSpec> flags;
  size_t min_positional = 0;
  size_t max_positional = 0;
  absl::string_view positional_name;  // "an envelope ID", for errors
  Handler handler = nullptr;
};

// "--help", "-h" or "-help".
bool IsHelpArg(absl::string_view arg);

// `argv` (the words after the command's name) against `command`'s flags and
// positional count. Usage errors name the first problem.
absl::StatusOr<Args> ParseArgs(const Command& command,
                               const std::vector<std::string>& argv);

// `tidings <command> --help`.
void PrintCommandHelp(const Command& command, std::ostream& out);

// Shared checks of flag values; each failure is a usage error.
//
// At most `max_bytes` of valid UTF-8.
absl::Status ValidateText(absl::string_view flag, absl::string_view value,
                          size_t max_bytes);
// A well-formed agency id (ValidateAgencyId).
absl::Status ValidateAgencyFlag(absl::string_view flag,
                                absl::string_view agency);
// Comma-separated values of a repeatable flag, whitespace stripped, empty
// items refused.
absl::StatusOr<std::vector<std::string>> ListFlag(const Args& args,
                                                  absl::string_view name);

}  // namespace tidings::node::cli_internal

#endif  // TIDINGS_CLI_ARGS_H_

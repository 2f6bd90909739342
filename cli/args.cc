#include "cli/args.h"

#include <algorithm>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/utf8.h"
#include "cli/text.h"
#include "node/model/roster.h"

namespace tidings::node::cli_internal {
namespace {

constexpr absl::string_view kUsagePayload = "tidings/cli/usage";

// Adds one flag word (and the value after it, if it takes one) to `args`;
// `i` moves past what it consumed.
absl::Status AddFlag(const Command& command,
                     const std::vector<std::string>& argv, size_t& i,
                     Args& args) {
  const std::string& arg = argv[i];
  absl::string_view body = arg;
  if (!absl::ConsumePrefix(&body, "--")) absl::ConsumePrefix(&body, "-");
  std::optional<std::string> inline_value;
  absl::string_view name = body;
  if (const size_t eq = body.find('='); eq != absl::string_view::npos) {
    name = body.substr(0, eq);
    inline_value = std::string(body.substr(eq + 1));
  }
  auto spec = std::find_if(command.flags.begin(), command.flags.end(),
                           [&](const FlagSpec& f) { return f.name == name; });
  if (spec == command.flags.end()) {
    return UsageError(absl::StrCat("unknown flag '", absl::CHexEscape(arg),
                                   "' for '", command.name, "'"));
  }
  if (!spec->repeatable && args.Has(spec->name)) {
    return UsageError(absl::StrCat("--", spec->name, " is given twice"));
  }
  if (spec->value_name.empty()) {
    bool value = true;
    std::string error;
    if (inline_value.has_value() &&
        !absl::ParseFlag(*inline_value, &value, &error)) {
      return UsageError(absl::StrCat("--", spec->name, " '",
                                     absl::CHexEscape(*inline_value),
                                     "' is not true or false"));
    }
    args.Add(spec->name, value ? "true" : "false");
    return absl::OkStatus();
  }
  if (inline_value.has_value()) {
    args.Add(spec->name, *std::move(inline_value));
  } else if (i + 1 < argv.size()) {
    args.Add(spec->name, argv[++i]);
  } else {
    return UsageError(absl::StrCat("--", spec->name, " needs a value (",
                                   spec->value_name, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

const std::string* Args::Find(absl::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? nullptr : &it->second.back();
}

std::vector<std::string> Args::All(absl::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<std::string> Args::Required(absl::string_view name) const {
  const std::string* value = Find(name);
  if (value == nullptr) {
    return UsageError(absl::StrCat("missing required flag --", name));
  }
  return *value;
}

bool Args::Bool(absl::string_view name) const {
  const std::string* raw = Find(name);
  return raw != nullptr && *raw == "true";
}

bool IsHelpArg(absl::string_view arg) {
  return arg == "--help" || arg == "-h" || arg == "-help";
}

absl::StatusOr<Args> ParseArgs(const Command& command,
                               const std::vector<std::string>& argv) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (flags_done || arg == "-" || !absl::StartsWith(arg, "-")) {
      args.AddPositional(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (absl::Status s = AddFlag(command, argv, i, args); !s.ok()) return s;
  }
  const size_t n = args.positional().size();
  if (n > command.max_positional) {
    return UsageError(absl::StrCat(
        "unexpected argument '",
        absl::CHexEscape(args.positional()[command.max_positional]), "'"));
  }
  if (n < command.min_positional) {
    return UsageError(
        absl::StrCat("'", command.name, "' needs ", command.positional_name));
  }
  return args;
}

void PrintCommandHelp(const Command& command, std::ostream& out) {
  out << "usage: tidings " << command.name << " " << command.synopsis << "\n\n"
      << command.description << "\n";
  if (command.flags.empty()) return;
  out << "\nflags:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const FlagSpec& flag : command.flags) {
    std::string left = absl::StrCat("--", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, " ", flag.value_name);
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), std::string(flag.help));
  }
  for (const auto& [left, help] : rows) {
    out << "  " << PadRight(left, width + 2) << help << "\n";
  }
}

absl::Status ValidateText(absl::string_view flag, absl::string_view value,
                          size_t max_bytes) {
  if (value.size() > max_bytes) {
    return UsageError(absl::StrCat("--", flag, " is ", value.size(),
                                   " bytes; the limit is ", max_bytes));
  }
  if (!base::IsValidUtf8(value)) {
    return UsageError(absl::StrCat("--", flag, " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAgencyFlag(absl::string_view flag,
                                absl::string_view agency) {
  if (absl::Status s = ValidateAgencyId(agency); !s.ok()) {
    return UsageError(absl::StrCat("--", flag, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListFlag(const Args& args,
                                                  absl::string_view name) {
  std::vector<std::string> out;
  for (const std::string& value : args.All(name)) {
    for (absl::string_view item : absl::StrSplit(value, ',')) {
      item = absl::StripAsciiWhitespace(item);
      if (item.empty()) {
        return UsageError(absl::StrCat(
            "--", name, " '", absl::CHexEscape(value), "' has an empty item"));
      }
      out.emplace_back(item);
    }
  }
  return out;
}

}  // namespace tidings::node::cli_internal

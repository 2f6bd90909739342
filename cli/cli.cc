// The `tidings` CLI: the command table and the dispatch. Each command lives
// in its group's file (cli/commands.h lists them); flags are parsed by
// cli/args.h, text made terminal-safe by cli/text.h.
#include "cli/cli.h"

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/text.h"

namespace tidings::node {
namespace {

using cli_internal::Command;
using cli_internal::IsHelpArg;
using cli_internal::IsUsageError;
using cli_internal::Lines;
using cli_internal::PadRight;
using cli_internal::Printable;
using cli_internal::UsageError;

// Every command, in the order `tidings --help` lists them.
const std::vector<Command>& Commands() {
  static const auto* const kCommands = new std::vector<Command>{
      cli_internal::KeygenCommand(),       cli_internal::RosterInitCommand(),
      cli_internal::RosterSignCommand(),   cli_internal::RosterProposeCommand(),
      cli_internal::RosterVerifyCommand(), cli_internal::RosterShowCommand(),
      cli_internal::KeySealCommand(),      cli_internal::KeyUnsealCommand(),
      cli_internal::SendCommand(),         cli_internal::InboxCommand(),
      cli_internal::ShowCommand(),         cli_internal::StatusCommand(),
      cli_internal::StatsCommand(),        cli_internal::NodeCertifyCommand(),
      cli_internal::NodeRevokeCommand(),   cli_internal::NodeListCommand(),
  };
  return *kCommands;
}

// Commands of two words: the first word and its subcommands.
struct CommandGroup {
  absl::string_view name;
  absl::string_view subcommands;  // "init, sign, verify or show"
  absl::string_view synopsis;     // "<init|sign|verify|show>"
};
constexpr CommandGroup kGroups[] = {
    {"roster", "init, sign, propose, verify or show",
     "<init|sign|propose|verify|show>"},
    {"key", "seal or unseal", "<seal|unseal>"},
    {"node", "certify, revoke or list", "<certify|revoke|list>"},
};

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

const CommandGroup* FindGroup(absl::string_view name) {
  for (const CommandGroup& group : kGroups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

void PrintGeneralHelp(std::ostream& out) {
  out << "usage: tidings <command> [flags]\n\n"
         "The officer's and operator's tool for a Tidings node.\n\n"
         "commands:\n";
  size_t width = 0;
  for (const Command& command : Commands()) {
    width = std::max(width, command.name.size());
  }
  for (const Command& command : Commands()) {
    out << "  " << PadRight(command.name, width + 2) << command.summary << "\n";
  }
  out << "\n`tidings <command> --help` explains a command.\n";
}

absl::Status GroupNeedsSubcommand(const CommandGroup& group) {
  return UsageError(absl::StrCat("'", group.name,
                                 "' needs a subcommand: ", group.subcommands));
}

void PrintGroupHelp(const CommandGroup& group, std::ostream& out) {
  out << "usage: tidings " << group.name << " " << group.synopsis
      << " [flags]\n\n";
  for (const Command& command : Commands()) {
    if (absl::StartsWith(command.name, absl::StrCat(group.name, " "))) {
      out << "  " << PadRight(command.name, 15) << command.summary << "\n";
    }
  }
  out << "\n`tidings " << group.name << " <subcommand> --help` explains one.\n";
}

// Which command argv names, consuming its one or two words.
absl::StatusOr<const Command*> SelectCommand(std::vector<std::string>& words) {
  std::string name = words.front();
  words.erase(words.begin());
  if (const CommandGroup* group = FindGroup(name); group != nullptr) {
    if (words.empty() || absl::StartsWith(words.front(), "-")) {
      return GroupNeedsSubcommand(*group);
    }
    name = absl::StrCat(name, " ", words.front());
    words.erase(words.begin());
  }
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command '", absl::CHexEscape(name),
                                   "'; `tidings --help` lists them"));
  }
  return command;
}

int Fail(const absl::Status& status, std::ostream& err,
         absl::string_view help_hint) {
  // One line, always: scripts and log collectors read errors line by line.
  std::string message = absl::StrReplaceAll(
      status.message(), {{"\r\n", "; "}, {"\n", "; "}, {"\r", "; "}});
  if (IsUsageError(status) && !help_hint.empty()) {
    absl::StrAppend(&message, " (see `", help_hint, "`)");
  }
  err << "tidings: " << Printable(message, Lines::kEscape) << std::endl;
  return IsUsageError(status) ? kCliUsage : kCliFailure;
}

bool HelpRequested(const std::vector<std::string>& words) {
  for (const std::string& word : words) {
    if (word == "--") return false;
    if (IsHelpArg(word)) return true;
  }
  return false;
}

// `tidings help [COMMAND]` and `tidings --help [COMMAND]`.
int RunHelp(const std::vector<std::string>& words, std::ostream& out,
            std::ostream& err) {
  if (words.size() == 1) {
    PrintGeneralHelp(out);
    return kCliOk;
  }
  std::vector<std::string> rest(words.begin() + 1, words.end());
  if (const CommandGroup* group = FindGroup(rest.front());
      group != nullptr && rest.size() == 1) {
    PrintGroupHelp(*group, out);
    return kCliOk;
  }
  absl::StatusOr<const Command*> command = SelectCommand(rest);
  if (!command.ok()) return Fail(command.status(), err, "tidings --help");
  PrintCommandHelp(**command, out);
  return kCliOk;
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);

  if (words.empty()) {
    return Fail(UsageError("no command given"), err, "tidings --help");
  }
  if (IsHelpArg(words.front()) || words.front() == "help") {
    return RunHelp(words, out, err);
  }
  if (const CommandGroup* group = FindGroup(words.front());
      group != nullptr && (words.size() == 1 || IsHelpArg(words[1]))) {
    if (words.size() > 1) {
      PrintGroupHelp(*group, out);
      return kCliOk;
    }
    return Fail(GroupNeedsSubcommand(*group), err,
                absl::StrCat("tidings ", group->name, " --help"));
  }

  absl::StatusOr<const Command*> selected = SelectCommand(words);
  if (!selected.ok()) return Fail(selected.status(), err, "tidings --help");
  const Command& command = **selected;
  const std::string hint = absl::StrCat("tidings ", command.name, " --help");
  if (HelpRequested(words)) {
    PrintCommandHelp(command, out);
    return kCliOk;
  }
  absl::StatusOr<cli_internal::Args> args = ParseArgs(command, words);
  if (!args.ok()) return Fail(args.status(), err, hint);
  const absl::Status status = command.handler(*args, out);
  if (!status.ok()) return Fail(status, err, hint);
  return kCliOk;
}

}  // namespace tidings::node

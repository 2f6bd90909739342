// The officer's and operator's command-line tool `tidings`, as a library so
// that tests drive every command in-process.
//
// Commands: keygen, key seal|unseal, roster init|sign|verify|show (files
// only); roster propose|sign --proposal|show, send, inbox, show, status,
// stats, node certify|revoke|list (gRPC to the node's client service on a
// unix socket). Passphrases come from files, never from argv.
// `tidings --help` lists them, `tidings <command> --help` explains one.
// This is cli/'s only public header; cli/commands.h says which file holds
// which command.
//
// Thread-safety: RunCli keeps no global state (flags are parsed per call, not
// through absl's global flag registry), so concurrent calls are safe.
#ifndef TIDINGS_CLI_CLI_H_
#define TIDINGS_CLI_CLI_H_

#include <ostream>

namespace tidings::node {

inline constexpr int kCliOk = 0;
// The command ran and failed: unreadable file, node unreachable, refused send.
inline constexpr int kCliFailure = 1;
// The command line itself is wrong; nothing was done and no node contacted.
inline constexpr int kCliUsage = 2;

// Runs `tidings` on argv (argv[0] is the program name). Results go to `out`
// (human-readable, or JSON with --json); every error is a single line
// "tidings: <reason>" on `err`. Returns kCliOk, kCliFailure or kCliUsage.
int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace tidings::node

#endif  // TIDINGS_CLI_CLI_H_

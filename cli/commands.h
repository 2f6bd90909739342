// The commands of `tidings`, one file per group; each file holds its
// commands' help text (data) next to their handlers:
//
//   commands_keys.cc         keygen, key seal, key unseal
//   commands_roster.cc       roster init, sign, verify, show (genesis files)
//   commands_roster_node.cc  roster propose, sign --proposal, show (the
//                            node's chain)
//   commands_notices.cc      send, inbox, show, status
//   commands_stats.cc        stats
//   commands_node.cc         node certify, revoke, list (field nodes)
//
// cli.cc puts them in the order `tidings --help` lists them.
//
// Private to cli/.
#ifndef TIDINGS_CLI_COMMANDS_H_
#define TIDINGS_CLI_COMMANDS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "cli/args.h"
#include "proto/roster.pb.h"

namespace tidings::node::cli_internal {

Command KeygenCommand();
Command KeySealCommand();
Command KeyUnsealCommand();

Command RosterInitCommand();
Command RosterSignCommand();
Command RosterProposeCommand();
Command RosterVerifyCommand();
Command RosterShowCommand();

Command SendCommand();
Command InboxCommand();
Command ShowCommand();
Command StatusCommand();
Command StatsCommand();

Command NodeCertifyCommand();
Command NodeRevokeCommand();
Command NodeListCommand();

// A roster member as --json shows it, and as text (`state` after its id
// unless empty); shared by the roster files and the node's chain.
base::JsonObject MemberJson(const proto::Member& member);
void PrintMember(const proto::Member& member, std::ostream& out,
                 absl::string_view state);

// The halves of `roster sign` and `roster show` that go through the node
// (commands_roster_node.cc).
absl::Status RunRosterSignProposal(const Args& args, std::ostream& out);
absl::Status RunRosterShowNode(const Args& args, std::ostream& out);

}  // namespace tidings::node::cli_internal

#endif  // TIDINGS_CLI_COMMANDS_H_

// `tidings` help and usage errors (cli/cli.cc, cli/args.cc).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/model/roster.h"
#include "proto/client.grpc.pb.h"
#include "proto/roster.pb.h"
#include "tests/cli/cli_testing.h"

namespace tidings::node {
namespace {

// ---------------------------------------------------------------------------
// Help and usage errors.

TEST(CliTest, GeneralHelpListsCommands) {
  for (const char* flag : {"--help", "-h", "help"}) {
    Result r = Tidings({flag});
    EXPECT_THAT(r, Succeeds()) << flag;
    for (const char* command :
         {"keygen", "key seal", "key unseal", "roster init", "roster sign",
          "roster verify", "roster show", "send", "inbox", "show", "status",
          "stats", "node certify", "node revoke", "node list"}) {
      EXPECT_THAT(r.out, HasSubstr(command)) << flag;
    }
  }
}

TEST(CliTest, EveryCommandHasHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {"keygen"},          {"key", "seal"},
      {"key", "unseal"},   {"roster", "init"},
      {"roster", "sign"},  {"roster", "verify"},
      {"roster", "show"},  {"send"},
      {"inbox"},           {"show"},
      {"status"},          {"stats"},
      {"node", "certify"}, {"node", "revoke"},
      {"node", "list"}};
  for (const auto& command : commands) {
    const std::string name = absl::StrJoin(command, " ");
    for (const char* flag : {"--help", "-h"}) {
      std::vector<std::string> args = command;
      args.push_back(flag);
      Result r = Tidings(args);
      EXPECT_THAT(r, Succeeds()) << name;
      EXPECT_THAT(r.out, StartsWith(absl::StrCat("usage: tidings ", name, " ")))
          << name;
    }
    // --help wins over anything else on the line, even bad flags.
    std::vector<std::string> args = command;
    args.insert(args.end(), {"--bogus", "x", "--help"});
    EXPECT_THAT(Tidings(args), Succeeds()) << name;
    // `tidings help <command>` too.
    args = command;
    args.insert(args.begin(), "help");
    Result r = Tidings(args);
    EXPECT_THAT(r, Succeeds()) << name;
    EXPECT_THAT(r.out, StartsWith(absl::StrCat("usage: tidings ", name)));
  }
  Result roster = Tidings({"roster", "--help"});
  EXPECT_THAT(roster, Succeeds());
  EXPECT_THAT(roster.out, HasSubstr("roster verify"));
  Result key = Tidings({"help", "key"});
  EXPECT_THAT(key, Succeeds());
  EXPECT_THAT(key.out, AllOf(HasSubstr("key seal"), HasSubstr("key unseal")));
  Result node = Tidings({"node", "--help"});
  EXPECT_THAT(node, Succeeds());
  EXPECT_THAT(node.out,
              AllOf(HasSubstr("node certify"), HasSubstr("node revoke"),
                    HasSubstr("node list")));
}

TEST(CliTest, UsageErrorsAreOneLineAndExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"roster"},
      {"roster", "frob"},
      {"help", "frob"},
      {"keygen", "--bogus"},
      {"keygen", "--agency"},
      {"keygen", "--out", "/tmp/x"},
      {"keygen", "--agency", "my.ncb", "--out", "/tmp/x"},
      {"keygen", "--agency", "MY.NCB", "--agency", "MY.NCB", "--out", "/x"},
      {"keygen", "--agency", "MY.NCB", "--out", "/x", "--endpoint", "nope"},
      {"keygen", "--agency", "MY.NCB", "--out", "/x", "extra"},
      {"keygen", "--agency", "MY.NCB", "--out", "/x", "--json=maybe"},
      // Never a passphrase on the command line.
      {"keygen", "--agency", "MY.NCB", "--out", "/x", "--passphrase", "pw"},
      {"keygen", "--agency", "MY.NCB", "--out", "/x", "--passphrase-cost",
       "interactive"},
      {"keygen", "--agency", "MY.NCB", "--out", "/x", "--passphrase-file",
       "/nonexistent/p", "--passphrase-cost", "cheap"},
      {"key"},
      {"key", "frob"},
      {"key", "seal", "--key", "/nonexistent/k"},
      {"key", "unseal", "--key", "/nonexistent/k"},
      {"key", "seal", "--passphrase-file", "/nonexistent/p"},
      {"roster", "sign", "--roster", "r", "--key", "k", "--passphrase", "pw"},
      {"roster", "init", "--name", "n", "--threshold", "x", "--out", "r", "a"},
      {"roster", "init", "--name", "n", "--threshold", "2", "--out", "r"},
      {"roster", "sign", "--roster", "r"},
      {"roster", "verify"},
      {"roster", "propose", "--socket", "/nonexistent/s"},
      {"roster", "propose", "--socket", "/nonexistent/s", "frob"},
      {"roster", "propose", "--socket", "/nonexistent/s", "admit"},
      {"roster", "propose", "--socket", "/nonexistent/s", "remove"},
      {"roster", "propose", "--socket", "/nonexistent/s", "rotate", "--agency",
       "MY.NCB"},
      {"roster", "propose", "--socket", "/nonexistent/s", "threshold"},
      {"roster", "propose", "--socket", "/nonexistent/s", "threshold",
       "--threshold", "many"},
      {"roster", "propose", "--socket", "/nonexistent/s", "endpoints"},
      {"roster", "propose", "admit", "--pub", "x.pub"},
      {"roster", "sign", "--proposal", "abc", "--socket", "/nonexistent/s"},
      {"inbox", "--socket", "/nonexistent/s", "--limit", "abc"},
      {"inbox", "--socket", "/nonexistent/s", "--limit", "0"},
      {"inbox", "--socket", "/nonexistent/s", "--config", "/nonexistent/c"},
      {"inbox"},
      {"show", "--socket", "/nonexistent/s"},
      {"show", "--socket", "/nonexistent/s", "abcdef12", "abcdef34"},
      {"show", "--socket", "/nonexistent/s", "abc"},
      {"show", "--socket", "/nonexistent/s", "not-hex!"},
      {"status", "--socket", "/nonexistent/s", std::string(65, 'a')},
      {"stats", "--receipts", "--socket", "/nonexistent/s"},
      // Field nodes.
      {"keygen", "--agency", "MY.NCB/ship", "--out", "/x"},
      {"keygen", "--agency", "my.ncb/SHIP", "--out", "/x"},
      {"keygen", "--agency", "MY.NCB/", "--out", "/x"},
      {"keygen", "--agency", "/SHIP1", "--out", "/x"},
      {"keygen", "--agency", "MY.NCB/SHIP1/X", "--out", "/x"},
      {"keygen", "--agency", "MY.NCB+SHIP1", "--out", "/x"},
      {"node"},
      {"node", "frob"},
      {"node", "certify", "--socket", "/nonexistent/s", "--out", "c"},
      {"node", "certify", "--socket", "/nonexistent/s", "--pub", "p"},
      {"node", "certify", "--pub", "p", "--out", "c"},
      {"node", "certify", "--socket", "/nonexistent/s", "--pub", "p", "--out",
       "c", "extra"},
      {"node", "revoke", "--socket", "/nonexistent/s"},
      {"node", "revoke", "--socket", "/nonexistent/s", "--node", "BAD"},
      {"node", "revoke", "--socket", "/nonexistent/s", "--node", "MY.NCB"},
      {"node", "revoke", "--socket", "/nonexistent/s", "--node", "MY.NCB/ship"},
      {"node", "revoke", "--socket", "/nonexistent/s", "--node", "my.ncb/SHIP"},
      {"node", "revoke", "--node", "MY.NCB/SHIP1"},
      {"node", "list"},
      {"node", "list", "--socket", "/nonexistent/s", "MY.NCB/SHIP1"},
      {"roster", "propose", "--socket", "/nonexistent/s", "remove", "--agency",
       "MY.NCB/SHIP1"},
  };
  for (const auto& args : cases) {
    EXPECT_THAT(Tidings(args), FailsWith(kCliUsage))
        << absl::StrJoin(args, " ");
  }
}

TEST(CliTest, NodeUsageErrorsNameTheProblem) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"node", "certify", "--socket", "/nonexistent/s", "--out", "c"},
       "missing required flag --pub"},
      {{"node", "certify", "--socket", "/nonexistent/s", "--pub", "p"},
       "missing required flag --out"},
      {{"node", "revoke", "--socket", "/nonexistent/s"},
       "missing required flag --node"},
      {{"node", "revoke", "--socket", "/nonexistent/s", "--node", "BAD"},
       "--node: field node id 'BAD' is not AGENCY/NAME"},
      {{"node", "revoke", "--socket", "/nonexistent/s", "--node",
        "MY.NCB/ship"},
       "in its name part"},
      {{"node", "revoke", "--socket", "/nonexistent/s", "--node",
        "my.ncb/SHIP"},
       "--node: field node id 'my.ncb/SHIP'"},
      {{"node", "revoke", "--socket", "/nonexistent/s", "--node",
        "MY.NCB/SHIP\x1b"},
       "\\x1b"},
      {{"node"}, "'node' needs a subcommand: certify, revoke or list"},
      {{"keygen", "--agency", "MY.NCB/ship", "--out", "/x"},
       "--agency: field node id 'MY.NCB/ship'"},
      {{"keygen", "--agency",
        absl::StrCat(std::string(32, 'A'), "/", std::string(32, 'B')), "--out",
        "/x"},
       "is longer than 64 characters"},
      {{"send", "--socket", "/nonexistent/s", "--kind", "alert", "--precedence",
        "flash", "--audience", "MY.NCB/SHIP1", "--text", "t"},
       "--audience: agency id 'MY.NCB/SHIP1'"},
  };
  for (const auto& [args, message] : cases) {
    Result r = Tidings(args);
    EXPECT_THAT(r, FailsWith(kCliUsage)) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, HasSubstr(message)) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, Not(HasSubstr("\x1b"))) << "escaped, not raw";
  }
}

}  // namespace
}  // namespace tidings::node

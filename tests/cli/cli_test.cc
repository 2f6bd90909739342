// Drives `tidings` in-process through RunCli. Client commands talk to a fake
// client service on a unix socket in a temp dir, so what the CLI sends and
// how it renders answers are both checked without a daemon.
#include "cli/cli.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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
#include "absl/strings/str_split.h"
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
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

Result Tidings(std::vector<std::string> args) {
  args.insert(args.begin(), "tidings");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  Result result;
  result.code = RunCli(static_cast<int>(args.size()), argv.data(), out, err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

// The error contract: exactly one line, "tidings: ...", nothing on out.
MATCHER_P(FailsWith, code, "") {
  *result_listener << "exit " << arg.code << ", err: " << arg.err
                   << ", out: " << arg.out;
  return arg.code == code && arg.out.empty() &&
         absl::StartsWith(arg.err, "tidings: ") &&
         std::count(arg.err.begin(), arg.err.end(), '\n') == 1;
}

MATCHER(Succeeds, "") {
  *result_listener << "exit " << arg.code << ", err: " << arg.err
                   << ", out: " << arg.out;
  return arg.code == 0 && arg.err.empty();
}

google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &parsed).ok())
      << text;
  return parsed;
}

using ::tidings::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

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

// ---------------------------------------------------------------------------
// keygen and roster, on files.

TEST(CliTest, KeygenWritesPrivateKeyAndPublicIdentity) {
  TempDir dir;
  Result r = Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys",
                      "--name", "Royal Malaysia Police NCB", "--endpoint",
                      "127.0.0.1:7101", "--endpoint", "10.0.0.1:7101"});
  ASSERT_THAT(r, Succeeds());

  const std::string key_path = dir / "keys/MY.NCB.key";
  const std::string pub_path = dir / "keys/MY.NCB.pub";
  struct stat st {};
  ASSERT_EQ(stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir / "keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "a new key directory is private";

  proto::PublicIdentity pub;
  ASSERT_TRUE(ReadProtoFile(pub_path, pub).ok());
  EXPECT_EQ(pub.member().agency(), "MY.NCB");
  EXPECT_EQ(pub.member().name(), "Royal Malaysia Police NCB");
  EXPECT_THAT(pub.member().endpoints(),
              ElementsAre("127.0.0.1:7101", "10.0.0.1:7101"));
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(key_path);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->verify_key().str(), pub.member().sign_pk());
  EXPECT_EQ(identity->box_public().str(), pub.member().box_pk());
  // Fingerprints printed for out-of-band comparison between founders.
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(pub.member().sign_pk())));
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(pub.member().box_pk())));
  EXPECT_THAT(r.out, HasSubstr("MY.NCB"));

  // The TLS key and certificate, pinned by the .pub file.
  const std::string tls_key = dir / "keys/MY.NCB.tls.key";
  const std::string tls_cert = dir / "keys/MY.NCB.tls.crt";
  ASSERT_EQ(stat(tls_key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(tls_cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  absl::StatusOr<crypto::TlsCredentials> tls =
      crypto::LoadTlsCredentials(tls_key, tls_cert);
  ASSERT_TRUE(tls.ok()) << tls.status();
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(tls->cert_pem);
  ASSERT_TRUE(fingerprint.ok());
  EXPECT_EQ(pub.member().tls_cert_sha256(), fingerprint->str());
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(fingerprint->view())));
  EXPECT_THAT(r.out, HasSubstr(tls_cert));

  // Never overwrites: neither the key nor the .pub file changes.
  const std::string key_before = ReadFile(key_path);
  const std::string pub_before = ReadFile(pub_path);
  EXPECT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys"}),
              FailsWith(kCliFailure));
  EXPECT_EQ(ReadFile(key_path), key_before);
  EXPECT_EQ(ReadFile(pub_path), pub_before);

  // A stray .pub alone also blocks, before any key is written.
  std::filesystem::rename(key_path, dir / "moved.key");
  Result again =
      Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys"});
  EXPECT_THAT(again, FailsWith(kCliFailure));
  EXPECT_THAT(again.err, HasSubstr("MY.NCB.pub already exists"));
  EXPECT_FALSE(std::filesystem::exists(key_path));

  // So does a stray TLS key or certificate.
  for (const char* stray : {"MY.NCB.tls.key", "MY.NCB.tls.crt"}) {
    TempDir other;
    std::ofstream(other / stray) << "stray";
    Result blocked =
        Tidings({"keygen", "--agency", "MY.NCB", "--out", other.path()});
    EXPECT_THAT(blocked, FailsWith(kCliFailure)) << stray;
    EXPECT_THAT(blocked.err, HasSubstr(absl::StrCat(stray, " already exists")));
    EXPECT_FALSE(std::filesystem::exists(other / "MY.NCB.key")) << stray;
    EXPECT_FALSE(std::filesystem::exists(other / "MY.NCB.pub")) << stray;
    EXPECT_EQ(ReadFile(other / stray), "stray");
  }
}

TEST(CliTest, KeygenPutsEndpointHostsInTheCertificate) {
  TempDir dir;
  ASSERT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir.path(),
                       "--endpoint", "node.ncb.example:7100,[::1]:7101"}),
              Succeeds());
  const std::string pem = ReadFile(dir / "MY.NCB.tls.crt");
  ASSERT_THAT(pem, StartsWith("-----BEGIN CERTIFICATE-----\n"));
  // The subjectAltName entries are in the DER as they are: the DNS name as
  // an IA5String, the addresses as 4 or 16 bytes (crypto/tls_cert_test checks
  // them with OpenSSL).
  std::string base64;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    if (!absl::StartsWith(line, "-----")) absl::StrAppend(&base64, line);
  }
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(base64, &der));
  EXPECT_THAT(der, HasSubstr("node.ncb.example"));
  EXPECT_THAT(der, HasSubstr(std::string("\x7f\0\0\1", 4)));
  EXPECT_THAT(der, HasSubstr(std::string(15, '\0') + "\1"));
  EXPECT_THAT(der, HasSubstr("MY.NCB"));
  absl::StatusOr<crypto::TlsCredentials> tls = crypto::LoadTlsCredentials(
      dir / "MY.NCB.tls.key", dir / "MY.NCB.tls.crt");
  ASSERT_TRUE(tls.ok()) << tls.status();

  // A host that is neither an address nor a DNS name fails before any file
  // is written.
  TempDir other;
  Result bad = Tidings({"keygen", "--agency", "MY.NCB", "--out", other.path(),
                        "--endpoint", "bad_host:7100"});
  EXPECT_THAT(bad, FailsWith(kCliUsage));
  EXPECT_THAT(bad.err,
              HasSubstr("--endpoint: TLS certificate host 'bad_host'"));
  EXPECT_TRUE(std::filesystem::is_empty(other.path()));
}

TEST(CliTest, KeygenForAFieldNodeNamesItsFilesWithThePlus) {
  TempDir dir;
  Result r =
      Tidings({"keygen", "--agency", "MY.NCB/SHIP1", "--out", dir / "k",
               "--name", "Patrol ship 1", "--endpoint", "ship1.example:7101"});
  ASSERT_THAT(r, Succeeds());
  for (const char* file : {"MY.NCB+SHIP1.key", "MY.NCB+SHIP1.pub",
                           "MY.NCB+SHIP1.tls.key", "MY.NCB+SHIP1.tls.crt"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "k/" + file)) << file;
  }
  // Nothing under a directory named after the agency, nothing else at all.
  EXPECT_FALSE(std::filesystem::exists(dir / "k/MY.NCB"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "k"),
                          std::filesystem::directory_iterator()),
            4);
  struct stat st {};
  ASSERT_EQ(stat((dir / "k/MY.NCB+SHIP1.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir / "k/MY.NCB+SHIP1.tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  proto::PublicIdentity pub;
  ASSERT_TRUE(ReadProtoFile(dir / "k/MY.NCB+SHIP1.pub", pub).ok());
  EXPECT_EQ(pub.member().agency(), "MY.NCB/SHIP1");
  EXPECT_EQ(pub.member().name(), "Patrol ship 1");
  EXPECT_THAT(pub.member().endpoints(), ElementsAre("ship1.example:7101"));
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(dir / "k/MY.NCB+SHIP1.key");
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->agency(), "MY.NCB/SHIP1");
  EXPECT_EQ(identity->verify_key().str(), pub.member().sign_pk());
  EXPECT_EQ(identity->box_public().str(), pub.member().box_pk());
  absl::StatusOr<crypto::TlsCredentials> tls = crypto::LoadTlsCredentials(
      dir / "k/MY.NCB+SHIP1.tls.key", dir / "k/MY.NCB+SHIP1.tls.crt");
  ASSERT_TRUE(tls.ok()) << tls.status();
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(tls->cert_pem);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  EXPECT_EQ(pub.member().tls_cert_sha256(), fingerprint->str());
  // The certificate's common name is the node id, slash and all.
  std::string base64;
  for (absl::string_view line : absl::StrSplit(tls->cert_pem, '\n')) {
    if (!absl::StartsWith(line, "-----")) absl::StrAppend(&base64, line);
  }
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(base64, &der));
  EXPECT_THAT(der, HasSubstr("MY.NCB/SHIP1"));

  EXPECT_THAT(r.out, HasSubstr("field node   MY.NCB/SHIP1"));
  EXPECT_THAT(r.out, HasSubstr("tidings node certify --pub"));
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(pub.member().sign_pk())));

  // Never overwrites.
  Result again =
      Tidings({"keygen", "--agency", "MY.NCB/SHIP1", "--out", dir / "k"});
  EXPECT_THAT(again, FailsWith(kCliFailure));
  EXPECT_THAT(again.err, HasSubstr("MY.NCB+SHIP1.key already exists"));

  // JSON names the principal and says what it is.
  TempDir other;
  Result json = Tidings(
      {"keygen", "--agency", "MY.NCB/SHIP2", "--out", other.path(), "--json"});
  ASSERT_THAT(json, Succeeds());
  const google::protobuf::Struct parsed = Json(json.out);
  EXPECT_EQ(parsed.fields().at("agency").string_value(), "MY.NCB/SHIP2");
  EXPECT_TRUE(parsed.fields().at("field_node").bool_value());
  EXPECT_EQ(parsed.fields().at("pub_file").string_value(),
            other / "MY.NCB+SHIP2.pub");

  // A malformed id writes nothing, and makes no directory.
  for (const char* bad : {"MY.NCB/ship", "MY.NCB/", "MY.NCB/A/B"}) {
    EXPECT_THAT(Tidings({"keygen", "--agency", bad, "--out", dir / "bad"}),
                FailsWith(kCliUsage))
        << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));

  // Ids are capped at 64 characters, what a TLS common name holds: a usage
  // error about --agency, not a confusing --endpoint one.
  const std::string longest =
      absl::StrCat(std::string(32, 'A'), "/", std::string(32, 'B'));
  Result too_long =
      Tidings({"keygen", "--agency", longest, "--out", dir / "long"});
  EXPECT_THAT(too_long, FailsWith(kCliUsage));
  EXPECT_THAT(too_long.err, HasSubstr("--agency:"));
  EXPECT_FALSE(std::filesystem::exists(dir / "long"));
  const std::string fits =
      absl::StrCat(std::string(32, 'A'), "/", std::string(31, 'B'));
  EXPECT_THAT(Tidings({"keygen", "--agency", fits, "--out", dir / "fits"}),
              Succeeds());

  // A field node is no founder.
  ASSERT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "k"}),
              Succeeds());
  Result init = Tidings({"roster", "init", "--name", "seas", "--threshold", "2",
                         "--out", dir / "r.bin", dir / "k/MY.NCB.pub",
                         dir / "k/MY.NCB+SHIP1.pub"});
  EXPECT_THAT(init, FailsWith(kCliFailure));
  EXPECT_THAT(init.err, HasSubstr("MY.NCB/SHIP1"));
  EXPECT_FALSE(std::filesystem::exists(dir / "r.bin"));
}

TEST(CliTest, KeygenSealsWithAPassphraseFile) {
  TempDir dir;
  const std::string pass = dir / "pass";
  std::ofstream(pass) << "correct horse\n";
  ASSERT_EQ(chmod(pass.c_str(), 0600), 0);
  Result r = Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys",
                      "--passphrase-file", pass, "--passphrase-cost",
                      "interactive", "--json"});
  ASSERT_THAT(r, Succeeds());
  EXPECT_TRUE(Json(r.out).fields().at("sealed").bool_value());
  EXPECT_EQ(Json(r.out).fields().at("tls_cert_file").string_value(),
            dir / "keys/MY.NCB.tls.crt");
  EXPECT_EQ(Json(r.out).fields().at("tls_cert_sha256").string_value().size(),
            64u);

  const std::string key_path = dir / "keys/MY.NCB.key";
  EXPECT_EQ(crypto::Identity::LoadFile(key_path).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const crypto::Passphrase passphrase("correct horse");
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(key_path, &passphrase);
  ASSERT_TRUE(identity.ok()) << identity.status();
  proto::PublicIdentity pub;
  ASSERT_TRUE(ReadProtoFile(dir / "keys/MY.NCB.pub", pub).ok());
  EXPECT_EQ(identity->verify_key().str(), pub.member().sign_pk());

  // A passphrase file others can read is refused before anything is written.
  const std::string open_pass = dir / "open_pass";
  std::ofstream(open_pass) << "correct horse\n";
  ASSERT_EQ(chmod(open_pass.c_str(), 0644), 0);
  Result refused = Tidings({"keygen", "--agency", "PH.CG", "--out",
                            dir / "other", "--passphrase-file", open_pass});
  EXPECT_THAT(refused, FailsWith(kCliFailure));
  EXPECT_THAT(refused.err, HasSubstr("is accessible by group or others"));
  EXPECT_FALSE(std::filesystem::exists(dir / "other/PH.CG.key"));
  EXPECT_FALSE(std::filesystem::exists(dir / "other/PH.CG.tls.key"));
}

TEST(CliTest, RosterSignWithASealedKey) {
  TempDir dir;
  const std::string pass = dir / "pass";
  std::ofstream(pass) << "correct horse\n";
  ASSERT_EQ(chmod(pass.c_str(), 0600), 0);
  const std::string wrong = dir / "wrong";
  std::ofstream(wrong) << "battery staple\n";
  ASSERT_EQ(chmod(wrong.c_str(), 0600), 0);
  ASSERT_THAT(
      Tidings({"keygen", "--agency", "A.X", "--out", dir.path(),
               "--passphrase-file", pass, "--passphrase-cost", "interactive"}),
      Succeeds());
  const std::string roster = dir / "r.bin";
  ASSERT_THAT(Tidings({"roster", "init", "--name", "seas", "--threshold", "1",
                       "--out", roster, dir / "A.X.pub"}),
              Succeeds());

  Result no_pass =
      Tidings({"roster", "sign", "--roster", roster, "--key", dir / "A.X.key"});
  EXPECT_THAT(no_pass, FailsWith(kCliFailure));
  EXPECT_THAT(no_pass.err,
              HasSubstr(absl::StrCat("key file ", dir / "A.X.key",
                                     " is sealed; give its passphrase "
                                     "(--passphrase-file FILE)")));
  Result wrong_pass = Tidings({"roster", "sign", "--roster", roster, "--key",
                               dir / "A.X.key", "--passphrase-file", wrong});
  EXPECT_THAT(wrong_pass, FailsWith(kCliFailure));
  EXPECT_THAT(wrong_pass.err, HasSubstr("wrong passphrase for key file"));
  EXPECT_THAT(Tidings({"roster", "verify", "--roster", roster}),
              FailsWith(kCliFailure));

  EXPECT_THAT(Tidings({"roster", "sign", "--roster", roster, "--key",
                       dir / "A.X.key", "--passphrase-file", pass}),
              Succeeds());
  EXPECT_THAT(Tidings({"roster", "verify", "--roster", roster}), Succeeds());
}

TEST(CliTest, KeySealAndUnseal) {
  TempDir dir;
  const std::string pass = dir / "pass";
  std::ofstream(pass) << "correct horse\n";
  ASSERT_EQ(chmod(pass.c_str(), 0600), 0);
  const std::string wrong = dir / "wrong";
  std::ofstream(wrong) << "battery staple\n";
  ASSERT_EQ(chmod(wrong.c_str(), 0600), 0);
  ASSERT_THAT(Tidings({"keygen", "--agency", "A.X", "--out", dir / "keys"}),
              Succeeds());
  const std::string key = dir / "keys/A.X.key";
  absl::StatusOr<crypto::Identity> original = crypto::Identity::LoadFile(key);
  ASSERT_TRUE(original.ok());

  Result sealed = Tidings({"key", "seal", "--key", key, "--passphrase-file",
                           pass, "--passphrase-cost", "interactive"});
  ASSERT_THAT(sealed, Succeeds());
  EXPECT_THAT(sealed.out, HasSubstr("sealed"));
  EXPECT_EQ(crypto::Identity::LoadFile(key).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const crypto::Passphrase passphrase("correct horse");
  absl::StatusOr<crypto::Identity> opened =
      crypto::Identity::LoadFile(key, &passphrase);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->verify_key(), original->verify_key());
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Sealing twice is refused; so is unsealing with the wrong passphrase.
  // Either way the file is left as it was.
  const std::string before = ReadFile(key);
  Result twice =
      Tidings({"key", "seal", "--key", key, "--passphrase-file", pass});
  EXPECT_THAT(twice, FailsWith(kCliFailure));
  EXPECT_THAT(twice.err, HasSubstr("is already sealed"));
  Result bad =
      Tidings({"key", "unseal", "--key", key, "--passphrase-file", wrong});
  EXPECT_THAT(bad, FailsWith(kCliFailure));
  EXPECT_THAT(bad.err, HasSubstr("wrong passphrase"));
  EXPECT_EQ(ReadFile(key), before);

  ASSERT_THAT(
      Tidings({"key", "unseal", "--key", key, "--passphrase-file", pass}),
      Succeeds());
  absl::StatusOr<crypto::Identity> plain = crypto::Identity::LoadFile(key);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->verify_key(), original->verify_key());
  // No temporary file is left behind.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "keys")) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names,
              ElementsAre("A.X.key", "A.X.pub", "A.X.tls.crt", "A.X.tls.key"));
}

TEST(CliTest, KeygenJson) {
  TempDir dir;
  Result r =
      Tidings({"keygen", "--agency", "PH.CG", "--out", dir.path(), "--json"});
  ASSERT_THAT(r, Succeeds());
  google::protobuf::Struct json = Json(r.out);
  EXPECT_EQ(json.fields().at("agency").string_value(), "PH.CG");
  EXPECT_EQ(json.fields().at("sign_pk").string_value().size(), 64u);
  EXPECT_EQ(json.fields().at("key_file").string_value(), dir / "PH.CG.key");
}

TEST(CliTest, RosterInitSignVerifyWithFourFounders) {
  TempDir dir;
  const std::vector<std::string> agencies = {"MY.NCB", "ID.NCB", "PH.CG",
                                             "SG.SPF"};
  std::vector<std::string> init = {
      "roster",      "init", "--name", "Sulu Sea",
      "--threshold", "3",    "--out",  dir / "roster.bin"};
  for (const std::string& agency : agencies) {
    ASSERT_THAT(Tidings({"keygen", "--agency", agency, "--out", dir.path(),
                         "--endpoint", "127.0.0.1:7101"}),
                Succeeds());
    init.push_back(dir / (agency + ".pub"));
  }

  // Threshold 2 of 4 is no majority: a usage error, nothing written.
  std::vector<std::string> weak = init;
  weak[5] = "2";
  EXPECT_THAT(Tidings(weak), FailsWith(kCliUsage));
  EXPECT_FALSE(std::filesystem::exists(dir / "roster.bin"));

  Result created = Tidings(init);
  ASSERT_THAT(created, Succeeds());
  EXPECT_THAT(created.out, HasSubstr("roster sign"));
  EXPECT_THAT(Tidings(init), FailsWith(kCliFailure)) << "refuses to overwrite";

  const std::string roster = dir / "roster.bin";
  for (size_t signed_count = 0; signed_count < agencies.size();
       ++signed_count) {
    Result verify = Tidings({"roster", "verify", "--roster", roster});
    EXPECT_THAT(verify, FailsWith(kCliFailure)) << signed_count;
    for (size_t i = signed_count; i < agencies.size(); ++i) {
      EXPECT_THAT(verify.err, HasSubstr(agencies[i])) << signed_count;
    }
    for (size_t i = 0; i < signed_count; ++i) {
      EXPECT_THAT(verify.err, Not(HasSubstr(agencies[i]))) << signed_count;
    }
    Result show = Tidings({"roster", "show", "--roster", roster});
    EXPECT_THAT(show, Succeeds());
    EXPECT_THAT(show.out, HasSubstr("verified    no"));

    Result sign = Tidings({"roster", "sign", "--roster", roster, "--key",
                           dir / (agencies[signed_count] + ".key")});
    ASSERT_THAT(sign, Succeeds());
    EXPECT_THAT(sign.out, HasSubstr(agencies[signed_count]));
  }

  Result verify = Tidings({"roster", "verify", "--roster", roster});
  ASSERT_THAT(verify, Succeeds());
  proto::SignedRoster signed_roster;
  ASSERT_TRUE(ReadProtoFile(roster, signed_roster).ok());
  const std::string network_id =
      crypto::ToHex(crypto::Hash(signed_roster.roster()).view());
  EXPECT_THAT(verify.out, HasSubstr(network_id));
  for (const std::string& agency : agencies) {
    EXPECT_THAT(verify.out, HasSubstr(agency));
  }
  EXPECT_TRUE(Roster::LoadFile(roster).ok());

  Result json = Tidings({"roster", "verify", "--roster", roster, "--json"});
  ASSERT_THAT(json, Succeeds());
  EXPECT_EQ(Json(json.out).fields().at("network_id").string_value(),
            network_id);
  EXPECT_EQ(Json(json.out).fields().at("members").list_value().values_size(),
            4);

  Result show = Tidings({"roster", "show", "--roster", roster, "--json"});
  ASSERT_THAT(show, Succeeds());
  EXPECT_TRUE(Json(show.out).fields().at("verified").bool_value());

  // Each member's pinned TLS certificate, as text and JSON.
  Result text = Tidings({"roster", "show", "--roster", roster});
  ASSERT_THAT(text, Succeeds());
  const google::protobuf::Struct shown = Json(show.out);
  for (const std::string& agency : agencies) {
    absl::StatusOr<crypto::TlsCredentials> tls = crypto::LoadTlsCredentials(
        dir / (agency + ".tls.key"), dir / (agency + ".tls.crt"));
    ASSERT_TRUE(tls.ok()) << tls.status();
    const std::string hex =
        crypto::ToHex(crypto::CertificateFingerprint(tls->cert_pem)->view());
    EXPECT_THAT(text.out, HasSubstr(absl::StrCat("tls cert   sha256 ", hex)));
    bool found = false;
    for (const auto& member :
         shown.fields().at("members").list_value().values()) {
      if (member.struct_value().fields().at("agency").string_value() ==
          agency) {
        EXPECT_EQ(
            member.struct_value().fields().at("tls_cert_sha256").string_value(),
            hex);
        found = true;
      }
    }
    EXPECT_TRUE(found) << agency;
  }

  // Signing twice, or with an outsider's key, is refused.
  Result twice = Tidings(
      {"roster", "sign", "--roster", roster, "--key", dir / "MY.NCB.key"});
  EXPECT_THAT(twice, FailsWith(kCliFailure));
  EXPECT_THAT(twice.err, HasSubstr("already signed"));
  ASSERT_THAT(
      Tidings({"keygen", "--agency", "XX.NCB", "--out", dir / "outsider"}),
      Succeeds());
  EXPECT_THAT(Tidings({"roster", "sign", "--roster", roster, "--key",
                       dir / "outsider/XX.NCB.key"}),
              FailsWith(kCliFailure));
}

TEST(CliTest, RosterVerifyReportsTamperingAndUnreadableFiles) {
  TempDir dir;
  std::vector<std::string> init = {"roster", "init",        "--name",
                                   "seas",   "--threshold", "1",
                                   "--out",  dir / "r.bin"};
  ASSERT_THAT(Tidings({"keygen", "--agency", "A.X", "--out", dir.path()}),
              Succeeds());
  init.push_back(dir / "A.X.pub");
  ASSERT_THAT(Tidings(init), Succeeds());
  ASSERT_THAT(Tidings({"roster", "sign", "--roster", dir / "r.bin", "--key",
                       dir / "A.X.key"}),
              Succeeds());
  ASSERT_THAT(Tidings({"roster", "verify", "--roster", dir / "r.bin"}),
              Succeeds());

  proto::SignedRoster signed_roster;
  ASSERT_TRUE(ReadProtoFile(dir / "r.bin", signed_roster).ok());
  const size_t at = signed_roster.roster().find("seas");
  ASSERT_NE(at, std::string::npos);
  (*signed_roster.mutable_roster())[at] = 'S';
  ASSERT_TRUE(WriteProtoFile(dir / "r.bin", signed_roster).ok());
  Result tampered = Tidings({"roster", "verify", "--roster", dir / "r.bin"});
  EXPECT_THAT(tampered, FailsWith(kCliFailure));
  EXPECT_THAT(tampered.err,
              AllOf(HasSubstr("signature by A.X does not verify"),
                    HasSubstr("no valid signature yet from A.X")));

  EXPECT_THAT(Tidings({"roster", "verify", "--roster", dir / "missing.bin"}),
              FailsWith(kCliFailure));
  EXPECT_THAT(Tidings({"roster", "show", "--roster", dir / "A.X.key"}),
              FailsWith(kCliFailure));
  EXPECT_THAT(Tidings({"roster", "init", "--name", "n", "--threshold", "1",
                       "--out", dir / "r2.bin", dir / "A.X.key"}),
              FailsWith(kCliFailure))
      << "a key file is not a .pub file";
}

// ---------------------------------------------------------------------------
// Client commands against a fake node.

std::string Id(char fill) { return std::string(32, fill); }

class FakeNode final : public proto::Client::Service {
 public:
  FakeNode() {
    for (char fill : {'\x11', '\x12', '\x21'}) {
      proto::EnvelopeSummary* s = inbox_.add_envelopes();
      s->set_envelope_id(Id(fill));
      s->set_origin("ID.NCB");
      s->add_audience("ID.NCB");
      s->add_audience("MY.NCB");
      s->set_seq(static_cast<uint64_t>(fill));
      s->set_kind(proto::KIND_ALERT);
      s->set_precedence(proto::PRECEDENCE_FLASH);
      s->set_created_unix_ms(1714564800000);  // 2024-05-01T12:00:00Z
      s->set_title(absl::StrCat("Sighting ", static_cast<int>(fill)));
      s->set_feed_id(Id('\xfe'));
    }
    // A hostile title: terminal escape sequence and a newline.
    inbox_.mutable_envelopes(2)->set_title("\x1b[2Jpwned\nline");
    // Shares its first 8 hex digits with the one before.
    proto::EnvelopeSummary* twin = inbox_.add_envelopes();
    *twin = inbox_.envelopes(2);
    twin->set_envelope_id(std::string(4, '\x21') + std::string(28, '\0'));
    twin->set_title("twin");
  }

  grpc::Status Send(grpc::ServerContext*, const proto::SendRequest* request,
                    proto::SendResponse* response) override {
    absl::MutexLock lock(&mu_);
    sends_.push_back(*request);
    response->set_envelope_id(Id('\xab'));
    response->set_seq(7);
    response->set_feed_id(Id('\xcd'));
    return grpc::Status::OK;
  }
  grpc::Status Inbox(grpc::ServerContext*, const proto::InboxRequest* request,
                     proto::InboxResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_inbox_ = *request;
    *response = inbox_;
    return grpc::Status::OK;
  }
  grpc::Status Show(grpc::ServerContext*, const proto::ShowRequest* request,
                    proto::ShowResponse* response) override {
    for (const proto::EnvelopeSummary& s : inbox_.envelopes()) {
      if (s.envelope_id() == request->envelope_id()) {
        *response->mutable_summary() = s;
        response->mutable_body()->set_title(s.title());
        response->mutable_body()->set_text("Go-fast boat\nheading north");
        response->mutable_body()->mutable_position()->set_lat(5.5);
        response->mutable_body()->mutable_position()->set_lon(119.25);
        response->set_expires_unix_ms(1714651200000);
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such envelope");
  }
  grpc::Status Status(grpc::ServerContext*, const proto::StatusRequest* request,
                      proto::StatusResponse* response) override {
    if (request->envelope_id() != Id('\x11')) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such envelope");
    }
    *response->mutable_summary() = inbox_.envelopes(0);
    proto::RecipientStatus* r = response->add_recipients();
    r->set_agency("MY.NCB");
    r->set_status(proto::RECEIPT_READ);
    r->set_at_unix_ms(1714564860000);
    r = response->add_recipients();
    r->set_agency("PH.CG");
    return grpc::Status::OK;
  }
  grpc::Status Stats(grpc::ServerContext*, const proto::StatsRequest*,
                     proto::StatsResponse* response) override {
    response->set_agency("ID.NCB");
    response->set_envelopes_stored(42);
    response->add_connected_peers("PH.CG");
    response->add_connected_peers("MY.NCB");
    (*response->mutable_counters())["rejected.bad_signature"] = 3;
    (*response->mutable_counters())["accepted"] = 40;
    return grpc::Status::OK;
  }

  // Field nodes, kept as the real service describes them. Preset: one known
  // only by its revocation, one whose agency's key was revoked since.
  grpc::Status CertifyNode(grpc::ServerContext*,
                           const proto::NodeCertifyRequest* request,
                           proto::NodeInfo* response) override {
    absl::MutexLock lock(&mu_);
    certifies_.push_back(*request);
    const proto::Member& member = request->node().member();
    if (nodes_.contains(member.agency())) {
      return grpc::Status(
          grpc::StatusCode::ALREADY_EXISTS,
          absl::StrCat(member.agency(), " is certified or revoked already"));
    }
    proto::NodeCert cert;
    cert.set_node(member.agency());
    cert.set_name(member.name());
    // A node that certifies other keys than it was asked to.
    cert.set_sign_pk(member.agency() == "MY.NCB/LIAR" ? std::string(32, 'x')
                                                      : member.sign_pk());
    cert.set_box_pk(member.box_pk());
    cert.set_tls_cert_sha256(member.tls_cert_sha256());
    cert.set_issued_unix_ms(kIssued);
    proto::SignedNodeCert signed_cert;
    signed_cert.set_cert(cert.SerializeAsString());
    signed_cert.set_signature(std::string(64, 's'));
    proto::NodeInfo& info = nodes_[member.agency()];
    info.set_node(member.agency());
    info.set_name(member.name());
    info.set_sign_pk(cert.sign_pk());
    info.set_tls_cert_sha256(cert.tls_cert_sha256());
    info.set_issued_unix_ms(kIssued);
    info.set_has_cert(true);
    info.set_active(true);
    info.set_signed_cert(signed_cert.SerializeAsString());
    *response = info;
    return grpc::Status::OK;
  }
  grpc::Status RevokeNode(grpc::ServerContext*,
                          const proto::NodeRevokeRequest* request,
                          proto::NodeInfo* response) override {
    absl::MutexLock lock(&mu_);
    revokes_.push_back(request->node());
    auto it = nodes_.find(request->node());
    if (it == nodes_.end() || !it->second.has_cert()) {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("no certificate of ", request->node(), " is known"));
    }
    if (it->second.revoked()) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          absl::StrCat(request->node(), " is revoked already"));
    }
    it->second.set_revoked(true);
    it->second.set_active(false);
    it->second.set_revoked_unix_ms(kRevoked);
    *response = it->second;
    return grpc::Status::OK;
  }
  grpc::Status ListNodes(grpc::ServerContext*, const proto::NodeListRequest*,
                         proto::NodeListResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++lists_;
    for (const auto& [id, info] : nodes_) *response->add_nodes() = info;
    return grpc::Status::OK;
  }

  static constexpr int64_t kIssued = 1714564800000;   // 2024-05-01T12:00:00Z
  static constexpr int64_t kRevoked = 1714651200000;  // 2024-05-02T12:00:00Z

  void PresetNodes() {
    absl::MutexLock lock(&mu_);
    proto::NodeInfo& gone = nodes_["PH.CG/CUTTER"];
    gone.set_node("PH.CG/CUTTER");
    gone.set_revoked(true);
    gone.set_revoked_unix_ms(kRevoked);
    proto::NodeInfo& stale = nodes_["ID.NCB/OLD"];
    stale.set_node("ID.NCB/OLD");
    stale.set_name("Old \x1b[31mship");
    stale.set_has_cert(true);
    stale.set_sign_pk(std::string(32, '\x01'));
    stale.set_tls_cert_sha256(std::string(32, '\x02'));
    stale.set_issued_unix_ms(kIssued);
  }

  std::vector<proto::NodeCertifyRequest> certifies() {
    absl::MutexLock lock(&mu_);
    return certifies_;
  }
  std::vector<std::string> revokes() {
    absl::MutexLock lock(&mu_);
    return revokes_;
  }
  int lists() {
    absl::MutexLock lock(&mu_);
    return lists_;
  }

  std::vector<proto::SendRequest> sends() {
    absl::MutexLock lock(&mu_);
    return sends_;
  }
  proto::InboxRequest last_inbox() {
    absl::MutexLock lock(&mu_);
    return last_inbox_;
  }

 private:
  proto::InboxResponse inbox_;  // constant after construction
  absl::Mutex mu_;
  std::vector<proto::SendRequest> sends_ ABSL_GUARDED_BY(mu_);
  proto::InboxRequest last_inbox_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, proto::NodeInfo> nodes_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::NodeCertifyRequest> certifies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> revokes_ ABSL_GUARDED_BY(mu_);
  int lists_ ABSL_GUARDED_BY(mu_) = 0;
};

class CliNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_ / "node.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_,
                             grpc::InsecureServerCredentials());
    builder.RegisterService(&node_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  Result Client(std::vector<std::string> args) {
    args.push_back("--socket");
    args.push_back(socket_);
    return Tidings(std::move(args));
  }

  TempDir dir_;
  std::string socket_;
  FakeNode node_;
  std::unique_ptr<grpc::Server> server_;
};

std::vector<std::string> ValidSend() {
  return {"send",     "--kind",     "alert",        "--precedence",
          "flash",    "--audience", "ID.NCB,PH.CG", "--title",
          "Sighting", "--text",     "Go-fast boat"};
}

TEST_F(CliNodeTest, SendValidatesEverythingBeforeContactingTheNode) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--lat", "91", "--lon", "100"}, "--lat 91 is outside -90..90"},
      {{"--lat", "-90.5", "--lon", "100"}, "outside -90..90"},
      {{"--lat", "5", "--lon", "180.01"}, "outside -180..180"},
      {{"--lat", "nan", "--lon", "100"}, "outside -90..90"},
      {{"--lat", "north", "--lon", "100"}, "is not a number"},
      {{"--lat", "5"}, "both --lat and --lon"},
      {{"--lon", "5"}, "both --lat and --lon"},
      {{"--kind", "rumour"}, "--kind 'rumour' is not alert or notice"},
      {{"--precedence", "urgent"}, "is not flash, immediate"},
      {{"--audience", "ID.NCB,ph.cg"}, "agency id 'ph.cg'"},
      {{"--audience", "ID.NCB,,PH.CG"}, "empty item"},
      {{"--audience", "ID.NCB,ID.NCB"}, "lists ID.NCB twice"},
      {{"--text", "  "}, "--text is empty"},
      {{"--text", "bad \xff utf-8"}, "not valid UTF-8"},
      {{"--title", std::string(64 * 1024 + 1, 't')}, "the limit is 65536"},
      {{"--expires-in", "tomorrow"}, "is not a duration"},
      {{"--expires-in", "-1h"}, "positive"},
  };
  for (const auto& [extra, message] : cases) {
    // Flags given twice are refused, so replace rather than append.
    std::vector<std::string> args = ValidSend();
    for (size_t i = 0; i < extra.size(); i += 2) {
      auto it = std::find(args.begin(), args.end(), extra[i]);
      if (it != args.end()) {
        *(it + 1) = extra[i + 1];
      } else {
        args.push_back(extra[i]);
        if (i + 1 < extra.size()) args.push_back(extra[i + 1]);
      }
    }
    Result r = Client(args);
    EXPECT_THAT(r, FailsWith(kCliUsage)) << message;
    EXPECT_THAT(r.err, HasSubstr(message));
  }
  std::vector<std::string> missing_text = ValidSend();
  missing_text.resize(missing_text.size() - 2);
  EXPECT_THAT(Client(missing_text), FailsWith(kCliUsage));
  EXPECT_THAT(Tidings(ValidSend()), FailsWith(kCliUsage)) << "no --socket";
  EXPECT_TRUE(node_.sends().empty());
}

TEST_F(CliNodeTest, SendBuildsTheRequest) {
  std::vector<std::string> args = ValidSend();
  args.insert(args.end(),
              {"--lat", "-5.25", "--lon", "119.5", "--expires-in", "24h"});
  const int64_t before = absl::ToUnixMillis(absl::Now());
  Result r = Client(args);
  ASSERT_THAT(r, Succeeds());
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(Id('\xab'))));
  EXPECT_THAT(r.out, HasSubstr("seq 7"));

  ASSERT_EQ(node_.sends().size(), 1u);
  const proto::SendRequest sent = node_.sends()[0];
  EXPECT_EQ(sent.kind(), proto::KIND_ALERT);
  EXPECT_EQ(sent.precedence(), proto::PRECEDENCE_FLASH);
  EXPECT_THAT(sent.audience(), ElementsAre("ID.NCB", "PH.CG"));
  EXPECT_EQ(sent.body().title(), "Sighting");
  EXPECT_EQ(sent.body().text(), "Go-fast boat");
  ASSERT_TRUE(sent.body().has_position());
  EXPECT_EQ(sent.body().position().lat(), -5.25);
  EXPECT_EQ(sent.body().position().lon(), 119.5);
  const int64_t day = 24 * 3600 * 1000;
  EXPECT_GE(sent.expires_unix_ms(), before + day);
  EXPECT_LE(sent.expires_unix_ms(), absl::ToUnixMillis(absl::Now()) + day);

  // Without position or expiry, as JSON.
  args = ValidSend();
  args[2] = "notice";
  args[4] = "routine";
  args.push_back("--json");
  r = Client(args);
  ASSERT_THAT(r, Succeeds());
  google::protobuf::Struct json = Json(r.out);
  EXPECT_EQ(json.fields().at("envelope_id").string_value(),
            crypto::ToHex(Id('\xab')));
  EXPECT_EQ(json.fields().at("seq").number_value(), 7);
  ASSERT_EQ(node_.sends().size(), 2u);
  EXPECT_FALSE(node_.sends()[1].body().has_position());
  EXPECT_EQ(node_.sends()[1].expires_unix_ms(), 0);
  EXPECT_EQ(node_.sends()[1].kind(), proto::KIND_NOTICE);
}

TEST_F(CliNodeTest, UnreachableNodeIsOneLineExitOne) {
  std::vector<std::string> args = ValidSend();
  args.insert(args.end(), {"--socket", dir_ / "nobody.sock"});
  Result r = Tidings(args);
  EXPECT_THAT(r, FailsWith(kCliFailure));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cannot reach node at unix:",
                                            dir_ / "nobody.sock")));
}

TEST_F(CliNodeTest, InboxTable) {
  Result r = Client({"inbox", "--limit", "5", "--receipts"});
  ASSERT_THAT(r, Succeeds());
  EXPECT_EQ(node_.last_inbox().limit(), 5u);
  EXPECT_TRUE(node_.last_inbox().include_receipts());
  EXPECT_THAT(r.out, HasSubstr("2024-05-01T12:00:00Z"));
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(Id('\x11')).substr(0, 16)));
  EXPECT_THAT(r.out, HasSubstr("Sighting 17"));
  EXPECT_THAT(r.out, HasSubstr("flash"));
  // A peer's title cannot drive the terminal or break the table.
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(r.out, HasSubstr("\\x1b[2Jpwned\\x0aline"));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5);

  Result json = Client({"inbox", "--json"});
  ASSERT_THAT(json, Succeeds());
  const google::protobuf::Struct parsed = Json(json.out);
  const auto& envelopes = parsed.fields().at("envelopes").list_value();
  ASSERT_EQ(envelopes.values_size(), 4);
  EXPECT_EQ(
      envelopes.values(2).struct_value().fields().at("title").string_value(),
      "\x1b[2Jpwned\nline");
  EXPECT_FALSE(node_.last_inbox().include_receipts());
  EXPECT_EQ(node_.last_inbox().limit(), 0u);
}

TEST_F(CliNodeTest, ShowByIdAndByPrefix) {
  const std::string full = crypto::ToHex(Id('\x11'));
  Result r = Client({"show", full});
  ASSERT_THAT(r, Succeeds());
  EXPECT_THAT(r.out, HasSubstr("Go-fast boat\nheading north"));
  EXPECT_THAT(r.out, HasSubstr("5.500000, 119.250000"));
  EXPECT_THAT(r.out, HasSubstr("ID.NCB, MY.NCB"));
  EXPECT_THAT(r.out, HasSubstr("2024-05-02T12:00:00Z"));

  Result upper = Client({"show", absl::AsciiStrToUpper(full.substr(0, 10))});
  ASSERT_THAT(upper, Succeeds());
  EXPECT_EQ(upper.out, r.out);

  EXPECT_THAT(Client({"show", "1"}), FailsWith(kCliUsage));
  Result none = Client({"show", "99999999"});
  EXPECT_THAT(none, FailsWith(kCliFailure));
  EXPECT_THAT(none.err, HasSubstr("starts with 99999999"));
  Result missing = Client({"show", crypto::ToHex(Id('\x77'))});
  EXPECT_THAT(missing, FailsWith(kCliFailure));
  EXPECT_THAT(missing.err, HasSubstr("holds no envelope"));

  Result json = Client({"show", full, "--json"});
  ASSERT_THAT(json, Succeeds());
  const google::protobuf::Struct parsed = Json(json.out);
  EXPECT_EQ(parsed.fields()
                .at("body")
                .struct_value()
                .fields()
                .at("position")
                .struct_value()
                .fields()
                .at("lat")
                .number_value(),
            5.5);
}

TEST_F(CliNodeTest, AmbiguousPrefixIsRefused) {
  Result r = Client({"show", "21212121"});
  EXPECT_THAT(r, FailsWith(kCliFailure));
  EXPECT_THAT(r.err, HasSubstr("matches 2 envelopes"));
  EXPECT_THAT(Client({"show", "212121212"}), Succeeds());
  EXPECT_THAT(Client({"status", "21212121"}), FailsWith(kCliFailure));
}

TEST_F(CliNodeTest, StatusPerRecipient) {
  Result r = Client({"status", crypto::ToHex(Id('\x11')).substr(0, 8)});
  ASSERT_THAT(r, Succeeds());
  EXPECT_THAT(r.out, HasSubstr("MY.NCB"));
  EXPECT_THAT(r.out, HasSubstr("read"));
  EXPECT_THAT(r.out, HasSubstr("2024-05-01T12:01:00Z"));
  EXPECT_THAT(r.out, HasSubstr("PH.CG"));
  EXPECT_THAT(r.out, HasSubstr("pending"));

  Result json = Client({"status", crypto::ToHex(Id('\x11')), "--json"});
  ASSERT_THAT(json, Succeeds());
  const google::protobuf::Struct parsed = Json(json.out);
  const auto& recipients = parsed.fields().at("recipients").list_value();
  ASSERT_EQ(recipients.values_size(), 2);
  EXPECT_EQ(
      recipients.values(1).struct_value().fields().at("status").string_value(),
      "pending");
}

TEST_F(CliNodeTest, StatsAndConfigFile) {
  const std::string config = dir_ / "tidingsd.conf";
  std::ofstream(config) << "agency = ID.NCB\nkey_file = k\nroster = r\n"
                           "data_dir = d\nlisten = 127.0.0.1:7101\n"
                           "client_socket = node.sock\n";
  Result r = Tidings({"stats", "--config", config});
  ASSERT_THAT(r, Succeeds());
  EXPECT_THAT(r.out, HasSubstr("envelopes stored  42"));
  EXPECT_THAT(r.out, HasSubstr("MY.NCB, PH.CG"));
  EXPECT_THAT(r.out, HasSubstr("rejected.bad_signature"));

  Result json = Client({"stats", "--json"});
  ASSERT_THAT(json, Succeeds());
  EXPECT_EQ(Json(json.out)
                .fields()
                .at("counters")
                .struct_value()
                .fields()
                .at("accepted")
                .number_value(),
            40);

  std::ofstream(config, std::ios::app) << "bogus = 1\n";
  Result bad = Tidings({"stats", "--config", config});
  EXPECT_THAT(bad, FailsWith(kCliFailure));
  EXPECT_THAT(bad.err, HasSubstr("line 7: unknown key 'bogus'"));
}

// ---------------------------------------------------------------------------
// Field nodes.

// A field node's .pub file, made as its operator would.
std::string FieldPub(const TempDir& dir, absl::string_view node,
                     absl::string_view sub) {
  const std::string out = dir / sub;
  EXPECT_THAT(Tidings({"keygen", "--agency", std::string(node), "--out", out,
                       "--name", "Patrol ship"}),
              Succeeds());
  return absl::StrCat(out, "/", absl::StrReplaceAll(node, {{"/", "+"}}),
                      ".pub");
}

TEST_F(CliNodeTest, NodeCertifyWritesTheCertificateForTheFieldNode) {
  const std::string pub = FieldPub(dir_, "MY.NCB/SHIP1", "ship");
  proto::PublicIdentity identity;
  ASSERT_TRUE(ReadProtoFile(pub, identity).ok());
  const std::string cert_path = dir_ / "MY.NCB+SHIP1.cert";

  Result r = Client({"node", "certify", "--pub", pub, "--out", cert_path});
  ASSERT_THAT(r, Succeeds());
  ASSERT_EQ(node_.certifies().size(), 1u);
  EXPECT_EQ(node_.certifies()[0].node().member().SerializeAsString(),
            identity.member().SerializeAsString());

  // The file is the node's SignedNodeCert as is, public.
  proto::SignedNodeCert signed_cert;
  ASSERT_TRUE(ReadProtoFile(cert_path, signed_cert).ok());
  proto::NodeCert cert;
  ASSERT_TRUE(cert.ParseFromString(signed_cert.cert()));
  EXPECT_EQ(cert.node(), "MY.NCB/SHIP1");
  EXPECT_EQ(cert.sign_pk(), identity.member().sign_pk());
  EXPECT_EQ(cert.tls_cert_sha256(), identity.member().tls_cert_sha256());
  struct stat st {};
  ASSERT_EQ(stat(cert_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  const std::string bytes = ReadFile(cert_path);

  // What was certified, for the officer to compare with keygen's output.
  EXPECT_THAT(r.out, HasSubstr("certified MY.NCB/SHIP1"));
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(identity.member().sign_pk())));
  EXPECT_THAT(r.out,
              HasSubstr(crypto::ToHex(identity.member().tls_cert_sha256())));
  EXPECT_THAT(r.out, HasSubstr("2024-05-01T12:00:00Z"));
  EXPECT_THAT(r.out, HasSubstr(cert_path));
  EXPECT_THAT(r.out, HasSubstr("node_cert"));

  // An existing file is never overwritten, and the node is not asked.
  Result exists = Client({"node", "certify", "--pub", pub, "--out", cert_path});
  EXPECT_THAT(exists, FailsWith(kCliFailure));
  EXPECT_THAT(exists.err, HasSubstr("already exists"));
  EXPECT_EQ(node_.certifies().size(), 1u);
  EXPECT_EQ(ReadFile(cert_path), bytes);

  // Again with another file (as after a failed write): the node refuses to
  // certify twice, and the certificate it holds of these keys is written.
  const std::string copy = dir_ / "copy.cert";
  Result again =
      Client({"node", "certify", "--pub", pub, "--out", copy, "--json"});
  ASSERT_THAT(again, Succeeds());
  EXPECT_EQ(node_.certifies().size(), 2u);
  EXPECT_EQ(ReadFile(copy), bytes);
  const google::protobuf::Struct json = Json(again.out);
  EXPECT_EQ(json.fields().at("node").string_value(), "MY.NCB/SHIP1");
  EXPECT_EQ(json.fields().at("state").string_value(), "active");
  EXPECT_EQ(json.fields().at("cert_file").string_value(), copy);
  EXPECT_TRUE(json.fields().at("certified_before").bool_value());
  EXPECT_EQ(json.fields().at("sign_pk").string_value(),
            crypto::ToHex(identity.member().sign_pk()));

  // Other keys under a taken id: the node's refusal stands, no file.
  const std::string impostor = FieldPub(dir_, "MY.NCB/SHIP1", "impostor");
  Result taken = Client(
      {"node", "certify", "--pub", impostor, "--out", dir_ / "taken.cert"});
  EXPECT_THAT(taken, FailsWith(kCliFailure));
  EXPECT_THAT(taken.err, HasSubstr("certified or revoked already"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "taken.cert"));

  // Nor once revoked.
  ASSERT_THAT(Client({"node", "revoke", "--node", "MY.NCB/SHIP1"}), Succeeds());
  Result revoked =
      Client({"node", "certify", "--pub", pub, "--out", dir_ / "rev.cert"});
  EXPECT_THAT(revoked, FailsWith(kCliFailure));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "rev.cert"));
}

TEST_F(CliNodeTest, NodeCertifyRefusesWhatIsNotAFieldNodesPublicFile) {
  ASSERT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir_ / "k"}),
              Succeeds());
  Result agency = Client(
      {"node", "certify", "--pub", dir_ / "k/MY.NCB.pub", "--out", dir_ / "c"});
  EXPECT_THAT(agency, FailsWith(kCliFailure));
  EXPECT_THAT(agency.err, HasSubstr("is not AGENCY/NAME"));
  Result key = Client(
      {"node", "certify", "--pub", dir_ / "k/MY.NCB.key", "--out", dir_ / "c"});
  EXPECT_THAT(key, FailsWith(kCliFailure));
  Result missing = Client(
      {"node", "certify", "--pub", dir_ / "k/none.pub", "--out", dir_ / "c"});
  EXPECT_THAT(missing, FailsWith(kCliFailure));
  EXPECT_TRUE(node_.certifies().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "c"));

  // A node that answers with a certificate of other keys: nothing written.
  const std::string liar = FieldPub(dir_, "MY.NCB/LIAR", "liar");
  Result lied =
      Client({"node", "certify", "--pub", liar, "--out", dir_ / "liar.cert"});
  EXPECT_THAT(lied, FailsWith(kCliFailure));
  EXPECT_THAT(lied.err, HasSubstr("other keys"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "liar.cert"));

  // An unwritable --out after the node certified: the error says to retry.
  const std::string pub = FieldPub(dir_, "MY.NCB/SHIP2", "ship2");
  Result unwritable = Client(
      {"node", "certify", "--pub", pub, "--out", dir_ / "no/such/dir/c.cert"});
  EXPECT_THAT(unwritable, FailsWith(kCliFailure));
  EXPECT_THAT(unwritable.err, HasSubstr("the node has certified MY.NCB/SHIP2"));
  EXPECT_THAT(
      Client({"node", "certify", "--pub", pub, "--out", dir_ / "ship2.cert"}),
      Succeeds());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "ship2.cert"));
}

TEST_F(CliNodeTest, NodeRevokeSendsTheIdAndPrintsTheResult) {
  const std::string pub = FieldPub(dir_, "MY.NCB/SHIP1", "ship");
  ASSERT_THAT(Client({"node", "certify", "--pub", pub, "--out", dir_ / "c"}),
              Succeeds());
  Result r = Client({"node", "revoke", "--node", "MY.NCB/SHIP1"});
  ASSERT_THAT(r, Succeeds());
  EXPECT_THAT(node_.revokes(), ElementsAre("MY.NCB/SHIP1"));
  EXPECT_THAT(r.out, HasSubstr("revoked MY.NCB/SHIP1"));
  EXPECT_THAT(r.out, HasSubstr("state        revoked"));
  EXPECT_THAT(r.out, HasSubstr("2024-05-02T12:00:00Z"));

  Result twice = Client({"node", "revoke", "--node", "MY.NCB/SHIP1"});
  EXPECT_THAT(twice, FailsWith(kCliFailure));
  EXPECT_THAT(twice.err, HasSubstr("revoked already"));
  Result unknown = Client({"node", "revoke", "--node", "MY.NCB/NONE"});
  EXPECT_THAT(unknown, FailsWith(kCliFailure));
  EXPECT_THAT(unknown.err, HasSubstr("no certificate of MY.NCB/NONE"));

  // Malformed ids never reach the node.
  EXPECT_THAT(Client({"node", "revoke", "--node", "MY.NCB"}),
              FailsWith(kCliUsage));
  EXPECT_EQ(node_.revokes().size(), 3u);

  node_.PresetNodes();
  Result json = Client({"node", "revoke", "--node", "PH.CG/CUTTER", "--json"});
  EXPECT_THAT(json, FailsWith(kCliFailure)) << "only a revocation is known";
}

TEST_F(CliNodeTest, NodeListShowsEveryState) {
  Result empty = Client({"node", "list"});
  ASSERT_THAT(empty, Succeeds());
  EXPECT_EQ(empty.out, "no field nodes known\n");
  Result empty_json = Client({"node", "list", "--json"});
  ASSERT_THAT(empty_json, Succeeds());
  EXPECT_EQ(empty_json.out, "{\"nodes\":[]}\n");

  node_.PresetNodes();
  for (const char* node : {"MY.NCB/SHIP1", "MY.NCB/SHIP2"}) {
    ASSERT_THAT(
        Client({"node", "certify", "--pub",
                FieldPub(dir_, node, absl::StrReplaceAll(node, {{"/", "_"}})),
                "--out",
                dir_ / absl::StrCat(absl::StrReplaceAll(node, {{"/", "+"}}),
                                    ".cert")}),
        Succeeds());
  }
  ASSERT_THAT(Client({"node", "revoke", "--node", "MY.NCB/SHIP2"}), Succeeds());

  Result r = Client({"node", "list"});
  ASSERT_THAT(r, Succeeds());
  const std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_THAT(lines[0], AllOf(StartsWith("NODE"), HasSubstr("NAME"),
                              HasSubstr("STATE"), HasSubstr("ISSUED (UTC)")));
  EXPECT_THAT(lines[1],
              AllOf(StartsWith("ID.NCB/OLD"),
                    HasSubstr("not valid (agency removed or key revoked)"),
                    HasSubstr("2024-05-01T12:00:00Z")));
  // A name from another agency cannot drive the terminal.
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(lines[1], HasSubstr("Old \\x1b[31mship"));
  EXPECT_THAT(lines[2], AllOf(StartsWith("MY.NCB/SHIP1"),
                              HasSubstr("Patrol ship"), HasSubstr("active")));
  EXPECT_THAT(lines[3],
              AllOf(StartsWith("MY.NCB/SHIP2"), HasSubstr("revoked")));
  EXPECT_THAT(lines[4], AllOf(StartsWith("PH.CG/CUTTER"),
                              HasSubstr("revocation only"), HasSubstr(" - ")));

  Result json = Client({"node", "list", "--json"});
  ASSERT_THAT(json, Succeeds());
  const google::protobuf::Struct parsed = Json(json.out);
  const auto& nodes = parsed.fields().at("nodes").list_value();
  ASSERT_EQ(nodes.values_size(), 4);
  std::vector<std::string> states;
  for (const auto& node : nodes.values()) {
    states.push_back(absl::StrCat(
        node.struct_value().fields().at("node").string_value(), " ",
        node.struct_value().fields().at("state").string_value()));
  }
  EXPECT_THAT(states, ElementsAre("ID.NCB/OLD not_valid", "MY.NCB/SHIP1 active",
                                  "MY.NCB/SHIP2 revoked",
                                  "PH.CG/CUTTER revocation_only"));
  const auto& ship1 = nodes.values(1).struct_value().fields();
  EXPECT_EQ(ship1.at("issued_unix_ms").number_value(), FakeNode::kIssued);
  EXPECT_EQ(ship1.at("name").string_value(), "Patrol ship");
  EXPECT_TRUE(ship1.at("active").bool_value());
  const auto& ship2 = nodes.values(2).struct_value().fields();
  EXPECT_EQ(ship2.at("revoked_unix_ms").number_value(), FakeNode::kRevoked);
  EXPECT_EQ(ship2.at("revoked_at").string_value(), "2024-05-02T12:00:00Z");
  EXPECT_EQ(nodes.values(0).struct_value().fields().at("name").string_value(),
            "Old \x1b[31mship");
}

}  // namespace
}  // namespace tidings::node

#include "node/config/config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMinimal[] =
    "agency = MY.NCB\n"
    "key_file = keys/MY.NCB.key\n"
    "roster = roster.bin\n"
    "data_dir = data/MY.NCB\n"
    "listen = 127.0.0.1:7101\n"
    "client_socket = run/MY.NCB.sock\n";

void ExpectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.principal, b.principal);
  EXPECT_EQ(a.key_file, b.key_file);
  EXPECT_EQ(a.key_passphrase_file, b.key_passphrase_file);
  EXPECT_EQ(a.node_cert_file, b.node_cert_file);
  EXPECT_EQ(a.tls_key_file, b.tls_key_file);
  EXPECT_EQ(a.tls_cert_file, b.tls_cert_file);
  EXPECT_EQ(a.roster_file, b.roster_file);
  EXPECT_EQ(a.data_dir, b.data_dir);
  EXPECT_EQ(a.listen, b.listen);
  EXPECT_EQ(a.client_socket, b.client_socket);
  ASSERT_EQ(a.peers.size(), b.peers.size());
  for (size_t i = 0; i < a.peers.size(); ++i) {
    EXPECT_EQ(a.peers[i].principal, b.peers[i].principal);
    EXPECT_EQ(a.peers[i].address, b.peers[i].address);
  }
  EXPECT_EQ(a.anti_entropy_interval, b.anti_entropy_interval);
  EXPECT_EQ(a.log_level, b.log_level);
}

absl::Status ParseError(absl::string_view text) {
  return ParseConfig(text, "/etc/tidings").status();
}

TEST(ConfigTest, ParsesEveryKeyAndResolvesRelativePaths) {
  absl::StatusOr<Config> config = ParseConfig(
      "# MY.NCB's node\n"
      "\n"
      "agency = MY.NCB\n"
      "key_file = keys/MY.NCB.key   # secret\n"
      "key_passphrase_file = /etc/tidings/passphrase\n"
      "tls_key_file = tls/node.key\n"
      "tls_cert_file = /etc/tidings/tls/../tls/node.crt\n"
      "roster = ../shared/roster.bin\n"
      "data_dir = /var/lib/tidings\n"
      "  listen=0.0.0.0:7101  \n"
      "client_socket = ./run/MY.NCB.sock\n"
      "peer = ID.NCB 127.0.0.1:7102\n"
      "peer = PH.CG\t[::1]:7103\n"
      "anti_entropy_ms = 500\n"
      "receipt_interval_ms = 250\n"
      "log_level = debug\r\n",
      "/etc/tidings");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->principal, "MY.NCB");
  EXPECT_EQ(config->key_file, "/etc/tidings/keys/MY.NCB.key");
  EXPECT_EQ(config->key_passphrase_file, "/etc/tidings/passphrase");
  EXPECT_EQ(config->tls_key_file, "/etc/tidings/tls/node.key");
  EXPECT_EQ(config->tls_cert_file, "/etc/tidings/tls/node.crt");
  EXPECT_EQ(config->roster_file, "/etc/shared/roster.bin");
  EXPECT_EQ(config->data_dir, "/var/lib/tidings");
  EXPECT_EQ(config->listen, "0.0.0.0:7101");
  EXPECT_EQ(config->client_socket, "/etc/tidings/run/MY.NCB.sock");
  ASSERT_EQ(config->peers.size(), 2u);
  EXPECT_EQ(config->peers[0].principal, "ID.NCB");
  EXPECT_EQ(config->peers[0].address, "127.0.0.1:7102");
  EXPECT_EQ(config->peers[1].principal, "PH.CG");
  EXPECT_EQ(config->peers[1].address, "[::1]:7103");
  EXPECT_EQ(config->anti_entropy_interval, absl::Milliseconds(500));
  EXPECT_EQ(config->receipt_interval, absl::Milliseconds(250));
  EXPECT_EQ(config->log_level, "debug");
}

TEST(ConfigTest, DefaultsForOptionalKeys) {
  absl::StatusOr<Config> config = ParseConfig(kMinimal, "/srv");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->peers.empty());
  EXPECT_EQ(config->anti_entropy_interval, absl::Milliseconds(2000));
  EXPECT_EQ(config->receipt_interval, absl::Seconds(1));
  EXPECT_EQ(config->log_level, "info");
  // No passphrase file: the key is plain, or the passphrase comes from the
  // environment. The TLS files sit next to the key file.
  EXPECT_EQ(config->key_passphrase_file, "");
  EXPECT_EQ(config->tls_key_file, "/srv/keys/MY.NCB.tls.key");
  EXPECT_EQ(config->tls_cert_file, "/srv/keys/MY.NCB.tls.crt");

  absl::StatusOr<Config> bare = ParseConfig(
      "agency = PH.CG\nkey_file = PH.CG.key\nroster = r\ndata_dir = d\n"
      "listen = 127.0.0.1:7101\nclient_socket = s\n",
      "/opt/node");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->tls_key_file, "/opt/node/PH.CG.tls.key");
  EXPECT_EQ(bare->tls_cert_file, "/opt/node/PH.CG.tls.crt");
}

TEST(ConfigTest, KeyFilesMustBeDistinct) {
  struct Case {
    const char* line;
    const char* error;
  };
  const Case cases[] = {
      {"tls_key_file = keys/MY.NCB.key",
       "tls_key_file is the same file as "
       "key_file"},
      {"tls_cert_file = ./keys/MY.NCB.key", "tls_cert_file is the same file"},
      {"key_passphrase_file = keys/x/../MY.NCB.key",
       "key_passphrase_file is the same file"},
      {"tls_cert_file = keys/MY.NCB.tls.key",
       "tls_key_file and tls_cert_file are the same file"},
  };
  for (const Case& c : cases) {
    absl::Status status = ParseError(absl::StrCat(kMinimal, c.line, "\n"));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.line;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.line;
  }
  EXPECT_EQ(ParseError(absl::StrCat(kMinimal,
                                    "key_passphrase_file = a\n"
                                    "key_passphrase_file = b\n"))
                .message(),
            "line 8: 'key_passphrase_file' is already set on line 7");
}

TEST(ConfigTest, UnknownKey) {
  absl::Status status =
      ParseError(absl::StrCat(kMinimal, "\nlisten_port = 7101\n"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "line 8: unknown key 'listen_port'");
}

TEST(ConfigTest, MissingRequiredKey) {
  for (const char* key : {"agency", "key_file", "roster", "data_dir", "listen",
                          "client_socket"}) {
    std::string text;
    for (absl::string_view line : absl::StrSplit(kMinimal, '\n')) {
      if (!absl::StartsWith(line, absl::StrCat(key, " "))) {
        absl::StrAppend(&text, line, "\n");
      }
    }
    absl::Status status = ParseError(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(status.message(),
              absl::StrCat("missing required key '", key, "'"));
  }
}

TEST(ConfigTest, MalformedLines) {
  struct Case {
    const char* line;
    const char* error;
  };
  const Case cases[] = {
      {"just words", "expected 'key = value'"},
      {"= value", "missing key"},
      {"log_level =", "missing value for 'log_level'"},
      {"peer = ID.NCB", "peer wants 'AGENCY host:port'"},
      {"peer = ID.NCB 127.0.0.1:7102 extra", "peer wants 'AGENCY host:port'"},
      {"peer = id.ncb 127.0.0.1:7102", "peer: agency id 'id.ncb'"},
      {"peer = ID.NCB 127.0.0.1", "has no port"},
      {"peer = ID.NCB 127.0.0.1:0", "want 1..65535"},
      {"peer = ID.NCB 127.0.0.1:65536", "want 1..65535"},
      {"peer = ID.NCB 127.0.0.1:7x", "want 1..65535"},
      {"peer = ID.NCB :7102", "empty host"},
      {"peer = ID.NCB ::1:7102", "IPv6 hosts in brackets"},
      {"peer = MY.NCB 127.0.0.1:7102", "this node's own agency"},
      {"anti_entropy_ms = soon", "anti_entropy_ms: 'soon' is not a number"},
      {"anti_entropy_ms = -5", "is not a number"},
      {"anti_entropy_ms = 0", "is not a number"},
      {"anti_entropy_ms = 99999999999999999999", "is not a number"},
      {"receipt_interval_ms = often", "receipt_interval_ms: 'often' is not"},
      {"receipt_interval_ms = 0", "is not a number of milliseconds in 1.."},
      {"receipt_interval_ms = 86400001", "is not a number"},
      {"log_level = loud", "log_level 'loud' is not one of"},
      {"agency = PH.CG", "'agency' is already set on line 1"},
      {"key_passphrase_file =", "missing value for 'key_passphrase_file'"},
      {"tls_key_file =", "missing value for 'tls_key_file'"},
      {"tls_cert_file =  # later", "missing value for 'tls_cert_file'"},
      {"key_passphrase = hunter2", "unknown key 'key_passphrase'"},
  };
  for (const Case& c : cases) {
    absl::Status status = ParseError(absl::StrCat(kMinimal, c.line, "\n"));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.line;
    EXPECT_THAT(std::string(status.message()), StartsWith("line 7: "))
        << c.line;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.line;
  }
}

TEST(ConfigTest, BadValuesOfRequiredKeys) {
  absl::Status status = ParseError(
      "agency = my ncb\nkey_file = k\nroster = r\ndata_dir = d\n"
      "listen = 127.0.0.1:7101\nclient_socket = s\n");
  EXPECT_THAT(std::string(status.message()), StartsWith("line 1: agency id"));

  status = ParseError(
      "agency = MY.NCB\nkey_file = k\nroster = r\ndata_dir = d\n"
      "listen = 127.0.0.1\nclient_socket = s\n");
  EXPECT_THAT(std::string(status.message()), StartsWith("line 5: listen: "));
}

TEST(ConfigTest, DuplicatePeer) {
  absl::Status status = ParseError(absl::StrCat(
      kMinimal, "peer = ID.NCB 127.0.0.1:7102\npeer = ID.NCB 10.0.0.1:7102\n"));
  EXPECT_EQ(status.message(),
            "line 8: peer ID.NCB is already listed on line 7");
}

TEST(ConfigTest, SocketPathTooLongForUnixSockets) {
  absl::Status status = ParseError(
      absl::StrCat(kMinimal, "client_socket = ", std::string(120, 's'), "\n"));
  // The key is set twice (kMinimal has it): that is found first.
  EXPECT_THAT(std::string(status.message()), HasSubstr("already set"));

  std::string text = kMinimal;
  text = text.substr(0, text.find("client_socket"));
  absl::StrAppend(&text, "client_socket = ", std::string(120, 's'), "\n");
  status = ParseError(text);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("unix sockets allow at most 107"));
}

TEST(ConfigTest, FormatRoundTrips) {
  Config config;
  config.principal = "MY.NCB";
  config.key_file = "/etc/tidings/keys/MY.NCB.key";
  config.key_passphrase_file = "/etc/tidings/passphrase";
  config.tls_key_file = "/etc/tidings/tls/MY.NCB.key";
  config.tls_cert_file = "/etc/tidings/tls/MY.NCB.crt";
  config.roster_file = "/etc/tidings/roster.bin";
  config.data_dir = "/var/lib/tidings/MY.NCB";
  config.listen = "[::1]:7101";
  config.client_socket = "/run/tidings/MY.NCB.sock";
  config.peers = {{"ID.NCB", "127.0.0.1:7102"}, {"PH.CG", "host.example:7103"}};
  config.anti_entropy_interval = absl::Milliseconds(750);
  config.log_level = "warn";

  const std::string text = FormatConfig(config);
  absl::StatusOr<Config> parsed = ParseConfig(text, "/elsewhere");
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  ExpectSameConfig(config, *parsed);
  EXPECT_EQ(FormatConfig(*parsed), text);

  // And from a parsed file, through Format and back.
  absl::StatusOr<Config> minimal = ParseConfig(kMinimal, "/srv/node");
  ASSERT_TRUE(minimal.ok());
  absl::StatusOr<Config> again = ParseConfig(FormatConfig(*minimal), "/other");
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectSameConfig(*minimal, *again);
}

// Found by fuzz_config (tests/fuzz/corpus/fuzz_config/double-slash-key-file):
// the TLS paths derived from a key_file of "//" read "//B.tls.key" and came
// back from FormatConfig as "/B.tls.key".
TEST(ConfigTest, DerivedTlsPathsAreNormalisedAndRoundTrip) {
  absl::StatusOr<Config> config = ParseConfig(
      "agency=B\nkey_file=//\nroster=i\ndata_dir=d\nlisten=1:7\n"
      "client_socket==\n",
      "/etc/tidings");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls_key_file, "/B.tls.key");
  EXPECT_EQ(config->tls_cert_file, "/B.tls.crt");
  const std::string text = FormatConfig(*config);
  absl::StatusOr<Config> again = ParseConfig(text, "/etc/tidings");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(FormatConfig(*again), text);
}

TEST(ConfigTest, AFieldNodeNeedsItsCertificateAndOnlyItHasOne) {
  constexpr char kShip[] =
      "agency = MY.NCB/SHIP1\n"
      "key_file = keys/MY.NCB+SHIP1.key\n"
      "roster = roster.bin\n"
      "data_dir = data/ship\n"
      "listen = 127.0.0.1:7101\n"
      "client_socket = run/ship.sock\n"
      "peer = MY.NCB 127.0.0.1:7100\n";
  absl::StatusOr<Config> ship =
      ParseConfig(absl::StrCat(kShip, "node_cert = keys/ship.cert\n"), "/srv");
  ASSERT_TRUE(ship.ok()) << ship.status();
  EXPECT_EQ(ship->principal, "MY.NCB/SHIP1");
  EXPECT_EQ(ship->node_cert_file, "/srv/keys/ship.cert");
  // TLS files default next to the key, named after the node ('/' as '+').
  EXPECT_EQ(ship->tls_key_file, "/srv/keys/MY.NCB+SHIP1.tls.key");
  EXPECT_EQ(ship->tls_cert_file, "/srv/keys/MY.NCB+SHIP1.tls.crt");
  absl::StatusOr<Config> again = ParseConfig(FormatConfig(*ship), "/other");
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectSameConfig(*ship, *again);

  EXPECT_THAT(std::string(ParseError(kShip).message()),
              HasSubstr("field node MY.NCB/SHIP1 needs 'node_cert'"));
  EXPECT_THAT(
      std::string(
          ParseError(absl::StrCat(kMinimal, "node_cert = x.cert\n")).message()),
      HasSubstr("'node_cert' is only for a field node"));
  for (const char* bad : {"MY.NCB/", "MY.NCB/ship", "/SHIP", "MY.NCB/A/B"}) {
    EXPECT_EQ(ParseError(absl::StrCat("agency = ", bad, "\n")).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // A field node may be a peer to dial.
  EXPECT_TRUE(
      ParseConfig(absl::StrCat(kMinimal, "peer = PH.CG/BOAT 127.0.0.1:7200\n"),
                  "/srv")
          .ok());
}

TEST(ConfigTest, LoadConfigResolvesAgainstTheFilesDirectory) {
  // TempDir's path has no doubled '/', which LoadConfig would normalise away.
  tidings::testing::TempDir temp("config_test");
  const std::string& dir = temp.path();
  std::filesystem::create_directories(dir + "/etc");
  const std::string path = dir + "/etc/tidingsd.conf";
  std::ofstream(path) << kMinimal;

  absl::StatusOr<Config> config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->key_file, dir + "/etc/keys/MY.NCB.key");
  EXPECT_EQ(config->client_socket, dir + "/etc/run/MY.NCB.sock");

  // A relative config path still yields absolute paths.
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  absl::StatusOr<Config> relative = LoadConfig("etc/tidingsd.conf");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(relative.ok()) << relative.status();
  EXPECT_EQ(relative->roster_file, dir + "/etc/roster.bin");

  std::ofstream(path, std::ios::app) << "bogus = 1\n";
  absl::StatusOr<Config> bad = LoadConfig(path);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            absl::StrCat(path, ": line 7: unknown key 'bogus'"));

  absl::StatusOr<Config> missing = LoadConfig(dir + "/nope.conf");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tidings::node

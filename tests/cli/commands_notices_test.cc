// send, inbox, show, status and stats against a fake node
// (cli/commands_notices.cc, cli/commands_stats.cc).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace tidings::node

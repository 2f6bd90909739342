// roster init, sign and verify on genesis files (cli/commands_roster.cc).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
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

}  // namespace
}  // namespace tidings::node

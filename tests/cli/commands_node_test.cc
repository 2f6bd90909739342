// node certify, revoke and list against a fake node (cli/commands_node.cc).
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
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
#include "tests/cli/cli_testing.h"

namespace tidings::node {
namespace {

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
  const std::string bytes = FileContents(cert_path);

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
  EXPECT_EQ(FileContents(cert_path), bytes);

  // Again with another file (as after a failed write): the node refuses to
  // certify twice, and the certificate it holds of these keys is written.
  const std::string copy = dir_ / "copy.cert";
  Result again =
      Client({"node", "certify", "--pub", pub, "--out", copy, "--json"});
  ASSERT_THAT(again, Succeeds());
  EXPECT_EQ(node_.certifies().size(), 2u);
  EXPECT_EQ(FileContents(copy), bytes);
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

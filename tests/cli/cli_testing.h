// Shared by the CLI's tests: runs `tidings` in-process through RunCli, and a
// fake client service on a unix socket in a temp dir (CliNodeTest), so that
// what the CLI sends and how it renders answers are both checked without a
// daemon.
#ifndef TIDINGS_TESTS_CLI_CLI_TESTING_H_
#define TIDINGS_TESTS_CLI_CLI_TESTING_H_

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
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/cli.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/model/roster.h"
#include "proto/client.grpc.pb.h"
#include "proto/roster.pb.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

inline Result Tidings(std::vector<std::string> args) {
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

inline google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &parsed).ok())
      << text;
  return parsed;
}

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::tidings::testing::FileContents;
using ::tidings::testing::TempDir;

// Writes `text` to `path` with permission bits `mode` (a passphrase file).
inline void WriteFileWithMode(const std::string& path, absl::string_view text,
                              mode_t mode) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// ---------------------------------------------------------------------------
// A fake node for the client commands.

inline std::string Id(char fill) { return std::string(32, fill); }

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

}  // namespace tidings::node

#endif  // TIDINGS_TESTS_CLI_CLI_TESTING_H_

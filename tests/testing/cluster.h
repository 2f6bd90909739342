// A loopback network of real `tidingsd` processes, for multi-node tests.
//
// A Cluster generates one identity per principal, a genesis roster signed by
// every founder, free 127.0.0.1 ports and one config file per running node,
// all in a fresh temporary directory. Nodes are separate processes (the binary
// at TIDINGSD_PATH), reached through their client socket. Agencies listed as
// `extra_members` are in the roster but run no node: a test holds their
// identity and speaks for them (see FakePeer).
//
// The destructor kills every node and removes the directory, unless the test
// failed: then it keeps the directory and prints the tail of each node's log.
//
// Thread-safety: the client helpers (Send, Inbox, Show, Status, Stats,
// FeedEnvelopes) may be called from several threads at once; Start, Stop,
// Kill and Restart from one thread at a time.
#ifndef TIDINGS_TESTS_TESTING_CLUSTER_H_
#define TIDINGS_TESTS_TESTING_CLUSTER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "gtest/gtest.h"
#include "node/model/roster.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "tests/testing/rosters.h"

namespace tidings::testing {

// Fails the current test (fatally) unless `expr` is an OK absl::Status.
#define TIDINGS_ASSERT_OK(expr)                           \
  do {                                                    \
    const ::absl::Status tidings_assert_status_ = (expr); \
    ASSERT_TRUE(tidings_assert_status_.ok())              \
        << #expr << ": " << tidings_assert_status_;       \
  } while (0)

#define TIDINGS_EXPECT_OK(expr)                           \
  do {                                                    \
    const ::absl::Status tidings_expect_status_ = (expr); \
    EXPECT_TRUE(tidings_expect_status_.ok())              \
        << #expr << ": " << tidings_expect_status_;       \
  } while (0)

#define TIDINGS_TESTING_CONCAT_INNER_(a, b) a##b
#define TIDINGS_TESTING_CONCAT_(a, b) TIDINGS_TESTING_CONCAT_INNER_(a, b)

// TIDINGS_ASSERT_OK_AND_ASSIGN(auto x, Foo()); fails the test fatally unless
// Foo() is OK, then declares or assigns `x`.
#define TIDINGS_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  TIDINGS_ASSERT_OK_AND_ASSIGN_IMPL_(           \
      TIDINGS_TESTING_CONCAT_(tidings_statusor_, __LINE__), lhs, expr)

#define TIDINGS_ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr)     \
  auto statusor = (expr);                                           \
  ASSERT_TRUE(statusor.ok()) << #expr << ": " << statusor.status(); \
  lhs = std::move(statusor).value()

// Polls `predicate` every 20 ms until it holds or `timeout` passes. The
// failure message names `what` and how long it waited.
::testing::AssertionResult WaitUntil(absl::FunctionRef<bool()> predicate,
                                     absl::Duration timeout,
                                     absl::string_view what);

// Paths of the regular files under `dir` (recursively) whose raw bytes
// contain `needle`, sorted. kNotFound if `dir` does not exist.
absl::StatusOr<std::vector<std::string>> FilesContaining(
    const std::string& dir, absl::string_view needle);

// The header of a signed envelope, parsed from its exact bytes.
// kInvalidArgument if they do not parse.
absl::StatusOr<proto::Header> ParseHeader(const proto::Envelope& envelope);

// "CANARY-" and 24 random hex digits: a string no node holds by chance.
std::string RandomCanary();

// A Keyring over a copy of `identity`'s X25519 secret (one helper for unit
// and multi-node tests).
using node::test_rosters::KeyringOf;

struct ClusterOptions {
  // Principals that run a node, e.g. {"MY.NCB", "ID.NCB"}. A field node
  // ("MY.NCB/SHIP1") runs a node too, outside the roster: start it after
  // CertifyNode.
  std::vector<std::string> principals;
  // Roster members with no node; the test speaks for them.
  std::vector<std::string> extra_members;
  // Agencies in `principals` left out of the genesis: their nodes run, and a
  // test admits them with a roster update (see MemberEntry).
  std::vector<std::string> joiners;
  // Links: `first` dials `second` (links are bidirectional once up). Make the
  // node a test restarts the dialer, so that the link comes back as soon as
  // it is up again rather than after the other side's reconnect backoff.
  std::vector<std::pair<std::string, std::string>> links;
  // Anti-entropy period of every node. Short, so that catch-up is quick.
  absl::Duration anti_entropy_interval = absl::Milliseconds(200);
  std::string log_level = "debug";
  // Epoch key period and grace of every node.
  absl::Duration epoch = absl::Hours(24);
  absl::Duration epoch_grace = absl::Hours(48);
  // How long Start waits for a node to answer Stats.
  absl::Duration ready_timeout = absl::Seconds(30);
  // How long Stop waits for a clean exit before SIGKILL.
  absl::Duration stop_timeout = absl::Seconds(20);
  // The soft open-files limit a node starts with (as most systems start a
  // process; tidingsd raises it to the hard limit). 0: the harness's own.
  int open_files_soft_limit = 1024;
};

// Options for `principals`, each linked to every other (the earlier one dials).
ClusterOptions Mesh(std::vector<std::string> principals);

// Whether a node dials its configured peers.
enum class Links {
  kConfigured,  // as ClusterOptions::links says
  kIsolated,    // dials nobody (others may still dial it)
};

class Cluster {
 public:
  // Creates the directory, identities, roster and configs; starts no node.
  static absl::StatusOr<std::unique_ptr<Cluster>> Create(
      ClusterOptions options);

  // Kills every running node; removes the directory unless the test failed.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts every node (those dialled before their diallers) and waits until
  // each answers Stats.
  absl::Status StartAll();
  // Spawns `principal`'s tidingsd and waits until it answers Stats.
  // kFailedPrecondition if it is already running; kDeadlineExceeded or
  // kInternal (with the log tail) if it does not come up.
  absl::Status Start(absl::string_view principal,
                     Links links = Links::kConfigured);
  // SIGTERM, then waits for exit (SIGKILL after stop_timeout). OK only if it
  // exited with status 0 in time.
  absl::Status Stop(absl::string_view principal);
  // Stop for every running node, in parallel. Also fails if a node that
  // should be running has exited.
  absl::Status StopAll();
  // SIGKILL and reap.
  absl::Status Kill(absl::string_view principal);
  // Stop then Start, keeping ports, keys and data.
  absl::Status Restart(absl::string_view principal);
  // True while the process runs (reaps it if it has exited).
  bool IsRunning(absl::string_view principal);

  // Polls like testing::WaitUntil, and fails at once if a node that should be
  // running has exited.
  ::testing::AssertionResult WaitUntil(absl::FunctionRef<bool()> predicate,
                                       absl::Duration timeout,
                                       absl::string_view what);
  // Waits until `principal` reports every principal in `peers` as connected.
  ::testing::AssertionResult WaitConnected(absl::string_view principal,
                                           std::vector<std::string> peers,
                                           absl::Duration timeout);
  // Waits until every running node is connected to all its link neighbours.
  ::testing::AssertionResult WaitAllLinksUp(absl::Duration timeout);

  // Client service helpers. Each RPC has a 10 s deadline; gRPC errors come
  // back as the absl::Status of the same code.
  absl::StatusOr<proto::SendResponse> Send(
      absl::string_view principal, proto::Kind kind,
      const std::vector<std::string>& audience, absl::string_view title,
      absl::string_view text,
      proto::Precedence precedence = proto::PRECEDENCE_ROUTINE);
  absl::StatusOr<std::vector<proto::EnvelopeSummary>> Inbox(
      absl::string_view principal, uint32_t limit = 1000,
      bool include_receipts = false);
  absl::StatusOr<proto::ShowResponse> Show(absl::string_view principal,
                                           absl::string_view envelope_id);
  absl::StatusOr<proto::StatusResponse> Status(absl::string_view principal,
                                               absl::string_view envelope_id);
  absl::StatusOr<proto::StatsResponse> Stats(absl::string_view principal);
  // A counter from Stats; 0 if absent.
  absl::StatusOr<uint64_t> Counter(absl::string_view principal,
                                   absl::string_view name);
  // The status `recipient` has at `origin` for `envelope_id`; UNSPECIFIED if
  // not listed.
  absl::StatusOr<proto::ReceiptStatus> RecipientStatus(
      absl::string_view origin, absl::string_view envelope_id,
      absl::string_view recipient);
  // Every envelope of `feed_id` held by `principal` from `from_seq` on, paging
  // through Feed until it returns nothing.
  absl::StatusOr<std::vector<proto::Envelope>> FeedEnvelopes(
      absl::string_view principal, absl::string_view feed_id,
      uint64_t from_seq = 1);

  // Roster changes through the client service.
  absl::StatusOr<proto::RosterProposalStatus> ProposeRoster(
      absl::string_view principal, const proto::RosterProposeRequest& request);
  absl::StatusOr<proto::RosterProposalStatus> SignRoster(
      absl::string_view principal, absl::string_view proposal_hash);
  absl::StatusOr<proto::RosterInfoResponse> RosterInfo(
      absl::string_view principal);
  // The version of `principal`'s current roster.
  absl::StatusOr<uint32_t> RosterVersion(absl::string_view principal);

  // Field nodes: `node`'s agency certifies it through its client service,
  // and the certificate is written where `node`'s config expects it.
  // `backlog`: how far back its agency's node may give it content keys.
  absl::StatusOr<proto::NodeInfo> CertifyNode(
      absl::string_view node, absl::Duration backlog = absl::ZeroDuration());
  // `by`'s node asks to certify `entry` as a field node (nothing written).
  absl::StatusOr<proto::NodeInfo> CertifyNode(
      const proto::Member& entry, absl::string_view by,
      absl::Duration backlog = absl::ZeroDuration());
  // `by` (default: `node`'s agency) revokes `node`.
  absl::StatusOr<proto::NodeInfo> RevokeNode(absl::string_view node,
                                             absl::string_view by = "");
  absl::StatusOr<proto::NodeListResponse> ListNodes(
      absl::string_view principal);
  std::string NodeCertPath(absl::string_view node) const;

  // The roster entry of any principal with an identity (its endpoint and TLS
  // certificate fingerprint included), as `tidings keygen` writes it.
  proto::Member MemberEntry(absl::string_view principal) const;
  // Key rotation: makes a new identity for `principal`, stored beside its key
  // file, and returns its roster entry (same endpoint and certificate).
  absl::StatusOr<proto::Member> PrepareNewKey(absl::string_view principal);
  // Puts the new identity in place of the key file (the node must be
  // stopped or restarted to use it).
  absl::Status UseNewKey(absl::string_view principal);

  const std::string& dir() const { return dir_; }
  const node::Roster& roster() const { return *roster_; }
  std::string network_id() const { return roster_->network_id().str(); }
  // TLS key and pinned certificate of any roster member (running or extra).
  // CHECK-fails otherwise.
  const crypto::TlsCredentials& tls(absl::string_view principal) const;
  // Identity of any roster member (running or extra). CHECK-fails otherwise.
  const crypto::Identity& identity(absl::string_view principal) const;
  std::string data_dir(absl::string_view principal) const;
  std::string log_path(absl::string_view principal) const;
  // "127.0.0.1:PORT" of `principal`'s peer service.
  std::string listen_address(absl::string_view principal) const;
  // The last `lines` lines of `principal`'s log.
  std::string LogTail(absl::string_view principal, int lines = 40) const;

 private:
  struct NodeState {
    std::string principal;
    std::string config_path;
    std::string isolated_config_path;
    std::string data_dir;
    std::string socket_path;
    std::string log_path;
    int port = 0;
    std::vector<std::string> neighbours;  // both directions
    pid_t pid = -1;
    bool expected_running = false;
  };

  explicit Cluster(ClusterOptions options);

  absl::Status Init();
  NodeState* FindNode(absl::string_view principal);
  const NodeState* FindNode(absl::string_view principal) const;
  absl::Status WaitReady(NodeState& node);
  absl::Status StopNodes(const std::vector<std::string>& principals);
  // Reaps `node` if it has exited; returns a description of how it exited,
  // or nullopt while it runs.
  std::optional<std::string> Reap(NodeState& node);
  // Appends a harness note to the node's log, between its own lines.
  void AppendToLog(const NodeState& node, absl::string_view line);
  std::shared_ptr<proto::Client::Stub> StubFor(absl::string_view principal);
  // One client-service call with the harness's deadline.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(
      absl::string_view principal,
      grpc::Status (proto::Client::Stub::*method)(grpc::ClientContext*,
                                                  const Request&, Response*),
      const Request& request);
  void ResetStub(const NodeState& node);

  // Constant after Init
  ClusterOptions options_;
  std::string dir_;
  std::map<std::string, std::unique_ptr<crypto::Identity>, std::less<>>
      identities_;
  std::map<std::string, std::unique_ptr<crypto::TlsCredentials>, std::less<>>
      tls_;
  std::unique_ptr<node::Roster> roster_;
  std::vector<NodeState> nodes_;
  std::map<std::string, std::unique_ptr<crypto::Identity>, std::less<>>
      next_identities_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<proto::Client::Stub>, std::less<>>
      stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tidings::testing

#endif  // TIDINGS_TESTS_TESTING_CLUSTER_H_

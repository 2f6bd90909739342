// Tests for the link handshake (node/gossip/handshake.h), run between two
// real sides over an in-process stream: a pair of queues. Every blocking
// read gives up at a deadline, so a side that waits for a message that never
// comes ends the test instead of hanging it.
#include "node/gossip/handshake.h"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/gossip/engine.h"
#include "node/gossip/link.h"
#include "node/gossip/message_stream.h"
#include "node/model/membership.h"
#include "node/model/roster.h"
#include "proto/peer.pb.h"
#include "tests/testing/rosters.h"

namespace tidings::node {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// How long any read waits before it reports the stream ended.
constexpr absl::Duration kReadDeadline = absl::Seconds(10);

// One direction of an in-process link.
struct Pipe {
  absl::Mutex mu;
  std::deque<proto::PeerMessage> queue ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;

  void Close() {
    absl::MutexLock lock(&mu);
    closed = true;
  }
};

// One end of an in-process link. Cancel ends both directions for both ends,
// as cancelling a gRPC call does.
class QueueStream final : public MessageStream {
 public:
  QueueStream(std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out,
              std::string peer_certificate)
      : in_(std::move(in)),
        out_(std::move(out)),
        peer_certificate_(std::move(peer_certificate)) {}

  std::optional<proto::PeerMessage> Read() override {
    Pipe& in = *in_;
    absl::MutexLock lock(&in.mu);
    in.mu.AwaitWithDeadline(
        absl::Condition(
            +[](Pipe* pipe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pipe->mu) {
              return pipe->closed || !pipe->queue.empty();
            },
            &in),
        absl::Now() + kReadDeadline);
    if (in.closed || in.queue.empty()) return std::nullopt;
    proto::PeerMessage message = std::move(in.queue.front());
    in.queue.pop_front();
    return message;
  }
  bool Write(const proto::PeerMessage& message) override {
    absl::MutexLock lock(&out_->mu);
    if (out_->closed) return false;
    out_->queue.push_back(message);
    return true;
  }
  void Cancel() override {
    in_->Close();
    out_->Close();
  }
  std::string PeerCertificate() override { return peer_certificate_; }

 private:
  const std::shared_ptr<Pipe> in_;
  const std::shared_ptr<Pipe> out_;
  const std::string peer_certificate_;
};

// Two connected ends; each one's PeerCertificate is the one the other end
// presents.
struct StreamPair {
  std::unique_ptr<QueueStream> a;
  std::unique_ptr<QueueStream> b;
};

StreamPair Connect(const std::string& a_presents,
                   const std::string& b_presents) {
  auto a_to_b = std::make_shared<Pipe>();
  auto b_to_a = std::make_shared<Pipe>();
  return {std::make_unique<QueueStream>(b_to_a, a_to_b, b_presents),
          std::make_unique<QueueStream>(a_to_b, b_to_a, a_presents)};
}

// Passes everything through, but rewrites each RosterUpdates message it
// writes with `rewrite` (a peer that sends forged or missing updates in the
// catch-up).
class RewritingStream final : public MessageStream {
 public:
  RewritingStream(MessageStream& inner,
                  std::function<void(proto::RosterUpdates&)> rewrite)
      : inner_(inner), rewrite_(std::move(rewrite)) {}
  std::optional<proto::PeerMessage> Read() override { return inner_.Read(); }
  bool Write(const proto::PeerMessage& message) override {
    if (!message.has_roster_updates()) return inner_.Write(message);
    proto::PeerMessage rewritten = message;
    rewrite_(*rewritten.mutable_roster_updates());
    return inner_.Write(rewritten);
  }
  void Cancel() override { inner_.Cancel(); }
  std::string PeerCertificate() override { return inner_.PeerCertificate(); }

 private:
  MessageStream& inner_;
  const std::function<void(proto::RosterUpdates&)> rewrite_;
};

// One node: its identity, TLS certificate, membership and counters.
struct Side {
  explicit Side(absl::string_view principal)
      : identity(crypto::Identity::Generate(principal)) {
    absl::StatusOr<crypto::TlsCredentials> generated =
        crypto::GenerateTlsCertificate(principal, {});
    EXPECT_TRUE(generated.ok()) << generated.status();
    if (generated.ok()) tls = *std::move(generated);
  }

  // This side's roster entry, pinning its TLS certificate.
  proto::Member Member() const {
    proto::Member member = test_rosters::MemberOf(identity);
    absl::StatusOr<crypto::Sha256> fingerprint =
        crypto::CertificateFingerprint(tls.cert_pem);
    EXPECT_TRUE(fingerprint.ok()) << fingerprint.status();
    if (fingerprint.ok()) member.set_tls_cert_sha256(fingerprint->str());
    return member;
  }

  void Join(const Roster& genesis) {
    absl::StatusOr<std::unique_ptr<Membership>> opened =
        Membership::Open(genesis, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    membership = *std::move(opened);
  }

  // Applies a change of this side's own endpoint, signed by it and
  // `cosigner` (the threshold of two), taking its roster one version
  // further.
  void MoveEndpoint(absl::string_view endpoint,
                    const crypto::Identity& cosigner) {
    const Roster& current = membership->chain()->current();
    proto::Roster next = current.roster();
    next.set_change(absl::StrCat(identity.principal(), " moves to ", endpoint));
    for (proto::Member& member : *next.mutable_members()) {
      if (member.agency() != identity.principal()) continue;
      member.clear_endpoints();
      member.add_endpoints(std::string(endpoint));
    }
    absl::StatusOr<proto::SignedRoster> update =
        MakeUpdate(current, std::move(next));
    ASSERT_TRUE(update.ok()) << update.status();
    for (const crypto::Identity* signer :
         std::initializer_list<const crypto::Identity*>{&identity, &cosigner}) {
      absl::Status signed_status = SignUpdate(*update, current, *signer);
      ASSERT_TRUE(signed_status.ok()) << signed_status;
    }
    const uint32_t before = membership->chain()->version();
    absl::StatusOr<Offered> offered = membership->Offer(*update);
    ASSERT_TRUE(offered.ok()) << offered.status();
    ASSERT_EQ(membership->chain()->version(), before + 1);
  }

  uint64_t Counter(const std::string& name) const {
    auto snapshot = counters.Snapshot();
    auto it = snapshot.find(name);
    return it == snapshot.end() ? 0 : it->second;
  }

  crypto::Identity identity;
  crypto::TlsCredentials tls;
  std::unique_ptr<Membership> membership;
  Counters counters;
};

struct Outcome {
  absl::StatusOr<std::string> a = absl::UnknownError("not run");
  absl::StatusOr<std::string> b = absl::UnknownError("not run");
};

// Runs `side`'s handshake over `stream`; a side that fails cancels the
// stream, as the transport does.
absl::StatusOr<std::string> RunSide(Side& side, MessageStream& stream,
                                    absl::string_view expected) {
  absl::StatusOr<std::string> result = Handshake(
      stream, expected, *side.membership, side.identity, side.counters);
  if (!result.ok()) stream.Cancel();
  return result;
}

// Runs the handshake between `a` (presenting `a_presents`, dialling
// `a_dials` if not empty) and `b` (accepting), each on its own thread.
Outcome RunBoth(Side& a, Side& b, const std::string& a_presents,
                const std::string& b_presents, absl::string_view a_dials = "") {
  StreamPair streams = Connect(a_presents, b_presents);
  Outcome outcome;
  std::thread accepting(
      [&] { outcome.b = RunSide(b, *streams.b, /*expected=*/""); });
  outcome.a = RunSide(a, *streams.a, a_dials);
  accepting.join();
  return outcome;
}

Outcome RunBoth(Side& a, Side& b, absl::string_view a_dials = "") {
  return RunBoth(a, b, a.tls.cert_pem, b.tls.cert_pem, a_dials);
}

// The messages of the refusals in `outcome`.
std::vector<std::string> RefusalsOf(const Outcome& outcome) {
  std::vector<std::string> out;
  for (const auto* result : {&outcome.a, &outcome.b}) {
    if (!result->ok()) out.emplace_back(result->status().message());
  }
  return out;
}

// Two founders A and B (threshold 2); C is an outsider with a certificate
// of its own and the same genesis.
class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Roster> genesis = test_rosters::SignedGenesisOf(
        {a_.Member(), b_.Member()}, {&a_.identity, &b_.identity}, 2);
    ASSERT_TRUE(genesis.ok()) << genesis.status();
    genesis_.emplace(*std::move(genesis));
    for (Side* side : {&a_, &b_, &c_}) side->Join(*genesis_);
  }

  Side a_{"A"};
  Side b_{"B"};
  Side c_{"C"};
  std::optional<Roster> genesis_;
};

// Hello's field 2 was called `agency` before it was renamed `principal`: the
// bytes on the wire are those of field 2, whatever its name.
TEST(HelloTest, PrincipalIsStillFieldTwoOnTheWire) {
  proto::Hello hello;
  hello.set_principal("MY.NCB/SHIP1");
  EXPECT_EQ(hello.SerializeAsString(), std::string("\x12\x0cMY.NCB/SHIP1"));
}

TEST_F(HandshakeTest, BothSidesAuthenticateTheOther) {
  Outcome outcome = RunBoth(a_, b_, /*a_dials=*/"B");
  ASSERT_TRUE(outcome.a.ok()) << outcome.a.status();
  ASSERT_TRUE(outcome.b.ok()) << outcome.b.status();
  EXPECT_EQ(*outcome.a, "B");
  EXPECT_EQ(*outcome.b, "A");
  EXPECT_TRUE(a_.counters.Snapshot().empty());
  EXPECT_TRUE(b_.counters.Snapshot().empty());
}

TEST_F(HandshakeTest, PeerNotInTheRosterIsRefusedBeforeAnyProof) {
  Outcome outcome = RunBoth(c_, a_);
  EXPECT_EQ(outcome.b.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(outcome.b.status().message(),
              HasSubstr("peer claims to be 'C', not in roster v0"));
  // A sends C nothing to verify: C sees the stream end (before or after
  // it read A's hello).
  EXPECT_EQ(outcome.a.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(HandshakeTest, WrongProofIsRefused) {
  // Presents B's certificate but holds another key than B's.
  Side impostor("B");
  impostor.Join(*genesis_);
  Outcome outcome = RunBoth(impostor, a_, /*a_presents=*/b_.tls.cert_pem,
                            /*b_presents=*/a_.tls.cert_pem);
  EXPECT_EQ(outcome.b.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(outcome.b.status().message(),
              HasSubstr("peer cannot prove it holds the key of B"));
  // (A proved itself before it read the impostor's proof, so the impostor
  // may or may not have seen A's proof before A ended the stream.)
}

TEST_F(HandshakeTest, AnotherPrincipalsCertificateIsRefused) {
  Outcome outcome = RunBoth(b_, a_, /*a_presents=*/c_.tls.cert_pem,
                            /*b_presents=*/a_.tls.cert_pem);
  EXPECT_EQ(outcome.b.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(outcome.b.status().message(),
              HasSubstr("peer claims B but its TLS certificate is not B's"));
  EXPECT_FALSE(outcome.a.ok());
}

// Issue 11: the Hello was acted on (roster updates sent, split alarms
// blamed on the claimed agency) before the certificate was matched to the
// claim. A peer claiming B with C's certificate is now refused on its
// Hello: A sends it no roster.
TEST_F(HandshakeTest, AClaimWithAnotherPrincipalsCertificateIsSentNoRoster) {
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  Side impostor("B");
  impostor.Join(*genesis_);
  Outcome outcome = RunBoth(impostor, a_, /*a_presents=*/c_.tls.cert_pem,
                            /*b_presents=*/a_.tls.cert_pem);
  EXPECT_EQ(outcome.b.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(outcome.b.status().message(),
              HasSubstr("peer claims B but its TLS certificate is not B's"));
  EXPECT_FALSE(outcome.a.ok());
  EXPECT_EQ(impostor.membership->chain()->version(), 0u);
  EXPECT_EQ(impostor.Counter("roster.applied"), 0u);
  EXPECT_EQ(a_.Counter("links_refused.certificate"), 1u);
}

TEST_F(HandshakeTest, DiallingOnePrincipalAndMeetingAnotherIsRefused) {
  Outcome outcome = RunBoth(a_, b_, /*a_dials=*/"C");
  EXPECT_EQ(outcome.a.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(outcome.a.status().message(),
              HasSubstr("dialled C but the peer claims B"));
  EXPECT_FALSE(outcome.b.ok());
}

TEST_F(HandshakeTest, PeerOnAnotherNetworkIsRefused) {
  Side stranger("B");
  absl::StatusOr<Roster> other = test_rosters::SignedGenesisOf(
      {stranger.Member()}, {&stranger.identity}, 1);
  ASSERT_TRUE(other.ok()) << other.status();
  stranger.Join(*other);
  Outcome outcome = RunBoth(stranger, a_);
  // Both refuse the other's hello; the first to do so ends the stream, and
  // the other may see only that.
  EXPECT_THAT(RefusalsOf(outcome), Contains(HasSubstr("another network")));
  EXPECT_FALSE(outcome.a.ok());
  EXPECT_FALSE(outcome.b.ok());
}

TEST_F(HandshakeTest, FirstMessageMustBeAHello) {
  StreamPair streams = Connect(b_.tls.cert_pem, a_.tls.cert_pem);
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes("not yet");
  ASSERT_TRUE(streams.b->Write(push));
  absl::StatusOr<std::string> result = RunSide(a_, *streams.a, /*expected=*/"");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr("first message is not a hello"));
}

// The roster catch-up between Hello and Proof: the side that is behind
// applies the updates the other sends, then both prove themselves, whichever
// of the two dialled.
TEST_F(HandshakeTest, SideBehindCatchesUpBeforeTheProof) {
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  a_.MoveEndpoint("a3.example:7101", b_.identity);
  for (bool behind_dials : {true, false}) {
    SCOPED_TRACE(behind_dials ? "the side behind dials"
                              : "the side behind accepts");
    b_.Join(*genesis_);
    const uint64_t applied = b_.Counter("roster.applied");
    Outcome outcome = behind_dials ? RunBoth(b_, a_) : RunBoth(a_, b_);
    const absl::StatusOr<std::string>& at_b =
        behind_dials ? outcome.a : outcome.b;
    const absl::StatusOr<std::string>& at_a =
        behind_dials ? outcome.b : outcome.a;
    ASSERT_TRUE(at_b.ok()) << at_b.status();
    ASSERT_TRUE(at_a.ok()) << at_a.status();
    EXPECT_EQ(*at_b, "A");
    EXPECT_EQ(*at_a, "B");
    EXPECT_EQ(b_.membership->chain()->version(), 2u);
    EXPECT_EQ(b_.membership->chain()->current().hash().str(),
              a_.membership->chain()->current().hash().str());
    EXPECT_EQ(b_.Counter("roster.applied"), applied + 2);
  }
  EXPECT_EQ(a_.Counter("roster.applied"), 0u);
  EXPECT_EQ(a_.membership->chain()->version(), 2u);
}

TEST_F(HandshakeTest, RefusedRosterUpdateEndsTheHandshake) {
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  StreamPair streams = Connect(a_.tls.cert_pem, b_.tls.cert_pem);
  // Flips a byte in each update.
  RewritingStream forging(*streams.a, [](proto::RosterUpdates& updates) {
    for (std::string& update : *updates.mutable_updates()) {
      update.back() = static_cast<char>(update.back() ^ 1);
    }
  });
  absl::StatusOr<std::string> at_a = absl::UnknownError("not run");
  std::thread ahead([&] { at_a = RunSide(a_, forging, /*expected=*/""); });
  absl::StatusOr<std::string> at_b = RunSide(b_, *streams.b, "");
  ahead.join();
  EXPECT_EQ(at_b.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(at_b.status().message(),
              HasSubstr("roster update from the peer refused"));
  EXPECT_EQ(b_.Counter("rejected.roster"), 1u);
  EXPECT_EQ(b_.membership->chain()->version(), 0u);
  EXPECT_FALSE(at_a.ok());
}

// Issue 11: a peer claiming a newer roster whose updates did not bring this
// node to it (none sent, or one kept as a pending proposal) still got the
// Proof, though catch-up comes first.
TEST_F(HandshakeTest, APeerAheadWhoseUpdatesDoNotCatchUpGetsNoProof) {
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  StreamPair streams = Connect(a_.tls.cert_pem, b_.tls.cert_pem);
  RewritingStream withholding(*streams.a, [](proto::RosterUpdates& updates) {
    updates.clear_updates();
  });
  absl::StatusOr<std::string> at_a = absl::UnknownError("not run");
  std::thread ahead([&] { at_a = RunSide(a_, withholding, /*expected=*/""); });
  absl::StatusOr<std::string> at_b = RunSide(b_, *streams.b, "");
  ahead.join();
  EXPECT_EQ(at_b.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(at_b.status().message(),
              HasSubstr("its roster updates bring this node only to v0"));
  EXPECT_FALSE(at_a.ok());  // B proved nothing to A
  EXPECT_EQ(b_.membership->chain()->version(), 0u);
}

TEST_F(HandshakeTest, OutsiderIsNotSentTheRoster) {
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  Outcome outcome = RunBoth(c_, a_);
  // C, behind, waits for updates that A keeps from an outsider.
  EXPECT_THAT(outcome.b.status().message(),
              HasSubstr("peer claims to be 'C', not in roster v1"));
  EXPECT_EQ(outcome.a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c_.membership->chain()->version(), 0u);
}

TEST_F(HandshakeTest, RosterSplitIsRefused) {
  // Each applies a different update at v1.
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  b_.MoveEndpoint("b2.example:7101", a_.identity);
  Outcome outcome = RunBoth(a_, b_);
  EXPECT_FALSE(outcome.a.ok());
  EXPECT_FALSE(outcome.b.ok());
  // Both see the split in the other's hello; the first to refuse ends the
  // stream, and the other may see only that. Each side that saw it counts it.
  EXPECT_THAT(RefusalsOf(outcome),
              Contains("roster split: the peer's roster v1 differs from this "
                       "node's"));
  for (const auto& [side, result] :
       {std::pair(&a_, &outcome.a), std::pair(&b_, &outcome.b)}) {
    const bool split =
        result->status().code() == absl::StatusCode::kFailedPrecondition;
    EXPECT_EQ(side->Counter("links_refused.roster_split"), split ? 1u : 0u);
    if (!split) {
      EXPECT_EQ(result->status().code(), absl::StatusCode::kUnavailable);
    }
  }
}

TEST_F(HandshakeTest, RosterSplitIsFoundByTheSideAhead) {
  // A is at v2; B built its own v1. A holds B's version and sees it differs
  // before sending any update; B, behind, waits for updates.
  a_.MoveEndpoint("a2.example:7101", b_.identity);
  a_.MoveEndpoint("a3.example:7101", b_.identity);
  b_.MoveEndpoint("b2.example:7101", a_.identity);
  Outcome outcome = RunBoth(a_, b_);
  EXPECT_EQ(outcome.a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a_.Counter("links_refused.roster_split"), 1u);
  EXPECT_EQ(outcome.b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(b_.membership->chain()->version(), 1u);
}

}  // namespace
}  // namespace tidings::node

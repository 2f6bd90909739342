// The gossip engine on a simulated network: several engines in one process,
// each with its own log, exchanging PeerMessages through an in-memory queue.
// Every message that crosses the simulated network is recorded, so the tests
// can prove what never reached a node, not only what did.
#include "node/gossip/engine.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "crypto/hash.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/gossip/internal/envelopes.h"
#include "node/model/envelope.h"
#include "node/model/roster.h"
#include "tests/testing/rosters.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

// Time moves only when a test says so.
class ManualClock final : public Clock {
 public:
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1800000000);
};

// Set-up failures are bugs of the test itself.
void MustBeOk(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "set-up failed: %s\n", status.ToString().c_str());
    std::abort();
  }
}

struct Transit {
  std::string from;
  std::string to;
  proto::PeerMessage message;
};

class SimNetwork {
 public:
  explicit SimNetwork(const std::vector<std::string>& agencies) {
    std::vector<proto::Member> members;
    for (const std::string& agency : agencies) {
      auto node = std::make_unique<Node>();
      node->identity = std::make_unique<crypto::Identity>(
          crypto::Identity::Generate(agency));
      members.push_back(PublicIdentityOf(*node->identity, agency, {}).member());
      nodes_[agency] = std::move(node);
    }
    absl::StatusOr<proto::SignedRoster> genesis = MakeGenesis(
        "sim", static_cast<uint32_t>(agencies.size() / 2 + 1), members, 1);
    MustBeOk(genesis.status());
    for (auto& [agency, node] : nodes_) {
      MustBeOk(SignGenesis(*genesis, *node->identity));
    }
    absl::StatusOr<Roster> roster = Roster::FromSigned(*genesis);
    MustBeOk(roster.status());
    roster_ = std::make_unique<Roster>(*std::move(roster));
    for (auto& [agency, node] : nodes_) {
      node->keyring = test_rosters::KeyringOf(*node->identity);
      absl::StatusOr<std::unique_ptr<storage::Log>> log =
          storage::Log::Open({.path = dir_ / agency, .sync = false});
      MustBeOk(log.status());
      node->log = *std::move(log);
      absl::StatusOr<std::unique_ptr<Membership>> membership =
          Membership::Open(*roster_, node->log.get());
      MustBeOk(membership.status());
      node->membership = *std::move(membership);
      node->sender = std::make_unique<Sender>(this, agency);
      EngineOptions options;
      options.membership = node->membership.get();
      options.identity = node->identity.get();
      options.keyring = node->keyring.get();
      options.log = node->log.get();
      options.clock = &clock_;
      options.sender = node->sender.get();
      options.counters = &node->counters;
      node->engine = std::make_unique<Engine>(options);
    }
  }

  ~SimNetwork() {
    for (auto& [agency, node] : nodes_) node->engine.reset();
    nodes_.clear();
  }

  Engine& engine(const std::string& agency) { return *nodes_[agency]->engine; }
  storage::Log& log(const std::string& agency) { return *nodes_[agency]->log; }
  uint64_t counter(const std::string& agency, const std::string& name) {
    auto snapshot = nodes_[agency]->counters.Snapshot();
    auto it = snapshot.find(name);
    return it == snapshot.end() ? 0 : it->second;
  }
  const Roster& roster() const { return *roster_; }
  const crypto::Identity& identity(const std::string& agency) {
    return *nodes_[agency]->identity;
  }
  crypto::Keyring& keyring(const std::string& agency) {
    return *nodes_[agency]->keyring;
  }
  ManualClock& clock() { return clock_; }

  void Link(const std::string& a, const std::string& b) {
    {
      absl::MutexLock lock(&mu_);
      links_.insert({a, b});
      links_.insert({b, a});
    }
    engine(a).OnLinkUp(b);
    engine(b).OnLinkUp(a);
  }
  void Unlink(const std::string& a, const std::string& b) {
    {
      absl::MutexLock lock(&mu_);
      links_.erase({a, b});
      links_.erase({b, a});
    }
    engine(a).OnLinkDown(b);
    engine(b).OnLinkDown(a);
  }

  // Injects a message as if `from` had sent it to `to` on a live link.
  void Inject(const std::string& from, const std::string& to,
              proto::PeerMessage message) {
    absl::MutexLock lock(&mu_);
    queue_.push_back({from, to, std::move(message)});
  }

  // Delivers messages and lets every engine commit until nothing moves.
  void RunUntilQuiet() {
    for (int round = 0; round < 10000; ++round) {
      std::deque<Transit> batch;
      {
        absl::MutexLock lock(&mu_);
        batch.swap(queue_);
      }
      for (Transit& d : batch) {
        bool linked;
        {
          absl::MutexLock lock(&mu_);
          linked = links_.contains({d.from, d.to});
          delivered_.push_back(d);
        }
        if (linked) {
          EXPECT_TRUE(engine(d.to).OnPeerMessage(d.from, d.message).ok());
        }
      }
      for (auto& [agency, node] : nodes_) node->engine->Flush();
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
    }
    ADD_FAILURE() << "network did not go quiet";
  }

  // Every message delivered to `to` so far.
  std::vector<proto::PeerMessage> DeliveredTo(const std::string& to) {
    absl::MutexLock lock(&mu_);
    std::vector<proto::PeerMessage> out;
    for (const Transit& d : delivered_) {
      if (d.to == to) out.push_back(d.message);
    }
    return out;
  }

  // True if any message to `to` carried bytes containing `needle`.
  bool AnyMessageTo(const std::string& to, const std::string& needle) {
    for (const proto::PeerMessage& m : DeliveredTo(to)) {
      if (m.SerializeAsString().find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  class Sender final : public PeerSender {
   public:
    Sender(SimNetwork* net, std::string self)
        : net_(net), self_(std::move(self)) {}
    bool SendToPeer(absl::string_view peer, const proto::PeerMessage& message,
                    proto::Precedence) override {
      absl::MutexLock lock(&net_->mu_);
      if (!net_->links_.contains({self_, std::string(peer)})) return false;
      net_->queue_.push_back({self_, std::string(peer), message});
      return true;
    }

   private:
    SimNetwork* net_;
    std::string self_;
  };

  struct Node {
    std::unique_ptr<crypto::Identity> identity;
    std::unique_ptr<crypto::Keyring> keyring;
    std::unique_ptr<storage::Log> log;
    std::unique_ptr<Membership> membership;
    Counters counters;
    std::unique_ptr<Sender> sender;
    std::unique_ptr<Engine> engine;
  };

  tidings::testing::TempDir dir_{"engine_test"};
  ManualClock clock_;
  std::unique_ptr<Roster> roster_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> links_ ABSL_GUARDED_BY(mu_);
  std::deque<Transit> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Transit> delivered_ ABSL_GUARDED_BY(mu_);
};

// Who holds `sent`, as `node` learnt from holdings records.
std::set<std::string> HoldersOf(SimNetwork& net, const std::string& node,
                                const SendResult& sent) {
  std::optional<proto::Header> header =
      gossip_internal::HeldHeader(net.log(node), sent.envelope_id);
  if (!header.has_value()) return {};
  std::set<std::string> holders;
  for (const Delivery& delivery :
       net.engine(node).DeliveredOf(*header, sent.feed_id)) {
    holders.insert(delivery.holder);
  }
  return holders;
}

proto::SendRequest Notice(std::vector<std::string> audience,
                          const std::string& text) {
  proto::SendRequest request;
  request.set_kind(proto::KIND_NOTICE);
  request.set_precedence(proto::PRECEDENCE_ROUTINE);
  for (std::string& member : audience) request.add_audience(member);
  request.mutable_body()->set_title("t");
  request.mutable_body()->set_text(text);
  return request;
}

bool Holds(storage::Log& log, const std::string& id) {
  absl::StatusOr<std::optional<std::string>> held = log.GetEnvelope(id);
  return held.ok() && held->has_value();
}

TEST(EngineTest, PushReachesTheAudienceAndNothingElseCrossesToOthers) {
  SimNetwork net({"A", "B", "C", "D"});
  for (const char* a : {"A", "B", "C", "D"}) {
    for (const char* b : {"A", "B", "C", "D"}) {
      if (std::string(a) < b) net.Link(a, b);
    }
  }
  net.RunUntilQuiet();
  absl::StatusOr<SendResult> sent =
      net.engine("A").Send(Notice({"B", "C"}, "x"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  net.RunUntilQuiet();
  EXPECT_TRUE(Holds(net.log("B"), sent->envelope_id));
  EXPECT_TRUE(Holds(net.log("C"), sent->envelope_id));
  EXPECT_FALSE(Holds(net.log("D"), sent->envelope_id));
  EXPECT_EQ(net.log("D").envelope_count(), 0u);
  // Not the envelope, not its feed id, not even its receipts went to D.
  EXPECT_FALSE(net.AnyMessageTo("D", sent->envelope_id));
  EXPECT_FALSE(net.AnyMessageTo("D", sent->feed_id));
  // Each recipient's holdings record reached the origin.
  EXPECT_EQ(HoldersOf(net, "A", *sent), (std::set<std::string>{"B", "C"}));
}

TEST(EngineTest, ACopyAlreadyHeldCostsNoSignatureCheck) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  net.Link("B", "C");
  absl::StatusOr<SendResult> sent =
      net.engine("A").Send(Notice({"B", "C"}, "x"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  net.RunUntilQuiet();
  ASSERT_TRUE(Holds(net.log("C"), sent->envelope_id));
  EXPECT_EQ(net.counter("C", "verifies"), 1u);
  // The same envelope again, from each peer: a key lookup each, no verify.
  absl::StatusOr<std::optional<std::string>> bytes =
      net.log("A").GetEnvelope(sent->envelope_id);
  ASSERT_TRUE(bytes.ok() && bytes->has_value());
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes(**bytes);
  const uint64_t duplicates = net.counter("C", "duplicates");
  net.Inject("A", "C", push);
  net.Inject("B", "C", push);
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("C", "verifies"), 1u);
  EXPECT_EQ(net.counter("C", "duplicates"), duplicates + 2);
  EXPECT_EQ(net.log("C").envelope_count(), 1u);
}

TEST(EngineTest, ADuplicatePushPrunesTheLinkAndLaterEnvelopesAreAnnounced) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  net.Link("B", "C");
  net.RunUntilQuiet();
  absl::StatusOr<SendResult> first =
      net.engine("A").Send(Notice({"B", "C"}, "first"));
  ASSERT_TRUE(first.ok()) << first.status();
  net.RunUntilQuiet();
  // B and C each forwarded A's envelope to the other: each copy was a
  // duplicate, so the B-C link is pruned for A's envelopes.
  EXPECT_EQ(net.counter("B", "prunes_sent") + net.counter("C", "prunes_sent"),
            2u);
  const uint64_t duplicates =
      net.counter("B", "duplicates") + net.counter("C", "duplicates");
  const uint64_t announced =
      net.counter("B", "announced") + net.counter("C", "announced");
  absl::StatusOr<SendResult> second =
      net.engine("A").Send(Notice({"B", "C"}, "second"));
  ASSERT_TRUE(second.ok()) << second.status();
  net.RunUntilQuiet();
  EXPECT_TRUE(Holds(net.log("B"), second->envelope_id));
  EXPECT_TRUE(Holds(net.log("C"), second->envelope_id));
  // The second crossed B-C only as announcements: no copy was wasted and
  // none was grafted (both held it from A).
  EXPECT_EQ(net.counter("B", "duplicates") + net.counter("C", "duplicates"),
            duplicates);
  EXPECT_EQ(net.counter("B", "announced") + net.counter("C", "announced"),
            announced + 2);
  EXPECT_EQ(net.counter("B", "grafts_sent") + net.counter("C", "grafts_sent"),
            0u);
}

TEST(EngineTest, AnAnnouncedEnvelopeThatDoesNotArriveIsGrafted) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  net.Link("B", "C");
  net.RunUntilQuiet();
  ASSERT_TRUE(net.engine("A").Send(Notice({"B", "C"}, "first")).ok());
  net.RunUntilQuiet();
  // The eager link to C goes: B only announces A's envelopes to C now.
  net.Unlink("A", "C");
  absl::StatusOr<SendResult> second =
      net.engine("A").Send(Notice({"B", "C"}, "second"));
  ASSERT_TRUE(second.ok()) << second.status();
  net.RunUntilQuiet();
  EXPECT_FALSE(Holds(net.log("C"), second->envelope_id));
  EXPECT_EQ(net.counter("C", "grafts_sent"), 0u);
  // Not before the graft timeout...
  net.clock().Advance(absl::Milliseconds(100));
  net.engine("C").Tick();
  net.RunUntilQuiet();
  EXPECT_FALSE(Holds(net.log("C"), second->envelope_id));
  // ...but after it C grafts B, which sends the envelope and pushes A's
  // later envelopes to C eagerly again.
  net.clock().Advance(absl::Milliseconds(100));
  net.engine("C").Tick();
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("C", "grafts_sent"), 1u);
  EXPECT_EQ(net.counter("B", "grafts_received"), 1u);
  EXPECT_TRUE(Holds(net.log("C"), second->envelope_id));
  absl::StatusOr<SendResult> third =
      net.engine("A").Send(Notice({"B", "C"}, "third"));
  ASSERT_TRUE(third.ok()) << third.status();
  net.RunUntilQuiet();
  EXPECT_TRUE(Holds(net.log("C"), third->envelope_id));
  EXPECT_EQ(net.counter("C", "grafts_sent"), 1u);
}

TEST(EngineTest, AnAnnouncementOfAFeedOutsideItsAudienceDrawsNoAnswer) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "x"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  // C names A's feed to {B} as if it held more of it; A grafts C, and C's
  // answer would be refused. What A asks C for does not depend on what A
  // holds of a feed C is not in: from the start.
  proto::PeerMessage announce;
  announce.mutable_announce()->set_feed_id(sent->feed_id);
  announce.mutable_announce()->set_seq(2);
  announce.mutable_announce()->set_envelope_id(std::string(32, 'x'));
  announce.mutable_announce()->set_origin("A");
  net.Inject("C", "A", announce);
  net.RunUntilQuiet();
  net.clock().Advance(absl::Milliseconds(200));
  net.engine("A").Tick();
  net.RunUntilQuiet();
  bool grafted = false;
  for (const proto::PeerMessage& m : net.DeliveredTo("C")) {
    if (m.has_graft()) {
      grafted = true;
      EXPECT_EQ(m.graft().from_seq(), 1u);
    }
    EXPECT_FALSE(m.SerializeAsString().find(sent->envelope_id) !=
                 std::string::npos);
  }
  EXPECT_TRUE(grafted);
}

// The Wants `to` received, by feed id: the seq each asked from.
std::map<std::string, uint64_t> WantsTo(SimNetwork& net,
                                        const std::string& to) {
  std::map<std::string, uint64_t> wants;
  for (const proto::PeerMessage& m : net.DeliveredTo(to)) {
    if (m.has_want()) wants[m.want().feed_id()] = m.want().from_seq();
  }
  return wants;
}

proto::PeerMessage HeadsNaming(
    const std::vector<std::pair<std::string, uint64_t>>& feeds) {
  proto::PeerMessage message;
  message.mutable_heads()->set_is_reply(true);
  for (const auto& [feed_id, seq] : feeds) {
    proto::FeedPosition* position = message.mutable_heads()->add_heads();
    position->set_feed_id(feed_id);
    position->set_seq(seq);
  }
  return message;
}

// Issue 11: Heads naming a feed the peer is not in drew a Want from the
// seq after this node's head (or none, while another peer was asked),
// revealing that the feed exists, its length, and so its audience.
TEST(EngineTest,
     HeadsNamingAFeedOutsideThePeersAudienceDrawTheAnswerOfAnUnknownFeed) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "x"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  const std::string unknown(crypto::Hash256::kSize, 'u');

  // C names A's feed to {B} and a feed nobody has, both at seq 5.
  net.Inject("C", "A", HeadsNaming({{sent->feed_id, 5}, {unknown, 5}}));
  net.RunUntilQuiet();
  EXPECT_EQ(WantsTo(net, "C"), (std::map<std::string, uint64_t>{
                                   {sent->feed_id, 1}, {unknown, 1}}));

  // Again while A pulls that feed from B: the same answer.
  net.clock().Advance(absl::Seconds(6));  // C's Wants are old now
  net.Inject("B", "A", HeadsNaming({{sent->feed_id, 5}}));
  net.RunUntilQuiet();
  EXPECT_EQ(WantsTo(net, "B"),
            (std::map<std::string, uint64_t>{{sent->feed_id, 2}}));
  const size_t before = net.DeliveredTo("C").size();
  net.Inject("C", "A", HeadsNaming({{sent->feed_id, 5}, {unknown, 5}}));
  net.RunUntilQuiet();
  std::map<std::string, uint64_t> wants;
  const std::vector<proto::PeerMessage> to_c = net.DeliveredTo("C");
  for (size_t i = before; i < to_c.size(); ++i) {
    if (to_c[i].has_want()) {
      wants[to_c[i].want().feed_id()] = to_c[i].want().from_seq();
    }
  }
  EXPECT_EQ(wants, (std::map<std::string, uint64_t>{{sent->feed_id, 1},
                                                    {unknown, 1}}));
  EXPECT_FALSE(net.AnyMessageTo("C", sent->envelope_id));
}

TEST(EngineTest,
     HoldingsRefsOutsideThePeersAudienceDrawTheAnswerOfUnknownOnes) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "x"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  ASSERT_EQ(HoldersOf(net, "A", *sent), (std::set<std::string>{"B"}));

  // C claims to hold counter 1 of B's record for {A, B}, which A holds,
  // and of a record A has never seen: A answers both alike.
  auto answers_to = [&](const std::string& audience_id) {
    proto::PeerMessage probe;
    proto::HoldingsRef* ref = probe.mutable_holdings_heads()->add_refs();
    ref->set_holder("B");
    ref->set_audience_id(audience_id);
    ref->set_counter(1);
    const size_t before = net.DeliveredTo("C").size();
    net.Inject("C", "A", probe);
    net.RunUntilQuiet();
    std::vector<proto::PeerMessage> to_c = net.DeliveredTo("C");
    to_c.erase(to_c.begin(), to_c.begin() + static_cast<ptrdiff_t>(before));
    for (const proto::PeerMessage& m : to_c) {
      EXPECT_TRUE(m.has_holdings_heads()) << m.DebugString();
      EXPECT_EQ(m.holdings_heads().refs_size(), 0) << m.DebugString();
    }
    return to_c.size();
  };
  EXPECT_EQ(answers_to(AudienceIdOf({"A", "B"})), 1u);
  EXPECT_EQ(answers_to(std::string(crypto::Hash256::kSize, 'u')), 1u);
}

TEST(EngineTest, AWantFromOutsideTheAudienceIsNeverServed) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("A", "C");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "x"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  // C learned the feed id somehow and asks for it.
  proto::PeerMessage want;
  want.mutable_want()->set_feed_id(sent->feed_id);
  want.mutable_want()->set_from_seq(1);
  want.mutable_want()->set_max(10);
  net.Inject("C", "A", want);
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("A", "want.not_in_audience"), 1u);
  EXPECT_FALSE(net.AnyMessageTo("C", sent->envelope_id));
  EXPECT_EQ(net.log("C").envelope_count(), 0u);
}

// Issue 11: 45-byte Wants drew Pushes without limit (193 MiB/s of
// amplification). A peer may draw a burst, then a rate.
TEST(EngineTest, WantsPastAPeersBudgetGoUnanswered) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(
        net.engine("A")
            .Send(Notice({"B"}, std::string(100 * 1024,
                                            static_cast<char>('a' + i % 26))))
            .ok());
  }
  net.RunUntilQuiet();
  std::string feed_id;
  for (const proto::FeedHead& head : net.log("A").ListHeads()) {
    feed_id = head.feed_id();
  }
  ASSERT_FALSE(feed_id.empty());
  auto answered_bytes = [&] {
    size_t bytes = 0;
    for (const proto::PeerMessage& m : net.DeliveredTo("B")) {
      if (m.has_push() && m.push().answers_want()) bytes += m.ByteSizeLong();
    }
    return bytes;
  };
  proto::PeerMessage want;
  want.mutable_want()->set_feed_id(feed_id);
  want.mutable_want()->set_from_seq(1);
  want.mutable_want()->set_max(256);
  for (int i = 0; i < 30; ++i) net.Inject("B", "A", want);  // 120 MB asked
  net.RunUntilQuiet();
  const size_t burst = answered_bytes();
  EXPECT_GT(burst, 16u * 1024 * 1024);
  EXPECT_LE(burst, FeedSync::kWantServeBurstBytes + 4 * 1024 * 1024 + 65536);
  EXPECT_GE(net.counter("A", "want.throttled"), 20u);

  // A second later the peer may draw about a second's worth again.
  net.clock().Advance(absl::Seconds(1));
  net.Inject("B", "A", want);
  net.RunUntilQuiet();
  EXPECT_GT(answered_bytes(), burst);
}

// Issue 11: standing reset on every link-up, so a member cut off for bad
// envelopes reconnected at once (472 times in 30 s) and was never refused.
TEST(EngineTest, APeerCutOffForRefusalsStaysCutOffAcrossLinksForABackoff) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  proto::PeerMessage junk;
  for (int i = 0; i < 65; ++i) {
    junk.mutable_push()->add_envelopes(absl::StrCat("not an envelope ", i));
  }
  auto flood = [&] { return net.engine("A").OnPeerMessage("B", junk); };
  EXPECT_EQ(flood().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(net.counter("A", "peers_cut_off"), 1u);

  // The link closes; a new one is refused, however often B comes back.
  net.Unlink("A", "B");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(net.engine("A").Admit("B").code(),
              absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(net.counter("A", "links_refused.cut_off"), 3u);
  net.clock().Advance(absl::Seconds(61));
  EXPECT_TRUE(net.engine("A").Admit("B").ok());

  // Standing holds across links: a second flood right away cuts B off
  // for twice as long.
  net.Link("A", "B");
  EXPECT_EQ(flood().code(), absl::StatusCode::kResourceExhausted);
  net.Unlink("A", "B");
  net.clock().Advance(absl::Seconds(61));
  EXPECT_EQ(net.engine("A").Admit("B").code(), absl::StatusCode::kUnavailable);
  net.clock().Advance(absl::Seconds(60));
  EXPECT_TRUE(net.engine("A").Admit("B").ok());

  // A few refusals a minute are forgiven as they drain.
  net.Link("A", "B");
  proto::PeerMessage few;
  for (int i = 0; i < 40; ++i) few.mutable_push()->add_envelopes("junk");
  EXPECT_TRUE(net.engine("A").OnPeerMessage("B", few).ok());
  net.clock().Advance(absl::Minutes(1));
  EXPECT_TRUE(net.engine("A").OnPeerMessage("B", few).ok());
  EXPECT_EQ(net.counter("A", "peers_cut_off"), 2u);
}

// `bytes` (a serialized envelope) with its header changed by `change` and
// the old signature kept: a forgery.
std::string Forged(const std::string& bytes,
                   const std::function<void(proto::Header&)>& change) {
  proto::Envelope envelope;
  proto::Header header;
  EXPECT_TRUE(envelope.ParseFromString(bytes));
  EXPECT_TRUE(header.ParseFromString(envelope.header()));
  change(header);
  envelope.set_header(header.SerializeAsString());
  return envelope.SerializeAsString();
}

// Issue 11: only stored ids were de-duplicated, so a refused envelope could
// be replayed for free (a signature check each time).
TEST(EngineTest, AReplayedRefusalCostsNoSignatureCheck) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "x"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  absl::StatusOr<std::optional<std::string>> held =
      net.log("A").GetEnvelope(sent->envelope_id);
  ASSERT_TRUE(held.ok() && held->has_value());
  const std::string forged = Forged(**held, [](proto::Header& h) {
    h.set_created_unix_ms(h.created_unix_ms() + 1);
  });
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes(forged);
  const uint64_t verifies = net.counter("B", "verifies");
  for (int i = 0; i < 10; ++i) net.Inject("A", "B", push);
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("B", "rejected.bad_signature"), 10u);
  EXPECT_EQ(net.counter("B", "verifies"), verifies + 1);
  EXPECT_EQ(net.counter("B", "refused_replays"), 9u);
}

// A header whose audience excludes the receiver is refused before its
// signature is checked: a forgery for another audience is refused as
// not_in_audience, never as bad_signature.
TEST(EngineTest, AForgedHeaderForAnotherAudienceCostsNoSignatureCheck) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "B");
  net.Link("B", "C");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "x"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  absl::StatusOr<std::optional<std::string>> held =
      net.log("B").GetEnvelope(sent->envelope_id);
  ASSERT_TRUE(held.ok() && held->has_value());
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes(Forged(**held, [](proto::Header& h) {
    h.set_created_unix_ms(h.created_unix_ms() + 1);
  }));
  net.Inject("B", "C", push);
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("C", "rejected.not_in_audience"), 1u);
  EXPECT_EQ(net.counter("C", "rejected.bad_signature"), 0u);
  EXPECT_EQ(net.log("C").envelope_count(), 0u);
}

// Issue 11: each replay of an equivocation cost a synced write and an ERROR
// line. It is kept once; a replay costs a lookup.
TEST(EngineTest, AnEquivocationIsKeptOnceAndItsReplayCostsALookup) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  ASSERT_TRUE(net.engine("A").Send(Notice({"B"}, "first")).ok());
  net.RunUntilQuiet();
  // A's key signs another envelope at seq 1 of the same feed.
  proto::Body body;
  body.set_title("t");
  body.set_text("second");
  ComposeInput input;
  input.audience = {"A", "B"};
  input.plaintext = body.SerializeAsString();
  input.seq = 1;
  absl::StatusOr<Composed> other =
      Compose(net.identity("A"), net.keyring("A"), net.roster(), input);
  ASSERT_TRUE(other.ok()) << other.status();
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes(other->serialized);
  net.Inject("A", "B", push);
  net.RunUntilQuiet();
  ASSERT_EQ(net.counter("B", "rejected.equivocation"), 1u);
  const uint64_t verifies = net.counter("B", "verifies");
  for (int i = 0; i < 4; ++i) net.Inject("A", "B", push);
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("B", "rejected.equivocation"), 5u);
  EXPECT_EQ(net.counter("B", "refused_replays"), 4u);
  EXPECT_EQ(net.counter("B", "verifies"), verifies);
  absl::StatusOr<std::vector<std::string>> evidence =
      net.log("B").ListEvidence();
  ASSERT_TRUE(evidence.ok());
  EXPECT_EQ(evidence->size(), 1u);
}

TEST(EngineTest, RelayCarriesAnEnvelopeAcrossAMissingLink) {
  SimNetwork net({"A", "B", "C"});
  net.Link("A", "C");
  net.Link("C", "B");
  absl::StatusOr<SendResult> sent =
      net.engine("A").Send(Notice({"B", "C"}, "relay"));
  ASSERT_TRUE(sent.ok());
  net.RunUntilQuiet();
  EXPECT_TRUE(Holds(net.log("B"), sent->envelope_id));
  // B's holdings record came back through C.
  EXPECT_EQ(HoldersOf(net, "A", *sent), (std::set<std::string>{"B", "C"}));
}

TEST(EngineTest, AntiEntropyBringsABacklogInOrderAfterALinkReturns) {
  SimNetwork net({"A", "B"});
  std::vector<std::string> ids;
  for (int i = 0; i < 600; ++i) {  // more than two Want batches
    absl::StatusOr<SendResult> sent =
        net.engine("A").Send(Notice({"B"}, absl::StrCat("n", i)));
    ASSERT_TRUE(sent.ok());
    ids.push_back(sent->envelope_id);
  }
  net.Link("A", "B");
  net.RunUntilQuiet();
  for (const std::string& id : ids) EXPECT_TRUE(Holds(net.log("B"), id));
  EXPECT_EQ(net.counter("B", "rejected.gap"), 0u);
  EXPECT_EQ(net.counter("B", "duplicates"), 0u);
}

TEST(EngineTest, AnIdleLinkExchangesOnlyDigestsAndEverFewerOfThem) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  ASSERT_TRUE(net.engine("A").Send(Notice({"B"}, "x")).ok());
  net.RunUntilQuiet();
  const size_t to_a = net.DeliveredTo("A").size();
  const size_t to_b = net.DeliveredTo("B").size();
  // Ten idle minutes, ticking every second.
  std::vector<int> minute_of_digest;
  for (int second = 1; second <= 600; ++second) {
    net.clock().Advance(absl::Seconds(1));
    net.engine("A").Tick();
    net.engine("B").Tick();
    const size_t before = net.DeliveredTo("B").size();
    net.RunUntilQuiet();
    if (net.DeliveredTo("B").size() > before) {
      minute_of_digest.push_back((second - 1) / 60);
    }
  }
  // Only A (the smaller id) starts rounds; every one matched, so B never
  // answered and nothing but digests crossed.
  EXPECT_EQ(net.DeliveredTo("A").size(), to_a);
  std::vector<proto::PeerMessage> after = net.DeliveredTo("B");
  for (size_t i = to_b; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].has_heads_digest());
  }
  // Rounds back off (2, 4, 8, ... s) to one a minute.
  EXPECT_LE(minute_of_digest.size(), 16u);
  EXPECT_GE(minute_of_digest.size(), 9u);
  EXPECT_EQ(std::count(minute_of_digest.begin(), minute_of_digest.end(), 9), 1);
}

TEST(EngineTest, AGapIsRefusedAndPulledFromTheSender) {
  SimNetwork net({"A", "B"});
  std::vector<std::string> envelopes;
  // A writes three envelopes while unlinked; B gets only the third, pushed.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(net.engine("A").Send(Notice({"B"}, absl::StrCat(i))).ok());
  }
  std::vector<proto::FeedHead> heads = net.log("A").ListHeads();
  ASSERT_EQ(heads.size(), 1u);
  absl::StatusOr<std::vector<std::string>> third =
      net.log("A").ReadFeed(heads[0].feed_id(), 3, 1, 1 << 20);
  ASSERT_TRUE(third.ok());
  {
    // Link without the on-connect exchange reaching B first: inject the push
    // before running the network.
    proto::PeerMessage push;
    push.mutable_push()->add_envelopes((*third)[0]);
    net.Link("A", "B");
    net.Inject("A", "B", push);
  }
  net.RunUntilQuiet();
  EXPECT_GE(net.counter("B", "rejected.gap"), 1u);
  EXPECT_EQ(net.log("B").GetHead(heads[0].feed_id())->seq(), 3u);
}

TEST(EngineTest, RefusedEnvelopesAreAnsweredAndValidOnesStillLand) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  net.RunUntilQuiet();
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes("not an envelope");
  absl::StatusOr<SendResult> sent = net.engine("A").Send(Notice({"B"}, "ok"));
  ASSERT_TRUE(sent.ok());
  net.Inject("A", "B", push);
  net.RunUntilQuiet();
  EXPECT_EQ(net.counter("B", "rejected.malformed"), 1u);
  EXPECT_TRUE(Holds(net.log("B"), sent->envelope_id));
  bool rejection_seen = false;
  for (const proto::PeerMessage& m : net.DeliveredTo("A")) {
    rejection_seen |=
        m.has_rejection() && m.rejection().reason().rfind("malformed:", 0) == 0;
  }
  EXPECT_TRUE(rejection_seen);
}

TEST(EngineTest, APeerSendingManyRefusedEnvelopesLosesItsLink) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  net.RunUntilQuiet();
  proto::PeerMessage push;
  for (int i = 0; i < 64; ++i) {
    push.mutable_push()->add_envelopes(absl::StrCat("forgery ", i));
  }
  EXPECT_TRUE(net.engine("B").OnPeerMessage("A", push).ok());
  proto::PeerMessage one_more;
  one_more.mutable_push()->add_envelopes("forgery 64");
  absl::Status status = net.engine("B").OnPeerMessage("A", one_more);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(net.counter("B", "rejected.malformed"), 65u);
}

TEST(EngineTest, AnOversizedHeadsMessageEndsTheLink) {
  SimNetwork net({"A", "B"});
  net.Link("A", "B");
  proto::PeerMessage heads;
  for (int i = 0; i <= (1 << 16); ++i) {
    proto::FeedPosition* position = heads.mutable_heads()->add_heads();
    position->set_feed_id(std::string(32, 'f'));
    position->set_seq(1);
  }
  EXPECT_EQ(net.engine("B").OnPeerMessage("A", heads).code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tidings::node

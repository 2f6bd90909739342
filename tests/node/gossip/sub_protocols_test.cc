// The engine's sub-protocols one at a time, without an engine: each gets a
// context whose links and transport are fakes that record what it did.
#include <stdlib.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "node/gossip/content_keys.h"
#include "node/gossip/context.h"
#include "node/gossip/epoch_key_gossip.h"
#include "node/gossip/feed_sync.h"
#include "node/gossip/field_node_records.h"
#include "node/gossip/forward_secrecy.h"
#include "node/gossip/holdings.h"
#include "node/gossip/receipts.h"
#include "node/gossip/roster_gossip.h"
#include "tests/testing/rosters.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using test_rosters::SignedGenesis;

// Time moves only when a test says so.
class TestClock final : public Clock {
 public:
  absl::Time Now() override { return now; }
  absl::Time now = absl::FromUnixSeconds(1800000000);
};

struct Sent {
  std::string peer;
  proto::PeerMessage message;
};

class RecordingSender final : public PeerSender {
 public:
  bool SendToPeer(absl::string_view peer, const proto::PeerMessage& message,
                  proto::Precedence) override {
    sent.push_back({std::string(peer), message});
    return true;
  }
  std::vector<Sent> sent;
};

class RecordingLinks final : public PeerLinks {
 public:
  absl::Status Strike(absl::string_view peer) override {
    strikes.emplace_back(peer);
    return absl::OkStatus();
  }
  void Broadcast(const proto::PeerMessage& message,
                 absl::string_view except) override {
    broadcasts.push_back({std::string(except), message});
  }
  bool IsLinked(absl::string_view) const override { return true; }

  std::vector<std::string> strikes;
  std::vector<Sent> broadcasts;  // peer = the one left out
};

class DiscardQueue final : public ReceivedQueue {
 public:
  void Enqueue(Received) override { ++enqueued; }
  int enqueued = 0;
};

// Three agencies, AA (this node), BB and CC, with a log and a membership.
class SubProtocolTest : public ::testing::Test {
 protected:
  SubProtocolTest() {
    identities_.push_back(crypto::Identity::Generate("AA"));
    identities_.push_back(crypto::Identity::Generate("BB"));
    identities_.push_back(crypto::Identity::Generate("CC"));
    absl::StatusOr<Roster> genesis = SignedGenesis(identities_, 2);
    EXPECT_TRUE(genesis.ok()) << genesis.status();
    keyring_ = test_rosters::KeyringOf(identities_[0]);
    absl::StatusOr<std::unique_ptr<storage::Log>> log =
        storage::Log::Open({.path = dir_ / "log", .sync = false});
    EXPECT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    absl::StatusOr<std::unique_ptr<Membership>> membership =
        Membership::Open(*std::move(genesis), log_.get());
    EXPECT_TRUE(membership.ok()) << membership.status();
    membership_ = *std::move(membership);
  }
  ~SubProtocolTest() override {
    membership_.reset();
    log_.reset();
  }

  GossipContext context() {
    return GossipContext{*membership_, identities_[0], *keyring_, *log_,
                         clock_,       sender_,        counters_, links_};
  }
  uint64_t counter(const std::string& name) const {
    auto snapshot = counters_.Snapshot();
    auto it = snapshot.find(name);
    return it == snapshot.end() ? 0 : it->second;
  }

  testing::TempDir dir_{"tidings-subprotocol"};
  std::vector<crypto::Identity> identities_;
  std::unique_ptr<crypto::Keyring> keyring_;
  std::unique_ptr<storage::Log> log_;
  std::unique_ptr<Membership> membership_;
  TestClock clock_;
  RecordingSender sender_;
  RecordingLinks links_;
  Counters counters_;
  // Without epoch keys, directory or storage key: every part inert.
  ForwardSecrecy no_forward_secrecy_{nullptr, nullptr, nullptr};
};

TEST_F(SubProtocolTest, RosterGossipHoldsTooManyUpdatesAgainstThePeer) {
  RosterGossip gossip(context());
  proto::PeerMessage message;
  for (int i = 0; i <= kMaxRosterUpdatesPerMessage; ++i) {
    message.mutable_roster_updates()->add_updates("x");
  }
  EXPECT_TRUE(gossip.OnMessage("BB", message).ok());
  EXPECT_EQ(counter("rejected.roster"), 1u);
  EXPECT_EQ(links_.strikes, std::vector<std::string>{"BB"});
}

TEST_F(SubProtocolTest, RosterGossipHoldsAnUnparsableUpdateAgainstThePeer) {
  RosterGossip gossip(context());
  proto::PeerMessage message;
  message.mutable_roster_updates()->add_updates("not a roster");
  EXPECT_TRUE(gossip.OnMessage("BB", message).ok());
  EXPECT_EQ(counter("rejected.roster"), 1u);
  EXPECT_EQ(links_.strikes, std::vector<std::string>{"BB"});
}

TEST_F(SubProtocolTest, FeedSyncOpensALinkWithTheDigestOfNothingShared) {
  DiscardQueue queue;
  FeedSync sync(context(), no_forward_secrecy_, queue, nullptr,
                FeedSyncOptions());
  sync.OnLinkOpening("BB");
  sync.OnLinkUp("BB");
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].peer, "BB");
  EXPECT_EQ(sender_.sent[0].message.heads_digest().digest(), DigestOf({}));
  // The peer says the same: in sync, nothing more is sent.
  EXPECT_TRUE(sync.OnMessage("BB", sender_.sent[0].message).ok());
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(counter("anti_entropy.mismatch"), 0u);
}

TEST_F(SubProtocolTest, FeedSyncAnswersADigestMismatchWithItsHeads) {
  DiscardQueue queue;
  FeedSync sync(context(), no_forward_secrecy_, queue, nullptr,
                FeedSyncOptions());
  sync.OnLinkOpening("BB");
  sync.OnLinkUp("BB");
  proto::PeerMessage digest;
  digest.mutable_heads_digest()->set_digest("something else");
  EXPECT_TRUE(sync.OnMessage("BB", digest).ok());
  EXPECT_EQ(counter("anti_entropy.mismatch"), 1u);
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_TRUE(sender_.sent[1].message.has_heads());
  EXPECT_FALSE(sender_.sent[1].message.heads().is_reply());
}

TEST_F(SubProtocolTest, FeedSyncClosesTheLinkOnTooManyHeads) {
  DiscardQueue queue;
  FeedSync sync(context(), no_forward_secrecy_, queue, nullptr,
                FeedSyncOptions());
  proto::PeerMessage heads;
  for (size_t i = 0; i <= kMaxHeads; ++i) heads.mutable_heads()->add_heads();
  EXPECT_EQ(sync.OnMessage("BB", heads).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SubProtocolTest, FeedSyncServesNoWantForAFeedItDoesNotHold) {
  DiscardQueue queue;
  FeedSync sync(context(), no_forward_secrecy_, queue, nullptr,
                FeedSyncOptions());
  proto::PeerMessage want;
  want.mutable_want()->set_feed_id(test_rosters::Feed('f'));
  want.mutable_want()->set_from_seq(1);
  EXPECT_TRUE(sync.OnMessage("BB", want).ok());
  EXPECT_EQ(counter("want.unknown_feed"), 1u);
  EXPECT_TRUE(sender_.sent.empty());
}

TEST_F(SubProtocolTest, FeedSyncForwardsAVerifiedEnvelopeBeforeItIsStored) {
  DiscardQueue queue;  // never commits
  FeedSync sync(context(), no_forward_secrecy_, queue, nullptr,
                FeedSyncOptions());
  sync.OnLinkOpening("BB");
  sync.OnLinkOpening("CC");
  std::unique_ptr<crypto::Keyring> bb_keyring =
      test_rosters::KeyringOf(identities_[1]);
  // BB's envelopes to {AA, BB, CC} at `seq`, chained to `prev_id`.
  auto envelope = [&](uint64_t seq, const std::string& prev_id) {
    proto::Body body;
    body.set_text(absl::StrCat("report ", seq));
    ComposeInput input;
    input.audience = {"AA", "BB", "CC"};
    input.plaintext = body.SerializeAsString();
    input.created_unix_ms = absl::ToUnixMillis(clock_.now);
    input.seq = seq;
    input.prev_id = prev_id;
    absl::StatusOr<Composed> composed = Compose(
        identities_[1], *bb_keyring, membership_->chain()->current(), input);
    EXPECT_TRUE(composed.ok()) << composed.status();
    return *std::move(composed);
  };
  auto pushes_to = [&](const std::string& peer) {
    int n = 0;
    for (const Sent& sent : sender_.sent) {
      if (sent.peer == peer && sent.message.has_push()) ++n;
    }
    return n;
  };
  auto push = [](const Composed& composed) {
    proto::PeerMessage message;
    message.mutable_push()->add_envelopes(composed.serialized);
    return message;
  };
  const Composed first = envelope(1, "");
  const Composed second = envelope(2, first.id);
  const Composed fourth = envelope(4, std::string(32, 'x'));
  ASSERT_TRUE(sync.OnMessage("BB", push(first)).ok());
  // On to CC before any commit; not back to BB, its origin and sender.
  EXPECT_EQ(pushes_to("CC"), 1);
  EXPECT_EQ(pushes_to("BB"), 0);
  EXPECT_EQ(log_->envelope_count(), 0u);
  // The next one chains to what was forwarded: on at once too.
  ASSERT_TRUE(sync.OnMessage("BB", push(second)).ok());
  EXPECT_EQ(pushes_to("CC"), 2);
  // One past a gap waits for its commit (which answers the gap).
  ASSERT_TRUE(sync.OnMessage("BB", push(fourth)).ok());
  EXPECT_EQ(pushes_to("CC"), 2);
  EXPECT_EQ(queue.enqueued, 3);
  // A second copy while the first waits for commit is not verified again.
  ASSERT_TRUE(sync.OnMessage("CC", push(first)).ok());
  EXPECT_EQ(counter("verifies"), 3u);
  EXPECT_EQ(queue.enqueued, 3);
}

TEST_F(SubProtocolTest, FeedSyncRefusesAGarbageEnvelopeAndStrikes) {
  DiscardQueue queue;
  FeedSync sync(context(), no_forward_secrecy_, queue, nullptr,
                FeedSyncOptions());
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes("garbage");
  EXPECT_TRUE(sync.OnMessage("BB", push).ok());
  EXPECT_EQ(counter("received"), 1u);
  EXPECT_EQ(queue.enqueued, 0);
  EXPECT_EQ(links_.strikes, std::vector<std::string>{"BB"});
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_TRUE(sender_.sent[0].message.has_rejection());
}

TEST_F(SubProtocolTest, AnAgencysNodeAnswersOnlyItsOwnFieldNodes) {
  std::unique_ptr<ContentKeys> keys =
      MakeContentKeys(context(), no_forward_secrecy_);
  proto::PeerMessage request;
  request.mutable_key_request()->add_envelope_ids(test_rosters::Feed('e'));
  EXPECT_TRUE(keys->OnMessage("BB", request).ok());
  EXPECT_EQ(counter("rejected.key_request"), 1u);
  // And takes no content keys: only field nodes do.
  proto::PeerMessage answer;
  answer.mutable_content_keys()->add_keys();
  EXPECT_TRUE(keys->OnMessage("BB", answer).ok());
  EXPECT_EQ(counter("rejected.content_keys"), 1u);
  EXPECT_EQ(links_.strikes, (std::vector<std::string>{"BB", "BB"}));
  // It asks nobody for keys.
  keys->RequestKeys({test_rosters::Feed('e')});
  keys->OnTick(clock_.Now());
  EXPECT_TRUE(sender_.sent.empty());
}

TEST_F(SubProtocolTest, AFieldNodeAsksItsAgencysNodeAndAnswersNobody) {
  const crypto::Identity field_node = crypto::Identity::Generate("AA/F1");
  GossipContext on_field_node{*membership_, field_node, *keyring_, *log_,
                              clock_,       sender_,    counters_, links_};
  std::unique_ptr<ContentKeys> keys =
      MakeContentKeys(on_field_node, no_forward_secrecy_);
  proto::PeerMessage request;
  request.mutable_key_request()->add_envelope_ids(test_rosters::Feed('e'));
  EXPECT_TRUE(keys->OnMessage("AA", request).ok());
  EXPECT_EQ(counter("rejected.key_request"), 1u);
  // Content keys only from its own agency's node (and only with a storage
  // key to keep them under).
  proto::PeerMessage answer;
  answer.mutable_content_keys()->add_keys();
  EXPECT_TRUE(keys->OnMessage("BB", answer).ok());
  EXPECT_EQ(counter("rejected.content_keys"), 1u);
  EXPECT_EQ(links_.strikes, (std::vector<std::string>{"AA", "BB"}));
  // Nothing held unread: the link to its agency's node asks nothing.
  keys->OnLinkUp("AA");
  EXPECT_TRUE(sender_.sent.empty());
  keys->RequestKeys({test_rosters::Feed('e'), test_rosters::Feed('f')});
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].peer, "AA");
  EXPECT_EQ(sender_.sent[0].message.key_request().envelope_ids_size(), 2);
  EXPECT_EQ(counter("content_keys.requested"), 2u);
}

// Issue 11: a field node asked for the keys of what it cannot open every
// minute forever. It backs off while no key comes.
TEST_F(SubProtocolTest, AFieldNodeAsksLessOftenWhileNoKeyComes) {
  const crypto::Identity field_node = crypto::Identity::Generate("AA/F1");
  GossipContext on_field_node{*membership_, field_node, *keyring_, *log_,
                              clock_,       sender_,    counters_, links_};
  std::unique_ptr<ContentKeys> keys =
      MakeContentKeys(on_field_node, no_forward_secrecy_);
  // One envelope held unread.
  storage::EnvelopeRecord record;
  record.id = test_rosters::Feed('e');
  record.feed_id = test_rosters::Feed('f');
  record.seq = 1;
  record.origin = "BB";
  record.audience = {"AA", "BB"};
  record.envelope = "opaque";
  keys->MarkUnread({record.id});
  ASSERT_TRUE(log_->Append({record}).ok());

  std::vector<int> asked_at;  // minutes after the start
  const absl::Time start = clock_.Now();
  for (int minute = 0; minute <= 16; ++minute) {
    clock_.now = start + absl::Minutes(minute);
    const size_t before = sender_.sent.size();
    keys->OnTick(clock_.Now());
    if (sender_.sent.size() > before) asked_at.push_back(minute);
  }
  // 1, 2, 4, 8 minutes apart.
  EXPECT_EQ(asked_at, (std::vector<int>{0, 1, 3, 7, 15}));
}

TEST_F(SubProtocolTest, WithoutForwardSecrecyEpochKeyGossipIsInert) {
  EpochKeyGossip gossip(context(), no_forward_secrecy_);
  gossip.OnLinkUp("BB");
  gossip.OnTick(clock_.Now());
  proto::PeerMessage keys;
  keys.mutable_epoch_keys()->add_keys("garbage");
  EXPECT_TRUE(gossip.OnMessage("BB", keys).ok());
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_TRUE(links_.broadcasts.empty());
  EXPECT_TRUE(links_.strikes.empty());
  EXPECT_TRUE(counters_.Snapshot().empty());
}

TEST(ForwardSecrecyTest, WithoutItsPartsEverythingIsEmpty) {
  ForwardSecrecy none(nullptr, nullptr, nullptr);
  EXPECT_FALSE(none.publishes());
  EXPECT_FALSE(none.learns());
  EXPECT_FALSE(none.keeps_local_keys());
  EXPECT_TRUE(none.Published().empty());
  EXPECT_TRUE(none.Learnt().empty());
  absl::StatusOr<bool> made = none.Advance(absl::Now());
  ASSERT_TRUE(made.ok());
  EXPECT_FALSE(*made);
  EXPECT_FALSE(none.current().has_value());
  EXPECT_EQ(none.KeyringFor(1), nullptr);
  EXPECT_FALSE(none.Newest("BB", absl::Now()).has_value());
  EXPECT_EQ(none.LocalKeyOf("id", crypto::SymmetricKey()), "");
  EXPECT_EQ(none.OpenLocalKey("id", "sealed").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ForwardSecrecyTest, ALocalKeyOpensWithTheStorageKeyAndIdItWasMadeFor) {
  std::optional<crypto::SymmetricKey> storage_key =
      crypto::SymmetricKey::FromBytes(std::string(32, 's'));
  std::optional<crypto::SymmetricKey> content_key =
      crypto::SymmetricKey::FromBytes(std::string(32, 'c'));
  ASSERT_TRUE(storage_key.has_value() && content_key.has_value());
  ForwardSecrecy keys(nullptr, nullptr, &*storage_key);
  const std::string local = keys.LocalKeyOf("id-1", *content_key);
  ASSERT_FALSE(local.empty());
  absl::StatusOr<crypto::SymmetricKey> opened =
      keys.OpenLocalKey("id-1", local);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(opened->data()),
                        opened->size()),
            std::string(32, 'c'));
  EXPECT_FALSE(keys.OpenLocalKey("id-2", local).ok());
}

TEST(FieldNodeRecordsTest, RecordsTravelInChunksOfAtMostOneAgencysNodes) {
  proto::NodeCerts records;
  for (int i = 0; i < 100; ++i) records.add_certs("cert");
  records.add_revocations("revocation");
  std::vector<proto::PeerMessage> messages = NodeRecordMessages(records);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].node_certs().certs_size(), 64);
  EXPECT_EQ(messages[1].node_certs().certs_size(), 36);
  EXPECT_EQ(messages[1].node_certs().revocations_size(), 1);
}

// Holdings records. AA is this node; BB and CC sign their own records.
class HoldingsTest : public SubProtocolTest {
 protected:
  std::string network_id() const {
    return membership_->chain()->current().network_id().str();
  }
  // The head of `origin`'s feed to `audience` at `seq`.
  proto::FeedHead Head(const std::string& origin,
                       const std::vector<std::string>& audience,
                       uint64_t seq) const {
    proto::FeedHead head;
    head.set_feed_id(FeedIdOf(network_id(), origin, audience));
    head.set_origin(origin);
    for (const std::string& member : audience) head.add_audience(member);
    head.set_seq(seq);
    head.set_head_id(std::string(32, static_cast<char>('0' + seq)));
    return head;
  }
  // A record by `holder` (signed with `signer`'s key) holding `heads`.
  static std::string Record(const crypto::Identity& signer,
                            const std::string& network_id,
                            const std::string& holder,
                            const std::vector<std::string>& audience,
                            uint64_t counter,
                            const std::vector<proto::FeedHead>& heads) {
    proto::Holdings holdings;
    holdings.set_network_id(network_id);
    holdings.set_holder(holder);
    for (const std::string& member : audience) holdings.add_audience(member);
    holdings.set_counter(counter);
    holdings.set_at_unix_ms(static_cast<int64_t>(counter) * 1000);
    for (const proto::FeedHead& head : heads) {
      proto::FeedHolding* feed = holdings.add_feeds();
      feed->set_feed_id(head.feed_id());
      feed->set_origin(head.origin());
      feed->set_seq(head.seq());
      feed->set_head_id(head.head_id());
    }
    proto::SignedHoldings record;
    record.set_holdings(holdings.SerializeAsString());
    record.set_signature(
        std::string(crypto::Sign(signer.signing_key(),
                                 crypto::Domain::kHoldings, record.holdings())
                        .view()));
    return record.SerializeAsString();
  }
  static proto::PeerMessage Push(const std::string& record) {
    proto::PeerMessage message;
    message.mutable_holdings_push()->add_records(record);
    return message;
  }
  // The records pushed to `peer` so far, parsed.
  std::vector<proto::Holdings> PushedTo(const std::string& peer) const {
    std::vector<proto::Holdings> out;
    for (const Sent& sent : sender_.sent) {
      if (sent.peer != peer || !sent.message.has_holdings_push()) continue;
      for (const std::string& bytes : sent.message.holdings_push().records()) {
        proto::SignedHoldings record;
        EXPECT_TRUE(record.ParseFromString(bytes));
        EXPECT_TRUE(out.emplace_back().ParseFromString(record.holdings()));
      }
    }
    return out;
  }
  std::vector<std::string> HoldersOf(const HoldingsGossip& gossip,
                                     const proto::FeedHead& head,
                                     uint64_t seq) const {
    std::vector<std::string> holders;
    for (const Delivery& d :
         gossip.DeliveredOf({head.audience().begin(), head.audience().end()},
                            head.feed_id(), seq, head.origin())) {
      holders.push_back(d.holder);
    }
    return holders;
  }

  const std::vector<std::string> ab_{"AA", "BB"};
  const std::vector<std::string> abc_{"AA", "BB", "CC"};
};

TEST_F(HoldingsTest, OwnRecordIsSignedAtOnceAndGoesOnlyToItsAudience) {
  HoldingsGossip gossip(context(), HoldingsOptions());
  gossip.OnLinkOpening("BB");
  gossip.OnLinkOpening("CC");
  // AA stored BB's envelope to {AA, BB}: CC, linked but outside, gets nothing.
  gossip.OnStored({Head("BB", ab_, 3)});
  EXPECT_EQ(counter("holdings.signed"), 1u);
  EXPECT_TRUE(PushedTo("CC").empty());
  // BB, the feed's origin, learns that AA holds it up to seq 3.
  std::vector<proto::Holdings> to_bb = PushedTo("BB");
  ASSERT_EQ(to_bb.size(), 1u);
  EXPECT_EQ(to_bb[0].holder(), "AA");
  EXPECT_EQ(to_bb[0].counter(), 1800000000000u);
  ASSERT_EQ(to_bb[0].feeds_size(), 1);
  EXPECT_EQ(to_bb[0].feeds(0).seq(), 3u);
  EXPECT_EQ(to_bb[0].feeds(0).feed_id(), Head("BB", ab_, 3).feed_id());
  // The signature is AA's, in the holdings domain.
  proto::SignedHoldings record;
  ASSERT_TRUE(record.ParseFromString(
      sender_.sent.back().message.holdings_push().records(0)));
  EXPECT_TRUE(crypto::Verify(identities_[0].verify_key(),
                             crypto::Domain::kHoldings, record.holdings(),
                             *crypto::Signature::FromBytes(record.signature()))
                  .ok());
  EXPECT_FALSE(crypto::Verify(identities_[0].verify_key(),
                              crypto::Domain::kEnvelope, record.holdings(),
                              *crypto::Signature::FromBytes(record.signature()))
                   .ok());
}

TEST_F(HoldingsTest, ABurstIsReSignedOncePerIntervalWithAHigherCounter) {
  HoldingsGossip gossip(context(),
                        HoldingsOptions{.interval = absl::Seconds(1)});
  gossip.OnLinkOpening("BB");
  gossip.OnStored({Head("BB", ab_, 1)});
  for (uint64_t seq = 2; seq <= 50; ++seq) {
    gossip.OnStored({Head("BB", ab_, seq)});
  }
  gossip.OnTick(clock_.now);
  EXPECT_EQ(counter("holdings.signed"), 1u);
  clock_.now += absl::Seconds(1);
  gossip.OnTick(clock_.now);
  EXPECT_EQ(counter("holdings.signed"), 2u);
  std::vector<proto::Holdings> to_bb = PushedTo("BB");
  ASSERT_EQ(to_bb.size(), 2u);
  EXPECT_EQ(to_bb[1].feeds(0).seq(), 50u);
  EXPECT_GT(to_bb[1].counter(), to_bb[0].counter());
  // Nothing changed since: nothing more is signed.
  clock_.now += absl::Seconds(5);
  gossip.OnTick(clock_.now);
  EXPECT_EQ(counter("holdings.signed"), 2u);
}

TEST_F(HoldingsTest, NewestWinsAndAnOlderOrReplayedRecordIsStaleUnverified) {
  HoldingsGossip gossip(context(), HoldingsOptions());
  gossip.OnLinkOpening("BB");
  gossip.OnLinkOpening("CC");
  const proto::FeedHead mine5 = Head("AA", abc_, 5);
  const proto::FeedHead mine9 = Head("AA", abc_, 9);
  ASSERT_TRUE(gossip
                  .OnMessage("BB", Push(Record(identities_[1], network_id(),
                                               "BB", abc_, 10, {mine5})))
                  .ok());
  EXPECT_EQ(counter("holdings.accepted"), 1u);
  EXPECT_EQ(HoldersOf(gossip, mine5, 5), std::vector<std::string>{"BB"});
  EXPECT_TRUE(HoldersOf(gossip, mine5, 6).empty());
  // Passed on to CC (in the audience), not back to BB.
  EXPECT_EQ(PushedTo("CC").size(), 1u);
  EXPECT_TRUE(PushedTo("BB").empty());
  // The same again, and an older one: dropped before any signature check
  // (even with a signature that would not verify).
  ASSERT_TRUE(gossip
                  .OnMessage("CC", Push(Record(identities_[1], network_id(),
                                               "BB", abc_, 10, {mine5})))
                  .ok());
  ASSERT_TRUE(gossip
                  .OnMessage("CC", Push(Record(identities_[2], network_id(),
                                               "BB", abc_, 9, {mine9})))
                  .ok());
  EXPECT_EQ(counter("holdings.stale"), 2u);
  EXPECT_TRUE(links_.strikes.empty());
  EXPECT_TRUE(HoldersOf(gossip, mine9, 9).empty());
  // Newer: replaces it; the time of each position is when it was first held.
  ASSERT_TRUE(gossip
                  .OnMessage("BB", Push(Record(identities_[1], network_id(),
                                               "BB", abc_, 12, {mine9})))
                  .ok());
  std::vector<Delivery> at5 =
      gossip.DeliveredOf(abc_, mine5.feed_id(), 5, "AA");
  std::vector<Delivery> at9 =
      gossip.DeliveredOf(abc_, mine9.feed_id(), 9, "AA");
  ASSERT_EQ(at5.size(), 1u);
  ASSERT_EQ(at9.size(), 1u);
  EXPECT_EQ(at5[0].at_unix_ms, 10000);
  EXPECT_EQ(at9[0].at_unix_ms, 12000);
}

TEST_F(HoldingsTest, AForgedRecordIsRefusedCountedAndHeldAgainstThePeer) {
  HoldingsGossip gossip(context(), HoldingsOptions());
  gossip.OnLinkOpening("CC");
  const proto::FeedHead mine = Head("AA", abc_, 2);
  // CC signs a record claiming BB holds AA's feed.
  ASSERT_TRUE(gossip
                  .OnMessage("CC", Push(Record(identities_[2], network_id(),
                                               "BB", abc_, 50, {mine})))
                  .ok());
  EXPECT_EQ(counter("holdings.refused.bad_signature"), 1u);
  EXPECT_EQ(links_.strikes, std::vector<std::string>{"CC"});
  EXPECT_TRUE(HoldersOf(gossip, mine, 1).empty());
  // Garbage, another network, and a record not for this audience.
  ASSERT_TRUE(gossip.OnMessage("CC", Push("garbage")).ok());
  EXPECT_EQ(counter("holdings.refused.malformed"), 1u);
  ASSERT_TRUE(gossip
                  .OnMessage("CC", Push(Record(identities_[2], "other net",
                                               "CC", abc_, 1, {mine})))
                  .ok());
  EXPECT_EQ(counter("holdings.refused.wrong_network"), 1u);
  const std::vector<std::string> bc{"BB", "CC"};
  ASSERT_TRUE(gossip
                  .OnMessage("CC", Push(Record(identities_[2], network_id(),
                                               "CC", bc, 1, {})))
                  .ok());
  EXPECT_EQ(counter("holdings.refused.not_in_audience"), 1u);
  EXPECT_EQ(links_.strikes.size(), 4u);
  EXPECT_EQ(counter("holdings.accepted"), 0u);
}

TEST_F(HoldingsTest, ARecordNamingAFeedOfAnotherAudienceIsRefused) {
  HoldingsGossip gossip(context(), HoldingsOptions());
  gossip.OnLinkOpening("BB");
  // BB's record for {AA, BB} names AA's feed to {AA, BB, CC}: passed on, it
  // would show that feed to members of {AA, BB} outside its audience
  // elsewhere. Refused.
  proto::FeedHead other = Head("AA", abc_, 4);
  ASSERT_TRUE(gossip
                  .OnMessage("BB", Push(Record(identities_[1], network_id(),
                                               "BB", ab_, 3, {other})))
                  .ok());
  EXPECT_EQ(counter("holdings.refused.bad_feed"), 1u);
  EXPECT_EQ(links_.strikes, std::vector<std::string>{"BB"});
}

TEST_F(HoldingsTest, AntiEntropyPushesWhatThePeerLacksAndAsksForWhatItHas) {
  HoldingsGossip gossip(context(), HoldingsOptions());
  gossip.OnLinkOpening("BB");
  gossip.OnLinkOpening("CC");
  const proto::FeedHead mine = Head("AA", abc_, 7);
  ASSERT_TRUE(gossip
                  .OnMessage("BB", Push(Record(identities_[1], network_id(),
                                               "BB", abc_, 3, {mine})))
                  .ok());
  sender_.sent.clear();
  const std::string before = gossip.DigestFor("CC");
  // CC says it holds nothing we share, and a newer record of its own.
  proto::PeerMessage heads;
  proto::HoldingsRef* ref = heads.mutable_holdings_heads()->add_refs();
  ref->set_holder("CC");
  ref->set_audience_id(AudienceIdOf(abc_));
  ref->set_counter(8);
  ASSERT_TRUE(gossip.OnMessage("CC", heads).ok());
  std::vector<proto::Holdings> to_cc = PushedTo("CC");
  ASSERT_EQ(to_cc.size(), 1u);
  EXPECT_EQ(to_cc[0].holder(), "BB");
  // ... and is answered with our refs, so that it pushes its record.
  ASSERT_TRUE(sender_.sent.back().message.has_holdings_heads());
  EXPECT_TRUE(sender_.sent.back().message.holdings_heads().is_reply());
  EXPECT_EQ(sender_.sent.back().message.holdings_heads().refs_size(), 1);
  // Records of {AA, BB} are not in what CC's digest covers.
  ASSERT_TRUE(gossip
                  .OnMessage("BB", Push(Record(identities_[1], network_id(),
                                               "BB", ab_, 4, {})))
                  .ok());
  EXPECT_EQ(gossip.DigestFor("CC"), before);
  EXPECT_NE(gossip.DigestFor("BB"), before);
}

TEST_F(HoldingsTest, RecordsAndOwnCountersSurviveARestart) {
  const proto::FeedHead mine = Head("AA", abc_, 2);
  uint64_t first_counter = 0;
  {
    HoldingsGossip gossip(context(), HoldingsOptions());
    gossip.OnLinkOpening("BB");
    ASSERT_TRUE(gossip
                    .OnMessage("BB", Push(Record(identities_[1], network_id(),
                                                 "BB", abc_, 3, {mine})))
                    .ok());
    gossip.OnStored({Head("BB", ab_, 1)});
    first_counter = PushedTo("BB").at(0).counter();
    gossip.OnTick(clock_.now);  // writes
  }
  sender_.sent.clear();
  HoldingsGossip again(context(), HoldingsOptions());
  EXPECT_EQ(HoldersOf(again, mine, 2), std::vector<std::string>{"BB"});
  again.OnLinkOpening("BB");
  // The clock went back: the counter still goes up.
  clock_.now -= absl::Hours(1);
  again.OnStored({Head("BB", ab_, 2)});
  ASSERT_EQ(PushedTo("BB").size(), 1u);
  EXPECT_GT(PushedTo("BB")[0].counter(), first_counter);
}

TEST(ReceiptsTest, RowsOfAReceiptNameItsRecipientAndRefuseBadEntries) {
  proto::ReceiptBody body;
  proto::ReceiptEntry* entry = body.add_entries();
  entry->set_envelope_id(std::string(32, 'e'));
  entry->set_status(proto::RECEIPT_READ);
  entry->set_at_unix_ms(1800000000000);
  absl::StatusOr<std::vector<storage::ReceiptUpdate>> rows =
      ReceiptUpdatesOf("BB", "receipt-id", body.SerializeAsString());
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].recipient, "BB");
  EXPECT_EQ((*rows)[0].status, proto::RECEIPT_READ);
  EXPECT_EQ((*rows)[0].receipt_envelope_id, "receipt-id");
  entry->set_envelope_id("short");
  EXPECT_EQ(RejectReasonOf(
                ReceiptUpdatesOf("BB", "r", body.SerializeAsString()).status()),
            RejectReason::kMalformed);
  EXPECT_EQ(RejectReasonOf(ReceiptUpdatesOf("BB", "r", "\xff").status()),
            RejectReason::kMalformed);
}

}  // namespace
}  // namespace tidings::node

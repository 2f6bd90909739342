// The engine's sub-protocols one at a time, without an engine: each gets a
// context whose links and transport are fakes that record what it did.
#include <stdlib.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "node/gossip/content_keys.h"
#include "node/gossip/context.h"
#include "node/gossip/epoch_key_gossip.h"
#include "node/gossip/feed_sync.h"
#include "node/gossip/field_node_records.h"
#include "node/gossip/forward_secrecy.h"
#include "node/gossip/receipts.h"
#include "node/gossip/roster_gossip.h"
#include "tests/testing/rosters.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using test_rosters::SignedGenesis;

class FixedClock final : public Clock {
 public:
  absl::Time Now() override { return absl::FromUnixSeconds(1800000000); }
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

// Two agencies, AA (this node) and BB, with a log and a membership.
class SubProtocolTest : public ::testing::Test {
 protected:
  SubProtocolTest() {
    identities_.push_back(crypto::Identity::Generate("AA"));
    identities_.push_back(crypto::Identity::Generate("BB"));
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
  FixedClock clock_;
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

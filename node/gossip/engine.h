// The gossip engine: what a node pushes, forwards, pulls and accepts.
//
// The engine is a dispatcher. It routes each peer message kind to the
// sub-protocol that handles it (feed_sync.h, roster_gossip.h,
// epoch_key_gossip.h, field_node_records.h, content_keys.h), tells each of
// them of link-ups, link-downs and ticks, and keeps what they share: the
// links and each peer's standing (refusals held against it), and the group
// commit that gives this node's own envelopes their feed positions and
// stores everything in synced batches. Delivered state travels as holdings
// records (holdings.h), made from the heads each commit advanced.
//
// The engine never touches gRPC or the system clock. The daemon plugs in the
// gRPC transport (`PeerSender`) and the real clock; tests can plug in a
// simulated network and a fake clock.
//
// Flow of a received envelope: the transport thread that read it calls
// OnPeerMessage, which verifies it (signature, audience, body) on that thread
// and queues it; one committer thread appends queued envelopes to the log in
// one synced batch (group commit), then forwards what was stored to the other
// authorised peers and reports the new heads to the holdings records.
//
// Thread-safety: every public method may be called from any thread.
#ifndef TIDINGS_NODE_GOSSIP_ENGINE_H_
#define TIDINGS_NODE_GOSSIP_ENGINE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/gossip/content_keys.h"
#include "node/gossip/context.h"
#include "node/gossip/epoch_key_gossip.h"
#include "node/gossip/feed_sync.h"
#include "node/gossip/field_node_records.h"
#include "node/gossip/forward_secrecy.h"
#include "node/gossip/holdings.h"
#include "node/gossip/roster_gossip.h"
#include "node/gossip/sub_protocol.h"
#include "node/model/envelope.h"
#include "node/model/epochs.h"
#include "node/model/membership.h"
#include "node/model/roster.h"
#include "proto/client.pb.h"
#include "proto/peer.pb.h"
#include "storage/log.h"

namespace tidings::node {

// The log record for an envelope with this header, stored `now`. Receipts
// stay out of the inbox. Receipt updates are the caller's.
storage::EnvelopeRecord RecordOf(const proto::Header& header, std::string id,
                                 std::string feed_id, std::string serialized,
                                 absl::Time now);

struct EngineOptions {
  // All borrowed; must outlive the engine.
  Membership* membership = nullptr;
  const crypto::Identity* identity = nullptr;
  // Forward secrecy (all optional): this node's epoch keys, other agencies'
  // published ones, and the storage key its content keys are kept under.
  EpochKeys* epochs = nullptr;
  EpochDirectory* directory = nullptr;
  const crypto::SymmetricKey* storage_key = nullptr;
  crypto::Keyring* keyring = nullptr;
  storage::Log* log = nullptr;
  Clock* clock = nullptr;
  PeerSender* sender = nullptr;
  Counters* counters = nullptr;
  // Envelopes per group commit, at most.
  size_t max_batch = 512;
  // Envelopes queued for commit before readers block (backpressure).
  size_t max_queued = 4096;
  // ... and at most this many bytes of them (each counted three times: its
  // bytes, its parsed envelope and header). One always fits.
  size_t max_queued_bytes = 96 * 1024 * 1024;
  // Envelopes per answer to a Want.
  uint32_t want_batch = 256;
  // Anti-entropy: a digest round per link every `anti_entropy_interval`
  // after any activity, doubling while the link stays idle and in sync, up
  // to `max_anti_entropy_interval` (so an idle link costs a few bytes a
  // minute). Only the side with the smaller principal starts periodic rounds.
  absl::Duration anti_entropy_interval = absl::Seconds(2);
  absl::Duration max_anti_entropy_interval = absl::Seconds(60);
  // Lazy push: an announced envelope not here this long is grafted (checked
  // on every peer message and every Tick).
  absl::Duration graft_timeout = absl::Milliseconds(150);
  // Holdings records (delivered state) are re-signed at most this often.
  absl::Duration receipt_interval = absl::Seconds(1);
};

struct SendResult {
  std::string envelope_id;
  std::string feed_id;
  uint64_t seq = 0;
};

class Engine final : private PeerLinks, private ReceivedQueue {
 public:
  // Starts the committer thread.
  explicit Engine(const EngineOptions& options);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  // Stops the committer after draining what is queued.
  ~Engine() override;

  // Seals, signs and durably stores a new envelope from this node, then
  // pushes it to every linked audience member. kInvalidArgument for a bad
  // request (unknown audience member, empty text, oversized body).
  absl::StatusOr<SendResult> Send(const proto::SendRequest& request);

  // Whether an authenticated `peer` may have a link now: kUnavailable while
  // it is cut off for refused messages (see Strike), saying until when.
  absl::Status Admit(absl::string_view peer);
  // Link events from the transport (the peer is authenticated).
  void OnLinkUp(absl::string_view peer);
  void OnLinkDown(absl::string_view peer);

  // A message from an authenticated peer. Refused envelopes are answered
  // with a Rejection and counted; the return value is an error only when the
  // link should be closed (a protocol violation).
  absl::Status OnPeerMessage(absl::string_view peer,
                             const proto::PeerMessage& message);

  // Gossips a roster proposal (new, or with a new signature) to every
  // linked peer.
  void Announce(const proto::SignedRoster& proposal);

  // After the membership applied an update: passes it to every linked peer
  // and forgets peers that are no longer members.
  void OnRosterApplied(const RosterChain& chain);

  // After the membership accepted a field-node certificate or revocation:
  // forgets field nodes that no longer hold (and their epoch keys).
  void OnNodesChanged(const RosterChain& chain);

  // Gossips field-node records this node made (certify, revoke) to every
  // linked peer. Records learnt from peers go on by themselves.
  void AnnounceNodeRecords(const proto::NodeCerts& records);

  // Anti-entropy: sends a heads digest to every linked peer whose round is
  // due (call it at least every anti_entropy_interval); makes epoch keys
  // when due; a field node asks again for content keys it lacks.
  void Tick();

  // Blocks until nothing is queued or being committed (tests).
  void Flush();

  // Which recipients hold the envelope with `header` (of feed `feed_id`),
  // and since when, from their holdings records (holdings.h).
  std::vector<Delivery> DeliveredOf(const proto::Header& header,
                                    absl::string_view feed_id) const;

  std::vector<std::string> linked_peers() const;

 private:
  // A principal's standing, kept across its links: refused envelopes and
  // messages in a leaky bucket (`score`, drained at kMaxStrikesPerMinute a
  // minute); past it the principal is cut off until `cut_until`, for a
  // back-off that doubles with each cut-off within a day.
  struct Standing {
    double score = 0;
    absl::Time scored_at = absl::InfinitePast();
    int cutoffs = 0;
    absl::Time cut_at = absl::InfinitePast();
    absl::Time cut_until = absl::InfinitePast();
    bool refusal_logged = false;  // a refused link, once per cut-off
  };

  // An envelope of our own (a Send) waiting for the committer to give it a
  // feed position, sign it and store it.
  struct OwnRequest {
    proto::Kind kind = proto::KIND_NOTICE;
    proto::Precedence precedence = proto::PRECEDENCE_ROUTINE;
    std::vector<std::string> audience;  // normalized
    std::string plaintext;
    int64_t expires_unix_ms = 0;
    // Who waits for the outcome.
    struct Waiter {
      absl::Notification done;
      absl::StatusOr<SendResult> result;
    };
    Waiter* waiter = nullptr;
  };
  struct OwnSlot {
    OwnRequest request;
    size_t record = 0;  // index in the batch
    Composed composed;
    proto::Header header;
  };
  // Feed id -> (seq, id) of its head, counting positions taken in a batch.
  using Heads =
      absl::flat_hash_map<std::string, std::pair<uint64_t, std::string>>;

  // PeerLinks, for the sub-protocols.
  absl::Status Strike(absl::string_view peer) override;
  void Broadcast(const proto::PeerMessage& message,
                 absl::string_view except) override;
  bool IsLinked(absl::string_view peer) const override;
  // ReceivedQueue, for feed sync.
  void Enqueue(Received received) override;

  // Forgets the links, standing and epoch keys of principals no longer
  // active.
  void ForgetInactive(const RosterChain& chain);

  void CommitLoop();
  // Stores received envelopes and our own new ones in one synced batch,
  // then forwards, reports heads and pulls on.
  void CommitBatch(std::vector<Received> batch, std::vector<OwnRequest> own);
  // The log records of received envelopes.
  std::vector<storage::EnvelopeRecord> RecordsOfReceived(
      std::vector<Received>& batch, absl::Time now) const;
  // Gives our own envelopes the next positions of their feeds and appends
  // their records to `records`. Requests that fail are completed here.
  std::vector<OwnSlot> SequenceOwn(
      std::vector<OwnRequest> own,
      std::vector<storage::EnvelopeRecord>& records, absl::Time now);
  // Gives `request` the next position of its feed (`heads` holds positions
  // taken earlier in this batch) and signs it. On error, completes the
  // request's waiter with it.
  absl::StatusOr<OwnSlot> PrepareOwn(OwnRequest request, Heads& heads,
                                     absl::Time now);
  // The log record of an own envelope in `slot`.
  storage::EnvelopeRecord RecordOfOwn(OwnSlot& slot, absl::Time now) const;
  // Nothing of the batch was stored: counts, logs, fails the waiters.
  void FailCommit(std::vector<OwnSlot>& slots, size_t records,
                  const absl::Status& error);
  // Pushes what of ours was stored and completes the waiters.
  void FinishOwn(std::vector<OwnSlot>& slots,
                 const std::vector<storage::AppendResult>& results);
  // Forwards what was stored, answers what was not, asks for content keys,
  // reports the new heads to the holdings records, and keeps pulling where
  // a peer is ahead.
  void FinishReceived(const std::vector<Received>& batch,
                      const std::vector<storage::AppendResult>& results);
  // Answers a received envelope that was not stored (gap, fork, duplicate).
  void AnswerNotStored(const Received& received,
                       const storage::AppendResult& result);

  // Constant after construction
  const EngineOptions options_;
  Membership& membership_;
  const crypto::Identity& identity_;
  storage::Log& log_;
  Clock& clock_;
  Counters& counters_;
  ForwardSecrecy forward_secrecy_;
  const GossipContext context_;
  // The sub-protocols, and the order link-ups and ticks reach them in.
  EpochKeyGossip epoch_keys_;
  FieldNodeRecords field_node_records_;
  std::unique_ptr<ContentKeys> content_keys_;
  RosterGossip roster_gossip_;
  HoldingsGossip holdings_;
  FeedSync feed_sync_;
  std::vector<SubProtocol*> sub_protocols_;
  // Which sub-protocol answers which message kind.
  absl::flat_hash_map<int, SubProtocol*> routes_;

  mutable absl::Mutex mu_;
  // Guarded by mu_
  // The linked peers.
  absl::flat_hash_set<std::string> peers_ ABSL_GUARDED_BY(mu_);
  // Standing of principals that were refused anything (active ones only).
  absl::flat_hash_map<std::string, Standing> standing_ ABSL_GUARDED_BY(mu_);
  std::deque<Received> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // see max_queued_bytes
  std::deque<OwnRequest> own_queue_ ABSL_GUARDED_BY(mu_);
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread committer_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_ENGINE_H_

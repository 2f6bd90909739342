// The gossip engine: what a node pushes, forwards, pulls and accepts.
//
// The engine never touches gRPC or the system clock. The daemon plugs in the
// gRPC transport (`PeerSender`) and the real clock; tests can plug in a
// simulated network and a fake clock.
//
// Flow of a received envelope: the transport thread that read it calls
// OnPeerMessage, which verifies it (signature, audience, body) on that thread
// and queues it; one committer thread appends queued envelopes to the log in
// one synced batch (group commit), then forwards what was stored to the other
// authorised peers and emits delivered receipts.
//
// Thread-safety: every public method may be called from any thread.
#ifndef TIDINGS_NODE_GOSSIP_ENGINE_H_
#define TIDINGS_NODE_GOSSIP_ENGINE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/model/envelope.h"
#include "node/model/epochs.h"
#include "node/model/membership.h"
#include "node/model/roster.h"
#include "proto/client.pb.h"
#include "proto/peer.pb.h"
#include "storage/log.h"

namespace tidings::node {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// The system clock.
Clock& RealClock();

// The log record for an envelope with this header, stored `now`. Receipts
// stay out of the inbox. Receipt updates and owed notes are the caller's.
storage::EnvelopeRecord RecordOf(const proto::Header& header, std::string id,
                                 std::string feed_id, std::string serialized,
                                 absl::Time now);

// How the engine reaches its peers. Implementations queue and return at once.
class PeerSender {
 public:
  virtual ~PeerSender() = default;
  // Queues `message` for the link to `peer`, drained by precedence. Returns
  // false if no link to `peer` is up (the message is dropped; anti-entropy
  // repairs whatever it carried).
  virtual bool SendToPeer(absl::string_view peer,
                          const proto::PeerMessage& message,
                          proto::Precedence precedence) = 0;
};

// Named monotonic counters ("accepted", "rejected.gap", ...).
class Counters {
 public:
  void Add(absl::string_view name, uint64_t delta = 1);
  std::map<std::string, uint64_t> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> values_ ABSL_GUARDED_BY(mu_);
};

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
  // Envelopes per answer to a Want.
  uint32_t want_batch = 256;
  // Anti-entropy: a digest round per link every `anti_entropy_interval`
  // after any activity, doubling while the link stays idle and in sync, up
  // to `max_anti_entropy_interval` (so an idle link costs a few bytes a
  // minute). Only the side with the smaller agency id starts periodic rounds.
  absl::Duration anti_entropy_interval = absl::Seconds(2);
  absl::Duration max_anti_entropy_interval = absl::Seconds(60);
};

struct SendResult {
  std::string envelope_id;
  std::string feed_id;
  uint64_t seq = 0;
};

class Engine {
 public:
  // Starts the committer thread.
  explicit Engine(const EngineOptions& options);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  // Stops the committer after draining what is queued.
  ~Engine();

  // Seals, signs and durably stores a new envelope from this node, then
  // pushes it to every linked audience member. kInvalidArgument for a bad
  // request (unknown audience member, empty text, oversized body).
  absl::StatusOr<SendResult> Send(const proto::SendRequest& request);

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
  // due (call it at least every anti_entropy_interval).
  void Tick();

  // Blocks until nothing is queued or being committed, receipts included
  // (tests).
  void Flush();

  std::vector<std::string> linked_peers() const;

 private:
  struct Pending {
    Verified verified;
    std::string from;                              // the peer it came from
    std::vector<storage::ReceiptUpdate> receipts;  // KIND_RECEIPT only
  };
  struct Wanted {
    uint64_t upto = 0;  // highest seq asked for
    absl::Time at;      // when
  };
  struct PeerState {
    // Highest seq the peer is known to hold, by feed.
    absl::flat_hash_map<std::string, uint64_t> known;
    // The Want in flight, by feed.
    absl::flat_hash_map<std::string, Wanted> wanted;
    // Periodic anti-entropy.
    absl::Duration digest_interval;
    absl::Time next_digest;
    // Envelopes refused since `strikes_since` (standing).
    int strikes = 0;
    absl::Time strikes_since;
  };

  // An error closes the link (too many refused envelopes).
  absl::Status HandlePush(absl::string_view peer, const proto::Push& push);
  // Brings `state`'s next anti-entropy round forward after activity.
  void Hurry(PeerState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a refused envelope against `peer`'s standing.
  absl::Status Strike(absl::string_view peer);
  void HandleDigest(absl::string_view peer, const proto::HeadsDigest& digest);
  void HandleHeads(absl::string_view peer, const proto::Heads& heads);
  absl::Status HandleWant(absl::string_view peer, const proto::Want& want);
  // Roster updates and proposals from a peer. An error closes the link.
  absl::Status HandleRosterUpdates(absl::string_view peer,
                                   const proto::RosterUpdates& updates);
  absl::Status HandleRosterProposal(absl::string_view peer,
                                    const proto::RosterProposal& proposal);
  // Offers serialized roster bytes from `peer` to the membership; counts
  // "<what>.<outcome>" or "rejected.<what>" and holds a bad one against the
  // peer. nullopt if refused; an error if the link should close.
  absl::StatusOr<std::optional<Offered>> OfferFromPeer(absl::string_view peer,
                                                       absl::string_view bytes,
                                                       absl::string_view what);
  absl::Status HandleEpochKeys(absl::string_view peer,
                               const proto::EpochKeys& keys);
  // Field-node certificates and revocations from a peer. An error closes
  // the link.
  absl::Status HandleNodeCerts(absl::string_view peer,
                               const proto::NodeCerts& certs);
  // Forgets the linked state and epoch keys of principals no longer active.
  void ForgetInactive(const RosterChain& chain);
  // Field nodes: envelopes held unread are remembered and their content
  // keys asked of the agency's node, which answers its own active field
  // nodes with the keys it holds. An error closes the link.
  void RequestContentKeys(const std::vector<std::string>& ids);
  // RequestContentKeys for every envelope noted as held unread.
  void RequestUnreadKeys();
  absl::Status HandleKeyRequest(absl::string_view peer,
                                const proto::KeyRequest& request);
  absl::Status HandleContentKeys(absl::string_view peer,
                                 const proto::ContentKeys& keys);
  // Our published epoch keys and those we learnt, in one message.
  proto::PeerMessage EpochKeysMessage() const;
  // Makes a new epoch key when due (and gossips it); erases expired ones.
  void AdvanceEpochs();
  // Sends `message` on every link but `except`'s.
  void Broadcast(const proto::PeerMessage& message, absl::string_view except);

  // An envelope of our own (a Send, or a receipt) waiting for the committer
  // to give it a feed position, sign it and store it.
  struct OwnRequest {
    proto::Kind kind = proto::KIND_NOTICE;
    proto::Precedence precedence = proto::PRECEDENCE_ROUTINE;
    std::vector<std::string> audience;  // normalized
    std::string plaintext;
    int64_t expires_unix_ms = 0;
    std::vector<std::string> settles;  // owed receipts this one settles
    // Who waits for the outcome; null for receipts.
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
  // Gives `request` the next position of its feed (`heads` holds positions
  // taken earlier in this batch) and signs it. On error, completes the
  // request's waiter with it.
  absl::StatusOr<OwnSlot> PrepareOwn(
      OwnRequest request,
      absl::flat_hash_map<std::string, std::pair<uint64_t, std::string>>& heads,
      absl::Time now);

  void CommitLoop();
  // Stores received envelopes and our own new ones in one synced batch.
  void CommitBatch(std::vector<Pending> batch, std::vector<OwnRequest> own);
  struct ReceiptDue {
    std::string id;
    const proto::Header* header;
  };
  // Whether storing this envelope obliges us to receipt it.
  bool OwesReceipt(const proto::Header& header) const;
  // Queues receipts for `due`; each settles what the log says is owed.
  void EmitReceipts(const std::vector<ReceiptDue>& due);
  // Receipts owed from before a crash (stored, never receipted).
  void SettleOwedReceipts();

  // Sends `serialized` to every linked audience member that is not `except`
  // and not known to hold it.
  void Forward(const proto::Header& header, absl::string_view feed_id,
               const std::string& serialized, absl::string_view except);
  void SendRejection(absl::string_view peer, absl::string_view envelope_id,
                     const absl::Status& status);
  // Asks `peer` for what follows `have` in a feed, if it is known to hold
  // more and no Want is already in flight.
  void MaybeWant(absl::string_view peer, absl::string_view feed_id,
                 uint64_t have);
  // Heads of the feeds whose audience includes `peer`, by feed id.
  std::vector<proto::FeedHead> SharedHeads(absl::string_view peer) const;
  static std::string DigestOf(const std::vector<proto::FeedHead>& heads);

  // Constant after construction
  const EngineOptions options_;
  Membership& membership_;
  const crypto::Identity& identity_;
  crypto::Keyring& keyring_;
  storage::Log& log_;
  Clock& clock_;
  PeerSender& sender_;
  Counters& counters_;

  mutable absl::Mutex mu_;
  // Guarded by mu_
  absl::flat_hash_map<std::string, PeerState> peers_ ABSL_GUARDED_BY(mu_);
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<OwnRequest> own_queue_ ABSL_GUARDED_BY(mu_);
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_unread_retry_ ABSL_GUARDED_BY(mu_);

  std::thread committer_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_ENGINE_H_

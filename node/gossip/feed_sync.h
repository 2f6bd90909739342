// Feed sync: how envelopes travel between linked peers.
//
//  - Push: envelopes from a peer are verified on the transport thread that
//    read them, then handed to the engine's group commit (ReceivedQueue). A
//    copy already held or waiting for commit costs a hash and a key lookup
//    (Log::HoldsAt, an in-memory set), never a signature check; "verifies"
//    counts the signature checks. Refused ones are answered
//    with a Rejection and, unless not the peer's doing, held against it.
//  - Anti-entropy: a HeadsDigest of the feeds both ends may hold; on a
//    mismatch, Heads (feed -> seq); whoever is behind sends a Want per feed
//    and gets a Push of what follows. The side with the smaller principal
//    starts periodic rounds, doubling the interval while a link stays idle.
//  - Forward before fsync: a verified envelope that follows what this node
//    holds (or has already forwarded) goes on to linked audience members at
//    once, before its group commit; only this node's holdings record waits
//    for the fsync. The origin stores its own before it first sends. After
//    a commit the engine calls Forward (what was stored, to whoever is not
//    known to hold it yet: out-of-order arrivals) and MaybeWant (keep
//    pulling where a peer is ahead).
//
// Thread-safety: callable from any thread; per-peer state is guarded by an
// internal mutex, never held while sending or calling the queue.
#ifndef TIDINGS_NODE_GOSSIP_FEED_SYNC_H_
#define TIDINGS_NODE_GOSSIP_FEED_SYNC_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/gossip/context.h"
#include "node/gossip/forward_secrecy.h"
#include "node/gossip/sub_protocol.h"
#include "node/model/envelope.h"
#include "node/model/roster.h"
#include "storage/log.h"

namespace tidings::node {

// Heads in one message; far more feeds than a real pair of agencies shares.
inline constexpr size_t kMaxHeads = 1 << 16;

// A verified envelope from a peer, waiting for the group commit.
struct Received {
  Verified verified;                             // plaintext already cleared
  std::string from;                              // the peer it came from
  std::vector<storage::ReceiptUpdate> receipts;  // KIND_RECEIPT only
};

// Where verified envelopes go (the engine's group commit).
class ReceivedQueue {
 public:
  virtual ~ReceivedQueue() = default;
  // Queues `received` for the next commit; blocks while the queue is full
  // (backpressure on the peer's stream).
  virtual void Enqueue(Received received) = 0;
};

// More state the heads digest covers (holdings records), so that an idle
// link still compares one digest.
class DigestPart {
 public:
  virtual ~DigestPart() = default;
  // The part's digest of what this node shares with `peer`.
  virtual std::string DigestFor(absl::string_view peer) const = 0;
  // The digests differed: start the part's own comparison with `peer`.
  virtual void OnMismatch(absl::string_view peer) = 0;
};

struct FeedSyncOptions {
  // Envelopes per answer to a Want, at most.
  uint32_t want_batch = 256;
  // See EngineOptions.
  absl::Duration anti_entropy_interval = absl::Seconds(2);
  absl::Duration max_anti_entropy_interval = absl::Seconds(60);
  // Lazy push: how long an announced envelope may take to arrive before
  // this node grafts the link it was announced on (checked on every
  // message and tick: in a quiet network a graft waits for the next tick).
  absl::Duration graft_timeout = absl::Milliseconds(150);
};

class FeedSync final : public SubProtocol {
 public:
  // All borrowed; `part` may be null.
  FeedSync(const GossipContext& context, const ForwardSecrecy& keys,
           ReceivedQueue& queue, DigestPart* part,
           const FeedSyncOptions& options);

  std::vector<proto::PeerMessage::MsgCase> Routes() const override;
  // Tracks the peer, so that envelopes forwarded from now on reach it.
  void OnLinkOpening(absl::string_view peer) override;
  // Starts anti-entropy with a digest.
  void OnLinkUp(absl::string_view peer) override;
  void OnLinkDown(absl::string_view peer) override;
  absl::Status OnMessage(absl::string_view peer,
                         const proto::PeerMessage& message) override;
  // Sends a digest to every peer whose round is due.
  void OnTick(absl::Time now) override;

  // Forgets the state of peers no longer active.
  void ForgetInactive(const RosterChain& chain);

  // Announced envelopes waiting for their graft, at most.
  static constexpr size_t kMaxMissing = 4096;
  // What Wants (and Grafts) from one peer may draw: a burst, then a rate;
  // past it a Want goes unanswered ("want.throttled") and the peer asks
  // again later. Far above what catch-up needs, far below what a peer
  // asking for the same envelopes again and again could make a node send.
  static constexpr size_t kWantServeBurstBytes = 32 * 1024 * 1024;
  static constexpr size_t kWantServeBytesPerSecond = 8 * 1024 * 1024;
  static constexpr int kRefusalLinesPerMinute = 10;
  // Refused envelopes remembered, so that a replay costs a lookup.
  static constexpr size_t kMaxRemembered = 4096;
  // Feeds a peer names that this node does not share with it, tracked per
  // link at most; more are ignored until these are pulled.
  static constexpr size_t kMaxUnsharedFeeds = 1024;

  // Sends `serialized` to every linked audience member that is not `except`
  // and not known to hold it: pushed on links in the origin's tree,
  // announced on links pruned for that origin.
  void Forward(const proto::Header& header, absl::string_view feed_id,
               absl::string_view envelope_id, const std::string& serialized,
               absl::string_view except);
  // Asks `peer` for what follows `have` in a feed, if it is known to hold
  // more and no Want is already in flight.
  void MaybeWant(absl::string_view peer, absl::string_view feed_id,
                 uint64_t have);
  // After a commit (stored or failed): `batch` no longer waits for it.
  void Settle(const std::vector<Received>& batch);
  // Remembers that `v` was refused (after its checks: by the log), so
  // that a replay costs a lookup.
  void RememberRefusal(const Verified& v, const absl::Status& status);
  // Counts "rejected.<reason>", logs (at most kRefusalLinesPerMinute lines a
  // minute per peer, then one line saying how many were not) and answers
  // `peer` with a Rejection.
  void SendRejection(absl::string_view peer, absl::string_view envelope_id,
                     const absl::Status& status);

 private:
  struct Wanted {
    uint64_t upto = 0;  // highest seq asked for
    absl::Time at;      // when
  };
  struct PeerFeeds {
    // Highest seq the peer is known to hold, by feed.
    absl::flat_hash_map<std::string, uint64_t> known;
    // The Want in flight, by feed.
    absl::flat_hash_map<std::string, Wanted> wanted;
    // Feeds the peer named in Heads that this node does not share with it
    // (unknown here, or outside the peer's audience), at most
    // kMaxUnsharedFeeds: what `known` and `wanted` hold beyond shared feeds.
    absl::flat_hash_set<std::string> unshared;
    // Origins whose envelopes go to this peer as announcements (pruned).
    absl::flat_hash_set<std::string> lazy;
    // Periodic anti-entropy.
    absl::Duration digest_interval;
    absl::Time next_digest;
    // Bytes of Want answers this peer may still draw (a token bucket of
    // kWantServeBurstBytes refilled at kWantServeBytesPerSecond), and when
    // it was last refilled.
    double serve_tokens = static_cast<double>(kWantServeBurstBytes);
    absl::Time served_at = absl::InfinitePast();
  };

  // An announced envelope not yet held.
  struct Missing {
    std::string peer;  // who announced it first
    std::string feed_id;
    uint64_t seq = 0;
    std::string origin;
    absl::Time due;  // graft then
  };
  // The Want in flight for a feed, whichever peer it went to.
  struct FeedWant {
    std::string peer;
    Wanted wanted;
  };

  // An error closes the link (too many refused envelopes).
  absl::Status HandlePush(absl::string_view peer, const proto::Push& push);
  // Verifies one pushed envelope; nullopt if refused (answered already) or
  // held already (then `*held_origin` is its origin). An error closes the
  // link.
  absl::StatusOr<std::optional<Received>> Check(absl::string_view peer,
                                                const VerifyContext& context,
                                                const std::string& bytes,
                                                std::string* held_origin);
  // Lazy push.
  void HandleAnnounce(absl::string_view peer, const proto::Announce& announce);
  absl::Status HandleGraft(absl::string_view peer, const proto::Graft& graft);
  void HandlePrune(absl::string_view peer, const proto::Prune& prune);
  // A pushed copy of `origin`'s arrived again from `peer`: prune the link.
  void Prune(absl::string_view peer, const std::string& origin);
  // Grafts the links of announced envelopes overdue at `now`. Called on
  // every tick and every message, so a graft is not late by a tick under
  // traffic; cheap when none is due.
  void GraftDue(absl::Time now);
  // MaybeWant; `shared` says the feed is held and its audience includes
  // `peer` (else the Want may not depend on anything but `peer`'s state).
  void RequestMore(absl::string_view peer, absl::string_view feed_id,
                   uint64_t have, bool shared);
  // Records a Want of what follows `have` sent to `peer` now; for a shared
  // feed also as the feed's one Want in flight.
  void NoteWantLocked(absl::string_view peer, PeerFeeds& feeds,
                      absl::string_view feed_id, uint64_t have, bool shared,
                      absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refusals that are the sender's doing, remembered (the newest
  // kMaxRemembered) by the envelope's id and signature.
  std::optional<absl::Status> RefusedBefore(const std::string& key);
  void Remember(const std::string& key, const absl::Status& status);
  // Whether envelope `id` with `header` is held or waiting for commit.
  bool Held(const proto::Header& header, const std::string& id);
  void HandleDigest(absl::string_view peer, const proto::HeadsDigest& digest);
  void HandleHeads(absl::string_view peer, const proto::Heads& heads);
  absl::Status HandleWant(absl::string_view peer, const proto::Want& want);
  // Brings `feeds`' next anti-entropy round forward after activity.
  void Hurry(PeerFeeds& feeds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendDigest(absl::string_view peer);
  // Heads of the feeds whose audience includes `peer`, by feed id.
  std::vector<proto::FeedHead> SharedHeads(absl::string_view peer) const;
  // The digest of `heads` and of the part's state shared with `peer`.
  std::string DigestWith(absl::string_view peer,
                         const std::vector<proto::FeedHead>& heads) const;

  // Constant after construction
  const GossipContext context_;
  const ForwardSecrecy& keys_;
  ReceivedQueue& queue_;
  DigestPart* const part_;
  const FeedSyncOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, PeerFeeds> peers_ ABSL_GUARDED_BY(mu_);
  // Ids verified and queued, not yet committed.
  absl::flat_hash_set<std::string> pending_ ABSL_GUARDED_BY(mu_);
  // The last position forwarded ahead of its commit, by feed.
  struct Tip {
    uint64_t seq = 0;
    std::string id;
  };
  absl::flat_hash_map<std::string, Tip> tips_ ABSL_GUARDED_BY(mu_);
  // Announced envelopes not yet held, by id.
  absl::flat_hash_map<std::string, Missing> missing_ ABSL_GUARDED_BY(mu_);
  // The earliest `due` in missing_ (or later).
  absl::Time next_graft_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // One Want in flight per feed across all peers, by feed.
  absl::flat_hash_map<std::string, FeedWant> feed_wants_ ABSL_GUARDED_BY(mu_);
  // Refusal log lines per peer in the current minute.
  struct RefusalLines {
    absl::Time since = absl::InfinitePast();
    int logged = 0;
    int suppressed = 0;
  };
  absl::flat_hash_map<std::string, RefusalLines> refusal_lines_
      ABSL_GUARDED_BY(mu_);
  // See Remember; `refused_order_` is oldest first.
  absl::flat_hash_map<std::string, absl::Status> refused_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> refused_order_ ABSL_GUARDED_BY(mu_);
};

// The digest of `heads` (feed ids and seqs, in order) a HeadsDigest carries,
// and of `part_digest` if not empty.
std::string DigestOf(const std::vector<proto::FeedHead>& heads,
                     absl::string_view part_digest = "");

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_FEED_SYNC_H_

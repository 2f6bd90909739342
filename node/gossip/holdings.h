// Holdings records: delivered state as signed cumulative records, not
// per-envelope receipt traffic (proto/holdings.proto, docs/protocol.md).
//
//  - Own records: for every audience this node belongs to, the head it holds
//    durably of each feed of exactly that audience (other origins' feeds).
//    The engine reports heads after each group commit (OnStored); a changed
//    record is re-signed at once if the last one is older than `interval`,
//    else on the first tick after that, so a burst costs one record per
//    interval and a lone envelope's record leaves with no delay.
//  - Gossip: a record goes only to linked members of its audience (and their
//    field nodes), who pass a newer one on. A record no newer than the one
//    held (counter) is dropped before its signature is checked. A refused one
//    is counted ("holdings.refused.<reason>") and held against the peer.
//  - Anti-entropy: the references (holder, audience id, counter) of the
//    records two nodes share are folded into feed sync's heads digest
//    (DigestPart), so an idle link still compares one digest; on a mismatch
//    both ends exchange HoldingsHeads and push what the other lacks.
//  - Status: DeliveredOf tells, per holder of an audience, whether it holds
//    an envelope at (feed, seq) and since when (the first record that covered
//    it; at most kMaxDeliveryPoints progress points per holder and feed).
//  - Every record received or made is kept in the log's state records
//    (holdings/<audience id>/<holder>), written in one synced batch per tick.
//
// Thread-safety: callable from any thread; state is guarded by an internal
// mutex, never held while sending or writing.
#ifndef TIDINGS_NODE_GOSSIP_HOLDINGS_H_
#define TIDINGS_NODE_GOSSIP_HOLDINGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/gossip/context.h"
#include "node/gossip/feed_sync.h"
#include "node/gossip/sub_protocol.h"
#include "node/model/envelope.h"
#include "proto/holdings.pb.h"
#include "proto/storage.pb.h"

namespace tidings::node {

// Bounds on what a peer may send.
inline constexpr size_t kMaxHoldingsPerPush = 1024;
inline constexpr size_t kMaxHoldingsRefs = 1 << 16;
// One feed per origin of the audience: its agencies and their field nodes.
inline constexpr size_t kMaxHoldingsFeeds = kMaxAudience + kMaxFieldNodeWraps;
inline constexpr size_t kMaxHoldingsBytes = 128 * 1024;
// Progress points kept per (holder, feed).
inline constexpr size_t kMaxDeliveryPoints = 64;

// BLAKE2b-256 over the sorted audience (the id holdings refs carry).
std::string AudienceIdOf(const std::vector<std::string>& audience);

// That `holder` holds an envelope, since `at_unix_ms` (the holder's clock:
// when it signed the first record that covered it).
struct Delivery {
  std::string holder;
  int64_t at_unix_ms = 0;
};

struct HoldingsOptions {
  // A record is re-signed at most this often (config receipt_interval_ms).
  absl::Duration interval = absl::Seconds(1);
};

class HoldingsGossip final : public SubProtocol, public DigestPart {
 public:
  // Loads the records kept in the log and this node's own heads.
  HoldingsGossip(const GossipContext& context, const HoldingsOptions& options);

  std::vector<proto::PeerMessage::MsgCase> Routes() const override;
  void OnLinkOpening(absl::string_view peer) override;
  void OnLinkDown(absl::string_view peer) override;
  absl::Status OnMessage(absl::string_view peer,
                         const proto::PeerMessage& message) override;
  // Signs what is due, then writes what changed.
  void OnTick(absl::Time now) override;

  // DigestPart, for feed sync's anti-entropy.
  std::string DigestFor(absl::string_view peer) const override;
  void OnMismatch(absl::string_view peer) override;

  // After a group commit: the heads it advanced (of any feed).
  void OnStored(const std::vector<proto::FeedHead>& heads);

  // Who of the records of `audience` holds (feed_id, seq), by holder. Only
  // holders other than `origin`.
  std::vector<Delivery> DeliveredOf(const std::vector<std::string>& audience,
                                    absl::string_view feed_id, uint64_t seq,
                                    absl::string_view origin) const;

  // Writes what is not written yet, whatever the interval (at shutdown).
  void PersistNow() { Persist(absl::InfiniteFuture()); }
  // Forgets the state of peers no longer active.
  void ForgetInactive(const RosterChain& chain);

 private:
  // The newest record of one (holder, audience).
  struct Entry {
    proto::Holdings holdings;
    std::string serialized;  // the SignedHoldings as received or made
    // Feed id -> when the holder advanced, by increasing seq.
    std::map<std::string, std::vector<proto::DeliveryPoint>> progress;
    bool dirty = false;  // not yet written
  };
  // This node's own state for one audience.
  struct Own {
    std::vector<std::string> audience;
    std::map<std::string, proto::FeedHolding> feeds;  // by feed id
    bool changed = false;
    absl::Time signed_at = absl::InfinitePast();
  };
  // Per linked peer: the counter it is known to hold, by record key.
  using Known = absl::flat_hash_map<std::string, uint64_t>;

  // Adds to `entry`'s progress the feeds `next` holds further than it.
  static void AddProgress(Entry& entry, const proto::Holdings& next);
  // Checks and keeps one received record; returns it if it is new and
  // should go on. Refusals are counted and struck.
  absl::Status Accept(absl::string_view peer, const std::string& bytes,
                      std::vector<std::string>& fresh);
  absl::Status HandleHeads(absl::string_view peer,
                           const proto::HoldingsHeads& heads);
  // Signs the own records due at `now`; returns their keys.
  std::vector<std::string> SignDue(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the records `keys` to every linked audience member but `except`
  // that is not known to hold them.
  void Spread(const std::vector<std::string>& keys, absl::string_view except);
  // Writes dirty entries in one synced batch, at most once per interval
  // (what is lost in a crash, its holders send again).
  void Persist(absl::Time now);
  // The refs of every record whose audience includes `peer`, by key.
  proto::PeerMessage RefsFor(absl::string_view peer, bool is_reply) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Load();

  const GossipContext context_;
  const HoldingsOptions options_;
  const std::string network_id_;

  mutable absl::Mutex mu_;
  // Record key (audience id || holder) -> newest record.
  std::map<std::string, Entry> records_ ABSL_GUARDED_BY(mu_);
  // Audience id -> own state.
  std::map<std::string, Own> own_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Known> peers_ ABSL_GUARDED_BY(mu_);
  absl::Time persisted_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_HOLDINGS_H_

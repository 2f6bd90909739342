// What the gossip engine lends its sub-protocols: the node's parts (the
// membership, identity, log, clock, transport and counters) and the engine's
// own link services (standing, broadcast, the linked set). A sub-protocol
// sees this context, never the engine.
//
// Thread-safety: Counters, RealClock() and the PeerLinks the engine implements
// may be used from any thread; the borrowed parts have their own contracts.
#ifndef TIDINGS_NODE_GOSSIP_CONTEXT_H_
#define TIDINGS_NODE_GOSSIP_CONTEXT_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/model/membership.h"
#include "proto/envelope.pb.h"
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

// Control messages (handshake follow-ups, heads, wants, rejections, roster,
// key and record gossip) go ahead of every envelope: they are small and
// unblock the pull.
inline constexpr proto::Precedence kControl = proto::PRECEDENCE_UNSPECIFIED;

// The engine's links as its sub-protocols use them.
class PeerLinks {
 public:
  virtual ~PeerLinks() = default;
  // Counts a refused message against `peer`'s standing. An error means the
  // link should close (too many refusals within a minute).
  virtual absl::Status Strike(absl::string_view peer) = 0;
  // Sends `message` as control traffic on every link but `except`'s.
  virtual void Broadcast(const proto::PeerMessage& message,
                         absl::string_view except) = 0;
  // Whether a link to `peer` is up.
  virtual bool IsLinked(absl::string_view peer) const = 0;
};

// All borrowed; everything outlives the sub-protocols that hold the context.
struct GossipContext {
  Membership& membership;
  const crypto::Identity& identity;  // its principal() is this node's id
  crypto::Keyring& keyring;          // this node's long-term box key
  storage::Log& log;
  Clock& clock;
  PeerSender& sender;
  Counters& counters;
  PeerLinks& links;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_CONTEXT_H_

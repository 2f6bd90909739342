// A link's outgoing messages, in precedence lanes: control first (lane 0),
// then FLASH, IMMEDIATE, PRIORITY, ROUTINE. A writer thread drains the
// outbox onto the link's MessageStream, most urgent lane first; envelope
// pushes waiting in one lane leave as one message.
//
// Control messages are never dropped, but a control backlog past
// kMaxControlBytes means the peer does not read: the outbox closes (and so
// the link). Envelope pushes are dropped once the backlog passes a byte cap
// (anti-entropy repairs them).
//
// Thread-safety: all methods may be called from any thread.
#ifndef TIDINGS_NODE_GOSSIP_OUTBOX_H_
#define TIDINGS_NODE_GOSSIP_OUTBOX_H_

#include <array>
#include <cstddef>
#include <deque>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "node/gossip/message_stream.h"
#include "proto/envelope.pb.h"
#include "proto/peer.pb.h"

namespace tidings::node {

class Counters;

class Outbox {
 public:
  // Lanes: control, FLASH, IMMEDIATE, PRIORITY, ROUTINE.
  static constexpr int kLanes = 5;
  // Pushes are merged up to this size (well under kMaxPeerMessageBytes).
  static constexpr size_t kCoalesceBytes = 1024 * 1024;
  // Control messages queued at most (several of the largest: a full Heads,
  // a handshake's roster updates).
  static constexpr size_t kMaxControlBytes = 16 * 1024 * 1024;

  // `max_queued_bytes`: the backlog beyond which envelope pushes are
  // dropped.
  explicit Outbox(size_t max_queued_bytes)
      : max_queued_bytes_(max_queued_bytes) {}
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Queues `message` in the lane of `precedence` (an unknown precedence goes
  // last). False if the outbox is closed, or if the message is not control
  // and the backlog would pass the cap (the message is dropped), or if it
  // is control and the control backlog would pass kMaxControlBytes (then the
  // outbox closes: see overflowed).
  bool Enqueue(const proto::PeerMessage& message, proto::Precedence precedence);

  // Blocks for the most urgent queued message, with the pushes queued behind
  // it in its lane merged in (up to kCoalesceBytes); nullopt once closed.
  std::optional<proto::PeerMessage> Pop();

  // Wakes Pop and refuses further messages; what is queued is dropped.
  void Close();
  // Whether the outbox closed because its control backlog passed the cap.
  bool overflowed() const;

  // Writes popped messages to `stream` until the outbox is closed or a write
  // fails, counting "wire_bytes_out"; then cancels `stream`. Runs on the
  // link's writer thread.
  void DrainTo(MessageStream& stream, Counters& counters);

 private:
  // A queued message and its size, measured once in Enqueue.
  struct Queued {
    proto::PeerMessage message;
    size_t bytes = 0;
  };
  using Lane = std::deque<Queued>;

  bool ReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Merges into `out` (a message of `bytes` just taken from `lane`) the
  // pushes queued behind it, while under kCoalesceBytes.
  void CoalesceLocked(Lane& lane, proto::PeerMessage& out, size_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction
  const size_t max_queued_bytes_;

  mutable absl::Mutex mu_;
  std::array<Lane, kLanes> lanes_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;   // every lane
  size_t control_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // lane 0
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_OUTBOX_H_

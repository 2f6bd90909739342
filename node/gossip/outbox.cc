#include "node/gossip/outbox.h"

#include <string>
#include <utility>

#include "node/gossip/context.h"

namespace tidings::node {
namespace {

int LaneOf(proto::Precedence precedence) {
  const int lane = static_cast<int>(precedence);
  return lane >= 0 && lane < Outbox::kLanes ? lane : Outbox::kLanes - 1;
}

}  // namespace

bool Outbox::Enqueue(const proto::PeerMessage& message,
                     proto::Precedence precedence) {
  const int lane = LaneOf(precedence);
  const size_t bytes = message.ByteSizeLong();
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  if (lane != 0 && queued_bytes_ + bytes > max_queued_bytes_) return false;
  if (lane == 0) {
    if (control_bytes_ + bytes > kMaxControlBytes) {
      // The peer does not read what it asks for: end the link rather than
      // grow without bound.
      closed_ = true;
      overflowed_ = true;
      for (Lane& queued : lanes_) queued.clear();
      queued_bytes_ = 0;
      control_bytes_ = 0;
      return false;
    }
    control_bytes_ += bytes;
  }
  lanes_[static_cast<size_t>(lane)].push_back(Queued{message, bytes});
  queued_bytes_ += bytes;
  return true;
}

bool Outbox::ReadyLocked() const {
  if (closed_) return true;
  for (const auto& lane : lanes_) {
    if (!lane.empty()) return true;
  }
  return false;
}

std::optional<proto::PeerMessage> Outbox::Pop() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Outbox* outbox) ABSL_EXCLUSIVE_LOCKS_REQUIRED(outbox->mu_) {
        return outbox->ReadyLocked();
      },
      this));
  if (closed_) return std::nullopt;
  for (auto& lane : lanes_) {
    if (lane.empty()) continue;
    proto::PeerMessage out = std::move(lane.front().message);
    const size_t bytes = lane.front().bytes;
    lane.pop_front();
    queued_bytes_ -= bytes;
    if (&lane == &lanes_[0]) control_bytes_ -= bytes;
    CoalesceLocked(lane, out, bytes);
    return out;
  }
  return std::nullopt;
}

void Outbox::CoalesceLocked(Lane& lane, proto::PeerMessage& out, size_t bytes) {
  // Pushes waiting in the same lane go out as one message: one write (and
  // one wake-up at the peer) for many envelopes.
  while (out.has_push() && !lane.empty() && lane.front().message.has_push() &&
         bytes < kCoalesceBytes) {
    const size_t more = lane.front().bytes;
    for (std::string& envelope :
         *lane.front().message.mutable_push()->mutable_envelopes()) {
      out.mutable_push()->add_envelopes(std::move(envelope));
    }
    lane.pop_front();
    queued_bytes_ -= more;
    bytes += more;
  }
}

void Outbox::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool Outbox::overflowed() const {
  absl::MutexLock lock(&mu_);
  return overflowed_;
}

void Outbox::DrainTo(MessageStream& stream, Counters& counters) {
  while (std::optional<proto::PeerMessage> message = Pop()) {
    const size_t bytes = message->ByteSizeLong();
    if (!stream.Write(*message)) break;
    counters.Add("wire_bytes_out", bytes);
  }
  stream.Cancel();
}

}  // namespace tidings::node

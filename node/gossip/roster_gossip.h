// Roster gossip: roster updates (applied versions) and proposals (pending
// versions gathering signatures) between linked peers. What a peer sends is
// offered to the membership, which decides; this sub-protocol counts the
// outcome ("roster.<outcome>", "rejected.roster", "roster_proposal.<...>"),
// holds bad updates against the peer and passes on what is new.
//
// Thread-safety: no state of its own; callable from any thread.
#ifndef TIDINGS_NODE_GOSSIP_ROSTER_GOSSIP_H_
#define TIDINGS_NODE_GOSSIP_ROSTER_GOSSIP_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/gossip/context.h"
#include "node/gossip/sub_protocol.h"
#include "node/model/membership.h"
#include "node/model/roster.h"

namespace tidings::node {

// Roster updates in one peer message (the handshake sends at most this many).
inline constexpr int kMaxRosterUpdatesPerMessage = 256;

// A RosterUpdates message with the applied updates of `chain` from version
// `from` to `to` (both included, clamped to the chain), stopping early once
// `max_bytes` of updates are in it.
proto::PeerMessage RosterUpdatesMessage(
    const RosterChain& chain, uint32_t from, uint32_t to,
    size_t max_bytes = std::numeric_limits<size_t>::max());

class RosterGossip final : public SubProtocol {
 public:
  explicit RosterGossip(const GossipContext& context) : context_(context) {}

  std::vector<proto::PeerMessage::MsgCase> Routes() const override;
  // Sends the pending proposals.
  void OnLinkUp(absl::string_view peer) override;
  absl::Status OnMessage(absl::string_view peer,
                         const proto::PeerMessage& message) override;

  // Gossips a proposal (new, or with a new signature) to every linked peer.
  void Announce(const proto::SignedRoster& proposal);
  // After the membership applied an update: passes the newest few versions
  // to every linked peer.
  void PassOn(const RosterChain& chain);

 private:
  absl::Status HandleUpdates(absl::string_view peer,
                             const proto::RosterUpdates& updates);
  absl::Status HandleProposal(absl::string_view peer,
                              const proto::RosterProposal& proposal);
  // Offers serialized roster bytes from `peer` to the membership; counts
  // "<what>.<outcome>" or "rejected.<what>" and holds a bad one against the
  // peer. nullopt if refused; an error if the link should close.
  absl::StatusOr<std::optional<Offered>> OfferFromPeer(absl::string_view peer,
                                                       absl::string_view bytes,
                                                       absl::string_view what);

  const GossipContext context_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_ROSTER_GOSSIP_H_

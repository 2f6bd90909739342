#include "node/gossip/roster_gossip.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"

namespace tidings::node {
namespace {

// Versions sent with each newly applied one.
constexpr uint32_t kRecentUpdates = 8;

proto::PeerMessage ProposalMessage(const proto::SignedRoster& proposal) {
  proto::PeerMessage message;
  message.mutable_roster_proposal()->set_proposal(proposal.SerializeAsString());
  return message;
}

}  // namespace

std::vector<proto::PeerMessage::MsgCase> RosterGossip::Routes() const {
  return {proto::PeerMessage::kRosterUpdates,
          proto::PeerMessage::kRosterProposal};
}

void RosterGossip::OnLinkUp(absl::string_view peer) {
  for (const proto::SignedRoster& pending : context_.membership.Pending()) {
    context_.sender.SendToPeer(peer, ProposalMessage(pending), kControl);
  }
}

absl::Status RosterGossip::OnMessage(absl::string_view peer,
                                     const proto::PeerMessage& message) {
  if (message.has_roster_updates()) {
    return HandleUpdates(peer, message.roster_updates());
  }
  return HandleProposal(peer, message.roster_proposal());
}

void RosterGossip::Announce(const proto::SignedRoster& proposal) {
  context_.links.Broadcast(ProposalMessage(proposal), "");
}

proto::PeerMessage RosterUpdatesMessage(const RosterChain& chain, uint32_t from,
                                        uint32_t to, size_t max_bytes) {
  proto::PeerMessage message;
  // Ensures the oneof is set even when no update fits.
  message.mutable_roster_updates();
  size_t bytes = 0;
  for (uint32_t v = std::max<uint32_t>(from, 1);
       v <= std::min(to, chain.version()) && bytes < max_bytes; ++v) {
    std::string update = chain.at(v)->signed_roster().SerializeAsString();
    bytes += update.size();
    message.mutable_roster_updates()->add_updates(std::move(update));
  }
  return message;
}

void RosterGossip::PassOn(const RosterChain& chain) {
  // The last few versions, not only the newest: a peer that missed one
  // broadcast fills the gap from the next (versions it holds are no-ops).
  const uint32_t newest = chain.version();
  context_.links.Broadcast(
      RosterUpdatesMessage(
          chain, newest > kRecentUpdates ? newest - kRecentUpdates + 1 : 1,
          newest),
      "");
}

absl::Status RosterGossip::HandleUpdates(absl::string_view peer,
                                         const proto::RosterUpdates& updates) {
  if (updates.updates_size() > kMaxRosterUpdatesPerMessage) {
    context_.counters.Add("rejected.roster");
    return context_.links.Strike(peer);
  }
  for (const std::string& bytes : updates.updates()) {
    TIDINGS_RETURN_IF_ERROR(OfferFromPeer(peer, bytes, "roster").status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Offered>> RosterGossip::OfferFromPeer(
    absl::string_view peer, absl::string_view bytes, absl::string_view what) {
  absl::StatusOr<Offered> offered = context_.membership.OfferBytes(bytes);
  if (offered.ok()) {
    context_.counters.Add(absl::StrCat(what, ".", OfferedName(*offered)));
    return std::optional<Offered>(*offered);
  }
  context_.counters.Add(absl::StrCat("rejected.", what));
  spdlog::warn("refused a {} from {}: {}", what, peer,
               offered.status().message());
  // Behind or forked is not the peer's fault; a bad update is.
  if (offered.status().code() != absl::StatusCode::kFailedPrecondition) {
    TIDINGS_RETURN_IF_ERROR(context_.links.Strike(peer));
  }
  return std::optional<Offered>();
}

absl::Status RosterGossip::HandleProposal(
    absl::string_view peer, const proto::RosterProposal& proposal) {
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<Offered> offered,
      OfferFromPeer(peer, proposal.proposal(), "roster_proposal"));
  proto::SignedRoster update;
  if (offered != Offered::kPending ||
      !update.ParseFromString(proposal.proposal())) {
    return absl::OkStatus();
  }
  // New to us: pass on what we now hold (with our merged signatures).
  for (const proto::SignedRoster& pending : context_.membership.Pending()) {
    if (pending.roster() != update.roster()) continue;
    context_.links.Broadcast(ProposalMessage(pending), "");
  }
  return absl::OkStatus();
}

}  // namespace tidings::node

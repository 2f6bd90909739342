#include "node/gossip/field_node_records.h"

#include "base/logging.h"
#include "base/status_macros.h"
#include "node/model/field_nodes.h"
#include "node/model/membership.h"
#include "node/model/reject.h"

namespace tidings::node {

proto::NodeCerts NodeRecordsOf(const RosterChain& chain) {
  proto::NodeCerts out;
  for (const auto& [id, node] : chain.nodes().all()) {
    if (!chain.current().IsMember(AgencyOf(id))) continue;
    // A certificate that no longer holds is passed on only with the
    // revocation that names it (for what it signed up to the cuts).
    if (node.has_cert && (chain.IsActive(id) || node.revocation.has_value())) {
      out.add_certs(node.signed_cert.SerializeAsString());
    }
    if (node.revocation.has_value()) {
      out.add_revocations(node.signed_revocation.SerializeAsString());
    }
  }
  for (const auto& [agency, contact] : chain.nodes().contacts()) {
    if (chain.ContactOf(agency) != nullptr) {
      out.add_contacts(contact.signed_contact.SerializeAsString());
    }
  }
  return out;
}

std::vector<proto::PeerMessage> NodeRecordMessages(
    const proto::NodeCerts& records) {
  // Within what any receiver takes (OnMessage: 64 x members).
  constexpr size_t kChunkBytes = 1024 * 1024;
  constexpr int kChunkRecords = static_cast<int>(kMaxFieldNodesPerAgency);
  std::vector<proto::PeerMessage> out;
  size_t bytes = 0;
  auto next = [&](size_t size) -> proto::NodeCerts& {
    if (out.empty() || bytes + size > kChunkBytes ||
        out.back().node_certs().certs_size() >= kChunkRecords ||
        out.back().node_certs().revocations_size() >= kChunkRecords ||
        out.back().node_certs().contacts_size() >= kChunkRecords) {
      out.emplace_back();
      out.back().mutable_node_certs();
      bytes = 0;
    }
    bytes += size;
    return *out.back().mutable_node_certs();
  };
  for (const std::string& cert : records.certs()) {
    next(cert.size()).add_certs(cert);
  }
  for (const std::string& revocation : records.revocations()) {
    next(revocation.size()).add_revocations(revocation);
  }
  for (const std::string& contact : records.contacts()) {
    next(contact.size()).add_contacts(contact);
  }
  return out;
}

std::vector<proto::PeerMessage::MsgCase> FieldNodeRecords::Routes() const {
  return {proto::PeerMessage::kNodeCerts};
}

void FieldNodeRecords::OnLinkUp(absl::string_view peer) {
  for (const proto::PeerMessage& certs :
       NodeRecordMessages(NodeRecordsOf(*context_.membership.chain()))) {
    context_.sender.SendToPeer(peer, certs, kControl);
  }
}

void FieldNodeRecords::Announce(const proto::NodeCerts& records) {
  for (const proto::PeerMessage& message : NodeRecordMessages(records)) {
    context_.links.Broadcast(message, "");
  }
}

absl::Status FieldNodeRecords::OnMessage(absl::string_view peer,
                                         const proto::PeerMessage& message) {
  const proto::NodeCerts& certs = message.node_certs();
  // Records of current members only are gossiped (NodeRecordsOf).
  const auto members = static_cast<size_t>(
      context_.membership.chain()->current().roster().members_size());
  const size_t max_records = kMaxFieldNodesPerAgency * members;
  if (static_cast<size_t>(certs.certs_size()) > max_records ||
      static_cast<size_t>(certs.revocations_size()) > max_records ||
      static_cast<size_t>(certs.contacts_size()) > members) {
    context_.counters.Add("rejected.node_records");
    return context_.links.Strike(peer);
  }
  Membership::NodeRecordsOffered offered =
      context_.membership.OfferNodeRecords(certs);
  const int fresh = offered.fresh.certs_size() +
                    offered.fresh.revocations_size() +
                    offered.fresh.contacts_size();
  if (fresh > 0) context_.counters.Add("node_records.learnt", fresh);
  // What is new here goes on, once (before any strike closes the link).
  for (const proto::PeerMessage& out : NodeRecordMessages(offered.fresh)) {
    context_.links.Broadcast(out, peer);
  }
  for (const absl::Status& refused : offered.refused) {
    context_.counters.Add("rejected.node_record");
    // A malformed or forged record, or one under a roster version far
    // ahead, is the relaying peer's doing (a link brings both ends to the
    // same roster, and updates travel ahead of what is signed under them);
    // the others (an agency removed meanwhile, a conflict) depend on what
    // each node has learnt so far.
    const bool theirs = refused.code() == absl::StatusCode::kInvalidArgument ||
                        refused.code() == absl::StatusCode::kUnauthenticated ||
                        IsRosterAhead(refused);
    if (theirs) {
      spdlog::warn("refused a field-node record from {}: {}", peer,
                   refused.message());
      TIDINGS_RETURN_IF_ERROR(context_.links.Strike(peer));
    } else {
      spdlog::debug("refused a field-node record from {}: {}", peer,
                    refused.message());
    }
  }
  return absl::OkStatus();
}

}  // namespace tidings::node

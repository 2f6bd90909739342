// Field-node records: the certificates agencies issue to their field nodes
// and the revocations that end them. Every new link gets the records of
// current members' nodes; records from a peer are offered to the membership
// and what is new goes on, once.
//
// Thread-safety: no state of its own; callable from any thread.
#ifndef TIDINGS_NODE_GOSSIP_FIELD_NODE_RECORDS_H_
#define TIDINGS_NODE_GOSSIP_FIELD_NODE_RECORDS_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "node/gossip/context.h"
#include "node/gossip/sub_protocol.h"
#include "node/model/roster.h"

namespace tidings::node {

// The field-node certificates and revocations worth gossiping: those of
// current members' nodes.
proto::NodeCerts NodeRecordsOf(const RosterChain& chain);

// `records` as NodeCerts messages of about 1 MiB at most each (certificates
// first, since a revocation names one).
std::vector<proto::PeerMessage> NodeRecordMessages(
    const proto::NodeCerts& records);

class FieldNodeRecords final : public SubProtocol {
 public:
  explicit FieldNodeRecords(const GossipContext& context) : context_(context) {}

  std::vector<proto::PeerMessage::MsgCase> Routes() const override;
  // Sends the records of current members' nodes.
  void OnLinkUp(absl::string_view peer) override;
  absl::Status OnMessage(absl::string_view peer,
                         const proto::PeerMessage& message) override;

  // Gossips records this node made (certify, revoke) to every linked peer.
  void Announce(const proto::NodeCerts& records);

 private:
  const GossipContext context_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_FIELD_NODE_RECORDS_H_

// Epoch-key gossip (forward secrecy): this node publishes a new epoch key
// when one is due and sends its own and every learnt key on each new link;
// keys from peers are checked against their signer's roster key, kept in the
// directory and passed on once. Inert when the node runs without forward
// secrecy (see ForwardSecrecy).
//
// Thread-safety: no state of its own besides the thread-safe ForwardSecrecy
// parts; callable from any thread.
#ifndef TIDINGS_NODE_GOSSIP_EPOCH_KEY_GOSSIP_H_
#define TIDINGS_NODE_GOSSIP_EPOCH_KEY_GOSSIP_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "node/gossip/context.h"
#include "node/gossip/forward_secrecy.h"
#include "node/gossip/sub_protocol.h"
#include "node/model/roster.h"

namespace tidings::node {

class EpochKeyGossip final : public SubProtocol {
 public:
  // Both borrowed.
  EpochKeyGossip(const GossipContext& context, ForwardSecrecy& keys)
      : context_(context), keys_(keys) {}

  std::vector<proto::PeerMessage::MsgCase> Routes() const override;
  // Sends our published and learnt keys, if we publish any.
  void OnLinkUp(absl::string_view peer) override;
  absl::Status OnMessage(absl::string_view peer,
                         const proto::PeerMessage& message) override;
  // Advance(now).
  void OnTick(absl::Time now) override;

  // Makes a new epoch key when due (and gossips it); erases expired ones.
  void Advance(absl::Time now);
  // After a roster update: forgets the keys of members whose signing key it
  // removed, rotated or revoked (they publish new ones).
  void ForgetResigned(const RosterChain& chain);
  // Forgets the keys of field nodes no longer active.
  void ForgetInactive(const RosterChain& chain);

 private:
  // Our published epoch keys and those we learnt, in one message.
  proto::PeerMessage AllKeysMessage() const;

  const GossipContext context_;
  ForwardSecrecy& keys_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_EPOCH_KEY_GOSSIP_H_

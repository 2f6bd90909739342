// One sub-protocol of the gossip engine (feed sync, roster gossip, epoch-key
// gossip, field-node records, content keys). The engine routes each peer
// message kind to the one sub-protocol that lists it in Routes(), and tells
// every sub-protocol, in a fixed order, of link-ups, link-downs and ticks.
//
// Thread-safety: the engine calls these from transport, committer and ticker
// threads at once; each sub-protocol guards its own state.
#ifndef TIDINGS_NODE_GOSSIP_SUB_PROTOCOL_H_
#define TIDINGS_NODE_GOSSIP_SUB_PROTOCOL_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/peer.pb.h"

namespace tidings::node {

class SubProtocol {
 public:
  virtual ~SubProtocol() = default;

  // The peer message kinds this sub-protocol answers (each kind is routed to
  // one sub-protocol only).
  virtual std::vector<proto::PeerMessage::MsgCase> Routes() const = 0;

  // A link to an authenticated peer is coming up: set up per-peer state,
  // send nothing. Every sub-protocol sees this before any sees OnLinkUp, so
  // whatever one sends or forwards from then on already reaches the peer.
  virtual void OnLinkOpening(absl::string_view /*peer*/) {}
  // A link to an authenticated peer came up; what to send it first.
  virtual void OnLinkUp(absl::string_view /*peer*/) {}
  // The link to `peer` went down, or the peer is no longer active.
  virtual void OnLinkDown(absl::string_view /*peer*/) {}
  // A message of a kind in Routes() from an authenticated peer. Refusals
  // are counted and held against the peer's standing; an error means the
  // link should close.
  virtual absl::Status OnMessage(absl::string_view peer,
                                 const proto::PeerMessage& message) = 0;
  // Periodic work (Engine::Tick), at `now`.
  virtual void OnTick(absl::Time /*now*/) {}
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_SUB_PROTOCOL_H_

// One peer link's stream of PeerMessages, whichever end opened it and
// whatever carries it: a gRPC stream in node/rpc, a pair of in-process
// queues in tests. The handshake (handshake.h) and the outbox (outbox.h) are
// written against it and know nothing of gRPC.
//
// Thread-safety: one thread may Read while another Writes; Cancel may be
// called from any thread, any number of times.
#ifndef TIDINGS_NODE_GOSSIP_MESSAGE_STREAM_H_
#define TIDINGS_NODE_GOSSIP_MESSAGE_STREAM_H_

#include <optional>
#include <string>

#include "proto/peer.pb.h"

namespace tidings::node {

class MessageStream {
 public:
  virtual ~MessageStream() = default;

  // Blocks for the peer's next message; nullopt once the stream has ended
  // (closed by the peer, cancelled, or broken).
  virtual std::optional<proto::PeerMessage> Read() = 0;
  // Blocks until `message` is handed to the carrier; false if the stream has
  // ended.
  virtual bool Write(const proto::PeerMessage& message) = 0;
  // Ends the stream: unblocks Read and Write on other threads, which then
  // fail, as do later calls.
  virtual void Cancel() = 0;
  // The certificate (PEM) the peer presented when the carrier was set up
  // (mutual TLS); empty if none.
  virtual std::string PeerCertificate() = 0;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_MESSAGE_STREAM_H_

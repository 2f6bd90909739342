// The peer transport: node-to-node links over gRPC bidirectional streams.
//
// Each gRPC stream is wrapped as a MessageStream (node/gossip/
// message_stream.h) and runs the handshake of node/gossip/handshake.h, then
// carries PeerMessages in both directions: a reader thread hands them to the
// engine, a writer thread drains the link's Outbox (node/gossip/outbox.h) by
// precedence (control first, then FLASH ... ROUTINE). The transport dials every
// configured peer and keeps redialling with backoff; it also accepts links from
// any roster member. A peer may have more than one live link (both sides
// dialled); messages go on the newest.
//
// Links run over mutual TLS pinned to the roster (tls_pin.h); the handshake
// then checks that the certificate is the claimed principal's, and that the
// peer holds that principal's identity key.
//
// Thread-safety: all public methods may be called from any thread.
#ifndef TIDINGS_NODE_RPC_PEER_TRANSPORT_H_
#define TIDINGS_NODE_RPC_PEER_TRANSPORT_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "node/config/config.h"
#include "node/gossip/engine.h"
#include "node/gossip/message_stream.h"
#include "node/model/membership.h"
#include "node/model/roster.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
class Service;
}  // namespace grpc

namespace tidings::node {

class Link;

struct PeerTransportOptions {
  // Borrowed; must outlive the transport.
  Membership* membership = nullptr;
  const crypto::Identity* identity = nullptr;
  Counters* counters = nullptr;
  // This node's TLS key and certificate, presented on every link; a peer's
  // certificate must be the one its roster entry pins.
  const crypto::TlsCredentials* tls = nullptr;
  // Peers to dial.
  std::vector<PeerAddress> peers;
  // Outgoing bytes queued per link before envelope pushes are dropped
  // (anti-entropy repairs them; control messages are never dropped).
  size_t max_queued_bytes = 64 * 1024 * 1024;
  absl::Duration min_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
};

class PeerTransport final : public PeerSender {
 public:
  explicit PeerTransport(const PeerTransportOptions& options);
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;
  ~PeerTransport() override;

  // The gRPC service to register on the peer server. Owned by the transport.
  grpc::Service* service();
  // Mutual TLS for the peer server: requires a client certificate and
  // accepts only certificates pinned in the roster.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;

  // Starts dialling; `engine` receives link events and messages.
  void Start(Engine* engine);
  // Closes every link and stops dialling. Idempotent.
  void Shutdown();

  bool SendToPeer(absl::string_view peer, const proto::PeerMessage& message,
                  proto::Precedence precedence) override;

  // After the membership applied an update: closes at once every link to an
  // agency that is no longer a member or whose entry changed (keys,
  // certificate); changed members are re-authenticated when they redial.
  void OnRosterApplied(const RosterChain& chain);
  // After the membership accepted a field-node certificate or revocation:
  // closes at once every link to a field node that no longer holds.
  void OnNodesChanged(const RosterChain& chain);

  // Cancels links whose handshake has not finished in time.
  void ExpireHandshakes();

  // Runs one link over `stream` to completion on the calling thread (both
  // the server handler and the dialler call this). `expected_principal` is the
  // principal dialled, empty for an inbound link; `description` names the
  // link in log lines. OK if the link came up (and then ended); the
  // handshake's error otherwise.
  absl::Status RunLink(std::unique_ptr<MessageStream> stream,
                       std::string expected_principal, std::string description);

 private:
  // RunLink's work once `link` is tracked: handshake, then the writer
  // thread and ReadLoop until the link ends.
  absl::Status ServeLink(Link& link);
  // Hands each message read to `engine` (may be null) until the stream ends
  // or the engine finds a protocol violation.
  void ReadLoop(Link& link, const std::string& principal, Engine* engine);
  void DialLoop(PeerAddress peer);
  // Returns the engine to deliver to (null before Start);
  // kPermissionDenied if `principal` is no longer active.
  absl::StatusOr<Engine*> Register(const std::string& principal, Link* link);
  void Unregister(const std::string& principal, Link* link);
  void CloseLocked(const std::vector<Link*>& links)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction
  const PeerTransportOptions options_;
  std::unique_ptr<grpc::Service> service_;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials_;

  absl::Notification shutdown_;
  absl::Mutex mu_;
  Engine* engine_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Live, authenticated links by principal (agency or field node), newest
  // last.
  absl::flat_hash_map<std::string, std::vector<Link*>> links_
      ABSL_GUARDED_BY(mu_);
  // Every link in any state (for shutdown and handshake expiry).
  std::vector<Link*> all_links_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> diallers_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_RPC_PEER_TRANSPORT_H_

// A scripted peer that speaks the peer protocol (proto/peer.proto) to a real
// node: it can do the handshake honestly as a roster member, or get it wrong
// on purpose, push arbitrary bytes, and read back what the node answers.
//
// A reader thread drains the stream into a queue, so every wait has a
// deadline and nothing blocks forever; the destructor cancels the call.
//
// Thread-safety: one test thread drives a FakePeer; the reader thread is
// internal.
#ifndef TIDINGS_TESTS_TESTING_FAKE_PEER_H_
#define TIDINGS_TESTS_TESTING_FAKE_PEER_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "proto/peer.grpc.pb.h"
#include "proto/peer.pb.h"

namespace tidings::testing {

struct FakePeerOptions {
  // The client certificate presented in the TLS handshake; null presents
  // none. Borrowed.
  const crypto::TlsCredentials* tls = nullptr;
  // How long to wait for the TLS connection (a refused one never comes).
  absl::Duration connect_timeout = absl::Seconds(30);
  // The whole call is cancelled after this.
  absl::Duration lifetime = absl::Seconds(120);
};

class FakePeer {
 public:
  // Opens a Link stream over TLS to the peer service at `address`
  // ("host:port"). The node's certificate is not checked here (a test
  // checks the node's Proof instead). kUnavailable if no TLS connection
  // comes up within the connect timeout, e.g. because the node refused the
  // certificate.
  static absl::StatusOr<std::unique_ptr<FakePeer>> Connect(
      const std::string& address, const FakePeerOptions& options);

  // Cancels the call and joins the reader.
  ~FakePeer();
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;

  // The honest handshake as `identity`: Hello, wait for the node's Hello,
  // Proof, wait for the node's Proof and verify it with `node_key`.
  // kUnauthenticated if the node's Proof does not verify; kDeadlineExceeded
  // or kUnavailable if the node does not answer or closes the stream.
  absl::Status Handshake(const crypto::Identity& identity,
                         absl::string_view network_id,
                         const crypto::VerifyKey& node_key,
                         absl::Duration timeout = absl::Seconds(10));

  // The steps of the handshake, for tests that get it wrong on purpose.
  // Sends Hello{network_id, principal, fresh nonce}.
  absl::Status SendHello(absl::string_view network_id,
                         absl::string_view principal);
  // Waits for the node's Hello (other messages are dropped).
  absl::StatusOr<proto::Hello> AwaitHello(absl::Duration timeout);
  // Sends Proof signed by `key` over the link transcript for `own_principal`,
  // using the nonces of the Hellos sent and received.
  absl::Status SendProof(const crypto::SigningKey& key,
                         absl::string_view network_id,
                         absl::string_view own_principal);
  // Waits for the node's Proof (other messages are dropped).
  absl::StatusOr<proto::Proof> AwaitProof(absl::Duration timeout);

  // Sends one Push carrying `envelopes` (each a serialized Envelope, or any
  // bytes). Fails if the stream is closed.
  absl::Status Push(const std::vector<std::string>& envelopes);
  absl::Status Push(const std::string& envelope) {
    return Push(std::vector<std::string>{envelope});
  }

  // Sends any message (roster updates, proposals, ...).
  absl::Status Send(const proto::PeerMessage& message);
  // Waits for the next Rejection, dropping anything else (anti-entropy
  // messages, pushes). kDeadlineExceeded if none came; kUnavailable if the
  // stream closed first.
  absl::StatusOr<proto::Rejection> AwaitRejection(absl::Duration timeout);
  // Rejections received and not yet awaited, without waiting.
  std::vector<proto::Rejection> PendingRejections();

  // Waits until the node ends the stream. True if it did within `timeout`.
  bool AwaitClosed(absl::Duration timeout);
  bool closed();
  // Every message received so far, in order (including awaited ones).
  std::vector<proto::PeerMessage> received();

 private:
  FakePeer() = default;
  void ReadLoop();
  // Waits for a message of `type`, dropping others from the queue.
  absl::StatusOr<proto::PeerMessage> Await(proto::PeerMessage::MsgCase type,
                                           absl::Duration timeout);

  // Constant after Connect
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<proto::Peer::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<proto::PeerMessage, proto::PeerMessage>>
      stream_;
  std::thread reader_;

  // Used by the test thread only.
  std::string own_nonce_;
  std::string their_nonce_;

  absl::Mutex mu_;
  std::deque<proto::PeerMessage> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::PeerMessage> log_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class Cluster;

// A FakePeer linked to `principal`'s node as the member `as` of `cluster` (its
// certificate and keys), handshake done.
absl::StatusOr<std::unique_ptr<FakePeer>> ConnectAs(
    Cluster& cluster, const std::string& as, const std::string& principal);

}  // namespace tidings::testing

#endif  // TIDINGS_TESTS_TESTING_FAKE_PEER_H_

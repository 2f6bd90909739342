#include "tests/testing/fake_peer.h"

#include <sodium.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "crypto/sign.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "node/gossip/link.h"
#include "tests/testing/cluster.h"

namespace tidings::testing {
namespace {

std::string RandomBytes(size_t n) {
  crypto::EnsureSodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), out.size());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakePeer>> FakePeer::Connect(
    const std::string& address, const FakePeerOptions& options) {
  std::unique_ptr<FakePeer> peer(new FakePeer());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxSendMessageSize(node::kMaxPeerMessageBytes);
  args.SetMaxReceiveMessageSize(node::kMaxPeerMessageBytes);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  if (options.tls != nullptr) {
    tls.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
            std::vector<grpc::experimental::IdentityKeyCertPair>{
                {std::string(options.tls->key_pem.view()),
                 options.tls->cert_pem}}));
    tls.watch_identity_key_cert_pairs();
  }
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(
      std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  peer->channel_ = grpc::CreateCustomChannel(
      address, grpc::experimental::TlsCredentials(tls), args);
  if (!peer->channel_->WaitForConnected(
          absl::ToChronoTime(absl::Now() + options.connect_timeout))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  peer->stub_ = proto::Peer::NewStub(peer->channel_);
  peer->context_.set_deadline(
      absl::ToChronoTime(absl::Now() + options.lifetime));
  peer->stream_ = peer->stub_->Link(&peer->context_);
  if (peer->stream_ == nullptr) {
    return absl::UnavailableError("Link did not start");
  }
  peer->reader_ = std::thread([p = peer.get()] { p->ReadLoop(); });
  return peer;
}

FakePeer::~FakePeer() {
  context_.TryCancel();
  if (reader_.joinable()) reader_.join();
  if (stream_ != nullptr) {
    grpc::Status status = stream_->Finish();
    (void)status;  // CANCELLED, or whatever the node ended the call with.
  }
}

void FakePeer::ReadLoop() {
  proto::PeerMessage message;
  while (stream_->Read(&message)) {
    absl::MutexLock lock(&mu_);
    log_.push_back(message);
    queue_.push_back(std::move(message));
    message.Clear();
  }
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

absl::Status FakePeer::Handshake(const crypto::Identity& identity,
                                 absl::string_view network_id,
                                 const crypto::VerifyKey& node_key,
                                 absl::Duration timeout) {
  absl::Status status = SendHello(network_id, identity.principal());
  if (!status.ok()) return status;
  absl::StatusOr<proto::Hello> hello = AwaitHello(timeout);
  if (!hello.ok()) return hello.status();
  if (hello->network_id() != network_id) {
    return absl::FailedPreconditionError(
        "the node's Hello names another network");
  }
  status = SendProof(identity.signing_key(), network_id, identity.principal());
  if (!status.ok()) return status;
  absl::StatusOr<proto::Proof> proof = AwaitProof(timeout);
  if (!proof.ok()) return proof.status();
  std::optional<crypto::Signature> signature =
      crypto::Signature::FromBytes(proof->signature());
  if (!signature.has_value()) {
    return absl::UnauthenticatedError("node's Proof has a malformed signature");
  }
  // The node signs with its nonce as "own" and ours as "their".
  return crypto::Verify(
      node_key, crypto::Domain::kLink,
      node::LinkTranscript(network_id, own_nonce_, their_nonce_,
                           hello->principal(), identity.principal()),
      *signature);
}

absl::Status FakePeer::SendHello(absl::string_view network_id,
                                 absl::string_view principal) {
  own_nonce_ = RandomBytes(node::kLinkNonceBytes);
  proto::PeerMessage message;
  proto::Hello* hello = message.mutable_hello();
  hello->set_network_id(std::string(network_id));
  hello->set_principal(std::string(principal));
  hello->set_nonce(own_nonce_);
  if (!stream_->Write(message)) {
    return absl::UnavailableError("stream closed before Hello was sent");
  }
  return absl::OkStatus();
}

absl::Status FakePeer::Send(const proto::PeerMessage& message) {
  if (!stream_->Write(message)) {
    return absl::UnavailableError("stream closed");
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::Hello> FakePeer::AwaitHello(absl::Duration timeout) {
  absl::StatusOr<proto::PeerMessage> message =
      Await(proto::PeerMessage::kHello, timeout);
  if (!message.ok()) return message.status();
  their_nonce_ = message->hello().nonce();
  return message->hello();
}

absl::Status FakePeer::SendProof(const crypto::SigningKey& key,
                                 absl::string_view network_id,
                                 absl::string_view own_principal) {
  // The node's principal is in its Hello; take it from the log.
  std::string their_principal;
  {
    absl::MutexLock lock(&mu_);
    for (const proto::PeerMessage& m : log_) {
      if (m.has_hello()) their_principal = m.hello().principal();
    }
  }
  const crypto::Signature signature =
      crypto::Sign(key, crypto::Domain::kLink,
                   node::LinkTranscript(network_id, their_nonce_, own_nonce_,
                                        own_principal, their_principal));
  proto::PeerMessage message;
  message.mutable_proof()->set_signature(signature.str());
  if (!stream_->Write(message)) {
    return absl::UnavailableError("stream closed before Proof was sent");
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::Proof> FakePeer::AwaitProof(absl::Duration timeout) {
  absl::StatusOr<proto::PeerMessage> message =
      Await(proto::PeerMessage::kProof, timeout);
  if (!message.ok()) return message.status();
  return message->proof();
}

absl::Status FakePeer::Push(const std::vector<std::string>& envelopes) {
  proto::PeerMessage message;
  for (const std::string& envelope : envelopes) {
    message.mutable_push()->add_envelopes(envelope);
  }
  if (!stream_->Write(message)) {
    return absl::UnavailableError("stream closed; Push not sent");
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::Rejection> FakePeer::AwaitRejection(
    absl::Duration timeout) {
  absl::StatusOr<proto::PeerMessage> message =
      Await(proto::PeerMessage::kRejection, timeout);
  if (!message.ok()) return message.status();
  return message->rejection();
}

std::vector<proto::Rejection> FakePeer::PendingRejections() {
  std::vector<proto::Rejection> out;
  absl::MutexLock lock(&mu_);
  for (const proto::PeerMessage& message : queue_) {
    if (message.has_rejection()) out.push_back(message.rejection());
  }
  return out;
}

absl::StatusOr<proto::PeerMessage> FakePeer::Await(
    proto::PeerMessage::MsgCase type, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (true) {
    while (!queue_.empty()) {
      proto::PeerMessage message = std::move(queue_.front());
      queue_.pop_front();
      if (message.msg_case() == type) return message;
    }
    if (closed_) {
      return absl::UnavailableError(
          absl::StrCat("stream closed while waiting for message case ",
                       static_cast<int>(type)));
    }
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return closed_ || !queue_.empty();
    };
    if (mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) continue;
    return absl::DeadlineExceededError(
        absl::StrCat("no message case ", static_cast<int>(type), " within ",
                     absl::FormatDuration(timeout)));
  }
}

bool FakePeer::AwaitClosed(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&closed_), timeout);
}

bool FakePeer::closed() {
  absl::MutexLock lock(&mu_);
  return closed_;
}

std::vector<proto::PeerMessage> FakePeer::received() {
  absl::MutexLock lock(&mu_);
  return log_;
}

absl::StatusOr<std::unique_ptr<FakePeer>> ConnectAs(
    Cluster& cluster, const std::string& as, const std::string& principal) {
  FakePeerOptions options;
  options.tls = &cluster.tls(as);
  absl::StatusOr<std::unique_ptr<FakePeer>> peer =
      FakePeer::Connect(cluster.listen_address(principal), options);
  if (!peer.ok()) return peer.status();
  absl::Status handshake =
      (*peer)->Handshake(cluster.identity(as), cluster.network_id(),
                         cluster.identity(principal).verify_key());
  if (!handshake.ok()) return handshake;
  return peer;
}

}  // namespace tidings::testing

#include "node/rpc/peer_transport.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "node/gossip/handshake.h"
#include "node/gossip/link.h"
#include "node/gossip/outbox.h"
#include "node/rpc/tls_pin.h"
#include "proto/grpc_status.h"
#include "proto/peer.grpc.pb.h"

namespace tidings::node {
namespace {

std::string CertificateOf(const grpc::AuthContext* auth) {
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> values =
      auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (values.empty()) return "";
  return std::string(values[0].data(), values[0].size());
}

using ServerStream =
    grpc::ServerReaderWriter<proto::PeerMessage, proto::PeerMessage>;
using ClientStream =
    grpc::ClientReaderWriter<proto::PeerMessage, proto::PeerMessage>;

// The next message of either end of a gRPC peer stream; nullopt once it ended.
template <typename Stream>
std::optional<proto::PeerMessage> ReadOne(Stream& stream) {
  proto::PeerMessage message;
  if (!stream.Read(&message)) return std::nullopt;
  return message;
}

// The accepting end of a gRPC peer stream.
class ServerMessageStream final : public MessageStream {
 public:
  ServerMessageStream(grpc::ServerContext* context, ServerStream* stream)
      : context_(context), stream_(stream) {}
  std::optional<proto::PeerMessage> Read() override {
    return ReadOne(*stream_);
  }
  bool Write(const proto::PeerMessage& message) override {
    return stream_->Write(message);
  }
  void Cancel() override { context_->TryCancel(); }
  std::string PeerCertificate() override {
    return CertificateOf(context_->auth_context().get());
  }

 private:
  grpc::ServerContext* context_;
  ServerStream* stream_;
};

// The dialling end of a gRPC peer stream; the call starts on construction.
class ClientMessageStream final : public MessageStream {
 public:
  explicit ClientMessageStream(proto::Peer::Stub& stub)
      : stream_(stub.Link(&context_)) {}
  ~ClientMessageStream() override {
    context_.TryCancel();
    stream_->Finish().IgnoreError();
  }
  std::optional<proto::PeerMessage> Read() override {
    return ReadOne(*stream_);
  }
  bool Write(const proto::PeerMessage& message) override {
    return stream_->Write(message);
  }
  void Cancel() override { context_.TryCancel(); }
  std::string PeerCertificate() override {
    return CertificateOf(context_.auth_context().get());
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<ClientStream> stream_;
};

}  // namespace

// A link in any state: handshaking, live, or closing. Owned by RunLink.
class Link {
 public:
  Link(std::unique_ptr<MessageStream> stream, std::string expected_principal,
       std::string description, size_t max_queued_bytes)
      : stream_(std::move(stream)),
        expected_principal_(std::move(expected_principal)),
        description_(std::move(description)),
        started_(absl::Now()),
        outbox_(max_queued_bytes) {}

  MessageStream& stream() { return *stream_; }
  Outbox& outbox() { return outbox_; }
  const std::string& expected_principal() const { return expected_principal_; }
  const std::string& description() const { return description_; }
  absl::Time started() const { return started_; }

  // Stops the writer and ends the stream.
  void Close() {
    outbox_.Close();
    stream_->Cancel();
  }

  bool authenticated() const { return authenticated_.load(); }
  void set_authenticated() { authenticated_.store(true); }

  // Whether a newer link from the same principal replaced this one; only
  // read and set under PeerTransport::mu_.
  bool superseded() const { return superseded_; }
  void set_superseded() { superseded_ = true; }
  // The TLS pin of the principal when the link came up; likewise under mu_.
  const std::optional<crypto::Sha256>& pinned() const { return pinned_; }
  void set_pinned(std::optional<crypto::Sha256> pinned) {
    pinned_ = std::move(pinned);
  }

 private:
  // Constant after construction
  const std::unique_ptr<MessageStream> stream_;
  const std::string expected_principal_;  // empty for inbound links
  const std::string description_;
  const absl::Time started_;

  Outbox outbox_;
  std::atomic<bool> authenticated_{false};
  bool superseded_ = false;
  std::optional<crypto::Sha256> pinned_;
};

namespace {

class PeerService final : public proto::Peer::Service {
 public:
  explicit PeerService(PeerTransport& transport) : transport_(transport) {}

  grpc::Status Link(grpc::ServerContext* context,
                    ServerStream* stream) override {
    absl::Status ended = transport_.RunLink(
        std::make_unique<ServerMessageStream>(context, stream), "",
        absl::StrCat("inbound from ", context->peer()));
    return grpc_status::ToGrpc(ended);
  }

 private:
  PeerTransport& transport_;
};

grpc::ChannelArguments PeerChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxPeerMessageBytes);
  args.SetMaxSendMessageSize(kMaxPeerMessageBytes);
  // gRPC's default reconnect backoff grows to minutes; a node that restarts
  // must be reached again within a second or two.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

}  // namespace

PeerTransport::PeerTransport(const PeerTransportOptions& options)
    : options_(options),
      service_(std::make_unique<PeerService>(*this)),
      channel_credentials_(PinnedChannelCredentials(
          *options_.tls, options_.membership, options_.counters)) {}

std::shared_ptr<grpc::ServerCredentials> PeerTransport::ServerCredentials()
    const {
  return PinnedServerCredentials(*options_.tls, options_.membership,
                                 options_.counters);
}

PeerTransport::~PeerTransport() { Shutdown(); }

grpc::Service* PeerTransport::service() { return service_.get(); }

void PeerTransport::Start(Engine* engine) {
  {
    absl::MutexLock lock(&mu_);
    engine_ = engine;
  }
  for (const PeerAddress& peer : options_.peers) {
    diallers_.emplace_back([this, peer] { DialLoop(peer); });
  }
}

void PeerTransport::Shutdown() {
  if (!shutdown_.HasBeenNotified()) shutdown_.Notify();
  {
    absl::MutexLock lock(&mu_);
    for (Link* link : all_links_) link->Close();
  }
  for (std::thread& dialler : diallers_) dialler.join();
  diallers_.clear();
  // Inbound links end when the server shuts down; wait for them to leave.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::vector<Link*>* links) { return links->empty(); }, &all_links_));
}

void PeerTransport::DialLoop(PeerAddress peer) {
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      peer.address, channel_credentials_, PeerChannelArguments());
  std::unique_ptr<proto::Peer::Stub> stub = proto::Peer::NewStub(channel);
  absl::Duration backoff = options_.min_backoff;
  while (!shutdown_.HasBeenNotified()) {
    if (!options_.membership->chain()->IsActive(peer.principal)) {
      // Removed or revoked (or not admitted or certified yet): nothing to
      // say to it.
      shutdown_.WaitForNotificationWithTimeout(options_.max_backoff);
      continue;
    }
    absl::Status ended = RunLink(
        std::make_unique<ClientMessageStream>(*stub), peer.principal,
        absl::StrCat("outbound to ", peer.principal, " at ", peer.address));
    // A link that came up and later ended is redialled at once; a peer that
    // is down or refuses us is retried with growing backoff.
    backoff = ended.ok() ? options_.min_backoff
                         : std::min(backoff * 2, options_.max_backoff);
    shutdown_.WaitForNotificationWithTimeout(backoff);
  }
}

absl::Status PeerTransport::RunLink(std::unique_ptr<MessageStream> stream,
                                    std::string expected_principal,
                                    std::string description) {
  Link link(std::move(stream), std::move(expected_principal),
            std::move(description), options_.max_queued_bytes);
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_.HasBeenNotified()) {
      return absl::UnavailableError("shutting down");
    }
    all_links_.push_back(&link);
  }
  absl::Status ended = ServeLink(link);
  absl::MutexLock lock(&mu_);
  all_links_.erase(std::find(all_links_.begin(), all_links_.end(), &link));
  return ended;
}

absl::Status PeerTransport::ServeLink(Link& link) {
  absl::StatusOr<std::string> principal =
      Handshake(link.stream(), link.expected_principal(), *options_.membership,
                *options_.identity, *options_.counters);
  if (!principal.ok()) {
    // Quiet for a peer that is simply not up yet; loud for a refusal.
    if (principal.status().code() != absl::StatusCode::kUnavailable) {
      options_.counters->Add("links_refused");
      spdlog::warn("link {} refused: {}", link.description(),
                   principal.status().message());
    }
    link.stream().Cancel();
    return principal.status();
  }
  link.set_authenticated();

  std::thread writer([this, &link] {
    link.outbox().DrainTo(link.stream(), *options_.counters);
  });
  absl::StatusOr<Engine*> engine = Register(*principal, &link);
  if (!engine.ok()) {
    // Cut off (logged once by the engine), or an update or revocation
    // applied while this handshake ran removed the peer: checked under the
    // links lock, so the closing of its links either saw this one or runs
    // after this check.
    if (engine.status().code() != absl::StatusCode::kUnavailable) {
      spdlog::warn("link {} dropped: {}", link.description(),
                   engine.status().message());
    }
    link.Close();
    writer.join();
    return engine.status();
  }
  spdlog::info("link up with {} ({})", *principal, link.description());
  ReadLoop(link, *principal, *engine);
  link.Close();
  writer.join();
  if (link.outbox().overflowed()) {
    options_.counters->Add("links_closed_for_control_backlog");
    spdlog::warn(
        "closed link with {}: it does not read (over {} bytes of control "
        "messages queued for it)",
        *principal, Outbox::kMaxControlBytes);
  }
  Unregister(*principal, &link);
  spdlog::info("link down with {} ({})", *principal, link.description());
  return absl::OkStatus();
}

void PeerTransport::ReadLoop(Link& link, const std::string& principal,
                             Engine* engine) {
  while (std::optional<proto::PeerMessage> message = link.stream().Read()) {
    options_.counters->Add("wire_bytes_in", message->ByteSizeLong());
    if (engine == nullptr) continue;
    absl::Status status = engine->OnPeerMessage(principal, *message);
    if (!status.ok()) {
      options_.counters->Add("links_closed_for_protocol_violation");
      spdlog::warn("closing link with {}: {}", principal, status.message());
      return;
    }
  }
}

absl::StatusOr<Engine*> PeerTransport::Register(const std::string& principal,
                                                Link* link) {
  Engine* engine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    engine = engine_;
  }
  if (engine != nullptr) TIDINGS_RETURN_IF_ERROR(engine->Admit(principal));
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    const std::shared_ptr<const RosterChain> chain =
        options_.membership->chain();
    if (!chain->IsActive(principal)) {
      return absl::PermissionDeniedError(absl::StrCat(
          principal, " was removed or revoked during the handshake"));
    }
    link->set_pinned(chain->TlsFingerprintOf(principal));
    std::vector<Link*>& links = links_[principal];
    first = links.empty();
    // One inbound link per principal: a newer one supersedes the older (a
    // peer that reconnected before its old stream ended), so that no member
    // holds more than that and the link this node dials.
    if (link->expected_principal().empty()) {
      for (Link* other : links) {
        if (!other->expected_principal().empty() || other->superseded()) {
          continue;
        }
        other->set_superseded();
        options_.counters->Add("links_superseded");
        spdlog::info("link {} with {} superseded by {}", other->description(),
                     principal, link->description());
        other->Close();
      }
    }
    links.push_back(link);
  }
  if (first && engine != nullptr) engine->OnLinkUp(principal);
  return engine;
}

void PeerTransport::Unregister(const std::string& principal, Link* link) {
  Engine* engine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    std::vector<Link*>& links = links_[principal];
    links.erase(std::find(links.begin(), links.end(), link));
    if (!links.empty()) return;
    links_.erase(principal);
    engine = engine_;
  }
  if (engine != nullptr) engine->OnLinkDown(principal);
}

bool PeerTransport::SendToPeer(absl::string_view peer,
                               const proto::PeerMessage& message,
                               proto::Precedence precedence) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(peer);
  if (it == links_.end()) return false;
  // The newest link that is not superseded (one closing may be last only
  // until its read loop ends).
  Link* live = nullptr;
  for (Link* link : it->second) {
    if (!link->superseded()) live = link;
  }
  if (live == nullptr) return false;
  if (!live->outbox().Enqueue(message, precedence)) {
    options_.counters->Add("pushes_dropped");
    return false;
  }
  return true;
}

void PeerTransport::OnRosterApplied(const RosterChain& chain) {
  const Roster& now = chain.current();
  const Roster* before = chain.at(now.version() - 1);
  absl::MutexLock lock(&mu_);
  for (auto& [principal, links] : links_) {
    if (IsFieldNode(principal)) {
      // Its certificate holds while its agency and the key that certified
      // it do.
      if (chain.IsActive(principal)) continue;
      spdlog::warn(
          "closing links with {}: its certificate no longer holds "
          "in roster v{}",
          principal, now.version());
    } else {
      const proto::Member* member = now.Find(principal);
      const proto::Member* was =
          before != nullptr ? before->Find(principal) : nullptr;
      const bool changed =
          member == nullptr || was == nullptr ||
          member->SerializeAsString() != was->SerializeAsString();
      if (!changed) continue;
      spdlog::warn("closing links with {}: {} in roster v{}", principal,
                   member == nullptr ? "no longer a member" : "entry changed",
                   now.version());
    }
    options_.counters->Add("links_closed_for_roster");
    CloseLocked(links);
  }
}

void PeerTransport::OnNodesChanged(const RosterChain& chain) {
  absl::MutexLock lock(&mu_);
  for (auto& [principal, links] : links_) {
    if (!chain.IsActive(principal)) {
      spdlog::warn("closing links with {}: revoked by its agency", principal);
      options_.counters->Add("links_closed_for_revocation");
      CloseLocked(links);
      continue;
    }
    // A member's new contact re-pins its certificate: links made with the
    // old one end (the peer reconnects with the new one).
    const std::optional<crypto::Sha256> pinned =
        chain.TlsFingerprintOf(principal);
    std::vector<Link*> repinned;
    for (Link* link : links) {
      if (link->pinned() != pinned) repinned.push_back(link);
    }
    if (repinned.empty()) continue;
    spdlog::info("closing links with {}: its contact pins another certificate",
                 principal);
    options_.counters->Add("links_closed_for_contact");
    CloseLocked(repinned);
  }
}

void PeerTransport::CloseLocked(const std::vector<Link*>& links) {
  for (Link* link : links) link->Close();
}

void PeerTransport::ExpireHandshakes() {
  const absl::Time cutoff = absl::Now() - kHandshakeTimeout;
  absl::MutexLock lock(&mu_);
  for (Link* link : all_links_) {
    if (!link->authenticated() && link->started() < cutoff) {
      link->stream().Cancel();
    }
  }
}

}  // namespace tidings::node

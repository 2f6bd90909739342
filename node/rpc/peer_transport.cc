#include "node/rpc/peer_transport.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/sign.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "node/gossip/link.h"
#include "proto/grpc_status.h"
#include "proto/peer.grpc.pb.h"

namespace tidings::node {

// One side of a gRPC stream, whichever end opened it.
class StreamIo {
 public:
  virtual ~StreamIo() = default;
  virtual bool Read(proto::PeerMessage* message) = 0;
  virtual bool Write(const proto::PeerMessage& message) = 0;
  // Unblocks Read and Write on other threads; safe to call more than once.
  virtual void Cancel() = 0;
  // The peer's TLS certificate (PEM), once the call is established; empty
  // if none.
  virtual std::string PeerCertificate() = 0;
};

namespace {

std::string CertificateOf(const grpc::AuthContext* auth) {
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> values =
      auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (values.empty()) return "";
  return std::string(values[0].data(), values[0].size());
}

}  // namespace

namespace {

using ServerStream =
    grpc::ServerReaderWriter<proto::PeerMessage, proto::PeerMessage>;
using ClientStream =
    grpc::ClientReaderWriter<proto::PeerMessage, proto::PeerMessage>;

class ServerStreamIo final : public StreamIo {
 public:
  ServerStreamIo(grpc::ServerContext* context, ServerStream* stream)
      : context_(context), stream_(stream) {}
  bool Read(proto::PeerMessage* message) override {
    return stream_->Read(message);
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

class ClientStreamIo final : public StreamIo {
 public:
  explicit ClientStreamIo(proto::Peer::Stub& stub)
      : stream_(stub.Link(&context_)) {}
  ~ClientStreamIo() override {
    context_.TryCancel();
    stream_->Finish().IgnoreError();
  }
  bool Read(proto::PeerMessage* message) override {
    return stream_->Read(message);
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

constexpr int kLanes = 5;
// Pushes are merged up to this size (well under kMaxPeerMessageBytes).
constexpr size_t kCoalesceBytes =
    1024 * 1024;  // control, FLASH, IMMEDIATE, PRIORITY, ROUTINE

int LaneOf(proto::Precedence precedence) {
  const int lane = static_cast<int>(precedence);
  return lane >= 0 && lane < kLanes ? lane : kLanes - 1;
}

}  // namespace

// A link in any state: handshaking, live, or closing. Owned by RunLink.
class Link {
 public:
  Link(std::unique_ptr<StreamIo> io, std::string expected_agency,
       std::string description)
      : io_(std::move(io)),
        expected_agency_(std::move(expected_agency)),
        description_(std::move(description)),
        started_(absl::Now()) {}

  StreamIo& io() { return *io_; }
  const std::string& expected_agency() const { return expected_agency_; }
  const std::string& description() const { return description_; }
  absl::Time started() const { return started_; }

  // Queues a message. Envelope pushes beyond `max_bytes` of backlog are
  // dropped (returns false); control messages never are.
  bool Enqueue(const proto::PeerMessage& message, proto::Precedence precedence,
               size_t max_bytes) {
    const int lane = LaneOf(precedence);
    const size_t bytes = message.ByteSizeLong();
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    if (lane != 0 && queued_bytes_ + bytes > max_bytes) return false;
    lanes_[static_cast<size_t>(lane)].push_back(message);
    queued_bytes_ += bytes;
    return true;
  }

  // Blocks for the most urgent queued message; false once closed.
  bool Pop(proto::PeerMessage* out) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Link* link) ABSL_EXCLUSIVE_LOCKS_REQUIRED(link->mu_) {
          if (link->closed_) return true;
          for (const auto& lane : link->lanes_) {
            if (!lane.empty()) return true;
          }
          return false;
        },
        this));
    if (closed_) return false;
    for (auto& lane : lanes_) {
      if (lane.empty()) continue;
      *out = std::move(lane.front());
      lane.pop_front();
      size_t bytes = out->ByteSizeLong();
      queued_bytes_ -= std::min(queued_bytes_, bytes);
      // Pushes waiting in the same lane go out as one message: one gRPC
      // write (and one wake-up at the peer) for many envelopes.
      while (out->has_push() && !lane.empty() && lane.front().has_push() &&
             bytes < kCoalesceBytes) {
        const size_t more = lane.front().ByteSizeLong();
        for (std::string& envelope :
             *lane.front().mutable_push()->mutable_envelopes()) {
          out->mutable_push()->add_envelopes(std::move(envelope));
        }
        lane.pop_front();
        queued_bytes_ -= std::min(queued_bytes_, more);
        bytes += more;
      }
      return true;
    }
    return false;
  }

  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  bool authenticated() const { return authenticated_.load(); }
  void set_authenticated() { authenticated_.store(true); }

 private:
  // Constant after construction
  const std::unique_ptr<StreamIo> io_;
  const std::string expected_agency_;  // empty for inbound links
  const std::string description_;
  const absl::Time started_;

  std::atomic<bool> authenticated_{false};
  absl::Mutex mu_;
  std::array<std::deque<proto::PeerMessage>, kLanes> lanes_
      ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// Accepts a TLS peer only if its certificate is pinned by a roster entry or
// the certificate of an active field node.
// Runs inside gRPC's TLS handshake, before any message is parsed.
class RosterPinVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  RosterPinVerifier(Membership* membership, Counters* counters)
      : membership_(membership), counters_(counters) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    const grpc::string_ref pem = request->peer_cert();
    absl::StatusOr<crypto::Sha256> fingerprint = crypto::CertificateFingerprint(
        absl::string_view(pem.data(), pem.size()));
    if (fingerprint.ok() && membership_->chain()->IsPinned(*fingerprint)) {
      *sync_status = grpc::Status::OK;
      return true;
    }
    counters_->Add("links_refused.tls");
    spdlog::warn(
        "refused a TLS peer: {}",
        fingerprint.ok()
            ? absl::StrCat("certificate ", crypto::ToHex(fingerprint->view()),
                           " is not pinned in the roster")
            : absl::StrCat("no usable certificate (",
                           fingerprint.status().message(), ")"));
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                "certificate not pinned in the roster");
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  Membership* membership_;
  Counters* counters_;
};

std::shared_ptr<grpc::experimental::CertificateProviderInterface>
IdentityProvider(const crypto::TlsCredentials& tls) {
  return std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      std::vector<grpc::experimental::IdentityKeyCertPair>{
          {std::string(tls.key_pem.view()), tls.cert_pem}});
}

class PeerService final : public proto::Peer::Service {
 public:
  explicit PeerService(PeerTransport& transport) : transport_(transport) {}

  grpc::Status Link(grpc::ServerContext* context,
                    ServerStream* stream) override {
    absl::Status ended = transport_.RunLink(std::make_unique<node::Link>(
        std::make_unique<ServerStreamIo>(context, stream), "",
        absl::StrCat("inbound from ", context->peer())));
    return grpc_status::ToGrpc(ended);
  }

 private:
  PeerTransport& transport_;
};

// At most this many roster updates are sent in one handshake message; a
// peer further behind catches up over several links (each one brings it
// closer).
constexpr uint32_t kMaxUpdatesPerHandshake = 256;
// ... and at most about this many bytes (well under kMaxPeerMessageBytes).
constexpr size_t kMaxUpdateBytesPerHandshake = 4 * 1024 * 1024;

// The handshake of node/link.h. Returns the authenticated peer agency.
// Between Hello and Proof, the side with the newer roster sends the updates
// the other lacks; they are checked and applied before the Proof is
// verified, so a node back from a long absence first learns the membership
// it is about to trust.
absl::StatusOr<std::string> Handshake(Link& link, Membership& membership,
                                      const crypto::Identity& identity,
                                      Counters& counters) {
  const std::string network_id = membership.network_id().str();
  std::string own_nonce(kLinkNonceBytes, '\0');
  randombytes_buf(own_nonce.data(), own_nonce.size());

  std::shared_ptr<const RosterChain> chain = membership.chain();
  proto::PeerMessage hello;
  hello.mutable_hello()->set_network_id(network_id);
  hello.mutable_hello()->set_agency(identity.agency());
  hello.mutable_hello()->set_nonce(own_nonce);
  hello.mutable_hello()->set_roster_version(chain->version());
  hello.mutable_hello()->set_roster_hash(chain->current().hash().str());
  if (!link.io().Write(hello)) {
    return absl::UnavailableError("stream closed before hello");
  }
  proto::PeerMessage theirs;
  if (!link.io().Read(&theirs)) {
    return absl::UnavailableError("stream closed before the peer's hello");
  }
  if (!theirs.has_hello()) {
    return absl::InvalidArgumentError("first message is not a hello");
  }
  const proto::Hello their_hello = theirs.hello();
  if (their_hello.network_id() != network_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer is on another network (",
                     crypto::ToHex(their_hello.network_id()), ")"));
  }
  const std::string& agency = their_hello.agency();
  if (absl::Status valid = ValidatePrincipal(agency); !valid.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer's hello: ", valid.message()));
  }
  if (agency == identity.agency()) {
    return absl::PermissionDeniedError("peer claims to be this node");
  }
  if (!link.expected_agency().empty() && agency != link.expected_agency()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "dialled ", link.expected_agency(), " but the peer claims ", agency));
  }
  if (their_hello.nonce().size() != kLinkNonceBytes) {
    return absl::InvalidArgumentError("hello nonce is not 32 bytes");
  }
  // Once both hold the peer's version, it must be the same roster. Two
  // histories that differ (a node built on a change that lost a race, or a
  // fork) are reported, and the nodes do not link. Checked before updates
  // are sent, and again after catching up with a peer that was ahead.
  auto check_split = [&]() -> absl::Status {
    const Roster* same = chain->at(their_hello.roster_version());
    if (same == nullptr || their_hello.roster_hash().empty() ||
        their_hello.roster_hash() == same->hash().view()) {
      return absl::OkStatus();
    }
    counters.Add("links_refused.roster_split");
    spdlog::error(
        "ROSTER SPLIT with {}: its roster v{} is {}, this node's is {}; an "
        "operator must rebuild one of the two",
        agency, their_hello.roster_version(),
        crypto::ToHex(their_hello.roster_hash()),
        crypto::ToHex(same->hash().view()));
    return absl::FailedPreconditionError(absl::StrCat(
        "roster split: the peer's roster v", their_hello.roster_version(),
        " differs from this node's"));
  };
  TIDINGS_RETURN_IF_ERROR(check_split());
  // Only a member or one of its field nodes may learn the roster from us.
  if (their_hello.roster_version() < chain->version() &&
      chain->IsActive(agency)) {
    proto::PeerMessage updates;
    size_t bytes = 0;
    for (uint32_t v = their_hello.roster_version() + 1;
         v <= chain->version() &&
         v <= their_hello.roster_version() + kMaxUpdatesPerHandshake &&
         bytes < kMaxUpdateBytesPerHandshake;
         ++v) {
      std::string update = chain->at(v)->signed_roster().SerializeAsString();
      bytes += update.size();
      updates.mutable_roster_updates()->add_updates(std::move(update));
    }
    if (!link.io().Write(updates)) {
      return absl::UnavailableError("stream closed before roster updates");
    }
  }
  if (their_hello.roster_version() > chain->version()) {
    // The peer is ahead: its updates come before its proof.
    if (!link.io().Read(&theirs)) {
      return absl::UnavailableError("stream closed before roster updates");
    }
    if (!theirs.has_roster_updates()) {
      return absl::InvalidArgumentError(
          "peer has a newer roster but sent no roster updates");
    }
    for (const std::string& bytes : theirs.roster_updates().updates()) {
      absl::StatusOr<Offered> offered = membership.OfferBytes(bytes);
      if (!offered.ok()) {
        counters.Add("rejected.roster");
        return absl::PermissionDeniedError(
            absl::StrCat("roster update from the peer refused: ",
                         offered.status().message()));
      }
      counters.Add(absl::StrCat("roster.", OfferedName(*offered)));
    }
    chain = membership.chain();
  }
  // Both now hold the peer's version: it must be the same roster.
  TIDINGS_RETURN_IF_ERROR(check_split());
  // Judged by the membership as it is now, updates included; nothing is
  // proved to a peer that fails these.
  std::optional<crypto::VerifyKey> their_key = chain->VerifyKeyOf(agency);
  if (!their_key.has_value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer claims to be '", agency, "', ",
                     IsFieldNode(agency)
                         ? "a field node with no valid certificate here"
                         : absl::StrCat("not in roster v", chain->version())));
  }
  // The TLS verifier let in any pinned certificate; it must be this peer's.
  absl::StatusOr<crypto::Sha256> certificate =
      crypto::CertificateFingerprint(link.io().PeerCertificate());
  std::optional<crypto::Sha256> pinned = chain->TlsFingerprintOf(agency);
  if (!certificate.ok() || !pinned.has_value() || !(*certificate == *pinned)) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer claims ", agency, " but its TLS certificate is not ",
                     agency, "'s"));
  }
  proto::PeerMessage proof;
  proof.mutable_proof()->set_signature(
      crypto::Sign(identity.signing_key(), crypto::Domain::kLink,
                   LinkTranscript(network_id, their_hello.nonce(), own_nonce,
                                  identity.agency(), agency))
          .str());
  if (!link.io().Write(proof)) {
    return absl::UnavailableError("stream closed before proof");
  }
  if (!link.io().Read(&theirs)) {
    return absl::UnavailableError("stream closed before the peer's proof");
  }
  if (!theirs.has_proof()) {
    return absl::InvalidArgumentError("second message is not a proof");
  }
  std::optional<crypto::Signature> signature =
      crypto::Signature::FromBytes(theirs.proof().signature());
  if (!signature.has_value() ||
      !crypto::Verify(*their_key, crypto::Domain::kLink,
                      LinkTranscript(network_id, own_nonce, their_hello.nonce(),
                                     agency, identity.agency()),
                      *signature)
           .ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("peer cannot prove it holds the key of ", agency));
  }
  return agency;
}

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
    : options_(options), service_(std::make_unique<PeerService>(*this)) {
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(IdentityProvider(*options_.tls));
  tls.watch_identity_key_cert_pairs();
  // No CA: the verifier pins the certificate to the roster instead.
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<
          RosterPinVerifier>(options_.membership, options_.counters));
  channel_credentials_ = grpc::experimental::TlsCredentials(tls);
}

std::shared_ptr<grpc::ServerCredentials> PeerTransport::ServerCredentials()
    const {
  grpc::experimental::TlsServerCredentialsOptions tls(
      IdentityProvider(*options_.tls));
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  tls.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<
          RosterPinVerifier>(options_.membership, options_.counters));
  return grpc::experimental::TlsServerCredentials(tls);
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
    for (Link* link : all_links_) {
      link->Close();
      link->io().Cancel();
    }
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
    if (!options_.membership->chain()->IsActive(peer.agency)) {
      // Removed or revoked (or not admitted or certified yet): nothing to
      // say to it.
      shutdown_.WaitForNotificationWithTimeout(options_.max_backoff);
      continue;
    }
    absl::Status ended = RunLink(std::make_unique<Link>(
        std::make_unique<ClientStreamIo>(*stub), peer.agency,
        absl::StrCat("outbound to ", peer.agency, " at ", peer.address)));
    // A link that came up and later ended is redialled at once; a peer that
    // is down or refuses us is retried with growing backoff.
    backoff = ended.ok() ? options_.min_backoff
                         : std::min(backoff * 2, options_.max_backoff);
    shutdown_.WaitForNotificationWithTimeout(backoff);
  }
}

absl::Status PeerTransport::RunLink(std::unique_ptr<Link> link) {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_.HasBeenNotified()) {
      return absl::UnavailableError("shutting down");
    }
    all_links_.push_back(link.get());
  }
  auto forget = [this, raw = link.get()] {
    absl::MutexLock lock(&mu_);
    all_links_.erase(std::find(all_links_.begin(), all_links_.end(), raw));
  };

  absl::StatusOr<std::string> agency = Handshake(
      *link, *options_.membership, *options_.identity, *options_.counters);
  if (!agency.ok()) {
    // Quiet for a peer that is simply not up yet; loud for a refusal.
    if (agency.status().code() != absl::StatusCode::kUnavailable) {
      options_.counters->Add("links_refused");
      spdlog::warn("link {} refused: {}", link->description(),
                   agency.status().message());
    }
    link->io().Cancel();
    forget();
    return agency.status();
  }
  link->set_authenticated();

  std::thread writer([this, raw = link.get()] {
    proto::PeerMessage message;
    while (raw->Pop(&message)) {
      const size_t bytes = message.ByteSizeLong();
      if (!raw->io().Write(message)) break;
      options_.counters->Add("wire_bytes_out", bytes);
    }
    raw->io().Cancel();
  });
  absl::StatusOr<Engine*> engine = Register(*agency, link.get());
  if (!engine.ok()) {
    // An update or revocation applied while this handshake ran removed the
    // peer: checked under the links lock, so the closing of its links
    // either saw this one or runs after this check.
    spdlog::warn("link {} dropped: {} is no longer a member or valid node",
                 link->description(), *agency);
    link->Close();
    link->io().Cancel();
    writer.join();
    forget();
    return engine.status();
  }
  spdlog::info("link up with {} ({})", *agency, link->description());

  proto::PeerMessage message;
  while (link->io().Read(&message)) {
    options_.counters->Add("wire_bytes_in", message.ByteSizeLong());
    if (*engine == nullptr) continue;
    absl::Status status = (*engine)->OnPeerMessage(*agency, message);
    if (!status.ok()) {
      options_.counters->Add("links_closed_for_protocol_violation");
      spdlog::warn("closing link with {}: {}", *agency, status.message());
      break;
    }
  }
  link->Close();
  link->io().Cancel();
  writer.join();
  Unregister(*agency, link.get());
  spdlog::info("link down with {} ({})", *agency, link->description());
  forget();
  return absl::OkStatus();
}

absl::StatusOr<Engine*> PeerTransport::Register(const std::string& agency,
                                                Link* link) {
  Engine* engine = nullptr;
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    if (!options_.membership->chain()->IsActive(agency)) {
      return absl::PermissionDeniedError(
          absl::StrCat(agency, " was removed or revoked during the handshake"));
    }
    std::vector<Link*>& links = links_[agency];
    first = links.empty();
    links.push_back(link);
    engine = engine_;
  }
  if (first && engine != nullptr) engine->OnLinkUp(agency);
  return engine;
}

void PeerTransport::Unregister(const std::string& agency, Link* link) {
  Engine* engine = nullptr;
  {
    absl::MutexLock lock(&mu_);
    std::vector<Link*>& links = links_[agency];
    links.erase(std::find(links.begin(), links.end(), link));
    if (!links.empty()) return;
    links_.erase(agency);
    engine = engine_;
  }
  if (engine != nullptr) engine->OnLinkDown(agency);
}

bool PeerTransport::SendToPeer(absl::string_view peer,
                               const proto::PeerMessage& message,
                               proto::Precedence precedence) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(peer);
  if (it == links_.end() || it->second.empty()) return false;
  if (!it->second.back()->Enqueue(message, precedence,
                                  options_.max_queued_bytes)) {
    options_.counters->Add("pushes_dropped");
    return false;
  }
  return true;
}

void PeerTransport::OnRosterApplied(const RosterChain& chain) {
  const Roster& now = chain.current();
  const Roster* before = chain.at(now.version() - 1);
  absl::MutexLock lock(&mu_);
  for (auto& [agency, links] : links_) {
    if (IsFieldNode(agency)) {
      // Its certificate holds while its agency and the key that certified
      // it do.
      if (chain.IsActive(agency)) continue;
      spdlog::warn(
          "closing links with {}: its certificate no longer holds "
          "in roster v{}",
          agency, now.version());
    } else {
      const proto::Member* member = now.Find(agency);
      const proto::Member* was =
          before != nullptr ? before->Find(agency) : nullptr;
      const bool changed =
          member == nullptr || was == nullptr ||
          member->SerializeAsString() != was->SerializeAsString();
      if (!changed) continue;
      spdlog::warn("closing links with {}: {} in roster v{}", agency,
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
    if (chain.IsActive(principal)) continue;
    spdlog::warn("closing links with {}: revoked by its agency", principal);
    options_.counters->Add("links_closed_for_revocation");
    CloseLocked(links);
  }
}

void PeerTransport::CloseLocked(const std::vector<Link*>& links) {
  for (Link* link : links) {
    link->Close();
    link->io().Cancel();
  }
}

void PeerTransport::ExpireHandshakes() {
  const absl::Time cutoff = absl::Now() - kHandshakeTimeout;
  absl::MutexLock lock(&mu_);
  for (Link* link : all_links_) {
    if (!link->authenticated() && link->started() < cutoff) {
      link->io().Cancel();
    }
  }
}

}  // namespace tidings::node

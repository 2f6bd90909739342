#include "node/daemon/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/labels.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "node/daemon/keys.h"
#include "node/gossip/engine.h"
#include "node/gossip/link.h"
#include "node/model/epochs.h"
#include "node/model/reject.h"
#include "node/model/roster.h"
#include "node/rpc/client_service.h"
#include "node/rpc/peer_transport.h"
#include "storage/log.h"
#include "storage/state_keys.h"

namespace tidings::node {

// What a running daemon owns, and the steps of Daemon::Start that make it,
// in their order (each needs the parts made by the ones before).
struct Daemon::Parts {
  // The node's identity and the keyring of its box key.
  absl::Status LoadIdentity();
  // The data directory: the log, the membership it replays over `genesis`,
  // the epoch keys and the storage key.
  absl::Status OpenState(Roster genesis);
  // The node's own standing (its field-node certificate, or its roster
  // entry) and its TLS credentials.
  absl::Status LoadCredentials();
  // The transport and the engine, and the roster listeners that tell them.
  void MakeEngine();
  absl::Status ServePeers();
  absl::Status ServeClients();
  // The transport's diallers and the ticker thread.
  void StartThreads();

  Config config;
  std::optional<crypto::Identity> identity;
  std::unique_ptr<Membership> membership;
  std::optional<crypto::TlsCredentials> tls;
  std::unique_ptr<crypto::Keyring> keyring;
  std::unique_ptr<EpochKeys> epochs;
  EpochDirectory directory;
  std::optional<crypto::SymmetricKey> storage_key;
  std::unique_ptr<storage::Log> log;
  Counters counters;
  std::unique_ptr<PeerTransport> transport;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<grpc::Service> client_service;
  std::unique_ptr<grpc::Server> peer_server;
  std::unique_ptr<grpc::Server> client_server;
  absl::Notification stop_ticker;
  std::thread ticker;
  bool stopped = false;
};

namespace {

using storage::state_keys::kStorageKeyId;

// The peer server's limits on connections no proof stands behind yet (see
// ServePeers and docs/protocol.md, bounds).
constexpr absl::Duration kPeerHandshakeTimeout = absl::Seconds(30);
constexpr absl::Duration kPeerConnectionIdle = absl::Seconds(60);
constexpr int kMaxStreamsPerConnection = 4;

absl::Status CheckRosterEntry(const Roster& roster,
                              const crypto::Identity& identity) {
  const proto::Member* member = roster.Find(identity.principal());
  if (member == nullptr) {
    // A node may start before the update admitting its agency reaches it:
    // it links to members that know it and learns the update from them.
    spdlog::warn(
        "agency {} is not a member of roster v{}; waiting for an update that "
        "admits it",
        identity.principal(), roster.version());
    return absl::OkStatus();
  }
  if (member->sign_pk() != identity.verify_key().view() ||
      member->box_pk() != identity.box_public().view()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the key file's public keys are not the entry for ",
                     identity.principal(), " in roster v", roster.version(),
                     " (after a key rotation, point key_file at the new key)"));
  }
  return absl::OkStatus();
}

// A field node's own certificate: it must be this node's, and its agency's
// signature must hold (or wait for a roster version not reached yet).
absl::Status OfferOwnNodeCert(const Config& config,
                              const crypto::Identity& identity,
                              Membership& membership,
                              std::optional<proto::NodeCert>& out) {
  TIDINGS_ASSIGN_OR_RETURN(proto::SignedNodeCert signed_cert,
                           LoadNodeCert(config, identity));
  out.emplace();
  out->ParseFromString(signed_cert.cert());
  absl::StatusOr<bool> offered = membership.OfferNodeCert(signed_cert);
  if (offered.ok()) {
    const std::shared_ptr<const RosterChain> chain = membership.chain();
    const FieldNode* self = chain->nodes().Find(identity.principal());
    if (self != nullptr && self->revocation.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node certificate ", config.node_cert_file, ": ",
          identity.principal(),
          " was revoked by its agency; a revoked node id is not certified "
          "again (make new keys under a new name)"));
    }
    return absl::OkStatus();
  }
  if (IsRosterAhead(offered.status())) {
    spdlog::warn("{}; it is checked once this node has that roster version",
                 offered.status().message());
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("node certificate ", config.node_cert_file,
                   " is refused: ", offered.status().message()));
}

// The log remembers which storage key its content keys are sealed under (a
// hash of it, never the key): a missing storage.key would otherwise be
// replaced by a new one silently, and every stored body would become
// unreadable once the epoch keys are erased.
absl::Status CheckStorageKey(storage::Log& log, const crypto::SymmetricKey& key,
                             const std::string& path) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kStorageKeyId);
  hasher.UpdateField(
      absl::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  const std::string id = hasher.Finish().str();
  TIDINGS_ASSIGN_OR_RETURN(auto held, log.ScanState(kStorageKeyId));
  if (held.empty()) return log.PutState(kStorageKeyId, id);
  if (held.front().second != id) {
    return absl::FailedPreconditionError(absl::StrCat(
        path,
        " is not the storage key this node's log was written with (was it "
        "lost or replaced?); restore it from backup, or the bodies it holds "
        "stay unreadable once their epoch keys are erased"));
  }
  return absl::OkStatus();
}

absl::Status MakePrivateDir(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", path, ": ", error.message()));
  }
  if (::chmod(path.c_str(), 0700) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot chmod 700 ", path));
  }
  return absl::OkStatus();
}

// Removes a socket left by a previous run; refuses to remove anything else.
absl::Status ClearStaleSocket(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("client_socket ", path, " exists and is not a socket"));
  }
  ::unlink(path.c_str());
  return absl::OkStatus();
}

}  // namespace

absl::Status Daemon::Parts::LoadIdentity() {
  TIDINGS_ASSIGN_OR_RETURN(crypto::Identity loaded, LoadNodeIdentity(config));
  identity.emplace(std::move(loaded));
  std::optional<crypto::BoxSecretKey> box =
      crypto::BoxSecretKey::FromBytes(absl::string_view(
          reinterpret_cast<const char*>(identity->box_secret().data()),
          crypto::BoxSecretKey::kSize));
  keyring = std::make_unique<crypto::Keyring>(std::move(*box));
  return absl::OkStatus();
}

absl::Status Daemon::Parts::OpenState(Roster genesis) {
  TIDINGS_RETURN_IF_ERROR(MakePrivateDir(config.data_dir));
  TIDINGS_ASSIGN_OR_RETURN(
      log, storage::Log::Open({.path = config.data_dir + "/log"}));
  // The genesis, then the updates this node applied before.
  TIDINGS_ASSIGN_OR_RETURN(membership,
                           Membership::Open(std::move(genesis), log.get()));
  membership->SetSelf(config.principal);
  TIDINGS_ASSIGN_OR_RETURN(
      epochs,
      EpochKeys::Open(
          config.data_dir + "/epoch.keys", *identity,
          EpochOptions{.duration = config.epoch,
                       .grace = config.epoch_grace,
                       .first_epoch = static_cast<uint64_t>(std::max<int64_t>(
                           1, absl::ToUnixSeconds(absl::Now())))}));
  TIDINGS_ASSIGN_OR_RETURN(
      storage_key, LoadOrCreateStorageKey(config.data_dir + "/storage.key"));
  return CheckStorageKey(*log, *storage_key, config.data_dir + "/storage.key");
}

absl::Status Daemon::Parts::LoadCredentials() {
  const std::shared_ptr<const RosterChain> chain = membership->chain();
  std::optional<proto::NodeCert> node_cert;
  if (IsFieldNode(config.principal)) {
    TIDINGS_RETURN_IF_ERROR(
        OfferOwnNodeCert(config, *identity, *membership, node_cert));
  } else {
    TIDINGS_RETURN_IF_ERROR(CheckRosterEntry(chain->current(), *identity));
  }
  TIDINGS_ASSIGN_OR_RETURN(
      tls, LoadNodeTlsCredentials(config, chain->current(),
                                  node_cert.has_value() ? &*node_cert : nullptr,
                                  chain->ContactOf(config.principal)));
  return absl::OkStatus();
}

void Daemon::Parts::MakeEngine() {
  PeerTransportOptions transport_options;
  transport_options.membership = membership.get();
  transport_options.identity = &*identity;
  transport_options.counters = &counters;
  transport_options.tls = &*tls;
  transport_options.peers = config.peers;
  transport = std::make_unique<PeerTransport>(transport_options);

  EngineOptions engine_options;
  engine_options.membership = membership.get();
  engine_options.identity = &*identity;
  engine_options.keyring = keyring.get();
  engine_options.epochs = epochs.get();
  engine_options.directory = &directory;
  engine_options.storage_key = &*storage_key;
  engine_options.log = log.get();
  engine_options.clock = &RealClock();
  engine_options.sender = transport.get();
  engine_options.counters = &counters;
  engine_options.anti_entropy_interval = config.anti_entropy_interval;
  engine_options.receipt_interval = config.receipt_interval;
  engine_options.max_anti_entropy_interval =
      std::max(config.anti_entropy_interval, absl::Seconds(60));
  engine = std::make_unique<Engine>(engine_options);

  // Before any link can apply an update.
  membership->AddListener([this](const RosterChain& applied) {
    transport->OnRosterApplied(applied);
    engine->OnRosterApplied(applied);
  });
  membership->AddNodesListener([this](const RosterChain& changed) {
    transport->OnNodesChanged(changed);
    engine->OnNodesChanged(changed);
  });
}

absl::Status Daemon::Parts::ServePeers() {
  grpc::ServerBuilder peer_builder;
  int port = 0;
  peer_builder.AddListeningPort(config.listen, transport->ServerCredentials(),
                                &port);
  peer_builder.SetMaxReceiveMessageSize(kMaxPeerMessageBytes);
  peer_builder.SetMaxSendMessageSize(kMaxPeerMessageBytes);
  // Connections that cost a descriptor before any proof: one that has not
  // finished TLS and HTTP/2 set-up in this time is closed, and so is one
  // that holds no stream for this long; a connection carries a few streams
  // at most (a link is one).
  peer_builder.AddChannelArgument(
      GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
      static_cast<int>(absl::ToInt64Milliseconds(kPeerHandshakeTimeout)));
  peer_builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_IDLE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(kPeerConnectionIdle)));
  peer_builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                  kMaxStreamsPerConnection);
  peer_builder.RegisterService(transport->service());
  peer_server = peer_builder.BuildAndStart();
  if (peer_server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen, " (address in use or not local?)"));
  }
  return absl::OkStatus();
}

absl::Status Daemon::Parts::ServeClients() {
  const std::string socket_dir =
      std::filesystem::path(config.client_socket).parent_path().string();
  if (!socket_dir.empty()) TIDINGS_RETURN_IF_ERROR(MakePrivateDir(socket_dir));
  TIDINGS_RETURN_IF_ERROR(ClearStaleSocket(config.client_socket));
  ClientServiceDeps deps;
  deps.engine = engine.get();
  deps.log = log.get();
  deps.membership = membership.get();
  deps.identity = &*identity;
  deps.keyring = keyring.get();
  deps.epochs = epochs.get();
  deps.storage_key = &*storage_key;
  deps.counters = &counters;
  client_service = MakeClientService(deps);
  grpc::ServerBuilder client_builder;
  client_builder.AddListeningPort("unix:" + config.client_socket,
                                  grpc::InsecureServerCredentials());
  client_builder.RegisterService(client_service.get());
  client_server = client_builder.BuildAndStart();
  if (client_server == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve the client socket ", config.client_socket));
  }
  // Who may use the client service is decided by who may open this socket.
  if (::chmod(config.client_socket.c_str(), 0600) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot chmod 600 ", config.client_socket));
  }
  return absl::OkStatus();
}

void Daemon::Parts::StartThreads() {
  transport->Start(engine.get());
  ticker = std::thread([this] {
    // The engine decides which links are due; ticking often keeps rounds
    // close to their schedule.
    const absl::Duration step =
        std::min({absl::Seconds(1), config.anti_entropy_interval / 2,
                  config.receipt_interval / 2});
    while (!stop_ticker.WaitForNotificationWithTimeout(step)) {
      transport->ExpireHandshakes();
      engine->Tick();
    }
  });
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const Config& config) {
  auto parts = std::make_unique<Parts>();
  parts->config = config;
  TIDINGS_RETURN_IF_ERROR(parts->LoadIdentity());
  TIDINGS_ASSIGN_OR_RETURN(Roster genesis,
                           Roster::LoadFile(config.roster_file));
  TIDINGS_RETURN_IF_ERROR(parts->OpenState(std::move(genesis)));
  TIDINGS_RETURN_IF_ERROR(parts->LoadCredentials());
  parts->MakeEngine();
  TIDINGS_RETURN_IF_ERROR(parts->ServePeers());
  TIDINGS_RETURN_IF_ERROR(parts->ServeClients());
  parts->StartThreads();
  spdlog::info(
      "{} up: peers on {}, client on {}, {} envelopes held, network {}",
      config.principal, config.listen, config.client_socket,
      parts->log->envelope_count(),
      crypto::ToHex(parts->membership->network_id().view()));
  return std::unique_ptr<Daemon>(new Daemon(std::move(parts)));
}

Daemon::Daemon(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Daemon::~Daemon() { Shutdown(); }

void Daemon::Shutdown() {
  Parts& p = *parts_;
  if (p.stopped) return;
  p.stopped = true;
  p.stop_ticker.Notify();
  if (p.ticker.joinable()) p.ticker.join();
  // gRPC waits for idle client connections until the deadline, so keep it
  // short: by then links are cancelled and unary client calls have ended.
  const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
  // Cancel links first: inbound link handlers hold server threads.
  std::thread transport_stop([&p] { p.transport->Shutdown(); });
  p.peer_server->Shutdown(absl::ToChronoTime(deadline));
  transport_stop.join();
  p.client_server->Shutdown(absl::ToChronoTime(deadline));
  p.engine.reset();  // commits whatever is queued
  ::unlink(p.config.client_socket.c_str());
  spdlog::info("{} stopped", p.config.principal);
}

}  // namespace tidings::node

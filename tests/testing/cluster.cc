#include "tests/testing/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "crypto/types.h"
#include "grpcpp/grpcpp.h"
#include "node/config/config.h"
#include "node/model/field_nodes.h"
#include "proto/grpc_status.h"
#include "tests/testing/temp_dir.h"

#ifndef TIDINGSD_PATH
#error "TIDINGSD_PATH must name the tidingsd binary"
#endif

namespace tidings::testing {
namespace {

namespace fs = std::filesystem;

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr absl::Duration kRpcTimeout = absl::Seconds(10);

#define TIDINGS_TESTING_CHECK(cond)                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                  \
      std::abort();                                                         \
    }                                                                       \
  } while (0)

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// A free 127.0.0.1 port: bind port 0, read it back. The socket stays open
// until `Release` so that the ports of one cluster are distinct.
class PortReservation {
 public:
  PortReservation() = default;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  ~PortReservation() { Release(); }

  absl::StatusOr<int> Reserve() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoError("socket");
    fds_.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return ErrnoError("bind 127.0.0.1:0");
    }
    socklen_t len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return ErrnoError("getsockname");
    }
    return static_cast<int>(ntohs(addr.sin_port));
  }

  void Release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

absl::Status WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status))
    return absl::StrCat("exited with ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                        strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("wait status ", status);
}

int64_t NowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

::testing::AssertionResult WaitUntil(absl::FunctionRef<bool()> predicate,
                                     absl::Duration timeout,
                                     absl::string_view what) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  while (true) {
    if (predicate()) return ::testing::AssertionSuccess();
    if (absl::Now() >= deadline) {
      return ::testing::AssertionFailure()
             << "timed out after " << absl::FormatDuration(absl::Now() - start)
             << " waiting until " << what;
    }
    absl::SleepFor(kPollInterval);
  }
}

absl::StatusOr<std::vector<std::string>> FilesContaining(
    const std::string& dir, absl::string_view needle) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("no directory ", dir));
  }
  std::vector<std::string> hits;
  fs::recursive_directory_iterator it(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    // A file may vanish under a running node (compaction); skip it then.
    std::optional<std::string> contents = ReadFile(it->path().string());
    if (!contents.has_value()) continue;
    if (absl::StrContains(*contents, needle)) {
      hits.push_back(it->path().string());
    }
  }
  std::sort(hits.begin(), hits.end());
  return hits;
}

absl::StatusOr<proto::Header> ParseHeader(const proto::Envelope& envelope) {
  proto::Header header;
  if (!header.ParseFromString(envelope.header())) {
    return absl::InvalidArgumentError("envelope header does not parse");
  }
  return header;
}

std::string RandomCanary() {
  crypto::EnsureSodium();
  std::string nonce(12, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  return absl::StrCat("CANARY-", crypto::ToHex(nonce));
}

ClusterOptions Mesh(std::vector<std::string> principals) {
  ClusterOptions options;
  options.principals = std::move(principals);
  for (size_t i = 0; i < options.principals.size(); ++i) {
    for (size_t j = i + 1; j < options.principals.size(); ++j) {
      options.links.emplace_back(options.principals[i], options.principals[j]);
    }
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Create(
    ClusterOptions options) {
  std::unique_ptr<Cluster> cluster(new Cluster(std::move(options)));
  absl::Status status = cluster->Init();
  if (!status.ok()) return status;
  return cluster;
}

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {}

absl::Status Cluster::Init() {
  // Client sockets live under the directory: keep its path short (108 bytes
  // at most for a unix socket path).
  std::string base = ::testing::TempDir();
  if (base.empty() || base.size() > 40) base = "/tmp/";
  if (base.back() != '/') base += '/';
  TIDINGS_ASSIGN_OR_RETURN(dir_, MakeTempDir("tidings-mn", base));
  for (const char* sub : {"keys", "data", "run"}) {
    if (::mkdir(absl::StrCat(dir_, "/", sub).c_str(), 0700) != 0) {
      return ErrnoError(absl::StrCat("mkdir ", sub));
    }
  }

  std::vector<std::string> members = options_.principals;
  members.insert(members.end(), options_.extra_members.begin(),
                 options_.extra_members.end());
  for (const std::string& principal : members) {
    if (identities_.count(principal) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("agency ", principal, " listed twice"));
    }
    auto identity = std::make_unique<crypto::Identity>(
        crypto::Identity::Generate(principal));
    absl::Status saved = identity->SaveFile(
        absl::StrCat(dir_, "/keys/", node::FileStemOf(principal), ".key"));
    if (!saved.ok()) return saved;
    identities_.emplace(principal, std::move(identity));
    absl::StatusOr<crypto::TlsCredentials> tls =
        crypto::GenerateTlsCertificate(principal, {});
    if (!tls.ok()) return tls.status();
    // Where the daemon looks by default: next to the key file.
    absl::Status tls_saved = crypto::SaveTlsCredentials(
        *tls,
        absl::StrCat(dir_, "/keys/", node::FileStemOf(principal), ".tls.key"),
        absl::StrCat(dir_, "/keys/", node::FileStemOf(principal), ".tls.crt"));
    if (!tls_saved.ok()) return tls_saved;
    tls_.emplace(principal,
                 std::make_unique<crypto::TlsCredentials>(*std::move(tls)));
  }

  PortReservation ports;
  for (const std::string& principal : options_.principals) {
    NodeState node;
    node.principal = principal;
    absl::StatusOr<int> port = ports.Reserve();
    if (!port.ok()) return port.status();
    node.port = *port;
    node.config_path =
        absl::StrCat(dir_, "/", node::FileStemOf(principal), ".conf");
    node.isolated_config_path =
        absl::StrCat(dir_, "/", node::FileStemOf(principal), ".isolated.conf");
    node.data_dir = absl::StrCat(dir_, "/data/", node::FileStemOf(principal));
    node.socket_path =
        absl::StrCat(dir_, "/run/", node::FileStemOf(principal), ".sock");
    node.log_path =
        absl::StrCat(dir_, "/", node::FileStemOf(principal), ".log");
    nodes_.push_back(std::move(node));
  }
  ports.Release();

  for (const auto& [from, to] : options_.links) {
    NodeState* a = FindNode(from);
    NodeState* b = FindNode(to);
    if (a == nullptr || b == nullptr || a == b) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad link ", from, " -> ", to));
    }
    a->neighbours.push_back(b->principal);
    b->neighbours.push_back(a->principal);
  }

  // Genesis roster, signed by every founder (running or not); field nodes
  // are certified by their agency once it runs (CertifyNode).
  std::erase_if(members, [&](const std::string& principal) {
    return node::IsFieldNode(principal) ||
           std::find(options_.joiners.begin(), options_.joiners.end(),
                     principal) != options_.joiners.end();
  });
  std::vector<proto::Member> roster_members;
  for (const std::string& agency : members) {
    roster_members.push_back(MemberEntry(agency));
  }
  const uint32_t threshold = static_cast<uint32_t>(members.size() / 2 + 1);
  absl::StatusOr<proto::SignedRoster> genesis =
      node::MakeGenesis("tidings-multinode-test", threshold,
                        std::move(roster_members), NowUnixMs());
  if (!genesis.ok()) return genesis.status();
  for (const std::string& agency : members) {
    absl::Status signed_status =
        node::SignGenesis(*genesis, *identities_.at(agency));
    if (!signed_status.ok()) return signed_status;
  }
  absl::StatusOr<node::Roster> roster = node::Roster::FromSigned(*genesis);
  if (!roster.ok()) return roster.status();
  roster_ = std::make_unique<node::Roster>(std::move(*roster));
  const std::string roster_path = absl::StrCat(dir_, "/roster.bin");
  absl::Status written = node::WriteProtoFile(roster_path, *genesis);
  if (!written.ok()) return written;

  for (const NodeState& node : nodes_) {
    node::Config config;
    config.principal = node.principal;
    config.key_file =
        absl::StrCat(dir_, "/keys/", node::FileStemOf(node.principal), ".key");
    if (node::IsFieldNode(node.principal))
      config.node_cert_file = NodeCertPath(node.principal);
    config.roster_file = roster_path;
    config.data_dir = node.data_dir;
    config.listen = absl::StrCat("127.0.0.1:", node.port);
    config.client_socket = node.socket_path;
    config.anti_entropy_interval = options_.anti_entropy_interval;
    config.log_level = options_.log_level;
    config.epoch = options_.epoch;
    config.epoch_grace = options_.epoch_grace;
    absl::Status isolated =
        WriteFile(node.isolated_config_path, node::FormatConfig(config));
    if (!isolated.ok()) return isolated;
    for (const auto& [from, to] : options_.links) {
      if (from != node.principal) continue;
      config.peers.push_back(node::PeerAddress{
          to, absl::StrCat("127.0.0.1:", FindNode(to)->port)});
    }
    absl::Status normal =
        WriteFile(node.config_path, node::FormatConfig(config));
    if (!normal.ok()) return normal;
  }
  return absl::OkStatus();
}

std::string Cluster::NodeCertPath(absl::string_view node) const {
  return absl::StrCat(dir_, "/keys/", node::FileStemOf(node), ".cert");
}

absl::StatusOr<proto::NodeInfo> Cluster::CertifyNode(const proto::Member& entry,
                                                     absl::string_view by,
                                                     absl::Duration backlog) {
  proto::NodeCertifyRequest request;
  *request.mutable_node()->mutable_member() = entry;
  request.set_backlog_seconds(
      static_cast<uint64_t>(absl::ToInt64Seconds(backlog)));
  return Call(by, &proto::Client::Stub::CertifyNode, request);
}

absl::StatusOr<proto::NodeInfo> Cluster::CertifyNode(absl::string_view node,
                                                     absl::Duration backlog) {
  absl::StatusOr<proto::NodeInfo> info =
      CertifyNode(MemberEntry(node), node::AgencyOf(node), backlog);
  if (!info.ok()) return info.status();
  absl::Status written = WriteFile(NodeCertPath(node), info->signed_cert());
  if (!written.ok()) return written;
  return info;
}

absl::StatusOr<proto::NodeInfo> Cluster::RevokeNode(absl::string_view node,
                                                    absl::string_view by) {
  proto::NodeRevokeRequest request;
  request.set_node(std::string(node));
  return Call(by.empty() ? node::AgencyOf(node) : by,
              &proto::Client::Stub::RevokeNode, request);
}

absl::StatusOr<proto::NodeListResponse> Cluster::ListNodes(
    absl::string_view principal) {
  return Call(principal, &proto::Client::Stub::ListNodes,
              proto::NodeListRequest());
}

proto::Member Cluster::MemberEntry(absl::string_view principal) const {
  std::vector<std::string> endpoints;
  if (const NodeState* node = FindNode(principal); node != nullptr) {
    endpoints.push_back(absl::StrCat("127.0.0.1:", node->port));
  }
  auto next = next_identities_.find(principal);
  const crypto::Identity& identity = next != next_identities_.end()
                                         ? *next->second
                                         : this->identity(principal);
  return node::PublicIdentityOf(
             identity, principal, endpoints,
             *crypto::CertificateFingerprint(tls(principal).cert_pem))
      .member();
}

absl::StatusOr<proto::Member> Cluster::PrepareNewKey(
    absl::string_view principal) {
  auto identity = std::make_unique<crypto::Identity>(
      crypto::Identity::Generate(std::string(principal)));
  const std::string path =
      absl::StrCat(dir_, "/keys/", node::FileStemOf(principal), ".next.key");
  absl::Status saved = identity->SaveFile(path);
  if (!saved.ok()) return saved;
  next_identities_[std::string(principal)] = std::move(identity);
  return MemberEntry(principal);
}

absl::Status Cluster::UseNewKey(absl::string_view principal) {
  auto next = next_identities_.find(principal);
  if (next == next_identities_.end()) {
    return absl::FailedPreconditionError("no new key prepared");
  }
  const std::string from =
      absl::StrCat(dir_, "/keys/", node::FileStemOf(principal), ".next.key");
  const std::string to =
      absl::StrCat(dir_, "/keys/", node::FileStemOf(principal), ".key");
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError(absl::StrCat("rename ", from));
  }
  identities_.find(principal)->second = std::move(next->second);
  next_identities_.erase(next);
  return absl::OkStatus();
}

absl::StatusOr<proto::RosterProposalStatus> Cluster::ProposeRoster(
    absl::string_view principal, const proto::RosterProposeRequest& request) {
  return Call(principal, &proto::Client::Stub::ProposeRoster, request);
}

absl::StatusOr<proto::RosterProposalStatus> Cluster::SignRoster(
    absl::string_view principal, absl::string_view proposal_hash) {
  proto::RosterSignRequest request;
  request.set_hash(std::string(proposal_hash));
  return Call(principal, &proto::Client::Stub::SignRoster, request);
}

absl::StatusOr<proto::RosterInfoResponse> Cluster::RosterInfo(
    absl::string_view principal) {
  return Call(principal, &proto::Client::Stub::RosterInfo,
              proto::RosterInfoRequest());
}

absl::StatusOr<uint32_t> Cluster::RosterVersion(absl::string_view principal) {
  absl::StatusOr<proto::RosterInfoResponse> info = RosterInfo(principal);
  if (!info.ok()) return info.status();
  return static_cast<uint32_t>(info->versions_size() - 1);
}

Cluster::~Cluster() {
  for (NodeState& node : nodes_) {
    if (node.pid > 0) {
      ::kill(node.pid, SIGKILL);
      int status = 0;
      ::waitpid(node.pid, &status, 0);
      node.pid = -1;
    }
  }
  if (dir_.empty()) return;
  // TIDINGS_KEEP_TEST_DIRS=1 keeps the directory of passing tests too.
  const char* keep = std::getenv("TIDINGS_KEEP_TEST_DIRS");
  if (keep != nullptr && std::string(keep) == "1") {
    std::cerr << "TIDINGS_KEEP_TEST_DIRS: keeping " << dir_ << "\n";
    return;
  }
  if (::testing::Test::HasFailure()) {
    for (const NodeState& node : nodes_) {
      std::cerr << "---- tail of " << node.log_path << " ----\n"
                << LogTail(node.principal) << "---- end of " << node.principal
                << " ----\n";
    }
    std::cerr << "Test failed: keeping " << dir_ << "\n";
    return;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Cluster::NodeState* Cluster::FindNode(absl::string_view principal) {
  for (NodeState& node : nodes_) {
    if (node.principal == principal) return &node;
  }
  return nullptr;
}

const Cluster::NodeState* Cluster::FindNode(absl::string_view principal) const {
  for (const NodeState& node : nodes_) {
    if (node.principal == principal) return &node;
  }
  return nullptr;
}

absl::Status Cluster::StartAll() {
  // Start the nodes that are dialled before those that dial them, so that a
  // dialler finds its peer listening at once instead of backing off.
  std::vector<std::string> order;
  std::vector<bool> placed(nodes_.size(), false);
  while (order.size() < nodes_.size()) {
    bool progress = false;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (const auto& [from, to] : options_.links) {
        if (from != nodes_[i].principal) continue;
        for (size_t j = 0; j < nodes_.size(); ++j) {
          if (nodes_[j].principal == to && !placed[j]) ready = false;
        }
      }
      if (!ready) continue;
      placed[i] = true;
      order.push_back(nodes_[i].principal);
      progress = true;
    }
    if (progress) continue;
    // A cycle of diallers: take the first one left.
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!placed[i]) {
        placed[i] = true;
        order.push_back(nodes_[i].principal);
        break;
      }
    }
  }
  for (const std::string& principal : order) {
    absl::Status status = Start(principal);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Cluster::Start(absl::string_view principal, Links links) {
  NodeState* node = FindNode(principal);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat("no node ", principal));
  }
  if (node->pid > 0 && !Reap(*node).has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(principal, " is running"));
  }
  const std::string& config = links == Links::kIsolated
                                  ? node->isolated_config_path
                                  : node->config_path;

  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls until exec.
  std::string binary = TIDINGSD_PATH;
  std::string flag = "--config";
  std::string config_arg = config;
  char* argv[] = {binary.data(), flag.data(), config_arg.data(), nullptr};
  int log_fd = ::open(node->log_path.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return ErrnoError(absl::StrCat("open ", node->log_path));
  const std::string banner =
      absl::StrCat("==== harness: starting ", principal, " with ", config,
                   " at ", absl::FormatTime(absl::Now()), " ====\n");
  if (::write(log_fd, banner.data(), banner.size()) < 0) {
    // The banner only helps reading the log.
  }
  // The node starts with the open-files limit most systems give a process.
  rlimit files{};
  const bool limit_files = options_.open_files_soft_limit > 0 &&
                           ::getrlimit(RLIMIT_NOFILE, &files) == 0;
  if (limit_files) {
    files.rlim_cur =
        std::min<rlim_t>(files.rlim_max, options_.open_files_soft_limit);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return ErrnoError("fork");
  }
  if (pid == 0) {
    // The node must not outlive a test binary that crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    if (limit_files) ::setrlimit(RLIMIT_NOFILE, &files);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(binary.c_str(), argv);
    static const char kExecFailed[] = "harness: execv tidingsd failed\n";
    if (::write(2, kExecFailed, sizeof(kExecFailed) - 1) < 0) {
    }
    ::_exit(127);
  }
  ::close(log_fd);
  node->pid = pid;
  node->expected_running = true;
  ResetStub(*node);
  const absl::Time spawned = absl::Now();
  absl::Status ready = WaitReady(*node);
  AppendToLog(
      *node,
      absl::StrCat("==== harness: ", principal,
                   ready.ok() ? " ready" : " not ready", " after ",
                   absl::FormatDuration(absl::Now() - spawned), " ====\n"));
  return ready;
}

void Cluster::AppendToLog(const NodeState& node, absl::string_view line) {
  int fd = ::open(node.log_path.c_str(),
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (::write(fd, line.data(), line.size()) < 0) {
    // Only a help for reading the log.
  }
  ::close(fd);
}

absl::Status Cluster::WaitReady(NodeState& node) {
  const absl::Time deadline = absl::Now() + options_.ready_timeout;
  absl::Status last = absl::UnavailableError("no answer yet");
  while (absl::Now() < deadline) {
    if (std::optional<std::string> exit = Reap(node); exit.has_value()) {
      node.expected_running = false;
      return absl::InternalError(absl::StrCat(node.principal, " ", *exit,
                                              " while starting; log tail:\n",
                                              LogTail(node.principal)));
    }
    struct stat socket_stat;
    if (::stat(node.socket_path.c_str(), &socket_stat) == 0 &&
        S_ISSOCK(socket_stat.st_mode)) {
      // A channel whose first connect failed waits out gRPC's reconnect
      // backoff (seconds); a fresh channel per probe connects at once.
      ResetStub(node);
      std::shared_ptr<proto::Client::Stub> stub = StubFor(node.principal);
      grpc::ClientContext context;
      SetDeadline(context, absl::Seconds(2));
      proto::StatsRequest request;
      proto::StatsResponse response;
      last = grpc_status::FromGrpc(stub->Stats(&context, request, &response));
      if (last.ok()) return absl::OkStatus();
    } else {
      last = absl::UnavailableError(
          absl::StrCat("no socket at ", node.socket_path, " yet"));
    }
    absl::SleepFor(kPollInterval);
  }
  return absl::DeadlineExceededError(absl::StrCat(
      node.principal, " did not answer Stats within ",
      absl::FormatDuration(options_.ready_timeout), " (last: ", last.ToString(),
      "); log tail:\n", LogTail(node.principal)));
}

std::optional<std::string> Cluster::Reap(NodeState& node) {
  if (node.pid <= 0) return "not started";
  int status = 0;
  const pid_t reaped = ::waitpid(node.pid, &status, WNOHANG);
  if (reaped == 0) return std::nullopt;
  node.pid = -1;
  if (reaped < 0)
    return absl::StrCat("lost (waitpid: ", std::strerror(errno), ")");
  return DescribeWaitStatus(status);
}

absl::Status Cluster::Stop(absl::string_view principal) {
  return StopNodes({std::string(principal)});
}

absl::Status Cluster::StopAll() {
  std::vector<std::string> running;
  for (NodeState& node : nodes_) {
    if (node.pid > 0 && !Reap(node).has_value()) {
      running.push_back(node.principal);
    } else if (node.expected_running) {
      node.expected_running = false;
      return absl::InternalError(absl::StrCat(
          node.principal, " had exited before StopAll; log tail:\n",
          LogTail(node.principal)));
    }
  }
  return StopNodes(running);
}

absl::Status Cluster::StopNodes(const std::vector<std::string>& principals) {
  // SIGTERM to all first, so that their shutdowns overlap.
  std::vector<NodeState*> stopping;
  for (const std::string& principal : principals) {
    NodeState* node = FindNode(principal);
    if (node == nullptr) {
      return absl::NotFoundError(absl::StrCat("no node ", principal));
    }
    node->expected_running = false;
    if (node->pid <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(principal, " is not running"));
    }
    if (::kill(node->pid, SIGTERM) != 0) return ErrnoError("kill SIGTERM");
    stopping.push_back(node);
  }
  const absl::Time signalled = absl::Now();
  const absl::Time deadline = signalled + options_.stop_timeout;
  absl::Status result = absl::OkStatus();
  for (NodeState* node : stopping) {
    const pid_t pid = node->pid;
    int status = 0;
    pid_t reaped = 0;
    while ((reaped = ::waitpid(pid, &status, WNOHANG)) == 0 &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    node->pid = -1;
    absl::Status stopped = absl::OkStatus();
    if (reaped == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      stopped = absl::DeadlineExceededError(absl::StrCat(
          node->principal, " did not exit within ",
          absl::FormatDuration(options_.stop_timeout),
          " of SIGTERM; killed. Log tail:\n", LogTail(node->principal)));
    } else if (reaped < 0) {
      stopped = ErrnoError("waitpid");
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      stopped = absl::InternalError(absl::StrCat(
          node->principal, " ", DescribeWaitStatus(status),
          " after SIGTERM; log tail:\n", LogTail(node->principal)));
    }
    AppendToLog(
        *node,
        absl::StrCat("==== harness: ", node->principal,
                     stopped.ok() ? " exited cleanly" : " stopped badly",
                     " within ", absl::FormatDuration(absl::Now() - signalled),
                     " of SIGTERM ====\n"));
    if (result.ok()) result = stopped;
  }
  return result;
}

absl::Status Cluster::Kill(absl::string_view principal) {
  NodeState* node = FindNode(principal);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat("no node ", principal));
  }
  node->expected_running = false;
  if (node->pid <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(principal, " is not running"));
  }
  if (::kill(node->pid, SIGKILL) != 0) return ErrnoError("kill SIGKILL");
  int status = 0;
  if (::waitpid(node->pid, &status, 0) < 0) {
    node->pid = -1;
    return ErrnoError("waitpid");
  }
  node->pid = -1;
  return absl::OkStatus();
}

absl::Status Cluster::Restart(absl::string_view principal) {
  absl::Status stopped = Stop(principal);
  if (!stopped.ok()) return stopped;
  return Start(principal);
}

bool Cluster::IsRunning(absl::string_view principal) {
  NodeState* node = FindNode(principal);
  return node != nullptr && node->pid > 0 && !Reap(*node).has_value();
}

::testing::AssertionResult Cluster::WaitUntil(
    absl::FunctionRef<bool()> predicate, absl::Duration timeout,
    absl::string_view what) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  while (true) {
    for (NodeState& node : nodes_) {
      if (!node.expected_running) continue;
      if (std::optional<std::string> exit = Reap(node); exit.has_value()) {
        node.expected_running = false;
        return ::testing::AssertionFailure()
               << node.principal << " " << *exit << " while waiting until "
               << what << "; log tail:\n"
               << LogTail(node.principal);
      }
    }
    if (predicate()) return ::testing::AssertionSuccess();
    if (absl::Now() >= deadline) {
      return ::testing::AssertionFailure()
             << "timed out after " << absl::FormatDuration(absl::Now() - start)
             << " waiting until " << what;
    }
    absl::SleepFor(kPollInterval);
  }
}

::testing::AssertionResult Cluster::WaitConnected(
    absl::string_view principal, std::vector<std::string> peers,
    absl::Duration timeout) {
  std::string seen;
  ::testing::AssertionResult result = WaitUntil(
      [&] {
        absl::StatusOr<proto::StatsResponse> stats = Stats(principal);
        if (!stats.ok()) {
          seen = stats.status().ToString();
          return false;
        }
        seen = absl::StrJoin(stats->connected_peers(), ",");
        for (const std::string& peer : peers) {
          if (std::find(stats->connected_peers().begin(),
                        stats->connected_peers().end(),
                        peer) == stats->connected_peers().end()) {
            return false;
          }
        }
        return true;
      },
      timeout,
      absl::StrCat(principal, " is connected to ", absl::StrJoin(peers, ",")));
  if (!result) result << " (last seen: " << seen << ")";
  return result;
}

::testing::AssertionResult Cluster::WaitAllLinksUp(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (const NodeState& node : nodes_) {
    if (!node.expected_running) continue;
    std::vector<std::string> peers;
    for (const std::string& neighbour : node.neighbours) {
      const NodeState* other = FindNode(neighbour);
      if (other != nullptr && other->expected_running) {
        peers.push_back(neighbour);
      }
    }
    ::testing::AssertionResult result =
        WaitConnected(node.principal, peers,
                      std::max(deadline - absl::Now(), absl::ZeroDuration()));
    if (!result) return result;
  }
  return ::testing::AssertionSuccess();
}

void Cluster::ResetStub(const NodeState& node) {
  // A fresh channel per start, with its own subchannel pool and short
  // reconnect backoff, so that a restarted node is reachable at once.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(absl::StrCat("unix:", node.socket_path),
                                grpc::InsecureChannelCredentials(), args);
  std::shared_ptr<proto::Client::Stub> stub = proto::Client::NewStub(channel);
  absl::MutexLock lock(&mu_);
  stubs_[node.principal] = std::move(stub);
}

std::shared_ptr<proto::Client::Stub> Cluster::StubFor(
    absl::string_view principal) {
  {
    absl::MutexLock lock(&mu_);
    auto it = stubs_.find(principal);
    if (it != stubs_.end()) return it->second;
  }
  const NodeState* node = FindNode(principal);
  TIDINGS_TESTING_CHECK(node != nullptr);
  ResetStub(*node);
  absl::MutexLock lock(&mu_);
  return stubs_.find(principal)->second;
}

template <typename Request, typename Response>
absl::StatusOr<Response> Cluster::Call(
    absl::string_view principal,
    grpc::Status (proto::Client::Stub::*method)(grpc::ClientContext*,
                                                const Request&, Response*),
    const Request& request) {
  grpc::ClientContext context;
  SetDeadline(context, kRpcTimeout);
  Response response;
  absl::Status status = grpc_status::FromGrpc(
      (StubFor(principal).get()->*method)(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<proto::SendResponse> Cluster::Send(
    absl::string_view principal, proto::Kind kind,
    const std::vector<std::string>& audience, absl::string_view title,
    absl::string_view text, proto::Precedence precedence) {
  proto::SendRequest request;
  request.set_kind(kind);
  request.set_precedence(precedence);
  for (const std::string& member : audience) request.add_audience(member);
  request.mutable_body()->set_title(std::string(title));
  request.mutable_body()->set_text(std::string(text));
  absl::StatusOr<proto::SendResponse> response =
      Call(principal, &proto::Client::Stub::Send, request);
  return response;
}

absl::StatusOr<std::vector<proto::EnvelopeSummary>> Cluster::Inbox(
    absl::string_view principal, uint32_t limit, bool include_receipts) {
  proto::InboxRequest request;
  request.set_limit(limit);
  request.set_include_receipts(include_receipts);
  absl::StatusOr<proto::InboxResponse> response =
      Call(principal, &proto::Client::Stub::Inbox, request);
  if (!response.ok()) return response.status();
  return std::vector<proto::EnvelopeSummary>(response->envelopes().begin(),
                                             response->envelopes().end());
}

absl::StatusOr<proto::ShowResponse> Cluster::Show(
    absl::string_view principal, absl::string_view envelope_id) {
  proto::ShowRequest request;
  request.set_envelope_id(std::string(envelope_id));
  absl::StatusOr<proto::ShowResponse> response =
      Call(principal, &proto::Client::Stub::Show, request);
  return response;
}

absl::StatusOr<proto::StatusResponse> Cluster::Status(
    absl::string_view principal, absl::string_view envelope_id) {
  proto::StatusRequest request;
  request.set_envelope_id(std::string(envelope_id));
  absl::StatusOr<proto::StatusResponse> response =
      Call(principal, &proto::Client::Stub::Status, request);
  return response;
}

absl::StatusOr<proto::StatsResponse> Cluster::Stats(
    absl::string_view principal) {
  proto::StatsRequest request;
  absl::StatusOr<proto::StatsResponse> response =
      Call(principal, &proto::Client::Stub::Stats, request);
  return response;
}

absl::StatusOr<uint64_t> Cluster::Counter(absl::string_view principal,
                                          absl::string_view name) {
  absl::StatusOr<proto::StatsResponse> stats = Stats(principal);
  if (!stats.ok()) return stats.status();
  auto it = stats->counters().find(std::string(name));
  return it == stats->counters().end() ? 0 : it->second;
}

absl::StatusOr<proto::ReceiptStatus> Cluster::RecipientStatus(
    absl::string_view origin, absl::string_view envelope_id,
    absl::string_view recipient) {
  absl::StatusOr<proto::StatusResponse> status = Status(origin, envelope_id);
  if (!status.ok()) return status.status();
  for (const proto::RecipientStatus& entry : status->recipients()) {
    if (entry.agency() == recipient) return entry.status();
  }
  return proto::RECEIPT_STATUS_UNSPECIFIED;
}

absl::StatusOr<std::vector<proto::Envelope>> Cluster::FeedEnvelopes(
    absl::string_view principal, absl::string_view feed_id, uint64_t from_seq) {
  std::vector<proto::Envelope> envelopes;
  uint64_t next = from_seq;
  while (true) {
    proto::FeedRequest request;
    request.set_feed_id(std::string(feed_id));
    request.set_from_seq(next);
    request.set_limit(100);
    absl::StatusOr<proto::FeedResponse> response =
        Call(principal, &proto::Client::Stub::Feed, request);
    if (!response.ok()) return response.status();
    if (response->envelopes().empty()) break;
    envelopes.insert(envelopes.end(), response->envelopes().begin(),
                     response->envelopes().end());
    absl::StatusOr<proto::Header> last = ParseHeader(envelopes.back());
    if (!last.ok()) return last.status();
    if (last->seq() < next) {
      return absl::InternalError(absl::StrCat(
          "Feed from_seq=", next, " answered up to seq ", last->seq()));
    }
    next = last->seq() + 1;
  }
  return envelopes;
}

const crypto::TlsCredentials& Cluster::tls(absl::string_view principal) const {
  auto it = tls_.find(principal);
  TIDINGS_TESTING_CHECK(it != tls_.end());
  return *it->second;
}

const crypto::Identity& Cluster::identity(absl::string_view principal) const {
  auto it = identities_.find(principal);
  TIDINGS_TESTING_CHECK(it != identities_.end());
  return *it->second;
}

std::string Cluster::data_dir(absl::string_view principal) const {
  const NodeState* node = FindNode(principal);
  TIDINGS_TESTING_CHECK(node != nullptr);
  return node->data_dir;
}

std::string Cluster::log_path(absl::string_view principal) const {
  const NodeState* node = FindNode(principal);
  TIDINGS_TESTING_CHECK(node != nullptr);
  return node->log_path;
}

std::string Cluster::listen_address(absl::string_view principal) const {
  const NodeState* node = FindNode(principal);
  TIDINGS_TESTING_CHECK(node != nullptr);
  return absl::StrCat("127.0.0.1:", node->port);
}

std::string Cluster::LogTail(absl::string_view principal, int lines) const {
  const NodeState* node = FindNode(principal);
  if (node == nullptr) return "";
  std::optional<std::string> contents = ReadFile(node->log_path);
  if (!contents.has_value()) return "(no log)\n";
  std::vector<absl::string_view> all =
      absl::StrSplit(*contents, '\n', absl::SkipEmpty());
  const size_t keep = std::min(all.size(), static_cast<size_t>(lines));
  std::string tail;
  for (size_t i = all.size() - keep; i < all.size(); ++i) {
    absl::StrAppend(&tail, all[i], "\n");
  }
  return tail;
}

}  // namespace tidings::testing

// Engine::OnPeerMessage on untrusted bytes: the input, if it parses as a
// PeerMessage, arrives from B.NCB on a live link to A.NCB's engine, which
// then commits whatever it accepted (Flush). One engine for the whole run,
// over a log in a temporary directory (sync off); its state carries over
// from input to input, as a node's does from message to message. A
// returned error (the link would close) is fine; a crash or a hang is not.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/gossip/context.h"
#include "node/gossip/engine.h"
#include "node/model/membership.h"
#include "proto/peer.pb.h"
#include "spdlog/spdlog.h"
#include "storage/log.h"
#include "tests/fuzz/world.h"

namespace tidings::fuzz {
namespace {

// Time moves only when the harness says so.
class ManualClock final : public node::Clock {
 public:
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(kNowUnixSeconds);
};

// Every link is up and every message is dropped.
class DroppingSender final : public node::PeerSender {
 public:
  bool SendToPeer(absl::string_view, const proto::PeerMessage&,
                  proto::Precedence) override {
    return true;
  }
};

// A.NCB's node, linked to B.NCB. Removes its directory at exit.
class Node {
 public:
  Node() {
    spdlog::set_level(spdlog::level::off);
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
           "/fuzz_peer_message.XXXXXX";
    if (::mkdtemp(dir_.data()) == nullptr) {
      MustBeOk(absl::InternalError("mkdtemp failed"), dir_);
    }
    absl::StatusOr<std::unique_ptr<storage::Log>> log =
        storage::Log::Open({.path = dir_ + "/log", .sync = false});
    MustBeOk(log.status(), "log");
    log_ = *std::move(log);
    absl::StatusOr<std::unique_ptr<node::Membership>> membership =
        node::Membership::Open(world_.genesis(), log_.get());
    MustBeOk(membership.status(), "membership");
    membership_ = *std::move(membership);
    membership_->SetSelf(kSelf);
    keyring_ = world_.KeyringOf(kSelf);
    node::EngineOptions options;
    options.membership = membership_.get();
    options.identity = &world_.identity(kSelf);
    options.keyring = keyring_.get();
    options.log = log_.get();
    options.clock = &clock_;
    options.sender = &sender_;
    options.counters = &counters_;
    engine_ = std::make_unique<node::Engine>(options);
    // As the daemon wires them, before any link can apply an update.
    membership_->AddListener([this](const node::RosterChain& applied) {
      engine_->OnRosterApplied(applied);
    });
    membership_->AddNodesListener([this](const node::RosterChain& changed) {
      engine_->OnNodesChanged(changed);
    });
    engine_->OnLinkUp(kPeer);
  }
  ~Node() {
    engine_.reset();
    membership_.reset();
    log_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void Deliver(const proto::PeerMessage& message) {
    // A second per message: graft timeouts fire, refusals drain.
    clock_.Advance(absl::Seconds(1));
    (void)engine_->OnPeerMessage(kPeer, message);
    engine_->Flush();
  }

 private:
  const World& world_ = World::Get();
  std::string dir_;
  ManualClock clock_;
  DroppingSender sender_;
  node::Counters counters_;
  std::unique_ptr<crypto::Keyring> keyring_;
  std::unique_ptr<storage::Log> log_;
  std::unique_ptr<node::Membership> membership_;
  std::unique_ptr<node::Engine> engine_;
};

}  // namespace
}  // namespace tidings::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tidings::fuzz::Node node;
  tidings::proto::PeerMessage message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  node.Deliver(message);
  return 0;
}

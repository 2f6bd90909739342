// The fixed world every fuzz target runs in: three agencies (A.NCB, B.NCB,
// C.NCB) with a genesis roster of threshold 2, seen from A.NCB's node, with
// B.NCB as the linked peer that sends the input. Also what the seed-corpus
// generator (make_corpus.cc) builds its valid inputs from.
//
// Randomness is deterministic: World() installs a seeded libsodium
// randombytes implementation before libsodium starts, so every process makes
// the same identities, and a seed envelope signed by B.NCB in one process
// verifies in the next. Fuzzing only: never link this into a node.
//
// Thread-safety: World::Get() builds the world once (thread-safe static);
// after that it is immutable.
#ifndef TIDINGS_TESTS_FUZZ_WORLD_H_
#define TIDINGS_TESTS_FUZZ_WORLD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/model/envelope.h"
#include "node/model/membership.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"

namespace tidings::fuzz {

inline constexpr absl::string_view kSelf = "A.NCB";  // the receiving node
inline constexpr absl::string_view kPeer = "B.NCB";  // the linked sender
inline constexpr absl::string_view kThird = "C.NCB";
// The engine's clock starts here; seed envelopes are created a minute before.
inline constexpr int64_t kNowUnixSeconds = 1800000000;

class World {
 public:
  static const World& Get();

  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // kSelf, kPeer or kThird; CHECK-fails on any other.
  const crypto::Identity& identity(absl::string_view agency) const;
  // A fresh Keyring over a copy of `agency`'s box secret.
  std::unique_ptr<crypto::Keyring> KeyringOf(absl::string_view agency) const;
  const node::Roster& genesis() const { return *genesis_; }
  const std::shared_ptr<const node::RosterChain>& chain() const {
    return chain_;
  }

 private:
  World();

  std::vector<crypto::Identity> identities_;  // sorted by agency
  std::unique_ptr<node::Roster> genesis_;
  std::shared_ptr<const node::RosterChain> chain_;
};

// Aborts with `what` and the status unless it is OK: set-up failures are
// bugs of the harness, not findings.
void MustBeOk(const absl::Status& status, absl::string_view what);

// A valid envelope of `origin` to `audience` (normalized here) at feed
// position 1, sealed and signed under the genesis.
node::Composed ComposeFirst(absl::string_view origin,
                            std::vector<std::string> audience,
                            absl::string_view text);

// Updates of the genesis, signed by each of `signers`. Renaming a member
// needs only its own signature; raising the threshold to 3 needs two.
proto::SignedRoster Rename(absl::string_view agency,
                           const std::vector<absl::string_view>& signers);
proto::SignedRoster RaiseThreshold(
    const std::vector<absl::string_view>& signers);

}  // namespace tidings::fuzz

#endif  // TIDINGS_TESTS_FUZZ_WORLD_H_

#include "tests/fuzz/world.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/envelope.pb.h"
#include "tests/testing/rosters.h"

namespace tidings::fuzz {
namespace {

// A ChaCha20 stream keyed by a fixed seed and a call counter: the same
// bytes in every process, for the same sequence of calls.
uint64_t random_calls = 0;

void DeterministicBuf(void* const buf, const size_t size) {
  unsigned char seed[randombytes_SEEDBYTES] = {'t', 'i', 'd', 'i', 'n', 'g',
                                               's', '-', 'f', 'u', 'z', 'z'};
  std::memcpy(seed + sizeof(seed) - sizeof(random_calls), &random_calls,
              sizeof(random_calls));
  ++random_calls;
  randombytes_buf_deterministic(buf, size, seed);
}

uint32_t DeterministicRandom() {
  uint32_t value;
  DeterministicBuf(&value, sizeof(value));
  return value;
}

const char* DeterministicName() { return "tidings-fuzz"; }

randombytes_implementation deterministic_randombytes = {
    .implementation_name = DeterministicName,
    .random = DeterministicRandom,
    .stir = nullptr,
    .uniform = nullptr,
    .buf = DeterministicBuf,
    .close = nullptr,
};

proto::SignedRoster SignedUpdate(proto::Roster next,
                                 const std::vector<absl::string_view>& signers,
                                 absl::string_view what) {
  const World& world = World::Get();
  absl::StatusOr<proto::SignedRoster> update =
      node::MakeUpdate(world.genesis(), std::move(next));
  MustBeOk(update.status(), what);
  for (absl::string_view signer : signers) {
    MustBeOk(node::SignUpdate(*update, world.genesis(), world.identity(signer)),
             what);
  }
  return *std::move(update);
}

}  // namespace

void MustBeOk(const absl::Status& status, absl::string_view what) {
  if (status.ok()) return;
  std::fprintf(stderr, "fuzz set-up failed: %.*s: %s\n",
               static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::abort();
}

World::World() {
  // Before libsodium starts (crypto::EnsureSodium), as libsodium requires.
  randombytes_set_implementation(&deterministic_randombytes);
  for (absl::string_view agency : {kSelf, kPeer, kThird}) {
    identities_.push_back(crypto::Identity::Generate(agency));
  }
  absl::StatusOr<node::Roster> genesis =
      node::test_rosters::SignedGenesis(identities_, 2);
  MustBeOk(genesis.status(), "genesis");
  genesis_ = std::make_unique<node::Roster>(*std::move(genesis));
  chain_ = std::make_shared<const node::RosterChain>(
      std::vector<std::shared_ptr<const node::Roster>>{
          std::make_shared<const node::Roster>(*genesis_)});
}

const World& World::Get() {
  static const World* const world = new World();
  return *world;
}

const crypto::Identity& World::identity(absl::string_view agency) const {
  for (const crypto::Identity& identity : identities_) {
    if (identity.principal() == agency) return identity;
  }
  std::fprintf(stderr, "no identity for %.*s in the fuzz world\n",
               static_cast<int>(agency.size()), agency.data());
  std::abort();
}

std::unique_ptr<crypto::Keyring> World::KeyringOf(
    absl::string_view agency) const {
  return node::test_rosters::KeyringOf(identity(agency));
}

node::Composed ComposeFirst(absl::string_view origin,
                            std::vector<std::string> audience,
                            absl::string_view text) {
  const World& world = World::Get();
  absl::StatusOr<std::vector<std::string>> normalized =
      node::NormalizeAudience(world.genesis(), origin, std::move(audience));
  MustBeOk(normalized.status(), "audience");
  proto::Body body;
  body.set_title("fuzz seed");
  body.set_text(std::string(text));
  node::ComposeInput input;
  input.audience = *std::move(normalized);
  input.plaintext = body.SerializeAsString();
  input.created_unix_ms = kNowUnixSeconds * 1000 - 60 * 1000;
  std::unique_ptr<crypto::Keyring> keyring = world.KeyringOf(origin);
  absl::StatusOr<node::Composed> composed =
      node::Compose(world.identity(origin), *keyring, world.genesis(), input);
  MustBeOk(composed.status(), "compose");
  return *std::move(composed);
}

proto::SignedRoster Rename(absl::string_view agency,
                           const std::vector<absl::string_view>& signers) {
  proto::Roster next = World::Get().genesis().roster();
  for (proto::Member& member : *next.mutable_members()) {
    if (member.agency() == agency) {
      member.set_name(absl::StrCat(agency, " renamed"));
    }
  }
  next.set_change(absl::StrCat("rename ", agency));
  return SignedUpdate(std::move(next), signers, "rename");
}

proto::SignedRoster RaiseThreshold(
    const std::vector<absl::string_view>& signers) {
  proto::Roster next = World::Get().genesis().roster();
  next.set_threshold(3);
  next.set_change("threshold 3");
  return SignedUpdate(std::move(next), signers, "raise threshold");
}

}  // namespace tidings::fuzz

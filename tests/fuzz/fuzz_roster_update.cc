// Membership::OfferBytes on untrusted bytes: the input is a serialized
// SignedRoster (update or proposal) offered to a fresh in-memory membership
// over the fixed genesis.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/model/membership.h"
#include "tests/fuzz/world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const tidings::fuzz::World& world = tidings::fuzz::World::Get();
  absl::StatusOr<std::unique_ptr<tidings::node::Membership>> membership =
      tidings::node::Membership::Open(world.genesis(), /*log=*/nullptr);
  tidings::fuzz::MustBeOk(membership.status(), "membership");
  (void)(*membership)
      ->OfferBytes(
          absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

// node::Verify on untrusted bytes: the input is a serialized envelope that
// B.NCB relayed to A.NCB's node. Every outcome but a crash, a hang or a
// sanitizer report is fine.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "node/model/envelope.h"
#include "tests/fuzz/world.h"

namespace tidings::fuzz {
namespace {

struct Receiver {
  const World& world = World::Get();
  std::unique_ptr<crypto::Keyring> keyring = world.KeyringOf(kSelf);
};

}  // namespace
}  // namespace tidings::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tidings::fuzz::kPeer;
  using tidings::fuzz::kSelf;
  static tidings::fuzz::Receiver* const receiver =
      new tidings::fuzz::Receiver();
  const tidings::node::VerifyContext context{
      .chain = *receiver->world.chain(),
      .self = kSelf,
      .keyring = *receiver->keyring,
      .sender = kPeer,
  };
  (void)tidings::node::Verify(
      context, absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

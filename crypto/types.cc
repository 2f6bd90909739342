#include "crypto/types.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace tidings::crypto {

void EnsureSodium() {
  // A function-local static is initialised exactly once even under
  // concurrent first calls, so sodium_init() never races with itself.
  static const bool initialised = [] { return sodium_init() >= 0; }();
  if (!initialised) {
    // Without a working libsodium (e.g. no entropy source) no key, nonce or
    // signature can be trusted: stop rather than limp on.
    std::fprintf(stderr, "FATAL: sodium_init() failed\n");
    std::abort();
  }
}

std::string ToHex(absl::string_view bytes) {
  EnsureSodium();
  // sodium_bin2hex writes a terminating NUL, hence the extra byte.
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(),
                 reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  hex.pop_back();
  return hex;
}

std::optional<std::string> FromHex(absl::string_view hex) {
  EnsureSodium();
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string bin(hex.size() / 2, '\0');
  size_t bin_len = 0;
  // No `ignore` set and no `hex_end`: libsodium then fails on the first
  // character that is not a hex digit instead of stopping there silently.
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(),
                     hex.data(), hex.size(), /*ignore=*/nullptr, &bin_len,
                     /*hex_end=*/nullptr) != 0 ||
      bin_len != bin.size()) {
    return std::nullopt;
  }
  return bin;
}

}  // namespace tidings::crypto

#include "crypto/hash.h"

#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto {

Hash256 Hash(absl::string_view data) {
  EnsureSodium();
  Hash256 out;
  crypto_generichash(out.mutable_data(), out.size(),
                     reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), /*key=*/nullptr, /*keylen=*/0);
  return out;
}

Hasher::Hasher() {
  EnsureSodium();
  crypto_generichash_init(&state_, /*key=*/nullptr, /*keylen=*/0,
                          Hash256::size());
}

void Hasher::Update(absl::string_view data) {
  crypto_generichash_update(&state_,
                            reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
}

void Hasher::UpdateField(absl::string_view data) {
  // Fixed byte order so that the digest is the same on every platform.
  uint64_t length = data.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) {
    prefix[i] = static_cast<unsigned char>(length >> (8 * i));
  }
  crypto_generichash_update(&state_, prefix, sizeof(prefix));
  Update(data);
}

Hash256 Hasher::Finish() {
  Hash256 out;
  // libsodium refuses a second final() and would leave `out` all zeros: a
  // silent, shared "digest" is worse than stopping on our own misuse.
  if (crypto_generichash_final(&state_, out.mutable_data(), out.size()) != 0) {
    std::fprintf(stderr, "FATAL: Hasher::Finish called twice\n");
    std::abort();
  }
  return out;
}

}  // namespace tidings::crypto

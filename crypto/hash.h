// BLAKE2b-256 hashing (envelope ids, feed ids, network ids, digests).
//
// Thread-safety: `Hash` is a free function; a `Hasher` is used by one thread.
#ifndef TIDINGS_CRYPTO_HASH_H_
#define TIDINGS_CRYPTO_HASH_H_

#include <sodium.h>

#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto {

// BLAKE2b with a 32-byte output, unkeyed.
Hash256 Hash(absl::string_view data);

// Incremental BLAKE2b-256 over several pieces.
class Hasher {
 public:
  Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(absl::string_view data);
  // Length-prefixed (8-byte little-endian length) so that concatenations of
  // variable fields cannot collide.
  void UpdateField(absl::string_view data);
  Hash256 Finish();

 private:
  crypto_generichash_state state_;
};

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_HASH_H_

// Fixed-size strong types for keys, signatures, nonces and hashes.
//
// Public values (`PublicBytes<N, Tag>`) are copyable and compared in constant
// time. Secrets (`SecretBytes<N, Tag>`) are move-only and wiped with
// sodium_memzero when destroyed. Neither is ever a raw buffer in a public API.
//
// Thread-safety: plain values; const access from many threads is safe.
#ifndef TIDINGS_CRYPTO_TYPES_H_
#define TIDINGS_CRYPTO_TYPES_H_

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace tidings::crypto {

// Calls sodium_init() exactly once; CHECK-fails if libsodium cannot start.
// Every entry point of this module calls it, so callers never need to.
void EnsureSodium();

template <std::size_t N, typename Tag>
class PublicBytes {
 public:
  static constexpr std::size_t kSize = N;

  PublicBytes() { bytes_.fill(0); }

  // Returns nullopt unless `raw` is exactly N bytes.
  static std::optional<PublicBytes> FromBytes(absl::string_view raw) {
    if (raw.size() != N) return std::nullopt;
    PublicBytes out;
    std::copy(raw.begin(), raw.end(), out.bytes_.begin());
    return out;
  }

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* mutable_data() { return bytes_.data(); }
  static constexpr std::size_t size() { return N; }
  std::string str() const {
    return std::string(reinterpret_cast<const char*>(bytes_.data()), N);
  }
  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(bytes_.data()), N);
  }

  friend bool operator==(const PublicBytes& a, const PublicBytes& b) {
    return sodium_memcmp(a.bytes_.data(), b.bytes_.data(), N) == 0;
  }
  friend bool operator<(const PublicBytes& a, const PublicBytes& b) {
    return a.bytes_ < b.bytes_;
  }

 private:
  std::array<uint8_t, N> bytes_;
};

template <std::size_t N, typename Tag>
class SecretBytes {
 public:
  static constexpr std::size_t kSize = N;

  SecretBytes() { bytes_.fill(0); }
  ~SecretBytes() { sodium_memzero(bytes_.data(), N); }
  SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) {
    sodium_memzero(other.bytes_.data(), N);
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      sodium_memzero(other.bytes_.data(), N);
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Returns nullopt unless `raw` is exactly N bytes.
  static std::optional<SecretBytes> FromBytes(absl::string_view raw) {
    if (raw.size() != N) return std::nullopt;
    SecretBytes out;
    std::copy(raw.begin(), raw.end(), out.bytes_.begin());
    return out;
  }

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* mutable_data() { return bytes_.data(); }
  static constexpr std::size_t size() { return N; }

 private:
  std::array<uint8_t, N> bytes_;
};

struct VerifyKeyTag {};
struct SignatureTag {};
struct BoxPublicKeyTag {};
struct Hash256Tag {};
struct NonceTag {};
struct SigningKeyTag {};
struct SeedTag {};
struct BoxSecretKeyTag {};
struct SymmetricKeyTag {};

using VerifyKey = PublicBytes<crypto_sign_PUBLICKEYBYTES, VerifyKeyTag>;
using Signature = PublicBytes<crypto_sign_BYTES, SignatureTag>;
using BoxPublicKey = PublicBytes<crypto_box_PUBLICKEYBYTES, BoxPublicKeyTag>;
using Hash256 = PublicBytes<32, Hash256Tag>;
using Nonce =
    PublicBytes<crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NonceTag>;

// libsodium's 64-byte Ed25519 secret key (seed || public key).
using SigningKey = SecretBytes<crypto_sign_SECRETKEYBYTES, SigningKeyTag>;
using SigningSeed = SecretBytes<crypto_sign_SEEDBYTES, SeedTag>;
using BoxSecretKey = SecretBytes<crypto_box_SECRETKEYBYTES, BoxSecretKeyTag>;
using SymmetricKey =
    SecretBytes<crypto_aead_xchacha20poly1305_ietf_KEYBYTES, SymmetricKeyTag>;

// Lower-case hex of any byte string (ids in logs and the CLI).
std::string ToHex(absl::string_view bytes);
// Parses lower- or upper-case hex; nullopt on any non-hex character or odd
// length.
std::optional<std::string> FromHex(absl::string_view hex);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_TYPES_H_

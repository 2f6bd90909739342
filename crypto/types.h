// Strong types for keys, signatures, nonces, hashes and secret text.
//
// Public values (`PublicBytes<N, Tag>`) are copyable and compared in constant
// time. Secrets (`SecretBytes<N, Tag>`, and `SecretString<Tag>` for secrets of
// variable length such as passphrases and PEM private keys) are move-only and
// wiped with sodium_memzero when destroyed. None is ever a raw buffer in a
// public API.
//
// Thread-safety: plain values; const access from many threads is safe.
#ifndef TIDINGS_CRYPTO_TYPES_H_
#define TIDINGS_CRYPTO_TYPES_H_

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

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

// A secret of variable length (a passphrase, a PEM private key). Move-only;
// the bytes live in one heap buffer that never moves or grows, is locked in
// RAM and kept out of core dumps where the system allows it (sodium_mlock,
// best effort), and is wiped when destroyed. A moved-from SecretString is
// empty.
template <typename Tag>
class SecretString {
 public:
  SecretString() = default;
  // A copy of `bytes`; the caller still owns (and should wipe) the original.
  explicit SecretString(absl::string_view bytes) : SecretString(bytes.size()) {
    std::copy(bytes.begin(), bytes.end(), data_.get());
  }
  // `size` zero bytes, to be filled in place through mutable_data().
  static SecretString OfSize(std::size_t size) { return SecretString(size); }

  ~SecretString() { Wipe(); }
  SecretString(SecretString&& other) noexcept
      : data_(std::move(other.data_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        locked_(std::exchange(other.locked_, false)) {}
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      Wipe();
      data_ = std::move(other.data_);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
      locked_ = std::exchange(other.locked_, false);
    }
    return *this;
  }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;

  absl::string_view view() const {
    return absl::string_view(data_.get(), size_);
  }
  char* mutable_data() { return data_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Shortens the secret to its first `size` bytes, wiping the rest in place.
  // Never grows it: a larger `size` changes nothing.
  void Truncate(std::size_t size) {
    if (size >= size_) return;
    sodium_memzero(data_.get() + size, size_ - size);
    size_ = size;
  }

 private:
  explicit SecretString(std::size_t size)
      : data_(size == 0 ? nullptr : new char[size]()),
        size_(size),
        capacity_(size) {
    if (capacity_ != 0) {
      EnsureSodium();
      locked_ = sodium_mlock(data_.get(), capacity_) == 0;
    }
  }

  void Wipe() {
    if (capacity_ == 0) return;
    // sodium_munlock wipes before unlocking.
    if (locked_) {
      sodium_munlock(data_.get(), capacity_);
    } else {
      sodium_memzero(data_.get(), capacity_);
    }
    data_.reset();
    size_ = 0;
    capacity_ = 0;
    locked_ = false;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  bool locked_ = false;
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
struct Sha256Tag {};
struct PassphraseTag {};
struct PrivateKeyPemTag {};
struct SecretFileBytesTag {};

using VerifyKey = PublicBytes<crypto_sign_PUBLICKEYBYTES, VerifyKeyTag>;
using Signature = PublicBytes<crypto_sign_BYTES, SignatureTag>;
using BoxPublicKey = PublicBytes<crypto_box_PUBLICKEYBYTES, BoxPublicKeyTag>;
using Hash256 = PublicBytes<32, Hash256Tag>;
// SHA-256, only where a standard demands it (X.509 certificate fingerprints);
// Tidings' own hashes are BLAKE2b (`Hash256`).
using Sha256 = PublicBytes<crypto_hash_sha256_BYTES, Sha256Tag>;
using Nonce =
    PublicBytes<crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NonceTag>;

// libsodium's 64-byte Ed25519 secret key (seed || public key).
using SigningKey = SecretBytes<crypto_sign_SECRETKEYBYTES, SigningKeyTag>;
using SigningSeed = SecretBytes<crypto_sign_SEEDBYTES, SeedTag>;
using BoxSecretKey = SecretBytes<crypto_box_SECRETKEYBYTES, BoxSecretKeyTag>;
using SymmetricKey =
    SecretBytes<crypto_aead_xchacha20poly1305_ietf_KEYBYTES, SymmetricKeyTag>;

// The passphrase that seals a key file (identity.h).
using Passphrase = SecretString<PassphraseTag>;
// A private key in PEM (the node's TLS key, tls_cert.h).
using PrivateKeyPem = SecretString<PrivateKeyPemTag>;
// The contents of a secret file as read (secret_file.h).
using SecretFileBytes = SecretString<SecretFileBytesTag>;

// Lower-case hex of any byte string (ids in logs and the CLI).
std::string ToHex(absl::string_view bytes);
// Parses lower- or upper-case hex; nullopt on any non-hex character or odd
// length.
std::optional<std::string> FromHex(absl::string_view hex);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_TYPES_H_

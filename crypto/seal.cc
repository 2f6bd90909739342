#include "crypto/seal.h"

#include <sodium.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "crypto/labels.h"
#include "crypto/types.h"

namespace tidings::crypto {
namespace {

// BLAKE2b message that turns the X25519 pair key into a wrap key. Versioned
// so that a future wrap scheme derives unrelated keys from the same pair.
constexpr absl::string_view kWrapLabel = labels::kWrap;

// Prefix of SealLocal's associated data: a local blob can never be taken for
// a body or a wrap, even under the same key bytes.
constexpr absl::string_view kLocalLabel = labels::kLocal;

constexpr size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;

constexpr size_t kWrappedSize =
    SymmetricKey::kSize + crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kWrappedSize == 48, "seal.h documents 48-byte wrapped keys");

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// aad || 0x00 || recipient: binds each wrapped key to the envelope and to
// the one recipient it was made for, so a wrap cannot be moved to another
// envelope or relabelled for another member with the same key.
std::string WrapAad(absl::string_view aad, absl::string_view recipient) {
  std::string out;
  out.reserve(aad.size() + 1 + recipient.size());
  out.append(aad.data(), aad.size());
  out.push_back('\0');
  out.append(recipient.data(), recipient.size());
  return out;
}

// label || 0x00 || aad.
std::string LocalAad(absl::string_view aad) {
  std::string out;
  out.reserve(kLocalLabel.size() + 1 + aad.size());
  out.append(kLocalLabel.data(), kLocalLabel.size());
  out.push_back('\0');
  out.append(aad.data(), aad.size());
  return out;
}

absl::Status BodyDoesNotDecrypt() {
  // Every failure of Open is this one status: which step failed would tell
  // an attacker whether it was the wrap or the body they got wrong.
  return absl::UnauthenticatedError("body does not decrypt");
}

}  // namespace

BoxKeyPair GenerateBoxKey() {
  EnsureSodium();
  BoxKeyPair pair;
  crypto_box_keypair(pair.public_key.mutable_data(),
                     pair.secret.mutable_data());
  return pair;
}

BoxPublicKey PublicKeyOf(const BoxSecretKey& key) {
  EnsureSodium();
  BoxPublicKey public_key;
  crypto_scalarmult_base(public_key.mutable_data(), key.data());
  return public_key;
}

absl::Status ValidateBoxPublicKey(const BoxPublicKey& key) {
  EnsureSodium();
  // Any scalar will do: X25519 clamps scalars to multiples of the cofactor,
  // so a point of small order (in any encoding) maps to the all-zero output,
  // which crypto_scalarmult refuses.
  unsigned char scalar[crypto_scalarmult_SCALARBYTES];
  std::fill(std::begin(scalar), std::end(scalar), 0x5a);
  unsigned char out[crypto_scalarmult_BYTES];
  const bool usable = crypto_scalarmult(out, scalar, key.data()) == 0;
  if (!usable) {
    return absl::InvalidArgumentError("box key is a low-order point");
  }
  return absl::OkStatus();
}

namespace {
constexpr size_t kMaxCachedWrapKeys = 4096;
}  // namespace

Keyring::Keyring(BoxSecretKey secret)
    : secret_(std::move(secret)), public_key_(PublicKeyOf(secret_)) {}

Keyring::~Keyring() {
  // The cached wrap keys are as secret as `secret_`; std::string would free
  // them without wiping.
  absl::MutexLock lock(&mu_);
  for (auto& [peer, key] : wrap_keys_) {
    sodium_memzero(key.data(), key.size());
  }
}

absl::StatusOr<SymmetricKey> Keyring::WrapKeyWith(const BoxPublicKey& peer) {
  std::string peer_id = peer.str();
  {
    absl::MutexLock lock(&mu_);
    auto it = wrap_keys_.find(peer_id);
    if (it != wrap_keys_.end()) {
      return std::move(*SymmetricKey::FromBytes(it->second));
    }
  }

  // Derived outside the lock: the X25519 step is the slow part, and two
  // threads racing on the same new peer compute the same key anyway.
  unsigned char pair[crypto_box_BEFORENMBYTES];
  if (crypto_box_beforenm(pair, peer.data(), secret_.data()) != 0) {
    sodium_memzero(pair, sizeof(pair));
    return absl::InvalidArgumentError(
        "peer box key is a low-order point and cannot be used");
  }
  SymmetricKey wrap_key;
  crypto_generichash(wrap_key.mutable_data(), wrap_key.size(),
                     Bytes(kWrapLabel), kWrapLabel.size(), pair, sizeof(pair));
  sodium_memzero(pair, sizeof(pair));

  absl::MutexLock lock(&mu_);
  // Sender keys come from signed headers, and a member could make up a new
  // one per envelope: the cache is bounded, and simply starts again when
  // full (the next lookups pay one X25519 each).
  if (wrap_keys_.size() >= kMaxCachedWrapKeys) {
    for (auto& [cached_peer, key] : wrap_keys_) {
      sodium_memzero(key.data(), key.size());
    }
    wrap_keys_.clear();
  }
  // try_emplace leaves an entry cached by a racing thread untouched; both
  // hold the same bytes.
  wrap_keys_.try_emplace(std::move(peer_id),
                         reinterpret_cast<const char*>(wrap_key.data()),
                         wrap_key.size());
  return wrap_key;
}

absl::StatusOr<Sealed> Seal(Keyring& sender,
                            absl::Span<const Recipient> recipients,
                            absl::string_view aad,
                            absl::string_view plaintext) {
  EnsureSodium();
  Sealed sealed;
  randombytes_buf(sealed.nonce.mutable_data(), sealed.nonce.size());
  crypto_aead_xchacha20poly1305_ietf_keygen(sealed.content_key.mutable_data());
  const SymmetricKey& content_key = sealed.content_key;

  // Wrap first: an unusable recipient key fails before the body is
  // encrypted.
  sealed.wrapped_keys.reserve(recipients.size());
  for (const Recipient& recipient : recipients) {
    // The wrap key is reused across envelopes for this peer; the nonce is
    // fresh and random per envelope, which XChaCha20's 192-bit nonce makes
    // safe.
    absl::StatusOr<std::string> wrapped =
        WrapContentKey(sender, recipient, sealed.nonce, aad, content_key);
    if (!wrapped.ok()) return wrapped.status();
    sealed.wrapped_keys.push_back({recipient.principal, *std::move(wrapped)});
  }

  sealed.ciphertext.resize(plaintext.size() +
                           crypto_aead_xchacha20poly1305_ietf_ABYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(sealed.ciphertext.data()),
      /*clen_p=*/nullptr, Bytes(plaintext), plaintext.size(), Bytes(aad),
      aad.size(), /*nsec=*/nullptr, sealed.nonce.data(), content_key.data());
  return sealed;
}

absl::StatusOr<std::string> WrapContentKey(Keyring& sender,
                                           const Recipient& recipient,
                                           const Nonce& nonce,
                                           absl::string_view aad,
                                           const SymmetricKey& content_key) {
  EnsureSodium();
  absl::StatusOr<SymmetricKey> wrap_key =
      sender.WrapKeyWith(recipient.public_key);
  if (!wrap_key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recipient ", recipient.principal,
        " has an unusable box key: ", wrap_key.status().message()));
  }
  const std::string ad = WrapAad(aad, recipient.principal);
  std::string wrapped(kWrappedSize, '\0');
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(wrapped.data()), /*clen_p=*/nullptr,
      content_key.data(), content_key.size(), Bytes(ad), ad.size(),
      /*nsec=*/nullptr, nonce.data(), wrap_key->data());
  return wrapped;
}

absl::StatusOr<std::string> Open(Keyring& mine, absl::string_view my_principal,
                                 const BoxPublicKey& sender_public,
                                 const Nonce& nonce, absl::string_view wrapped,
                                 absl::string_view aad,
                                 absl::string_view ciphertext) {
  absl::StatusOr<SymmetricKey> content_key =
      OpenContentKey(mine, my_principal, sender_public, nonce, wrapped, aad);
  if (!content_key.ok()) return content_key.status();
  return OpenWithContentKey(*content_key, nonce, aad, ciphertext);
}

absl::StatusOr<SymmetricKey> OpenContentKey(Keyring& mine,
                                            absl::string_view my_principal,
                                            const BoxPublicKey& sender_public,
                                            const Nonce& nonce,
                                            absl::string_view wrapped,
                                            absl::string_view aad) {
  EnsureSodium();
  if (wrapped.size() != kWrappedSize) return BodyDoesNotDecrypt();
  absl::StatusOr<SymmetricKey> wrap_key = mine.WrapKeyWith(sender_public);
  if (!wrap_key.ok()) return BodyDoesNotDecrypt();

  std::string ad = WrapAad(aad, my_principal);
  SymmetricKey content_key;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          content_key.mutable_data(), /*mlen_p=*/nullptr, /*nsec=*/nullptr,
          Bytes(wrapped), wrapped.size(), Bytes(ad), ad.size(), nonce.data(),
          wrap_key->data()) != 0) {
    return BodyDoesNotDecrypt();
  }
  return content_key;
}

absl::StatusOr<std::string> OpenWithContentKey(const SymmetricKey& content_key,
                                               const Nonce& nonce,
                                               absl::string_view aad,
                                               absl::string_view ciphertext) {
  EnsureSodium();
  if (ciphertext.size() < kTagSize) return BodyDoesNotDecrypt();
  std::string plaintext(ciphertext.size() - kTagSize, '\0');
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext.data()),
          /*mlen_p=*/nullptr, /*nsec=*/nullptr, Bytes(ciphertext),
          ciphertext.size(), Bytes(aad), aad.size(), nonce.data(),
          content_key.data()) != 0) {
    // Never hand back (or leave in freed memory) unauthenticated bytes.
    sodium_memzero(plaintext.data(), plaintext.size());
    return BodyDoesNotDecrypt();
  }
  return plaintext;
}

std::string SealLocal(const SymmetricKey& key, absl::string_view aad,
                      absl::string_view plaintext) {
  EnsureSodium();
  std::string ad = LocalAad(aad);
  std::string sealed(kNonceSize + plaintext.size() + kTagSize, '\0');
  unsigned char* nonce = reinterpret_cast<unsigned char*>(sealed.data());
  // A random 192-bit nonce per call: safe for any number of seals under one
  // long-lived storage key.
  randombytes_buf(nonce, kNonceSize);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceSize, /*clen_p=*/nullptr, Bytes(plaintext),
      plaintext.size(), Bytes(ad), ad.size(), /*nsec=*/nullptr, nonce,
      key.data());
  return sealed;
}

absl::StatusOr<std::string> OpenLocal(const SymmetricKey& key,
                                      absl::string_view aad,
                                      absl::string_view sealed) {
  EnsureSodium();
  if (sealed.size() < kNonceSize + kTagSize) {
    return absl::UnauthenticatedError("stored data does not decrypt");
  }
  std::string ad = LocalAad(aad);
  absl::string_view nonce = sealed.substr(0, kNonceSize);
  absl::string_view ciphertext = sealed.substr(kNonceSize);
  std::string plaintext(ciphertext.size() - kTagSize, '\0');
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext.data()),
          /*mlen_p=*/nullptr, /*nsec=*/nullptr, Bytes(ciphertext),
          ciphertext.size(), Bytes(ad), ad.size(), Bytes(nonce),
          key.data()) != 0) {
    sodium_memzero(plaintext.data(), plaintext.size());
    return absl::UnauthenticatedError("stored data does not decrypt");
  }
  return plaintext;
}

}  // namespace tidings::crypto

#include "node/model/epochs.h"

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "crypto/secret_file.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "proto/epoch.pb.h"

namespace tidings::node {
namespace {

constexpr absl::string_view kEpochKeyFile = "epoch key file";
constexpr absl::string_view kStorageKeyFile = "storage key file";

// About 200 bytes per key held: room for thousands, far more than any sane
// grace / duration, and a cap on what a wrong path reads into memory.
constexpr std::size_t kMaxEpochKeyFileSize = std::size_t{1} << 20;

absl::string_view View(const crypto::BoxSecretKey& key) {
  return absl::string_view(reinterpret_cast<const char*>(key.data()),
                           key.size());
}

crypto::SigningKey CopyOf(const crypto::SigningKey& key) {
  return std::move(*crypto::SigningKey::FromBytes(absl::string_view(
      reinterpret_cast<const char*>(key.data()), key.size())));
}

// Wipes the secrets of a parsed or filled epoch key file when it goes out of
// scope; protobuf frees them without wiping.
class WipeSecretsOnExit {
 public:
  explicit WipeSecretsOnExit(proto::EpochSecretFile& file) : file_(file) {}
  WipeSecretsOnExit(const WipeSecretsOnExit&) = delete;
  WipeSecretsOnExit& operator=(const WipeSecretsOnExit&) = delete;
  ~WipeSecretsOnExit() {
    for (proto::EpochSecret& secret : *file_.mutable_secrets()) {
      std::string* sk = secret.mutable_box_sk();
      sodium_memzero(sk->data(), sk->size());
    }
  }

 private:
  proto::EpochSecretFile& file_;
};

bool ValidAt(absl::Time not_before, absl::Time not_after, absl::Time now) {
  return not_before <= now && now < not_after;
}

}  // namespace

// --- EpochKeys ---------------------------------------------------------------

EpochKeys::EpochKeys(std::string path, const crypto::Identity& identity,
                     EpochOptions options)
    : path_(std::move(path)),
      principal_(identity.principal()),
      signing_key_(CopyOf(identity.signing_key())),
      verify_key_(identity.verify_key()),
      options_(options) {}

absl::StatusOr<std::unique_ptr<EpochKeys>> EpochKeys::Open(
    const std::string& path, const crypto::Identity& identity,
    EpochOptions options) {
  if (options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch duration must be positive, not ",
                     absl::FormatDuration(options.duration)));
  }
  if (options.first_epoch == 0) {
    return absl::InvalidArgumentError("the first epoch number is 1 or more");
  }
  if (options.grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch grace must not be negative, not ",
                     absl::FormatDuration(options.grace)));
  }
  std::unique_ptr<EpochKeys> keys(new EpochKeys(path, identity, options));
  absl::StatusOr<crypto::SecretFileBytes> bytes =
      crypto::ReadSecretFile(path, kEpochKeyFile, kMaxEpochKeyFileSize);
  if (absl::IsNotFound(bytes.status())) return keys;
  if (!bytes.ok()) return bytes.status();
  absl::MutexLock lock(&keys->mu_);
  TIDINGS_RETURN_IF_ERROR(keys->Load(bytes->view()));
  return keys;
}

absl::Status EpochKeys::Load(absl::string_view bytes) {
  auto malformed = [this](absl::string_view why) {
    return crypto::MalformedSecretFile(kEpochKeyFile, path_, why);
  };
  proto::EpochSecretFile file;
  WipeSecretsOnExit wipe(file);
  if (!file.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return malformed("not an epoch key file");
  }
  for (proto::EpochSecret& secret : *file.mutable_secrets()) {
    const uint64_t epoch = secret.epoch();
    const std::string at = absl::StrCat("epoch ", epoch, ": ");
    if (epoch == 0) return malformed("epoch 0 (epochs start at 1)");
    if (!held_.empty() && epoch <= held_.rbegin()->first) {
      return malformed(at + "epochs are not in increasing order");
    }
    std::optional<crypto::BoxSecretKey> box_sk =
        crypto::BoxSecretKey::FromBytes(secret.box_sk());
    if (!box_sk.has_value()) {
      return malformed(absl::StrCat(at, "secret key is ",
                                    secret.box_sk().size(), " bytes, not ",
                                    crypto::BoxSecretKey::size()));
    }
    proto::EpochKey key;
    if (secret.published().key().size() > EpochDirectory::kMaxKeyBytes ||
        !key.ParseFromString(secret.published().key())) {
      return malformed(at + "published key does not parse");
    }
    if (key.agency() != principal_) {
      return absl::FailedPreconditionError(
          absl::StrCat("epoch key file ", path_, " is for ", key.agency(),
                       ", not ", principal_));
    }
    if (key.epoch() != epoch) {
      return malformed(
          absl::StrCat(at, "published key is for epoch ", key.epoch()));
    }
    const crypto::BoxPublicKey public_key = crypto::PublicKeyOf(*box_sk);
    if (key.box_pk() != public_key.view()) {
      return malformed(at + "published key does not match the secret key");
    }
    if (key.not_before_unix_ms() >= key.not_after_unix_ms()) {
      return malformed(at + "not_before is not before not_after");
    }

    Held held;
    held.not_before = absl::FromUnixMillis(key.not_before_unix_ms());
    held.not_after = absl::FromUnixMillis(key.not_after_unix_ms());
    std::optional<crypto::Signature> signature =
        crypto::Signature::FromBytes(secret.published().signature());
    held.published = secret.published();
    // Signed by an earlier identity key of this agency (rotated or revoked
    // since): the secret still opens what was wrapped to it, but it was on
    // the disk the old key was on; it is never offered again.
    held.retired = !signature.has_value() ||
                   !crypto::Verify(verify_key_, crypto::Domain::kEpoch,
                                   secret.published().key(), *signature)
                        .ok();
    held.keyring = std::make_shared<crypto::Keyring>(
        std::move(*crypto::BoxSecretKey::FromBytes(View(*box_sk))));
    held.secret = std::move(*box_sk);
    held_.emplace(epoch, std::move(held));
  }
  return absl::OkStatus();
}

proto::SignedEpochKey EpochKeys::SignKey(std::string key_bytes) const {
  proto::SignedEpochKey signed_key;
  signed_key.set_signature(
      crypto::Sign(signing_key_, crypto::Domain::kEpoch, key_bytes).str());
  signed_key.set_key(std::move(key_bytes));
  return signed_key;
}

EpochKeys::Held EpochKeys::Make(uint64_t epoch, absl::Time now) const {
  crypto::BoxKeyPair pair = crypto::GenerateBoxKey();
  // Whole milliseconds, as the wire carries them, so that a reloaded key
  // has exactly the validity it had before. Flooring not_before keeps the
  // new key valid at `now`.
  const int64_t not_before_ms = absl::ToUnixMillis(now);
  const int64_t not_after_ms = absl::ToUnixMillis(now + options_.duration);
  proto::EpochKey key;
  key.set_agency(principal_);
  key.set_epoch(epoch);
  key.set_box_pk(pair.public_key.str());
  key.set_not_before_unix_ms(not_before_ms);
  key.set_not_after_unix_ms(not_after_ms);

  Held held;
  held.published = SignKey(key.SerializeAsString());
  held.not_before = absl::FromUnixMillis(not_before_ms);
  held.not_after = absl::FromUnixMillis(not_after_ms);
  held.keyring = std::make_shared<crypto::Keyring>(
      std::move(*crypto::BoxSecretKey::FromBytes(View(pair.secret))));
  held.secret = std::move(pair.secret);
  return held;
}

absl::Status EpochKeys::Write(
    const std::vector<uint64_t>& erase,
    const std::optional<std::pair<uint64_t, Held>>& fresh) const {
  proto::EpochSecretFile file;
  WipeSecretsOnExit wipe(file);
  auto add = [&file](uint64_t epoch, const Held& held) {
    proto::EpochSecret* secret = file.add_secrets();
    secret->set_epoch(epoch);
    secret->set_box_sk(View(held.secret).data(), held.secret.size());
    *secret->mutable_published() = held.published;
  };
  for (const auto& [epoch, held] : held_) {
    bool erased = false;
    for (uint64_t e : erase) erased = erased || e == epoch;
    if (!erased) add(epoch, held);
  }
  if (fresh.has_value()) add(fresh->first, fresh->second);

  const std::size_t size = file.ByteSizeLong();
  if (size > kMaxEpochKeyFileSize) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "epoch key file ", path_, " would be larger than ",
        kMaxEpochKeyFileSize, " bytes (", file.secrets_size(),
        " keys held); shorten the epoch grace or lengthen the epoch"));
  }
  crypto::SecretFileBytes bytes = crypto::SecretFileBytes::OfSize(size);
  if (!file.SerializeToArray(bytes.mutable_data(), static_cast<int>(size))) {
    return absl::InternalError(
        absl::StrCat("cannot serialize epoch key file ", path_));
  }
  return crypto::WriteSecretFileAtomically(path_, kEpochKeyFile, bytes.view());
}

absl::StatusOr<bool> EpochKeys::Advance(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::optional<uint64_t> current;
  for (const auto& [epoch, held] : held_) {
    if (!held.retired && ValidAt(held.not_before, held.not_after, now)) {
      current = epoch;
    }
  }
  std::optional<std::pair<uint64_t, Held>> fresh;
  if (!current.has_value()) {
    const uint64_t last =
        held_.empty() ? options_.first_epoch - 1 : held_.rbegin()->first;
    if (last == std::numeric_limits<uint64_t>::max()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "epoch key file ", path_, " has used up every epoch number"));
    }
    fresh.emplace(last + 1, Make(last + 1, now));
  }
  std::vector<uint64_t> erase;
  for (const auto& [epoch, held] : held_) {
    // absl::Time saturates, so a far-future not_after cannot wrap around.
    if (held.not_after + options_.grace <= now) erase.push_back(epoch);
  }

  if (fresh.has_value() || !erase.empty()) {
    // The file first: a key must not be handed out before it is durable (a
    // restart would lose it while peers wrap to it), nor a secret dropped
    // from memory while the file still holds it.
    TIDINGS_RETURN_IF_ERROR(Write(erase, fresh));
    for (uint64_t epoch : erase) held_.erase(epoch);
  }
  const bool made = fresh.has_value();
  if (made) {
    current = fresh->first;
    held_.emplace(fresh->first, std::move(fresh->second));
  }
  current_ = current;
  return made;
}

std::optional<EpochKeys::Current> EpochKeys::current() const {
  absl::MutexLock lock(&mu_);
  if (!current_.has_value()) return std::nullopt;
  auto it = held_.find(*current_);
  // Advance never erases the key it found current (grace >= 0).
  if (it == held_.end()) return std::nullopt;
  return Current{it->first, it->second.keyring->public_key(),
                 it->second.keyring};
}

std::shared_ptr<crypto::Keyring> EpochKeys::KeyringFor(uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(epoch);
  if (it == held_.end()) return nullptr;
  return it->second.keyring;
}

std::vector<proto::SignedEpochKey> EpochKeys::Published() const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::SignedEpochKey> out;
  out.reserve(held_.size());
  for (const auto& [epoch, held] : held_) {
    if (!held.retired) out.push_back(held.published);
  }
  return out;
}

// --- EpochDirectory ----------------------------------------------------------

EpochDirectory::EpochDirectory(std::size_t max_keys_per_agency)
    : max_keys_per_agency_(max_keys_per_agency) {
  // Zero would make every Add drop what it adds: our bug, not input.
  if (max_keys_per_agency_ == 0) {
    std::fprintf(stderr, "FATAL: EpochDirectory needs room for one key\n");
    std::abort();
  }
}

absl::StatusOr<bool> EpochDirectory::Add(const proto::SignedEpochKey& key,
                                         absl::string_view agency,
                                         const crypto::VerifyKey& signer) {
  if (key.key().size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch key of ", agency, " is ", key.key().size(),
                     " bytes, more than ", kMaxKeyBytes));
  }
  Known known;
  if (!known.key.ParseFromString(key.key())) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch key of ", agency, " does not parse"));
  }
  const proto::EpochKey& parsed = known.key;
  if (parsed.agency() != agency) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch key names agency '", parsed.agency(),
                     "', but came as ", agency, "'s"));
  }
  const std::string name =
      absl::StrCat("epoch key ", agency, "/", parsed.epoch());
  if (parsed.epoch() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has epoch 0 (epochs start at 1)"));
  }
  std::optional<crypto::BoxPublicKey> box_pk =
      crypto::BoxPublicKey::FromBytes(parsed.box_pk());
  if (!box_pk.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has a box key of ", parsed.box_pk().size(),
                     " bytes, not ", crypto::BoxPublicKey::size()));
  }
  if (parsed.not_before_unix_ms() >= parsed.not_after_unix_ms()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " has not_before ", parsed.not_before_unix_ms(),
        " ms, not before its not_after ", parsed.not_after_unix_ms(), " ms"));
  }
  std::optional<crypto::Signature> signature =
      crypto::Signature::FromBytes(key.signature());
  if (!signature.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has a signature of ", key.signature().size(),
                     " bytes, not ", crypto::Signature::size()));
  }
  if (!crypto::Verify(signer, crypto::Domain::kEpoch, key.key(), *signature)
           .ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat(name, " is not signed by ", agency, "'s identity key"));
  }
  if (absl::Status usable = crypto::ValidateBoxPublicKey(*box_pk);
      !usable.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " has an unusable box key: ", usable.message()));
  }
  known.signed_key = key;
  known.not_before = absl::FromUnixMillis(parsed.not_before_unix_ms());
  known.not_after = absl::FromUnixMillis(parsed.not_after_unix_ms());
  const uint64_t epoch = parsed.epoch();

  absl::MutexLock lock(&mu_);
  std::map<uint64_t, Known>& mine = keys_[std::string(agency)];
  auto it = mine.find(epoch);
  if (it != mine.end()) {
    if (it->second.signed_key.key() == key.key()) return false;
    // Two keys signed by one agency for one epoch: its node lost its epoch
    // file, or misbehaves. Keeping the first keeps what peers already wrap
    // to stable; the caller reports it.
    return absl::AlreadyExistsError(absl::StrCat(
        agency, " published two different keys for epoch ", epoch));
  }
  if (mine.size() >= max_keys_per_agency_ && epoch < mine.begin()->first) {
    return false;  // older than everything kept: it would be dropped at once
  }
  mine.emplace(epoch, std::move(known));
  while (mine.size() > max_keys_per_agency_) mine.erase(mine.begin());
  return true;
}

std::optional<proto::EpochKey> EpochDirectory::Newest(absl::string_view agency,
                                                      absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto found = keys_.find(agency);
  if (found == keys_.end()) return std::nullopt;
  for (auto it = found->second.rbegin(); it != found->second.rend(); ++it) {
    if (ValidAt(it->second.not_before, it->second.not_after, now)) {
      return it->second.key;
    }
  }
  return std::nullopt;
}

std::optional<proto::EpochKey> EpochDirectory::Find(absl::string_view agency,
                                                    uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  auto found = keys_.find(agency);
  if (found == keys_.end()) return std::nullopt;
  auto it = found->second.find(epoch);
  if (it == found->second.end()) return std::nullopt;
  return it->second.key;
}

std::vector<proto::SignedEpochKey> EpochDirectory::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::SignedEpochKey> out;
  for (const auto& [agency, epochs] : keys_) {
    for (const auto& [epoch, known] : epochs) out.push_back(known.signed_key);
  }
  return out;
}

void EpochDirectory::Forget(absl::string_view agency) {
  absl::MutexLock lock(&mu_);
  auto found = keys_.find(agency);
  if (found != keys_.end()) keys_.erase(found);
}

// --- Storage key -------------------------------------------------------------

absl::StatusOr<crypto::SymmetricKey> LoadOrCreateStorageKey(
    const std::string& path) {
  // Twice at most: a missing file is created, and if another process
  // created it first (kAlreadyExists), its key is read.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<crypto::SecretFileBytes> bytes = crypto::ReadSecretFile(
        path, kStorageKeyFile, crypto::SymmetricKey::size());
    if (bytes.ok()) {
      std::optional<crypto::SymmetricKey> key =
          crypto::SymmetricKey::FromBytes(bytes->view());
      if (!key.has_value()) {
        return crypto::MalformedSecretFile(
            kStorageKeyFile, path,
            absl::StrCat(bytes->size(), " bytes, not ",
                         crypto::SymmetricKey::size()));
      }
      return std::move(*key);
    }
    if (!absl::IsNotFound(bytes.status())) return bytes.status();

    crypto::SymmetricKey key;
    crypto::EnsureSodium();
    randombytes_buf(key.mutable_data(), key.size());
    absl::Status written = crypto::WriteNewSecretFile(
        path, kStorageKeyFile,
        absl::string_view(reinterpret_cast<const char*>(key.data()),
                          key.size()));
    if (written.ok()) return key;
    if (!absl::IsAlreadyExists(written)) return written;
  }
  return absl::InternalError(absl::StrCat("storage key file ", path,
                                          " keeps appearing and disappearing"));
}

}  // namespace tidings::node

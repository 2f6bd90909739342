// Forward-secret epoch keys: this node's own (EpochKeys), the ones other
// agencies publish (EpochDirectory), and the local storage key.
//
// Each agency makes a fresh X25519 key every epoch (one day by default),
// signs its public half (proto::EpochKey) with its Ed25519 identity key under
// crypto::Domain::kEpoch and gossips it. Senders wrap an envelope's content
// key from their own current epoch key to each recipient's newest epoch key
// (crypto::Seal with the keyrings and keys given here). A node erases each
// epoch secret once its epoch and a grace period are over: from then on, a
// copy of its disk and memory no longer opens what was wrapped to that key,
// and neither does its long-term identity key. To keep reading the envelopes
// it stores, a node keeps each one's content key sealed under its storage key
// (crypto::SealLocal), a separate 0600 file in its data directory.
//
// Times are passed in (`now`); nothing here reads a clock. A key is valid for
// wrapping from not_before (inclusive) to not_after (exclusive).
//
// Thread-safety: EpochKeys and EpochDirectory are internally synchronised;
// every method is safe from any thread. LoadOrCreateStorageKey is a free
// function; two processes racing to create one file both get the same key.
#ifndef TIDINGS_NODE_MODEL_EPOCHS_H_
#define TIDINGS_NODE_MODEL_EPOCHS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "crypto/types.h"
#include "proto/epoch.pb.h"

namespace tidings::node {

struct EpochOptions {
  // How long each new key is offered to senders (not_after - not_before).
  // Default one day. Shorter: a stolen current secret opens less; more keys
  // to make, sign and gossip. Must be positive.
  absl::Duration duration = absl::Hours(24);
  // How long a secret is kept after its epoch ends, for envelopes wrapped to
  // it that arrive late (outages, relays, clock skew). Default two days.
  // Longer: late envelopes still open; a stolen disk opens more. Must not be
  // negative.
  absl::Duration grace = absl::Hours(48);
  // The number of the first key made when none is held (later ones count
  // up from the newest held). The daemon uses the Unix time in seconds, so
  // that a node whose epoch file was lost numbers its new keys above every
  // one it made before, and peers take them (a second key for a number they
  // know is refused). Must be at least 1.
  uint64_t first_epoch = 1;
};

// This node's own epoch secrets, persisted to one file (proto::EpochSecretFile,
// mode 0600, replaced atomically). The file holds exactly the secrets not yet
// erased; an erased secret is gone from it once Advance returns. (Rewriting a
// file cannot promise that old blocks are overwritten on every file system and
// disk: put the data directory on encrypted storage.)
class EpochKeys {
 public:
  // Opens the epoch key file at `path` for `identity` (a missing file is an
  // empty one; nothing is written until Advance). Keys the file holds whose
  // signature does not verify under `identity` (its identity key was
  // rotated or revoked since) are *retired*: their secrets still open what
  // was wrapped to them until the grace ends, but they are never published
  // or wrapped from again (if the old identity key was stolen, so may they
  // have been), so the next Advance makes a fresh key. Errors:
  //  - kInvalidArgument if `options.duration` <= 0 or `options.grace` < 0;
  //  - kPermissionDenied "epoch key file <path> is accessible by group or
  //    others (mode 0644); run: chmod 600 <path>", or if it is unreadable;
  //  - kInvalidArgument "epoch key file <path> is malformed: ..." if it does
  //    not parse or any key in it is inconsistent;
  //  - kFailedPrecondition "epoch key file <path> is for <A>, not <B>" if it
  //    holds another agency's keys.
  // Copies what it needs of `identity`; the caller keeps ownership.
  static absl::StatusOr<std::unique_ptr<EpochKeys>> Open(
      const std::string& path, const crypto::Identity& identity,
      EpochOptions options);

  EpochKeys(const EpochKeys&) = delete;
  EpochKeys& operator=(const EpochKeys&) = delete;

  // Brings the keys up to `now`: if no key held has not_before <= now <
  // not_after, makes the next one (epoch = newest + 1, or first_epoch when
  // none is held; not_before =
  // now, not_after = now + duration; public half signed by the identity);
  // erases every secret whose not_after + grace <= now. Rewrites the file
  // only if something changed, before the change
  // is visible; if the write fails, nothing changes and its error (as
  // crypto::WriteSecretFileAtomically's) is returned. kResourceExhausted if
  // the file would grow past 1 MiB (a grace of thousands of epochs).
  // Returns true if a new key was made. Call it at start and then often
  // enough (e.g. every minute) that a key is always current.
  absl::StatusOr<bool> Advance(absl::Time now);

  struct Current {
    uint64_t epoch;
    crypto::BoxPublicKey public_key;
    // Seal from this (crypto::Seal's sender) for envelopes made now.
    std::shared_ptr<crypto::Keyring> keyring;
  };
  // The key the last Advance found or made current (the highest epoch valid
  // at its `now`); nullopt before the first Advance.
  std::optional<Current> current() const;

  // The keyring of `epoch`, to unwrap what was wrapped to it; nullptr if
  // this node never made that epoch or has erased it. Erasure drops this
  // object's reference: the secret leaves memory when the last holder of
  // the returned pointer lets go, so callers should not keep it long.
  std::shared_ptr<crypto::Keyring> KeyringFor(uint64_t epoch) const;

  // The signed public halves of the keys still held, by increasing epoch:
  // what to gossip.
  std::vector<proto::SignedEpochKey> Published() const;

 private:
  // One key held.
  struct Held {
    // The secret as the file stores it (the keyring holds its own copy).
    crypto::BoxSecretKey secret;
    std::shared_ptr<crypto::Keyring> keyring;
    proto::SignedEpochKey published;
    absl::Time not_before;
    absl::Time not_after;
    // Published under an earlier identity key: for reading only.
    bool retired = false;
  };

  EpochKeys(std::string path, const crypto::Identity& identity,
            EpochOptions options);

  // Parses and checks the file's bytes into held_ (called once, from Open).
  absl::Status Load(absl::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A new key for `epoch` valid from `now`.
  Held Make(uint64_t epoch, absl::Time now) const;
  // Signs `key_bytes` (a serialized EpochKey) with the identity.
  proto::SignedEpochKey SignKey(std::string key_bytes) const;
  // Writes held_, minus the epochs in `erase`, plus `fresh` if set.
  absl::Status Write(const std::vector<uint64_t>& erase,
                     const std::optional<std::pair<uint64_t, Held>>& fresh)
      const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction
  const std::string path_;
  const std::string principal_;  // the identity's: its epoch keys name it
  const crypto::SigningKey signing_key_;
  const crypto::VerifyKey verify_key_;
  const EpochOptions options_;

  mutable absl::Mutex mu_;
  // Guarded by mu_
  std::map<uint64_t, Held> held_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> current_ ABSL_GUARDED_BY(mu_);
};

// Other agencies' published epoch keys, in memory, refilled by gossip. At most
// `max_keys_per_agency` per agency (the highest epochs), so no peer can grow
// it without bound; agencies come from the roster (callers add keys only for
// members, and Forget removed ones).
class EpochDirectory {
 public:
  static constexpr std::size_t kDefaultMaxKeysPerAgency = 4;
  // A serialized EpochKey is about 100 bytes; anything much larger is not one.
  static constexpr std::size_t kMaxKeyBytes = 1024;

  // `max_keys_per_agency` >= 1 (CHECKed). Four covers a current key plus the
  // older ones late envelopes (within the default two-day grace) were
  // wrapped from.
  explicit EpochDirectory(
      std::size_t max_keys_per_agency = kDefaultMaxKeysPerAgency);

  EpochDirectory(const EpochDirectory&) = delete;
  EpochDirectory& operator=(const EpochDirectory&) = delete;

  // Checks `key` as `agency`'s, signed by `signer` (that agency's identity key
  // from the roster), and keeps it. Returns true if it is new, false if it
  // was already known (the same bytes) or is older than every key kept for a
  // full agency (nothing to gossip on). Errors, each naming the agency and
  // epoch:
  //  - kInvalidArgument if it is larger than kMaxKeyBytes, does not parse,
  //    names another agency, has epoch 0, a box key that is not 32 bytes or
  //    is a low-order point, not_before >= not_after, or a signature that is
  //    not 64 bytes;
  //  - kUnauthenticated if the signature (domain kEpoch, over `key.key()`)
  //    does not verify under `signer`;
  //  - kAlreadyExists if a different key is already known for that epoch
  //    (the first one is kept).
  absl::StatusOr<bool> Add(const proto::SignedEpochKey& key,
                           absl::string_view agency,
                           const crypto::VerifyKey& signer);

  // The key to wrap to for `agency` at `now`: the highest epoch with
  // not_before <= now < not_after; nullopt if none.
  std::optional<proto::EpochKey> Newest(absl::string_view agency,
                                        absl::Time now) const;

  // `agency`'s key for `epoch` (to unwrap what it wrapped from it), whatever
  // its validity; nullopt if unknown or dropped.
  std::optional<proto::EpochKey> Find(absl::string_view agency,
                                      uint64_t epoch) const;

  // Every key kept, by agency then epoch: what to gossip.
  std::vector<proto::SignedEpochKey> All() const;

  // Drops every key of `agency` (removed from the roster).
  void Forget(absl::string_view agency);

 private:
  struct Known {
    proto::SignedEpochKey signed_key;
    proto::EpochKey key;
    absl::Time not_before;
    absl::Time not_after;
  };

  // Constant after construction
  const std::size_t max_keys_per_agency_;

  mutable absl::Mutex mu_;
  // Guarded by mu_: by agency, then epoch.
  std::map<std::string, std::map<uint64_t, Known>, std::less<>> keys_
      ABSL_GUARDED_BY(mu_);
};

// The node's storage key at `path` (32 random bytes, mode 0600), created if
// missing. It seals what the node must keep readable after epoch secrets are
// erased (crypto::SealLocal). Errors: kPermissionDenied "storage key file
// <path> is accessible by group or others (mode 0644); run: chmod 600
// <path>"; kInvalidArgument "storage key file <path> is malformed: ..." if it
// is not exactly 32 bytes; kNotFound if its directory is missing; other
// errors of crypto::ReadSecretFile / WriteNewSecretFile.
absl::StatusOr<crypto::SymmetricKey> LoadOrCreateStorageKey(
    const std::string& path);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_EPOCHS_H_

// Forward secrecy as the gossip engine holds it: this node's epoch keys, the
// epoch keys other principals published (the directory), and the storage
// key that content keys are kept under on disk.
//
// Always present. A part the node runs without is inert: without epoch keys
// it publishes nothing and opens with its long-term key only (epoch 0);
// without a directory it learns and knows no one's epoch keys; without a
// storage key it keeps no local keys (and so cannot serve content keys).
// The daemon gives all three; tests may give none.
//
// Thread-safety: as the borrowed EpochKeys and EpochDirectory (both
// thread-safe); the component itself holds no mutable state.
#ifndef TIDINGS_NODE_GOSSIP_FORWARD_SECRECY_H_
#define TIDINGS_NODE_GOSSIP_FORWARD_SECRECY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/seal.h"
#include "node/model/epochs.h"
#include "proto/epoch.pb.h"

namespace tidings::node {

class ForwardSecrecy {
 public:
  // Each may be null (that part is inert); all borrowed.
  ForwardSecrecy(EpochKeys* own, EpochDirectory* directory,
                 const crypto::SymmetricKey* storage_key)
      : own_(own), directory_(directory), storage_key_(storage_key) {}

  // For the model's SealKeys and VerifyContext (null: epoch 0 only).
  EpochKeys* own_keys() const { return own_; }
  EpochDirectory* directory() const { return directory_; }

  // Whether this node has epoch keys of its own to publish.
  bool publishes() const { return own_ != nullptr; }
  // Whether this node keeps other principals' epoch keys.
  bool learns() const { return directory_ != nullptr; }
  // Whether this node keeps content keys under a storage key.
  bool keeps_local_keys() const { return storage_key_ != nullptr; }

  // This node's published epoch keys; none without epoch keys.
  std::vector<proto::SignedEpochKey> Published() const;
  // The epoch keys learnt from others; none without a directory.
  std::vector<proto::SignedEpochKey> Learnt() const;
  // Makes a new epoch key when due, erases expired ones: true if it made
  // one. false without epoch keys.
  absl::StatusOr<bool> Advance(absl::Time now);
  // This node's current epoch key; nullopt without epoch keys.
  std::optional<EpochKeys::Current> current() const;
  // The keyring of this node's `epoch`; null if not held.
  std::shared_ptr<crypto::Keyring> KeyringFor(uint64_t epoch) const;

  // `principal`'s newest / `epoch` key as learnt; nullopt if not known.
  std::optional<proto::EpochKey> Newest(absl::string_view principal,
                                        absl::Time now) const;
  std::optional<proto::EpochKey> Find(absl::string_view principal,
                                      uint64_t epoch) const;
  // EpochDirectory::Add; requires learns().
  absl::StatusOr<bool> Learn(const proto::SignedEpochKey& key,
                             absl::string_view principal,
                             const crypto::VerifyKey& signer);
  // Forgets what was learnt of `principal`.
  void Forget(absl::string_view principal);

  // `content_key` sealed for the log (LocalKeyOf); empty without a storage
  // key (the log then keeps none).
  std::string LocalKeyOf(absl::string_view envelope_id,
                         const crypto::SymmetricKey& content_key) const;
  // The inverse (model OpenLocalKey); kFailedPrecondition without a
  // storage key.
  absl::StatusOr<crypto::SymmetricKey> OpenLocalKey(
      absl::string_view envelope_id, absl::string_view local_key) const;

 private:
  EpochKeys* const own_;
  EpochDirectory* const directory_;
  const crypto::SymmetricKey* const storage_key_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_FORWARD_SECRECY_H_

#include "node/gossip/forward_secrecy.h"

#include "node/model/envelope.h"

namespace tidings::node {

std::vector<proto::SignedEpochKey> ForwardSecrecy::Published() const {
  if (own_ == nullptr) return {};
  return own_->Published();
}

std::vector<proto::SignedEpochKey> ForwardSecrecy::Learnt() const {
  if (directory_ == nullptr) return {};
  return directory_->All();
}

absl::StatusOr<bool> ForwardSecrecy::Advance(absl::Time now) {
  if (own_ == nullptr) return false;
  return own_->Advance(now);
}

std::optional<EpochKeys::Current> ForwardSecrecy::current() const {
  if (own_ == nullptr) return std::nullopt;
  return own_->current();
}

std::shared_ptr<crypto::Keyring> ForwardSecrecy::KeyringFor(
    uint64_t epoch) const {
  if (own_ == nullptr) return nullptr;
  return own_->KeyringFor(epoch);
}

std::optional<proto::EpochKey> ForwardSecrecy::Newest(
    absl::string_view principal, absl::Time now) const {
  if (directory_ == nullptr) return std::nullopt;
  return directory_->Newest(principal, now);
}

std::optional<proto::EpochKey> ForwardSecrecy::Find(absl::string_view principal,
                                                    uint64_t epoch) const {
  if (directory_ == nullptr) return std::nullopt;
  return directory_->Find(principal, epoch);
}

absl::StatusOr<bool> ForwardSecrecy::Learn(const proto::SignedEpochKey& key,
                                           absl::string_view principal,
                                           const crypto::VerifyKey& signer) {
  if (directory_ == nullptr) return false;
  return directory_->Add(key, principal, signer);
}

void ForwardSecrecy::Forget(absl::string_view principal) {
  if (directory_ != nullptr) directory_->Forget(principal);
}

std::string ForwardSecrecy::LocalKeyOf(
    absl::string_view envelope_id,
    const crypto::SymmetricKey& content_key) const {
  if (storage_key_ == nullptr) return "";
  return node::LocalKeyOf(*storage_key_, envelope_id, content_key);
}

absl::StatusOr<crypto::SymmetricKey> ForwardSecrecy::OpenLocalKey(
    absl::string_view envelope_id, absl::string_view local_key) const {
  if (storage_key_ == nullptr) {
    return absl::FailedPreconditionError("this node keeps no local keys");
  }
  return node::OpenLocalKey(*storage_key_, envelope_id, local_key);
}

}  // namespace tidings::node

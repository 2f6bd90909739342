#include "node/gossip/epoch_key_gossip.h"

#include <memory>
#include <optional>
#include <string>

#include "base/logging.h"
#include "base/status_macros.h"

namespace tidings::node {

std::vector<proto::PeerMessage::MsgCase> EpochKeyGossip::Routes() const {
  return {proto::PeerMessage::kEpochKeys};
}

void EpochKeyGossip::OnLinkUp(absl::string_view peer) {
  if (keys_.publishes()) {
    context_.sender.SendToPeer(peer, AllKeysMessage(), kControl);
  }
}

void EpochKeyGossip::OnTick(absl::Time now) { Advance(now); }

namespace {

void AddKeys(const std::vector<proto::SignedEpochKey>& keys,
             proto::PeerMessage& message) {
  for (const proto::SignedEpochKey& key : keys) {
    message.mutable_epoch_keys()->add_keys(key.SerializeAsString());
  }
}

}  // namespace

proto::PeerMessage EpochKeyGossip::AllKeysMessage() const {
  proto::PeerMessage message;
  AddKeys(keys_.Published(), message);
  AddKeys(keys_.Learnt(), message);
  return message;
}

void EpochKeyGossip::Advance(absl::Time now) {
  absl::StatusOr<bool> made = keys_.Advance(now);
  if (!made.ok()) {
    context_.counters.Add("epoch_key_failures");
    spdlog::error("cannot advance epoch keys: {}", made.status().ToString());
    return;
  }
  if (!*made) return;
  context_.counters.Add("epoch_keys.made");
  proto::PeerMessage message;
  AddKeys(keys_.Published(), message);
  context_.links.Broadcast(message, "");
}

void EpochKeyGossip::ForgetResigned(const RosterChain& chain) {
  const Roster* before = chain.at(chain.version() - 1);
  if (before == nullptr) return;
  for (const proto::Member& was : before->roster().members()) {
    const proto::Member* now = chain.current().Find(was.agency());
    if (now == nullptr || now->sign_pk() != was.sign_pk()) {
      keys_.Forget(was.agency());
    }
  }
}

void EpochKeyGossip::ForgetInactive(const RosterChain& chain) {
  for (const auto& [id, node] : chain.nodes().all()) {
    if (!chain.IsActive(id)) keys_.Forget(id);
  }
}

absl::Status EpochKeyGossip::OnMessage(absl::string_view peer,
                                       const proto::PeerMessage& message) {
  if (!keys_.learns()) return absl::OkStatus();
  const proto::EpochKeys& keys = message.epoch_keys();
  const std::shared_ptr<const RosterChain> chain = context_.membership.chain();
  // A few keys per member at most; more is not gossip but load.
  const size_t max_keys =
      EpochDirectory::kDefaultMaxKeysPerAgency *
          (static_cast<size_t>(chain->current().roster().members_size()) +
           chain->nodes().all().size()) +
      16;
  if (static_cast<size_t>(keys.keys_size()) > max_keys) {
    context_.counters.Add("rejected.epoch_keys");
    return context_.links.Strike(peer);
  }
  proto::EpochKeys fresh;
  for (const std::string& bytes : keys.keys()) {
    proto::SignedEpochKey signed_key;
    proto::EpochKey key;
    absl::Status status;
    if (bytes.size() > EpochDirectory::kMaxKeyBytes ||
        !signed_key.ParseFromString(bytes) ||
        !key.ParseFromString(signed_key.key())) {
      status = absl::InvalidArgumentError("does not parse");
    } else if (key.agency() == context_.identity.principal()) {
      continue;  // our own, back from a peer
    } else if (std::optional<proto::EpochKey> known =
                   keys_.Find(key.agency(), key.epoch());
               known.has_value() &&
               known->SerializeAsString() == signed_key.key()) {
      continue;  // known already: no signature check
    } else if (std::optional<crypto::VerifyKey> signer =
                   chain->VerifyKeyOf(key.agency());
               !signer.has_value()) {
      continue;  // not a member or field node (any more): nothing to wrap to
    } else {
      absl::StatusOr<bool> added =
          keys_.Learn(signed_key, key.agency(), *signer);
      if (added.ok() && *added) {
        context_.counters.Add("epoch_keys.learnt");
        fresh.add_keys(bytes);
      }
      status = added.status();
    }
    if (!status.ok()) {
      context_.counters.Add("rejected.epoch_key");
      spdlog::warn("refused an epoch key from {}: {}", peer, status.message());
      // Another key for a known epoch is the agency's doing (a node that
      // lost its epoch file starts again at 1), not the relaying peer's.
      if (status.code() != absl::StatusCode::kAlreadyExists) {
        TIDINGS_RETURN_IF_ERROR(context_.links.Strike(peer));
      }
    }
  }
  if (fresh.keys_size() > 0) {
    proto::PeerMessage out;
    *out.mutable_epoch_keys() = std::move(fresh);
    context_.links.Broadcast(out, peer);
  }
  return absl::OkStatus();
}

}  // namespace tidings::node

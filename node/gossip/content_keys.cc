#include "node/gossip/content_keys.h"

#include <sodium.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/seal.h"
#include "node/gossip/internal/envelopes.h"
#include "node/model/envelope.h"
#include "node/model/field_nodes.h"
#include "storage/state_keys.h"

namespace tidings::node {
namespace {

using gossip_internal::HeldHeader;
using gossip_internal::InAudience;
using gossip_internal::Short;

// State records (storage::Log::PutState) of envelopes a field node holds
// unread, until its agency's node gives it their content keys.
constexpr absl::string_view kUnreadKey = storage::state_keys::kUnread;

std::string UnreadKeyOf(absl::string_view id) {
  return absl::StrCat(kUnreadKey, crypto::ToHex(id));
}

// Whom a content key for `peer` is wrapped to: its newest epoch key, else
// its certificate's box key (epoch 0). nullopt if it has neither.
std::optional<std::pair<crypto::Recipient, uint64_t>> RecipientOf(
    const ForwardSecrecy& keys, const RosterChain& chain,
    absl::string_view peer, absl::Time now) {
  crypto::Recipient recipient{std::string(peer), crypto::BoxPublicKey()};
  if (std::optional<proto::EpochKey> newest = keys.Newest(peer, now);
      newest.has_value() &&
      crypto::BoxPublicKey::FromBytes(newest->box_pk()).has_value()) {
    recipient.public_key = *crypto::BoxPublicKey::FromBytes(newest->box_pk());
    return std::make_pair(std::move(recipient), newest->epoch());
  }
  if (std::optional<crypto::BoxPublicKey> key =
          chain.BoxKeyOf(peer, chain.version())) {
    recipient.public_key = *key;
    return std::make_pair(std::move(recipient), uint64_t{0});
  }
  return std::nullopt;
}

}  // namespace

std::vector<proto::PeerMessage::MsgCase> ContentKeys::Routes() const {
  return {proto::PeerMessage::kKeyRequest, proto::PeerMessage::kContentKeys};
}

absl::Status ContentKeys::OnMessage(absl::string_view peer,
                                    const proto::PeerMessage& message) {
  if (message.has_key_request()) {
    return HandleKeyRequest(peer, message.key_request());
  }
  return HandleContentKeys(peer, message.content_keys());
}

absl::Status ContentKeys::Refuse(absl::string_view peer,
                                 absl::string_view what) {
  context_.counters.Add(absl::StrCat("rejected.", what));
  return context_.links.Strike(peer);
}

void ContentKeys::MarkUnread(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::vector<std::pair<std::string, std::string>> marks;
  marks.reserve(ids.size());
  for (const std::string& id : ids) marks.emplace_back(UnreadKeyOf(id), id);
  if (absl::Status marked = context_.log.PutStates(marks); !marked.ok()) {
    spdlog::error("cannot note envelopes held unread: {}", marked.ToString());
  }
}

absl::Status ContentKeyServer::HandleKeyRequest(
    absl::string_view peer, const proto::KeyRequest& request) {
  const std::shared_ptr<const RosterChain> chain = context_.membership.chain();
  // Only its own active field nodes are answered. A certificate signed with
  // this agency's key elsewhere (a stolen key) gets nothing: only nodes this
  // node certified itself are answered, and only for envelopes created from
  // the backlog start set then.
  const std::optional<int64_t> since =
      context_.membership.KeyBacklogStart(peer);
  if (!IsFieldNode(peer) || AgencyOf(peer) != context_.identity.principal() ||
      !chain->IsActive(peer) || !keys_.keeps_local_keys() ||
      !since.has_value()) {
    return Refuse(peer, "key_request");
  }
  if (static_cast<size_t>(request.envelope_ids_size()) >
      kMaxContentKeysPerMessage) {
    return Refuse(peer, "key_request");
  }
  // To the field node's newest epoch key, else its certificate's box key;
  // from this node's current epoch key, else its long-term key.
  std::optional<std::pair<crypto::Recipient, uint64_t>> to =
      RecipientOf(keys_, *chain, peer, context_.clock.Now());
  if (!to.has_value()) return absl::OkStatus();
  const auto& [recipient, epoch] = *to;
  std::optional<EpochKeys::Current> own = keys_.current();
  crypto::Keyring& sender = own.has_value() ? *own->keyring : context_.keyring;
  proto::PeerMessage answer;
  for (const std::string& id : request.envelope_ids()) {
    std::optional<proto::Header> held = HeldHeader(context_.log, id);
    absl::StatusOr<std::optional<std::string>> local =
        context_.log.GetLocalKey(id);
    if (!held.has_value() || !local.ok() || !local->has_value() ||
        !InAudience(held->audience(), peer)) {
      continue;  // not held or readable here
    }
    const proto::Header& header = *held;
    if (header.created_unix_ms() < *since) {
      context_.counters.Add("content_keys.outside_backlog");
      continue;
    }
    absl::StatusOr<crypto::SymmetricKey> content_key =
        keys_.OpenLocalKey(id, **local);
    if (!content_key.ok()) continue;
    crypto::Nonce nonce;
    randombytes_buf(nonce.mutable_data(), nonce.size());
    absl::StatusOr<std::string> wrapped = crypto::WrapContentKey(
        sender, recipient, nonce,
        BodyAadOf(header.network_id(), header.origin(), header.seq()),
        *content_key);
    if (!wrapped.ok()) continue;
    proto::ContentKey* key = answer.mutable_content_keys()->add_keys();
    key->set_envelope_id(id);
    key->set_nonce(nonce.str());
    key->set_wrapped(*std::move(wrapped));
    key->set_epoch(epoch);
    key->set_sender_box_pk(sender.public_key().str());
  }
  if (answer.content_keys().keys_size() > 0) {
    context_.counters.Add(
        "content_keys.sent",
        static_cast<uint64_t>(answer.content_keys().keys_size()));
    context_.sender.SendToPeer(peer, answer, proto::PRECEDENCE_ROUTINE);
  }
  return absl::OkStatus();
}

ContentKeyClient::ContentKeyClient(const GossipContext& context,
                                   const ForwardSecrecy& keys)
    : ContentKeys(context, keys),
      agency_(AgencyOf(context.identity.principal())) {}

void ContentKeyClient::OnLinkUp(absl::string_view peer) {
  // What this field node holds unread, from before it could ask.
  if (peer == agency_) RequestUnread();
}

void ContentKeyClient::OnTick(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    if (now < next_retry_) return;
    next_retry_ = now + retry_interval_;
    retry_interval_ = std::min(2 * retry_interval_, kMaxUnreadRetryInterval);
  }
  if (context_.links.IsLinked(agency_)) RequestUnread();
}

void ContentKeyClient::RequestUnread() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> unread =
      context_.log.ScanState(kUnreadKey);
  if (!unread.ok() || unread->empty()) return;
  std::vector<std::string> ids;
  for (const auto& [key, value] : *unread) {
    absl::StatusOr<std::optional<std::string>> held =
        context_.log.GetEnvelope(value);
    absl::StatusOr<std::optional<std::string>> local =
        context_.log.GetLocalKey(value);
    if (held.ok() && held->has_value() && local.ok() && !local->has_value()) {
      ids.push_back(value);
    } else if (held.ok() && local.ok()) {
      // Never stored after all (a gap, a duplicate), or readable by now.
      context_.log.DeleteState(key).IgnoreError();
    }
  }
  RequestKeys(ids);
}

void ContentKeyClient::RequestKeys(const std::vector<std::string>& ids) {
  for (size_t i = 0; i < ids.size(); i += kMaxContentKeysPerMessage) {
    proto::PeerMessage message;
    for (size_t j = i; j < ids.size() && j < i + kMaxContentKeysPerMessage;
         ++j) {
      message.mutable_key_request()->add_envelope_ids(ids[j]);
    }
    if (context_.sender.SendToPeer(agency_, message,
                                   proto::PRECEDENCE_ROUTINE)) {
      context_.counters.Add(
          "content_keys.requested",
          static_cast<uint64_t>(message.key_request().envelope_ids_size()));
    }
  }
}

absl::Status ContentKeyClient::HandleContentKeys(
    absl::string_view peer, const proto::ContentKeys& keys) {
  if (peer != agency_ || !keys_.keeps_local_keys() ||
      static_cast<size_t>(keys.keys_size()) > kMaxContentKeysPerMessage) {
    return Refuse(peer, "content_keys");
  }
  bool struck = false;
  for (const proto::ContentKey& key : keys.keys()) {
    std::optional<proto::Header> held =
        HeldHeader(context_.log, key.envelope_id());
    if (!held.has_value()) continue;  // asked for, then gone? nothing to open
    const proto::Header& header = *held;
    std::optional<crypto::Nonce> nonce = crypto::Nonce::FromBytes(key.nonce());
    std::optional<crypto::Nonce> body_nonce =
        crypto::Nonce::FromBytes(header.nonce());
    std::optional<crypto::BoxPublicKey> from =
        crypto::BoxPublicKey::FromBytes(key.sender_box_pk());
    std::shared_ptr<crypto::Keyring> epoch_keyring;
    if (key.epoch() != 0) epoch_keyring = keys_.KeyringFor(key.epoch());
    crypto::Keyring* mine =
        key.epoch() == 0 ? &context_.keyring : epoch_keyring.get();
    const std::string aad =
        BodyAadOf(header.network_id(), header.origin(), header.seq());
    absl::StatusOr<crypto::SymmetricKey> content_key =
        nonce.has_value() && from.has_value() && mine != nullptr
            ? crypto::OpenContentKey(*mine, context_.identity.principal(),
                                     *from, *nonce, key.wrapped(), aad)
            : absl::UnauthenticatedError("malformed content key");
    // The body is the origin's, authenticated by its signature: a content
    // key that opens it is the right one, whoever relayed it.
    absl::StatusOr<std::string> body =
        content_key.ok() && body_nonce.has_value()
            ? crypto::OpenWithContentKey(*content_key, *body_nonce, aad,
                                         header.ciphertext())
            : absl::UnauthenticatedError("no content key");
    if (!body.ok()) {
      context_.counters.Add("rejected.content_key");
      spdlog::warn("content key for {} from {} does not open it",
                   Short(key.envelope_id()), peer);
      // Wrapped to an epoch key this node no longer holds is nobody's
      // fault; anything else counts once per message.
      if (mine != nullptr && !struck) {
        struck = true;
        TIDINGS_RETURN_IF_ERROR(context_.links.Strike(peer));
      }
      continue;
    }
    sodium_memzero(body->data(), body->size());
    if (absl::Status stored = context_.log.PutLocalKey(
            key.envelope_id(),
            keys_.LocalKeyOf(key.envelope_id(), *content_key));
        !stored.ok()) {
      spdlog::error("cannot store the content key of {}: {}",
                    Short(key.envelope_id()), stored.ToString());
      continue;
    }
    context_.log.DeleteState(UnreadKeyOf(key.envelope_id())).IgnoreError();
    context_.counters.Add("content_keys.learnt");
    // Keys come again: ask for the rest soon.
    absl::MutexLock lock(&mu_);
    retry_interval_ = kUnreadRetryInterval;
  }
  return absl::OkStatus();
}

std::unique_ptr<ContentKeys> MakeContentKeys(const GossipContext& context,
                                             const ForwardSecrecy& keys) {
  if (IsFieldNode(context.identity.principal())) {
    return std::make_unique<ContentKeyClient>(context, keys);
  }
  return std::make_unique<ContentKeyServer>(context, keys);
}

}  // namespace tidings::node

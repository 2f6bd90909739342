#include "node/model/envelope.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/labels.h"
#include "crypto/sign.h"

namespace tidings::node {
namespace {

constexpr uint32_t kHeaderVersion = 1;

bool ValidKind(proto::Kind kind) {
  return kind == proto::KIND_NOTICE || kind == proto::KIND_ALERT ||
         kind == proto::KIND_RECEIPT;
}

bool ValidPrecedence(proto::Precedence p) {
  return p >= proto::PRECEDENCE_FLASH && p <= proto::PRECEDENCE_ROUTINE;
}

// Field bounds a parsed header must meet before anything else looks at it.
absl::Status CheckHeaderShape(const proto::Header& h) {
  if (h.version() != kHeaderVersion) {
    return Reject(RejectReason::kMalformed,
                  absl::StrCat("unsupported header version ", h.version()));
  }
  if (h.network_id().size() != crypto::Hash256::kSize) {
    return Reject(RejectReason::kMalformed, "network id is not 32 bytes");
  }
  if (!ValidKind(h.kind())) {
    return Reject(RejectReason::kMalformed,
                  absl::StrCat("unknown kind ", static_cast<int>(h.kind())));
  }
  if (!ValidPrecedence(h.precedence())) {
    return Reject(
        RejectReason::kMalformed,
        absl::StrCat("unknown precedence ", static_cast<int>(h.precedence())));
  }
  if (h.seq() == 0) return Reject(RejectReason::kMalformed, "seq 0");
  if (h.seq() == 1 ? !h.prev_id().empty()
                   : h.prev_id().size() != crypto::Hash256::kSize) {
    return Reject(RejectReason::kMalformed,
                  absl::StrCat("prev id of ", h.prev_id().size(),
                               " bytes at seq ", h.seq()));
  }
  if (h.nonce().size() != crypto::Nonce::kSize) {
    return Reject(RejectReason::kMalformed, "nonce is not 24 bytes");
  }
  if (h.audience_size() == 0 ||
      static_cast<size_t>(h.audience_size()) > kMaxAudience) {
    return Reject(RejectReason::kBadAudience,
                  absl::StrCat("audience of ", h.audience_size(),
                               " members (1 to ", kMaxAudience, " allowed)"));
  }
  if (h.wrapped_keys_size() < h.audience_size() ||
      static_cast<size_t>(h.wrapped_keys_size()) >
          static_cast<size_t>(h.audience_size()) + kMaxFieldNodeWraps) {
    return Reject(RejectReason::kMalformed,
                  absl::StrCat(h.wrapped_keys_size(), " wrapped keys for ",
                               h.audience_size(), " audience members (at most ",
                               kMaxFieldNodeWraps, " more for field nodes)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<proto::Kind> KindFromName(absl::string_view name) {
  if (name == "alert") return proto::KIND_ALERT;
  if (name == "notice") return proto::KIND_NOTICE;
  return std::nullopt;
}

std::string KindName(proto::Kind kind) {
  switch (kind) {
    case proto::KIND_NOTICE:
      return "notice";
    case proto::KIND_ALERT:
      return "alert";
    case proto::KIND_RECEIPT:
      return "receipt";
    default:
      return absl::StrCat("kind-", static_cast<int>(kind));
  }
}

std::optional<proto::Precedence> PrecedenceFromName(absl::string_view name) {
  if (name == "flash") return proto::PRECEDENCE_FLASH;
  if (name == "immediate") return proto::PRECEDENCE_IMMEDIATE;
  if (name == "priority") return proto::PRECEDENCE_PRIORITY;
  if (name == "routine") return proto::PRECEDENCE_ROUTINE;
  return std::nullopt;
}

std::string PrecedenceName(proto::Precedence precedence) {
  switch (precedence) {
    case proto::PRECEDENCE_FLASH:
      return "flash";
    case proto::PRECEDENCE_IMMEDIATE:
      return "immediate";
    case proto::PRECEDENCE_PRIORITY:
      return "priority";
    case proto::PRECEDENCE_ROUTINE:
      return "routine";
    default:
      return absl::StrCat("precedence-", static_cast<int>(precedence));
  }
}

std::string FeedIdOf(absl::string_view network_id, absl::string_view origin,
                     const std::vector<std::string>& audience) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kFeedId);
  hasher.UpdateField(network_id);
  hasher.UpdateField(origin);
  for (const std::string& member : audience) hasher.UpdateField(member);
  return hasher.Finish().str();
}

std::string BodyAadOf(absl::string_view network_id, absl::string_view origin,
                      uint64_t seq) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kBodyAad);
  hasher.UpdateField(network_id);
  hasher.UpdateField(origin);
  hasher.UpdateField(absl::StrCat(seq));
  return hasher.Finish().str();
}

absl::StatusOr<std::vector<std::string>> NormalizeAudience(
    const Roster& roster, absl::string_view origin,
    std::vector<std::string> audience) {
  audience.emplace_back(AgencyOf(origin));
  std::sort(audience.begin(), audience.end());
  audience.erase(std::unique(audience.begin(), audience.end()), audience.end());
  if (audience.size() > kMaxAudience) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audience of ", audience.size(), " agencies; at most ", kMaxAudience));
  }
  for (const std::string& member : audience) {
    TIDINGS_RETURN_IF_ERROR(ValidateAgencyId(member));
    if (!roster.IsMember(member)) {
      return absl::InvalidArgumentError(
          absl::StrCat("audience member ", member, " is not in the roster"));
    }
  }
  return audience;
}

namespace {

// Whether `identity` may sign under `roster`: its key is its agency's key
// there, or (a field node) its certificate holds.
absl::Status CheckSignerHolds(const crypto::Identity& identity,
                              const SealKeys& keys, const Roster& roster) {
  const absl::string_view self_id = identity.principal();
  if (IsFieldNode(self_id)) {
    const FieldNode* me =
        keys.nodes != nullptr ? keys.nodes->Active(self_id, roster) : nullptr;
    if (me == nullptr || me->cert.sign_pk() != identity.verify_key().view()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this field node's certificate is not known here or no longer "
          "holds under roster v",
          roster.version(), " (revoked, or its agency removed)"));
    }
    return absl::OkStatus();
  }
  const proto::Member* self = roster.Find(self_id);
  if (self == nullptr || self->sign_pk() != identity.verify_key().view()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node's key is not ", self_id, "'s key in roster v",
        roster.version(),
        self == nullptr ? " (the agency was removed)"
                        : "; restart tidingsd with the agency's new key file"));
  }
  return absl::OkStatus();
}

// Who the content key is wrapped to, in header order, and under which of
// their epochs (0: the long-term box key).
struct WrapTargets {
  std::vector<crypto::Recipient> recipients;
  std::vector<uint64_t> epochs;
};

// Adds `principal`, wrapped to its newest epoch key if known, else `key`.
absl::Status AddWrapTarget(const std::string& principal,
                           std::optional<crypto::BoxPublicKey> key,
                           absl::string_view self_id, const SealKeys& keys,
                           const std::optional<EpochKeys::Current>& own_epoch,
                           WrapTargets& targets) {
  uint64_t epoch = 0;
  if (own_epoch.has_value()) {
    if (principal == self_id) {
      key = own_epoch->public_key;
      epoch = own_epoch->epoch;
    } else if (keys.directory != nullptr) {
      std::optional<proto::EpochKey> theirs =
          keys.directory->Newest(principal, keys.now);
      if (theirs.has_value()) {
        key = crypto::BoxPublicKey::FromBytes(theirs->box_pk());
        epoch = theirs->epoch();
      }
    }
  }
  if (!key.has_value()) {
    return absl::InternalError("box key of the wrong size");
  }
  targets.recipients.push_back({principal, *key});
  targets.epochs.push_back(epoch);
  return absl::OkStatus();
}

// The active field nodes of the audience's agencies, sorted by node id, at
// most kMaxFieldNodeWraps.
std::vector<const FieldNode*> FieldNodesToWrap(
    const FieldNodes& nodes, const Roster& roster,
    const std::vector<std::string>& audience) {
  std::vector<const FieldNode*> field;
  for (const std::string& member : audience) {
    for (const FieldNode* node : nodes.ActiveOf(member, roster)) {
      field.push_back(node);
    }
  }
  std::sort(field.begin(), field.end(),
            [](const FieldNode* a, const FieldNode* b) {
              return a->cert.node() < b->cert.node();
            });
  if (field.size() > kMaxFieldNodeWraps) {
    // The header must stay within what receivers accept; the nodes left
    // out store the envelope unread (their agency's node reads it).
    spdlog::warn("{} field nodes in the audience; wrapping to the first {}",
                 field.size(), kMaxFieldNodeWraps);
    field.resize(kMaxFieldNodeWraps);
  }
  return field;
}

// Every audience member (kInvalidArgument if one is not in `roster`), then
// the field nodes of their agencies.
absl::StatusOr<WrapTargets> WrapTargetsOf(
    absl::string_view self_id, const SealKeys& keys,
    const std::optional<EpochKeys::Current>& own_epoch, const Roster& roster,
    const std::vector<std::string>& audience) {
  WrapTargets targets;
  targets.recipients.reserve(audience.size());
  for (const std::string& member : audience) {
    std::optional<crypto::BoxPublicKey> key = roster.BoxKeyOf(member);
    if (!key.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("audience member ", member, " is not in the roster"));
    }
    TIDINGS_RETURN_IF_ERROR(
        AddWrapTarget(member, key, self_id, keys, own_epoch, targets));
  }
  if (keys.nodes == nullptr) return targets;
  for (const FieldNode* node :
       FieldNodesToWrap(*keys.nodes, roster, audience)) {
    TIDINGS_RETURN_IF_ERROR(AddWrapTarget(
        node->cert.node(), crypto::BoxPublicKey::FromBytes(node->cert.box_pk()),
        self_id, keys, own_epoch, targets));
  }
  return targets;
}

// The header of a sealed body at `input`'s feed position.
proto::Header HeaderOf(absl::string_view origin, const Roster& roster,
                       const ComposeInput& input, crypto::Sealed& sealed,
                       const std::vector<uint64_t>& epochs,
                       const std::optional<EpochKeys::Current>& own_epoch) {
  proto::Header header;
  header.set_version(kHeaderVersion);
  header.set_network_id(roster.network_id().str());
  header.set_origin(std::string(origin));
  for (const std::string& member : input.audience) header.add_audience(member);
  header.set_seq(input.seq);
  header.set_prev_id(input.prev_id);
  header.set_kind(input.kind);
  header.set_precedence(input.precedence);
  header.set_created_unix_ms(input.created_unix_ms);
  header.set_expires_unix_ms(input.expires_unix_ms);
  for (size_t i = 0; i < sealed.wrapped_keys.size(); ++i) {
    proto::WrappedKey* out = header.add_wrapped_keys();
    out->set_recipient(std::move(sealed.wrapped_keys[i].recipient));
    out->set_wrapped(std::move(sealed.wrapped_keys[i].wrapped));
    out->set_epoch(epochs[i]);
  }
  if (own_epoch.has_value()) {
    header.set_sender_box_pk(own_epoch->public_key.str());
  }
  header.set_nonce(sealed.nonce.str());
  header.set_ciphertext(std::move(sealed.ciphertext));
  header.set_roster_version(roster.version());
  return header;
}

}  // namespace

absl::StatusOr<Composed> Compose(const crypto::Identity& identity,
                                 crypto::Keyring& keyring, const Roster& roster,
                                 const ComposeInput& input) {
  return Compose(identity, SealKeys{keyring, nullptr, nullptr, absl::Time()},
                 roster, input);
}

absl::StatusOr<Composed> Compose(const crypto::Identity& identity,
                                 const SealKeys& keys, const Roster& roster,
                                 const ComposeInput& input) {
  std::optional<EpochKeys::Current> own_epoch;
  if (keys.epochs != nullptr) own_epoch = keys.epochs->current();
  TIDINGS_RETURN_IF_ERROR(CheckSignerHolds(identity, keys, roster));
  TIDINGS_ASSIGN_OR_RETURN(WrapTargets targets,
                           WrapTargetsOf(identity.principal(), keys, own_epoch,
                                         roster, input.audience));
  const std::string network_id = roster.network_id().str();
  crypto::Keyring& sender =
      own_epoch.has_value() ? *own_epoch->keyring : keys.keyring;
  TIDINGS_ASSIGN_OR_RETURN(
      crypto::Sealed sealed,
      crypto::Seal(sender, targets.recipients,
                   BodyAadOf(network_id, identity.principal(), input.seq),
                   input.plaintext));
  const proto::Header header = HeaderOf(identity.principal(), roster, input,
                                        sealed, targets.epochs, own_epoch);

  Composed composed;
  composed.envelope.set_header(header.SerializeAsString());
  composed.envelope.set_signature(crypto::Sign(identity.signing_key(),
                                               crypto::Domain::kEnvelope,
                                               composed.envelope.header())
                                      .str());
  composed.id = crypto::Hash(composed.envelope.header()).str();
  composed.feed_id = FeedIdOf(network_id, identity.principal(), input.audience);
  composed.serialized = composed.envelope.SerializeAsString();
  composed.content_key = std::move(sealed.content_key);
  return composed;
}

namespace {

struct Opened {
  std::string plaintext;
  crypto::SymmetricKey content_key;
};

// Opens the body of `header` for `self`, whose wrapped key sits at `index`:
// with the epoch key it names (or the long-term key for epoch 0), from the
// sender key in the header (or the origin's roster box key).
absl::StatusOr<Opened> OpenAt(const RosterChain& chain, const OpenKeys& keys,
                              const proto::Header& header, int index,
                              absl::string_view self) {
  std::optional<crypto::BoxPublicKey> sender;
  if (!header.sender_box_pk().empty()) {
    sender = crypto::BoxPublicKey::FromBytes(header.sender_box_pk());
  } else {
    sender = chain.BoxKeyOf(header.origin(), header.roster_version());
  }
  std::optional<crypto::Nonce> nonce = crypto::Nonce::FromBytes(header.nonce());
  if (!sender.has_value() || !nonce.has_value()) {
    return Reject(RejectReason::kUndecryptable, "no key for origin");
  }
  const proto::WrappedKey& wrapped = header.wrapped_keys(index);
  std::shared_ptr<crypto::Keyring> epoch_keyring;
  crypto::Keyring* mine = &keys.keyring;
  if (wrapped.epoch() != 0) {
    if (keys.epochs != nullptr)
      epoch_keyring = keys.epochs->KeyringFor(wrapped.epoch());
    if (epoch_keyring == nullptr) {
      return Reject(
          RejectReason::kUndecryptable,
          absl::StrCat("wrapped to epoch key ", wrapped.epoch(), " of ", self,
                       ", which this node does not hold "
                       "(erased or never made)"));
    }
    mine = epoch_keyring.get();
  }
  const std::string aad =
      BodyAadOf(header.network_id(), header.origin(), header.seq());
  absl::StatusOr<crypto::SymmetricKey> content_key = crypto::OpenContentKey(
      *mine, self, *sender, *nonce, wrapped.wrapped(), aad);
  absl::StatusOr<std::string> plaintext =
      content_key.ok() ? crypto::OpenWithContentKey(*content_key, *nonce, aad,
                                                    header.ciphertext())
                       : content_key.status();
  if (!plaintext.ok()) {
    return Reject(RejectReason::kUndecryptable,
                  absl::StrCat("body does not decrypt for ", self));
  }
  return Opened{*std::move(plaintext), *std::move(content_key)};
}

bool InAudience(const proto::Header& header, absl::string_view agency) {
  return std::find(header.audience().begin(), header.audience().end(),
                   agency) != header.audience().end();
}

// Where `principal`'s wrapped key is, or -1.
int WrapIndexOf(const proto::Header& header, absl::string_view principal) {
  for (int i = 0; i < header.wrapped_keys_size(); ++i) {
    if (header.wrapped_keys(i).recipient() == principal) return i;
  }
  return -1;
}

// Size, parse, field bounds and network id: what is checked before any key.
absl::StatusOr<Verified> ParseForVerify(const VerifyContext& context,
                                        absl::string_view serialized) {
  if (serialized.size() > kMaxEnvelopeBytes) {
    return Reject(
        RejectReason::kOversized,
        absl::StrCat(serialized.size(), " bytes; at most ", kMaxEnvelopeBytes));
  }
  Verified v;
  if (!v.envelope.ParseFromArray(serialized.data(),
                                 static_cast<int>(serialized.size()))) {
    return Reject(RejectReason::kMalformed, "envelope does not parse");
  }
  if (!v.header.ParseFromString(v.envelope.header())) {
    return Reject(RejectReason::kMalformed, "header does not parse");
  }
  TIDINGS_RETURN_IF_ERROR(CheckHeaderShape(v.header));
  if (v.header.network_id() != context.chain.network_id().view()) {
    return Reject(
        RejectReason::kWrongNetwork,
        absl::StrCat("network ", crypto::ToHex(v.header.network_id())));
  }
  return v;
}

absl::Status CheckOriginSignature(const proto::Envelope& envelope,
                                  const proto::Header& h,
                                  const crypto::VerifyKey& origin_key) {
  std::optional<crypto::Signature> signature =
      crypto::Signature::FromBytes(envelope.signature());
  if (!signature.has_value() ||
      !crypto::Verify(origin_key, crypto::Domain::kEnvelope, envelope.header(),
                      *signature)
           .ok()) {
    return Reject(
        RejectReason::kBadSignature,
        absl::StrCat("signature does not verify for origin ", h.origin()));
  }
  return absl::OkStatus();
}

// The audience (sorted, unique, members of the signer's `roster`, the
// origin's agency among them) and the wrapped keys: one per member in order,
// then field nodes of audience agencies, sorted.
absl::Status CheckAudienceAndWraps(const proto::Header& h,
                                   const Roster& roster) {
  bool has_origin = false;
  for (int i = 0; i < h.audience_size(); ++i) {
    const std::string& member = h.audience(i);
    if (i > 0 && !(h.audience(i - 1) < member)) {
      return Reject(RejectReason::kBadAudience,
                    "audience is not sorted and unique");
    }
    if (!roster.IsMember(member)) {
      return Reject(RejectReason::kBadAudience,
                    absl::StrCat("audience member ", member,
                                 " is not in roster v", roster.version()));
    }
    if (h.wrapped_keys(i).recipient() != member) {
      return Reject(RejectReason::kMalformed,
                    absl::StrCat("wrapped key ", i, " is not for ", member));
    }
    has_origin |= member == AgencyOf(h.origin());
  }
  if (!has_origin) {
    return Reject(RejectReason::kBadAudience,
                  "audience does not include the origin's agency");
  }
  for (int i = h.audience_size(); i < h.wrapped_keys_size(); ++i) {
    const std::string& node = h.wrapped_keys(i).recipient();
    if (!ValidateFieldNodeId(node).ok() || !InAudience(h, AgencyOf(node))) {
      return Reject(RejectReason::kMalformed,
                    absl::StrCat("wrapped key ", i, " is for '",
                                 absl::CHexEscape(node.substr(0, 80)),
                                 "', not a field node of an audience agency"));
    }
    if (i > h.audience_size() && !(h.wrapped_keys(i - 1).recipient() < node)) {
      return Reject(RejectReason::kMalformed,
                    "field nodes' wrapped keys are not sorted and unique");
    }
  }
  return absl::OkStatus();
}

// This node's agency and the relaying peer's are in the audience.
absl::Status CheckReceivers(const VerifyContext& context,
                            const proto::Header& h) {
  if (!InAudience(h, AgencyOf(context.self))) {
    return Reject(RejectReason::kNotInAudience,
                  absl::StrCat(context.self, " is not in the audience {",
                               absl::StrJoin(h.audience(), ","), "}"));
  }
  if (!InAudience(h, AgencyOf(context.sender))) {
    return Reject(RejectReason::kSenderNotInAudience,
                  absl::StrCat("relayed by ", context.sender,
                               ", which is not in the audience"));
  }
  return absl::OkStatus();
}

// Opens the body for this node into `v`, or marks it unreadable for a field
// node nothing was wrapped to.
absl::Status OpenForSelf(const VerifyContext& context, Verified& v) {
  const proto::Header& h = v.header;
  const int self_index = WrapIndexOf(h, context.self);
  if (self_index >= 0) {
    TIDINGS_ASSIGN_OR_RETURN(
        Opened opened,
        OpenAt(context.chain, OpenKeys{context.keyring, context.epochs}, h,
               self_index, context.self));
    v.plaintext = std::move(opened.plaintext);
    v.content_key = std::move(opened.content_key);
    return absl::OkStatus();
  }
  if (IsFieldNode(context.self)) {
    // Its agency is in the audience, so it may hold and relay it; the
    // origin had not learnt of this node when it sealed it.
    v.readable = false;
    return absl::OkStatus();
  }
  return Reject(RejectReason::kMalformed,
                absl::StrCat("no wrapped key for ", context.self));
}

}  // namespace

absl::StatusOr<Verified> Verify(const VerifyContext& context,
                                absl::string_view serialized) {
  TIDINGS_ASSIGN_OR_RETURN(Verified v, ParseForVerify(context, serialized));
  const proto::Header& h = v.header;
  v.feed_id = FeedIdOf(
      h.network_id(), h.origin(),
      std::vector<std::string>(h.audience().begin(), h.audience().end()));
  // That this node and the relay are in the audience comes before the
  // signature, so that a forged header for another audience costs no
  // signature check.
  TIDINGS_RETURN_IF_ERROR(CheckReceivers(context, h));
  TIDINGS_ASSIGN_OR_RETURN(
      const crypto::VerifyKey origin_key,
      context.chain.SignerKey(h.origin(), h.roster_version(), v.feed_id,
                              h.seq()));
  TIDINGS_RETURN_IF_ERROR(CheckOriginSignature(v.envelope, h, origin_key));
  // From here on the header is authentic: what is wrong with it is the
  // origin's doing, not a forger's. The audience is judged by the signer's
  // view of the membership.
  TIDINGS_RETURN_IF_ERROR(
      CheckAudienceAndWraps(h, *context.chain.at(h.roster_version())));
  TIDINGS_RETURN_IF_ERROR(OpenForSelf(context, v));
  v.id = crypto::Hash(v.envelope.header()).str();
  v.serialized = std::string(serialized);
  return v;
}

absl::StatusOr<std::string> OpenBody(const RosterChain& chain,
                                     absl::string_view self,
                                     const OpenKeys& keys,
                                     const proto::Header& header) {
  const int index = WrapIndexOf(header, self);
  if (index < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("nothing in this envelope was wrapped for ", self,
                     InAudience(header, AgencyOf(self))
                         ? " (its origin did not know this field node yet)"
                         : " (not in the audience)"));
  }
  TIDINGS_ASSIGN_OR_RETURN(Opened opened,
                           OpenAt(chain, keys, header, index, self));
  return std::move(opened.plaintext);
}

namespace {

// What a local key is bound to: its envelope.
std::string LocalKeyAad(absl::string_view envelope_id) {
  return absl::StrCat(crypto::labels::kLocalKey, envelope_id);
}

}  // namespace

std::string LocalKeyOf(const crypto::SymmetricKey& storage_key,
                       absl::string_view envelope_id,
                       const crypto::SymmetricKey& content_key) {
  return crypto::SealLocal(
      storage_key, LocalKeyAad(envelope_id),
      absl::string_view(reinterpret_cast<const char*>(content_key.data()),
                        content_key.size()));
}

absl::StatusOr<crypto::SymmetricKey> OpenLocalKey(
    const crypto::SymmetricKey& storage_key, absl::string_view envelope_id,
    absl::string_view local_key) {
  TIDINGS_ASSIGN_OR_RETURN(
      std::string raw,
      crypto::OpenLocal(storage_key, LocalKeyAad(envelope_id), local_key));
  std::optional<crypto::SymmetricKey> content_key =
      crypto::SymmetricKey::FromBytes(raw);
  sodium_memzero(raw.data(), raw.size());
  if (!content_key.has_value()) {
    return absl::DataLossError("stored local key is malformed");
  }
  return *std::move(content_key);
}

absl::StatusOr<std::string> OpenWithLocalKey(
    const crypto::SymmetricKey& storage_key, absl::string_view envelope_id,
    absl::string_view local_key, const proto::Header& header) {
  TIDINGS_ASSIGN_OR_RETURN(crypto::SymmetricKey content_key,
                           OpenLocalKey(storage_key, envelope_id, local_key));
  std::optional<crypto::Nonce> nonce = crypto::Nonce::FromBytes(header.nonce());
  if (!nonce.has_value()) {
    return absl::DataLossError("stored local key is malformed");
  }
  return crypto::OpenWithContentKey(
      content_key, *nonce,
      BodyAadOf(header.network_id(), header.origin(), header.seq()),
      header.ciphertext());
}

}  // namespace tidings::node

#include "node/gossip/engine.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/labels.h"
#include "crypto/seal.h"
#include "storage/state_keys.h"

namespace tidings::node {
namespace {

// Control messages (handshake follow-ups, heads, wants, rejections) go ahead
// of every envelope: they are small and unblock the pull.
constexpr proto::Precedence kControl = proto::PRECEDENCE_UNSPECIFIED;

constexpr size_t kMaxReceiptEntries = 4096;
// What we put in one receipt envelope: well under what receivers accept.
constexpr size_t kReceiptEntriesPerEnvelope = 1024;
constexpr size_t kMaxWantReplyBytes = 4 * 1024 * 1024;
constexpr absl::Duration kWantTimeout = absl::Seconds(5);
// A peer whose envelopes fail verification this often loses its link: an
// honest node never sends forgeries, and verifying them costs us CPU.
constexpr int kMaxStrikesPerMinute = 64;
// Envelope ids per KeyRequest, and content keys per answer.
constexpr size_t kMaxContentKeysPerMessage = 256;
// State records (storage::Log::PutState) of envelopes a field node holds
// unread, until its agency's node gives it their content keys.
constexpr absl::string_view kUnreadKey = storage::state_keys::kUnread;
// How often a field node asks again for what it still holds unread.
constexpr absl::Duration kUnreadRetryInterval = absl::Minutes(1);
// Heads in one message; far more feeds than a real pair of agencies shares.
constexpr size_t kMaxHeads = 1 << 16;
// Roster updates in one peer message (the handshake sends at most this many).
constexpr int kMaxRosterUpdatesPerMessage = 256;
// Versions sent with each newly applied one.
constexpr uint32_t kRecentUpdates = 8;

class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

std::string Short(absl::string_view id) {
  return crypto::ToHex(id.substr(0, std::min<size_t>(id.size(), 8)));
}

int64_t ToUnixMs(absl::Time t) { return absl::ToUnixMillis(t); }

std::vector<std::string> AudienceOf(const proto::Header& header) {
  return std::vector<std::string>(header.audience().begin(),
                                  header.audience().end());
}

// The field-node certificates and revocations worth gossiping: those of
// current members' nodes.
proto::NodeCerts NodeRecordsOf(const RosterChain& chain) {
  proto::NodeCerts out;
  for (const auto& [id, node] : chain.nodes().all()) {
    if (!chain.current().IsMember(AgencyOf(id))) continue;
    // A certificate that no longer holds is passed on only with the
    // revocation that names it (for what it signed up to the cuts).
    if (node.has_cert && (chain.IsActive(id) || node.revocation.has_value())) {
      out.add_certs(node.signed_cert.SerializeAsString());
    }
    if (node.revocation.has_value()) {
      out.add_revocations(node.signed_revocation.SerializeAsString());
    }
  }
  return out;
}

// `records` as NodeCerts messages of about 1 MiB at most each (certificates
// first, since a revocation names one).
std::vector<proto::PeerMessage> NodeRecordMessages(
    const proto::NodeCerts& records) {
  // Within what any receiver takes (HandleNodeCerts: 64 x members).
  constexpr size_t kChunkBytes = 1024 * 1024;
  constexpr int kChunkRecords = static_cast<int>(kMaxFieldNodesPerAgency);
  std::vector<proto::PeerMessage> out;
  size_t bytes = 0;
  auto next = [&](size_t size) -> proto::NodeCerts& {
    if (out.empty() || bytes + size > kChunkBytes ||
        out.back().node_certs().certs_size() >= kChunkRecords ||
        out.back().node_certs().revocations_size() >= kChunkRecords) {
      out.emplace_back();
      out.back().mutable_node_certs();
      bytes = 0;
    }
    bytes += size;
    return *out.back().mutable_node_certs();
  };
  for (const std::string& cert : records.certs()) {
    next(cert.size()).add_certs(cert);
  }
  for (const std::string& revocation : records.revocations()) {
    next(revocation.size()).add_revocations(revocation);
  }
  return out;
}

// The header of envelope `id` as this node holds it; nullopt if it holds
// none (or it does not parse).
std::optional<proto::Header> HeldHeader(const storage::Log& log,
                                        absl::string_view id) {
  absl::StatusOr<std::optional<std::string>> bytes = log.GetEnvelope(id);
  proto::Envelope envelope;
  proto::Header header;
  if (!bytes.ok() || !bytes->has_value() ||
      !envelope.ParseFromString(**bytes) ||
      !header.ParseFromString(envelope.header())) {
    return std::nullopt;
  }
  return header;
}

// Whether `principal` (an agency, or a field node of one) may hold what is
// addressed to `list`.
bool InAudience(const google::protobuf::RepeatedPtrField<std::string>& list,
                absl::string_view principal) {
  return std::find(list.begin(), list.end(), AgencyOf(principal)) != list.end();
}

// Receipt rows carried by a verified KIND_RECEIPT envelope.
absl::StatusOr<std::vector<storage::ReceiptUpdate>> ReceiptUpdatesOf(
    absl::string_view recipient, absl::string_view receipt_id,
    absl::string_view plaintext) {
  proto::ReceiptBody body;
  if (!body.ParseFromArray(plaintext.data(),
                           static_cast<int>(plaintext.size()))) {
    return Reject(RejectReason::kMalformed, "receipt body does not parse");
  }
  if (static_cast<size_t>(body.entries_size()) > kMaxReceiptEntries) {
    return Reject(RejectReason::kMalformed,
                  absl::StrCat("receipt with ", body.entries_size(),
                               " entries; at most ", kMaxReceiptEntries));
  }
  std::vector<storage::ReceiptUpdate> updates;
  updates.reserve(static_cast<size_t>(body.entries_size()));
  for (const proto::ReceiptEntry& entry : body.entries()) {
    if (entry.envelope_id().size() != crypto::Hash256::kSize ||
        entry.status() < proto::RECEIPT_DELIVERED ||
        entry.status() > proto::RECEIPT_ACKNOWLEDGED) {
      return Reject(RejectReason::kMalformed, "receipt entry out of range");
    }
    updates.push_back({entry.envelope_id(), std::string(recipient),
                       static_cast<int32_t>(entry.status()), entry.at_unix_ms(),
                       std::string(receipt_id)});
  }
  return updates;
}

}  // namespace

storage::EnvelopeRecord RecordOf(const proto::Header& header, std::string id,
                                 std::string feed_id, std::string serialized,
                                 absl::Time now) {
  storage::EnvelopeRecord record;
  record.id = std::move(id);
  record.feed_id = std::move(feed_id);
  record.seq = header.seq();
  record.prev_id = header.prev_id();
  record.origin = header.origin();
  record.audience = AudienceOf(header);
  record.envelope = std::move(serialized);
  record.inbox = header.kind() == proto::KIND_RECEIPT
                     ? storage::InboxEntry::kNo
                     : storage::InboxEntry::kYes;
  record.stored_unix_us = absl::ToUnixMicros(now);
  return record;
}

Clock& RealClock() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

void Counters::Add(absl::string_view name, uint64_t delta) {
  absl::MutexLock lock(&mu_);
  values_[name] += delta;
}

std::map<std::string, uint64_t> Counters::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return std::map<std::string, uint64_t>(values_.begin(), values_.end());
}

Engine::Engine(const EngineOptions& options)
    : options_(options),
      membership_(*options.membership),
      identity_(*options.identity),
      keyring_(*options.keyring),
      log_(*options.log),
      clock_(*options.clock),
      sender_(*options.sender),
      counters_(*options.counters) {
  AdvanceEpochs();
  SettleOwedReceipts();
  committer_ = std::thread([this] { CommitLoop(); });
}

Engine::~Engine() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
}

absl::StatusOr<SendResult> Engine::Send(const proto::SendRequest& request) {
  if (request.kind() != proto::KIND_NOTICE &&
      request.kind() != proto::KIND_ALERT) {
    return absl::InvalidArgumentError("kind must be notice or alert");
  }
  proto::Precedence precedence = request.precedence();
  if (precedence == proto::PRECEDENCE_UNSPECIFIED) {
    precedence = proto::PRECEDENCE_ROUTINE;
  }
  if (precedence < proto::PRECEDENCE_FLASH ||
      precedence > proto::PRECEDENCE_ROUTINE) {
    return absl::InvalidArgumentError("unknown precedence");
  }
  if (request.body().text().empty()) {
    return absl::InvalidArgumentError("the body text is empty");
  }
  if (request.body().has_position()) {
    const proto::Position& p = request.body().position();
    if (!(p.lat() >= -90 && p.lat() <= 90 && p.lon() >= -180 &&
          p.lon() <= 180)) {
      return absl::InvalidArgumentError(
          absl::StrCat("position ", p.lat(), ",", p.lon(), " is out of range"));
    }
  }
  std::string plaintext = request.body().SerializeAsString();
  if (plaintext.size() > kMaxBodyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "body of ", plaintext.size(), " bytes; at most ", kMaxBodyBytes));
  }
  TIDINGS_ASSIGN_OR_RETURN(
      std::vector<std::string> audience,
      NormalizeAudience(membership_.chain()->current(), identity_.agency(),
                        std::vector<std::string>(request.audience().begin(),
                                                 request.audience().end())));
  OwnRequest own;
  own.kind = request.kind();
  own.precedence = precedence;
  own.audience = std::move(audience);
  own.plaintext = std::move(plaintext);
  own.expires_unix_ms = request.expires_unix_ms();
  OwnRequest::Waiter waiter;
  own.waiter = &waiter;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the node is shutting down");
    own_queue_.push_back(std::move(own));
  }
  waiter.done.WaitForNotification();
  if (waiter.result.ok()) counters_.Add("sent");
  return std::move(waiter.result);
}

void Engine::OnLinkUp(absl::string_view peer) {
  {
    absl::MutexLock lock(&mu_);
    PeerState& state = peers_[peer] = PeerState();
    state.digest_interval = options_.anti_entropy_interval;
    state.next_digest = clock_.Now() + options_.anti_entropy_interval;
  }
  counters_.Add("links_up");
  if (options_.epochs != nullptr) {
    sender_.SendToPeer(peer, EpochKeysMessage(), kControl);
  }
  for (const proto::PeerMessage& certs :
       NodeRecordMessages(NodeRecordsOf(*membership_.chain()))) {
    sender_.SendToPeer(peer, certs, kControl);
  }
  if (IsFieldNode(identity_.agency()) && peer == AgencyOf(identity_.agency())) {
    // What this field node holds unread, from before it could ask.
    RequestUnreadKeys();
  }
  for (const proto::SignedRoster& pending : membership_.Pending()) {
    proto::PeerMessage proposal;
    proposal.mutable_roster_proposal()->set_proposal(
        pending.SerializeAsString());
    sender_.SendToPeer(peer, proposal, kControl);
  }
  proto::PeerMessage message;
  message.mutable_heads_digest()->set_digest(DigestOf(SharedHeads(peer)));
  sender_.SendToPeer(peer, message, kControl);
}

void Engine::Broadcast(const proto::PeerMessage& message,
                       absl::string_view except) {
  for (const std::string& peer : linked_peers()) {
    if (peer != except) sender_.SendToPeer(peer, message, kControl);
  }
}

void Engine::Announce(const proto::SignedRoster& proposal) {
  proto::PeerMessage message;
  message.mutable_roster_proposal()->set_proposal(proposal.SerializeAsString());
  Broadcast(message, "");
}

void Engine::OnRosterApplied(const RosterChain& chain) {
  counters_.Add("roster.applied");
  // Epoch keys signed by a key this update removed, rotated or revoked are
  // no longer any use: forget them (the agency publishes new ones).
  if (const Roster* before = chain.at(chain.version() - 1);
      options_.directory != nullptr && before != nullptr) {
    for (const proto::Member& was : before->roster().members()) {
      const proto::Member* now = chain.current().Find(was.agency());
      if (now == nullptr || now->sign_pk() != was.sign_pk()) {
        options_.directory->Forget(was.agency());
      }
    }
  }
  // Peers no longer members, and field nodes no longer valid (agency
  // removed, certifying key revoked).
  ForgetInactive(chain);
  // The last few versions, not only the newest: a peer that missed one
  // broadcast fills the gap from the next (versions it holds are no-ops).
  proto::PeerMessage message;
  const uint32_t newest = chain.version();
  for (uint32_t v = newest > kRecentUpdates ? newest - kRecentUpdates + 1 : 1;
       v <= newest; ++v) {
    message.mutable_roster_updates()->add_updates(
        chain.at(v)->signed_roster().SerializeAsString());
  }
  Broadcast(message, "");
}

absl::Status Engine::HandleRosterUpdates(absl::string_view peer,
                                         const proto::RosterUpdates& updates) {
  if (updates.updates_size() > kMaxRosterUpdatesPerMessage) {
    counters_.Add("rejected.roster");
    return Strike(peer);
  }
  for (const std::string& bytes : updates.updates()) {
    TIDINGS_RETURN_IF_ERROR(OfferFromPeer(peer, bytes, "roster").status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Offered>> Engine::OfferFromPeer(
    absl::string_view peer, absl::string_view bytes, absl::string_view what) {
  absl::StatusOr<Offered> offered = membership_.OfferBytes(bytes);
  if (offered.ok()) {
    counters_.Add(absl::StrCat(what, ".", OfferedName(*offered)));
    return std::optional<Offered>(*offered);
  }
  counters_.Add(absl::StrCat("rejected.", what));
  spdlog::warn("refused a {} from {}: {}", what, peer,
               offered.status().message());
  // Behind or forked is not the peer's fault; a bad update is.
  if (offered.status().code() != absl::StatusCode::kFailedPrecondition) {
    TIDINGS_RETURN_IF_ERROR(Strike(peer));
  }
  return std::optional<Offered>();
}

absl::Status Engine::HandleRosterProposal(
    absl::string_view peer, const proto::RosterProposal& proposal) {
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<Offered> offered,
      OfferFromPeer(peer, proposal.proposal(), "roster_proposal"));
  proto::SignedRoster update;
  if (offered != Offered::kPending ||
      !update.ParseFromString(proposal.proposal())) {
    return absl::OkStatus();
  }
  // New to us: pass on what we now hold (with our merged signatures).
  for (const proto::SignedRoster& pending : membership_.Pending()) {
    if (pending.roster() != update.roster()) continue;
    proto::PeerMessage message;
    message.mutable_roster_proposal()->set_proposal(
        pending.SerializeAsString());
    Broadcast(message, "");
  }
  return absl::OkStatus();
}

absl::Status Engine::HandleEpochKeys(absl::string_view peer,
                                     const proto::EpochKeys& keys) {
  if (options_.directory == nullptr) return absl::OkStatus();
  const std::shared_ptr<const RosterChain> chain = membership_.chain();
  // A few keys per member at most; more is not gossip but load.
  const size_t max_keys =
      EpochDirectory::kDefaultMaxKeysPerAgency *
          (static_cast<size_t>(chain->current().roster().members_size()) +
           chain->nodes().all().size()) +
      16;
  if (static_cast<size_t>(keys.keys_size()) > max_keys) {
    counters_.Add("rejected.epoch_keys");
    return Strike(peer);
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
    } else if (key.agency() == identity_.agency()) {
      continue;  // our own, back from a peer
    } else if (std::optional<proto::EpochKey> known =
                   options_.directory->Find(key.agency(), key.epoch());
               known.has_value() &&
               known->SerializeAsString() == signed_key.key()) {
      continue;  // known already: no signature check
    } else if (std::optional<crypto::VerifyKey> signer =
                   chain->VerifyKeyOf(key.agency());
               !signer.has_value()) {
      continue;  // not a member or field node (any more): nothing to wrap to
    } else {
      absl::StatusOr<bool> added =
          options_.directory->Add(signed_key, key.agency(), *signer);
      if (added.ok() && *added) {
        counters_.Add("epoch_keys.learnt");
        fresh.add_keys(bytes);
      }
      status = added.status();
    }
    if (!status.ok()) {
      counters_.Add("rejected.epoch_key");
      spdlog::warn("refused an epoch key from {}: {}", peer, status.message());
      // Another key for a known epoch is the agency's doing (a node that
      // lost its epoch file starts again at 1), not the relaying peer's.
      if (status.code() != absl::StatusCode::kAlreadyExists) {
        TIDINGS_RETURN_IF_ERROR(Strike(peer));
      }
    }
  }
  if (fresh.keys_size() > 0) {
    proto::PeerMessage message;
    *message.mutable_epoch_keys() = std::move(fresh);
    Broadcast(message, peer);
  }
  return absl::OkStatus();
}

void Engine::OnNodesChanged(const RosterChain& chain) {
  counters_.Add("nodes.changed");
  ForgetInactive(chain);
}

void Engine::ForgetInactive(const RosterChain& chain) {
  if (options_.directory != nullptr) {
    for (const auto& [id, node] : chain.nodes().all()) {
      if (!chain.IsActive(id)) options_.directory->Forget(id);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    absl::erase_if(peers_, [&](const auto& entry) {
      return !chain.IsActive(entry.first);
    });
  }
}

absl::Status Engine::HandleNodeCerts(absl::string_view peer,
                                     const proto::NodeCerts& certs) {
  // Records of current members only are gossiped (NodeRecordsOf).
  const size_t max_records =
      kMaxFieldNodesPerAgency *
      static_cast<size_t>(
          membership_.chain()->current().roster().members_size());
  if (static_cast<size_t>(certs.certs_size()) > max_records ||
      static_cast<size_t>(certs.revocations_size()) > max_records) {
    counters_.Add("rejected.node_records");
    return Strike(peer);
  }
  Membership::NodeRecordsOffered offered = membership_.OfferNodeRecords(certs);
  const int fresh =
      offered.fresh.certs_size() + offered.fresh.revocations_size();
  if (fresh > 0) counters_.Add("node_records.learnt", fresh);
  // What is new here goes on, once (before any strike closes the link).
  for (const proto::PeerMessage& message : NodeRecordMessages(offered.fresh)) {
    Broadcast(message, peer);
  }
  for (const absl::Status& refused : offered.refused) {
    counters_.Add("rejected.node_record");
    // A malformed or forged record, or one under a roster version far
    // ahead, is the relaying peer's doing (a link brings both ends to the
    // same roster, and updates travel ahead of what is signed under them);
    // the others (an agency removed meanwhile, a conflict) depend on what
    // each node has learnt so far.
    const bool theirs = refused.code() == absl::StatusCode::kInvalidArgument ||
                        refused.code() == absl::StatusCode::kUnauthenticated ||
                        IsRosterAhead(refused);
    if (theirs) {
      spdlog::warn("refused a field-node record from {}: {}", peer,
                   refused.message());
      TIDINGS_RETURN_IF_ERROR(Strike(peer));
    } else {
      spdlog::debug("refused a field-node record from {}: {}", peer,
                    refused.message());
    }
  }
  return absl::OkStatus();
}

void Engine::RequestUnreadKeys() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> unread =
      log_.ScanState(kUnreadKey);
  if (!unread.ok() || unread->empty()) return;
  std::vector<std::string> ids;
  for (const auto& [key, value] : *unread) {
    absl::StatusOr<std::optional<std::string>> held = log_.GetEnvelope(value);
    absl::StatusOr<std::optional<std::string>> local = log_.GetLocalKey(value);
    if (held.ok() && held->has_value() && local.ok() && !local->has_value()) {
      ids.push_back(value);
    } else if (held.ok() && local.ok()) {
      // Never stored after all (a gap, a duplicate), or readable by now.
      log_.DeleteState(key).IgnoreError();
    }
  }
  RequestContentKeys(ids);
}

void Engine::RequestContentKeys(const std::vector<std::string>& ids) {
  if (ids.empty() || !IsFieldNode(identity_.agency())) return;
  const std::string agency(AgencyOf(identity_.agency()));
  for (size_t i = 0; i < ids.size(); i += kMaxContentKeysPerMessage) {
    proto::PeerMessage message;
    for (size_t j = i; j < ids.size() && j < i + kMaxContentKeysPerMessage;
         ++j) {
      message.mutable_key_request()->add_envelope_ids(ids[j]);
    }
    if (sender_.SendToPeer(agency, message, proto::PRECEDENCE_ROUTINE)) {
      counters_.Add(
          "content_keys.requested",
          static_cast<uint64_t>(message.key_request().envelope_ids_size()));
    }
  }
}

absl::Status Engine::HandleKeyRequest(absl::string_view peer,
                                      const proto::KeyRequest& request) {
  const std::shared_ptr<const RosterChain> chain = membership_.chain();
  // Only this agency's node answers, and only its own active field nodes.
  // A certificate signed with this agency's key elsewhere (a stolen key)
  // gets nothing: only nodes this node certified itself are answered, and
  // only for envelopes created from the backlog start set then.
  const std::optional<int64_t> since = membership_.KeyBacklogStart(peer);
  if (IsFieldNode(identity_.agency()) || !IsFieldNode(peer) ||
      AgencyOf(peer) != identity_.agency() || !chain->IsActive(peer) ||
      options_.storage_key == nullptr || !since.has_value()) {
    counters_.Add("rejected.key_request");
    return Strike(peer);
  }
  if (static_cast<size_t>(request.envelope_ids_size()) >
      kMaxContentKeysPerMessage) {
    counters_.Add("rejected.key_request");
    return Strike(peer);
  }
  // To the field node's newest epoch key, else its certificate's box key;
  // from this node's current epoch key, else its long-term key.
  crypto::Recipient recipient{std::string(peer), crypto::BoxPublicKey()};
  uint64_t epoch = 0;
  if (std::optional<proto::EpochKey> newest =
          options_.directory != nullptr
              ? options_.directory->Newest(peer, clock_.Now())
              : std::nullopt;
      newest.has_value() &&
      crypto::BoxPublicKey::FromBytes(newest->box_pk()).has_value()) {
    recipient.public_key = *crypto::BoxPublicKey::FromBytes(newest->box_pk());
    epoch = newest->epoch();
  } else if (std::optional<crypto::BoxPublicKey> key =
                 chain->BoxKeyOf(peer, chain->version())) {
    recipient.public_key = *key;
  } else {
    return absl::OkStatus();
  }
  std::optional<EpochKeys::Current> own;
  if (options_.epochs != nullptr) own = options_.epochs->current();
  crypto::Keyring& sender = own.has_value() ? *own->keyring : keyring_;
  proto::PeerMessage answer;
  for (const std::string& id : request.envelope_ids()) {
    std::optional<proto::Header> held = HeldHeader(log_, id);
    absl::StatusOr<std::optional<std::string>> local = log_.GetLocalKey(id);
    if (!held.has_value() || !local.ok() || !local->has_value() ||
        !InAudience(held->audience(), peer)) {
      continue;  // not held or readable here
    }
    const proto::Header& header = *held;
    if (header.created_unix_ms() < *since) {
      counters_.Add("content_keys.outside_backlog");
      continue;
    }
    absl::StatusOr<std::string> raw =
        crypto::OpenLocal(*options_.storage_key,
                          absl::StrCat("tidings/v1/local-key", id), **local);
    if (!raw.ok()) continue;
    std::optional<crypto::SymmetricKey> content_key =
        crypto::SymmetricKey::FromBytes(*raw);
    sodium_memzero(raw->data(), raw->size());
    if (!content_key.has_value()) continue;
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
    counters_.Add("content_keys.sent",
                  static_cast<uint64_t>(answer.content_keys().keys_size()));
    sender_.SendToPeer(peer, answer, proto::PRECEDENCE_ROUTINE);
  }
  return absl::OkStatus();
}

absl::Status Engine::HandleContentKeys(absl::string_view peer,
                                       const proto::ContentKeys& keys) {
  if (!IsFieldNode(identity_.agency()) ||
      peer != AgencyOf(identity_.agency()) || options_.storage_key == nullptr ||
      static_cast<size_t>(keys.keys_size()) > kMaxContentKeysPerMessage) {
    counters_.Add("rejected.content_keys");
    return Strike(peer);
  }
  bool struck = false;
  for (const proto::ContentKey& key : keys.keys()) {
    std::optional<proto::Header> held = HeldHeader(log_, key.envelope_id());
    if (!held.has_value()) continue;  // asked for, then gone? nothing to open
    const proto::Header& header = *held;
    std::optional<crypto::Nonce> nonce = crypto::Nonce::FromBytes(key.nonce());
    std::optional<crypto::Nonce> body_nonce =
        crypto::Nonce::FromBytes(header.nonce());
    std::optional<crypto::BoxPublicKey> from =
        crypto::BoxPublicKey::FromBytes(key.sender_box_pk());
    std::shared_ptr<crypto::Keyring> epoch_keyring;
    if (key.epoch() != 0 && options_.epochs != nullptr) {
      epoch_keyring = options_.epochs->KeyringFor(key.epoch());
    }
    crypto::Keyring* mine = key.epoch() == 0 ? &keyring_ : epoch_keyring.get();
    const std::string aad =
        BodyAadOf(header.network_id(), header.origin(), header.seq());
    absl::StatusOr<crypto::SymmetricKey> content_key =
        nonce.has_value() && from.has_value() && mine != nullptr
            ? crypto::OpenContentKey(*mine, identity_.agency(), *from, *nonce,
                                     key.wrapped(), aad)
            : absl::UnauthenticatedError("malformed content key");
    // The body is the origin's, authenticated by its signature: a content
    // key that opens it is the right one, whoever relayed it.
    absl::StatusOr<std::string> body =
        content_key.ok() && body_nonce.has_value()
            ? crypto::OpenWithContentKey(*content_key, *body_nonce, aad,
                                         header.ciphertext())
            : absl::UnauthenticatedError("no content key");
    if (!body.ok()) {
      counters_.Add("rejected.content_key");
      spdlog::warn("content key for {} from {} does not open it",
                   Short(key.envelope_id()), peer);
      // Wrapped to an epoch key this node no longer holds is nobody's
      // fault; anything else counts once per message.
      if (mine != nullptr && !struck) {
        struck = true;
        TIDINGS_RETURN_IF_ERROR(Strike(peer));
      }
      continue;
    }
    sodium_memzero(body->data(), body->size());
    if (absl::Status stored = log_.PutLocalKey(
            key.envelope_id(),
            LocalKeyOf(*options_.storage_key, key.envelope_id(), *content_key));
        !stored.ok()) {
      spdlog::error("cannot store the content key of {}: {}",
                    Short(key.envelope_id()), stored.ToString());
      continue;
    }
    log_.DeleteState(absl::StrCat(kUnreadKey, crypto::ToHex(key.envelope_id())))
        .IgnoreError();
    counters_.Add("content_keys.learnt");
  }
  return absl::OkStatus();
}

void Engine::AnnounceNodeRecords(const proto::NodeCerts& records) {
  for (const proto::PeerMessage& message : NodeRecordMessages(records)) {
    Broadcast(message, "");
  }
}

proto::PeerMessage Engine::EpochKeysMessage() const {
  proto::PeerMessage message;
  if (options_.epochs != nullptr) {
    for (const proto::SignedEpochKey& key : options_.epochs->Published()) {
      message.mutable_epoch_keys()->add_keys(key.SerializeAsString());
    }
  }
  if (options_.directory != nullptr) {
    for (const proto::SignedEpochKey& key : options_.directory->All()) {
      message.mutable_epoch_keys()->add_keys(key.SerializeAsString());
    }
  }
  return message;
}

void Engine::AdvanceEpochs() {
  if (options_.epochs == nullptr) return;
  absl::StatusOr<bool> made = options_.epochs->Advance(clock_.Now());
  if (!made.ok()) {
    counters_.Add("epoch_key_failures");
    spdlog::error("cannot advance epoch keys: {}", made.status().ToString());
    return;
  }
  if (!*made) return;
  counters_.Add("epoch_keys.made");
  proto::PeerMessage message;
  for (const proto::SignedEpochKey& key : options_.epochs->Published()) {
    message.mutable_epoch_keys()->add_keys(key.SerializeAsString());
  }
  Broadcast(message, "");
}

void Engine::OnLinkDown(absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  peers_.erase(peer);
}

std::vector<std::string> Engine::linked_peers() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [peer, state] : peers_) out.push_back(peer);
  std::sort(out.begin(), out.end());
  return out;
}

void Engine::Hurry(PeerState& state) {
  state.digest_interval = options_.anti_entropy_interval;
  state.next_digest = std::min(state.next_digest,
                               clock_.Now() + options_.anti_entropy_interval);
}

void Engine::Tick() {
  AdvanceEpochs();
  const absl::Time now = clock_.Now();
  if (IsFieldNode(identity_.agency())) {
    // Keys its agency's node did not have yet when first asked (it had not
    // received the envelope), asked again now and then.
    bool due_unread = false;
    {
      absl::MutexLock lock(&mu_);
      if (now >= next_unread_retry_) {
        next_unread_retry_ = now + kUnreadRetryInterval;
        due_unread = peers_.contains(AgencyOf(identity_.agency()));
      }
    }
    if (due_unread) RequestUnreadKeys();
  }
  std::vector<std::string> due;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [peer, state] : peers_) {
      // One side starting rounds is enough: the other answers a mismatch.
      if (!(identity_.agency() < peer) || now < state.next_digest) continue;
      state.next_digest = now + state.digest_interval;
      state.digest_interval = std::min(state.digest_interval * 2,
                                       options_.max_anti_entropy_interval);
      due.push_back(peer);
    }
  }
  for (const std::string& peer : due) {
    proto::PeerMessage message;
    message.mutable_heads_digest()->set_digest(DigestOf(SharedHeads(peer)));
    sender_.SendToPeer(peer, message, kControl);
  }
}

absl::Status Engine::OnPeerMessage(absl::string_view peer,
                                   const proto::PeerMessage& message) {
  switch (message.msg_case()) {
    case proto::PeerMessage::kPush:
      return HandlePush(peer, message.push());
    case proto::PeerMessage::kHeadsDigest:
      HandleDigest(peer, message.heads_digest());
      return absl::OkStatus();
    case proto::PeerMessage::kHeads:
      if (static_cast<size_t>(message.heads().heads_size()) > kMaxHeads) {
        return absl::ResourceExhaustedError(
            absl::StrCat("heads message with ", message.heads().heads_size(),
                         " feeds; at most ", kMaxHeads));
      }
      HandleHeads(peer, message.heads());
      return absl::OkStatus();
    case proto::PeerMessage::kWant:
      return HandleWant(peer, message.want());
    case proto::PeerMessage::kRejection:
      counters_.Add("rejections_received");
      spdlog::warn("peer {} refused envelope {}: {}", peer,
                   Short(message.rejection().envelope_id()),
                   message.rejection().reason().substr(0, 200));
      return absl::OkStatus();
    case proto::PeerMessage::kRosterUpdates:
      return HandleRosterUpdates(peer, message.roster_updates());
    case proto::PeerMessage::kRosterProposal:
      return HandleRosterProposal(peer, message.roster_proposal());
    case proto::PeerMessage::kEpochKeys:
      return HandleEpochKeys(peer, message.epoch_keys());
    case proto::PeerMessage::kNodeCerts:
      return HandleNodeCerts(peer, message.node_certs());
    case proto::PeerMessage::kKeyRequest:
      return HandleKeyRequest(peer, message.key_request());
    case proto::PeerMessage::kContentKeys:
      return HandleContentKeys(peer, message.content_keys());
    case proto::PeerMessage::kHello:
    case proto::PeerMessage::kProof:
      return absl::FailedPreconditionError("handshake message on a live link");
    case proto::PeerMessage::MSG_NOT_SET:
      break;
  }
  // A newer peer may send kinds we do not know: count and ignore them.
  counters_.Add("peer_messages_unknown");
  return absl::OkStatus();
}

absl::Status Engine::HandlePush(absl::string_view peer,
                                const proto::Push& push) {
  const std::shared_ptr<const RosterChain> chain = membership_.chain();
  const VerifyContext context{*chain, identity_.agency(), keyring_, peer,
                              options_.epochs};
  for (const std::string& bytes : push.envelopes()) {
    counters_.Add("received");
    counters_.Add("received_bytes", bytes.size());
    // A duplicate costs a hash and a lookup, not a signature check.
    proto::Envelope outer;
    std::string id;
    if (bytes.size() <= kMaxEnvelopeBytes && outer.ParseFromString(bytes)) {
      id = crypto::Hash(outer.header()).str();
      absl::StatusOr<std::optional<std::string>> held = log_.GetEnvelope(id);
      if (held.ok() && held->has_value()) {
        counters_.Add("duplicates");
        continue;
      }
    }
    absl::StatusOr<Verified> verified = Verify(context, bytes);
    std::vector<storage::ReceiptUpdate> receipts;
    if (verified.ok() && verified->readable &&
        verified->header.kind() == proto::KIND_RECEIPT) {
      absl::StatusOr<std::vector<storage::ReceiptUpdate>> updates =
          ReceiptUpdatesOf(verified->header.origin(), verified->id,
                           verified->plaintext);
      if (!updates.ok()) {
        verified = updates.status();
      } else {
        receipts = *std::move(updates);
      }
    }
    if (!verified.ok()) {
      SendRejection(peer, id, verified.status());
      // Not the relaying peer's doing, so not held against it: signed under
      // a roster this node has not applied yet (its updates are on their
      // way) or by a field node whose certificate has not arrived yet,
      // signed by a revoked key past its cut (an honest member may
      // still hold and serve it), or authentic but wrapped to an epoch key
      // this node no longer holds.
      const std::optional<RejectReason> reason =
          RejectReasonOf(verified.status());
      if (reason != RejectReason::kRosterAhead &&
          reason != RejectReason::kUnknownNode &&
          reason != RejectReason::kRevoked &&
          reason != RejectReason::kUndecryptable) {
        TIDINGS_RETURN_IF_ERROR(Strike(peer));
      }
      continue;
    }
    absl::MutexLock lock(&mu_);
    PeerState& state = peers_[peer];
    Hurry(state);
    uint64_t& known = state.known[verified->feed_id];
    known = std::max(known, verified->header.seq());
    mu_.Await(absl::Condition(
        +[](Engine* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
          return e->queue_.size() < e->options_.max_queued || e->stopping_;
        },
        this));
    Pending pending{*std::move(verified), std::string(peer),
                    std::move(receipts)};
    pending.verified.plaintext.clear();  // never kept beyond the checks
    queue_.push_back(std::move(pending));
    ++enqueued_;
  }
  return absl::OkStatus();
}

absl::Status Engine::Strike(absl::string_view peer) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  PeerState& state = peers_[peer];
  if (now - state.strikes_since > absl::Minutes(1)) {
    state.strikes_since = now;
    state.strikes = 0;
  }
  if (++state.strikes > kMaxStrikesPerMinute) {
    return absl::ResourceExhaustedError(
        absl::StrCat(peer, " sent more than ", kMaxStrikesPerMinute,
                     " refused envelopes within a minute"));
  }
  return absl::OkStatus();
}

void Engine::SendRejection(absl::string_view peer,
                           absl::string_view envelope_id,
                           const absl::Status& status) {
  std::optional<RejectReason> reason = RejectReasonOf(status);
  const std::string name =
      reason.has_value() ? std::string(RejectReasonName(*reason)) : "internal";
  counters_.Add(absl::StrCat("rejected.", name));
  spdlog::warn("refused envelope {} from {}: {}", Short(envelope_id), peer,
               status.message());
  proto::PeerMessage message;
  message.mutable_rejection()->set_envelope_id(std::string(envelope_id));
  message.mutable_rejection()->set_reason(std::string(status.message()));
  sender_.SendToPeer(peer, message, kControl);
}

void Engine::CommitLoop() {
  while (true) {
    std::vector<Pending> batch;
    std::vector<OwnRequest> own;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Engine* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
            return !e->queue_.empty() || !e->own_queue_.empty() || e->stopping_;
          },
          this));
      if (queue_.empty() && own_queue_.empty()) return;  // stopping, all done
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      while (!own_queue_.empty() && own.size() < options_.max_batch) {
        own.push_back(std::move(own_queue_.front()));
        own_queue_.pop_front();
      }
      committing_ = true;
    }
    const size_t n = batch.size();
    CommitBatch(std::move(batch), std::move(own));
    absl::MutexLock lock(&mu_);
    committed_ += n;
    committing_ = false;
  }
}

void Engine::Flush() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Engine* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
        return e->queue_.empty() && e->own_queue_.empty() && !e->committing_;
      },
      this));
}

absl::StatusOr<Engine::OwnSlot> Engine::PrepareOwn(
    OwnRequest request,
    absl::flat_hash_map<std::string, std::pair<uint64_t, std::string>>& heads,
    absl::Time now) {
  OwnSlot slot;
  const std::shared_ptr<const RosterChain> chain = membership_.chain();
  const Roster& roster = chain->current();
  if (request.kind == proto::KIND_RECEIPT) {
    // Receipts go to the envelope's audience as it is now: members removed
    // since then get nothing new.
    std::erase_if(request.audience, [&](const std::string& member) {
      return !roster.IsMember(member);
    });
  }
  const std::string feed_id = FeedIdOf(roster.network_id().view(),
                                       identity_.agency(), request.audience);
  auto [head, inserted] = heads.try_emplace(feed_id);
  if (inserted) {
    if (std::optional<proto::FeedHead> stored = log_.GetHead(feed_id)) {
      head->second = {stored->seq(), stored->head_id()};
    }
  }
  ComposeInput input;
  input.kind = request.kind;
  input.precedence = request.precedence;
  input.audience = request.audience;
  input.plaintext = request.plaintext;
  input.created_unix_ms = ToUnixMs(now);
  input.expires_unix_ms = request.expires_unix_ms;
  input.seq = head->second.first + 1;
  input.prev_id = head->second.second;
  absl::StatusOr<Composed> composed =
      Compose(identity_,
              SealKeys{keyring_, options_.epochs, options_.directory, now,
                       &chain->nodes()},
              roster, input);
  if (!composed.ok() ||
      !slot.header.ParseFromString(composed->envelope.header())) {
    absl::Status error = composed.ok()
                             ? absl::InternalError("own header does not parse")
                             : composed.status();
    if (request.waiter != nullptr) {
      request.waiter->result = error;
      request.waiter->done.Notify();
    }
    return error;
  }
  head->second = {input.seq, composed->id};
  slot.composed = *std::move(composed);
  slot.request = std::move(request);
  return slot;
}

void Engine::CommitBatch(std::vector<Pending> batch,
                         std::vector<OwnRequest> own) {
  const absl::Time now = clock_.Now();
  std::vector<storage::EnvelopeRecord> records;
  records.reserve(batch.size() + own.size());
  for (Pending& pending : batch) {
    const Verified& v = pending.verified;
    records.push_back(RecordOf(v.header, v.id, v.feed_id, v.serialized, now));
    records.back().receipts = std::move(pending.receipts);
    if (options_.storage_key != nullptr && v.readable) {
      records.back().local_key =
          LocalKeyOf(*options_.storage_key, v.id, v.content_key);
    }
    if (OwesReceipt(v.header)) {
      records.back().receipt = storage::ReceiptOwed::kYes;
    }
  }
  // Our own envelopes take the next positions of their feeds, counting
  // those taken earlier in this batch. Only this thread writes our feeds, so
  // nothing can take a position between reading the head and appending.
  std::vector<OwnSlot> slots;
  absl::flat_hash_map<std::string, std::pair<uint64_t, std::string>> heads;
  for (OwnRequest& request : own) {
    absl::StatusOr<OwnSlot> slot = PrepareOwn(std::move(request), heads, now);
    if (slot.ok()) {
      slot->record = records.size();
      records.push_back(RecordOf(slot->header, slot->composed.id,
                                 slot->composed.feed_id,
                                 slot->composed.serialized, now));
      records.back().settles = std::move(slot->request.settles);
      if (options_.storage_key != nullptr) {
        records.back().local_key =
            LocalKeyOf(*options_.storage_key, slot->composed.id,
                       slot->composed.content_key);
      }
      if (slot->header.kind() == proto::KIND_RECEIPT) {
        absl::StatusOr<std::vector<storage::ReceiptUpdate>> updates =
            ReceiptUpdatesOf(identity_.agency(), slot->composed.id,
                             slot->request.plaintext);
        if (updates.ok()) records.back().receipts = *std::move(updates);
      }
      slots.push_back(*std::move(slot));
    }
  }
  // A field node remembers what it is about to hold unread before it holds
  // it (one synced write), so that a crash cannot leave it unread for good.
  std::vector<std::pair<std::string, std::string>> unread_marks;
  for (const Pending& pending : batch) {
    const Verified& v = pending.verified;
    if (!v.readable && v.header.kind() != proto::KIND_RECEIPT) {
      unread_marks.emplace_back(absl::StrCat(kUnreadKey, crypto::ToHex(v.id)),
                                v.id);
    }
  }
  if (!unread_marks.empty()) {
    if (absl::Status marked = log_.PutStates(unread_marks); !marked.ok()) {
      spdlog::error("cannot note envelopes held unread: {}", marked.ToString());
    }
  }
  absl::StatusOr<std::vector<storage::AppendResult>> results =
      log_.Append(records);
  if (!results.ok()) {
    // Nothing of the batch is stored and nothing was acknowledged: the
    // senders still hold it and anti-entropy brings it again; receipts stay
    // owed on disk.
    counters_.Add("commit_failures");
    spdlog::error("cannot store {} envelopes: {}", records.size(),
                  results.status().ToString());
    for (OwnSlot& slot : slots) {
      if (slot.request.waiter != nullptr) {
        slot.request.waiter->result = results.status();
        slot.request.waiter->done.Notify();
      }
    }
    return;
  }
  for (OwnSlot& slot : slots) {
    const storage::AppendResult& result = (*results)[slot.record];
    absl::StatusOr<SendResult> outcome =
        SendResult{slot.composed.id, slot.composed.feed_id, slot.header.seq()};
    if (result.outcome == storage::AppendOutcome::kStored) {
      // Durable before it leaves this node: a crash cannot make us sign a
      // different envelope at this position.
      Forward(slot.header, slot.composed.feed_id, slot.composed.serialized, "");
      if (slot.header.kind() == proto::KIND_RECEIPT) {
        counters_.Add("receipts_emitted");
      }
    } else {
      outcome = absl::InternalError(absl::StrCat(
          "own envelope at seq ", slot.header.seq(),
          " was not stored: ", storage::OutcomeName(result.outcome)));
      spdlog::error("{}", outcome.status().message());
    }
    if (slot.request.waiter != nullptr) {
      slot.request.waiter->result = std::move(outcome);
      slot.request.waiter->done.Notify();
    }
  }
  std::vector<ReceiptDue> due;
  // Stored without a wrapped key for this field node.
  std::vector<std::string> unread;
  // (peer, feed) -> head after this batch, to keep pulling where behind.
  std::map<std::pair<std::string, std::string>, uint64_t> pulled;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Verified& v = batch[i].verified;
    const storage::AppendResult& result = (*results)[i];
    const std::string& from = batch[i].from;
    switch (result.outcome) {
      case storage::AppendOutcome::kStored:
        counters_.Add("accepted");
        if (OwesReceipt(v.header)) due.push_back({v.id, &v.header});
        if (!v.readable && v.header.kind() != proto::KIND_RECEIPT) {
          unread.push_back(v.id);
        }
        pulled[{from, v.feed_id}] = result.head_seq;
        Forward(v.header, v.feed_id, v.serialized, from);
        break;
      case storage::AppendOutcome::kDuplicate:
        counters_.Add("duplicates");
        break;
      case storage::AppendOutcome::kGap:
        SendRejection(from, v.id,
                      Reject(RejectReason::kGap,
                             absl::StrCat("feed ", Short(v.feed_id),
                                          " expected seq ", result.head_seq + 1,
                                          ", got ", v.header.seq())));
        MaybeWant(from, v.feed_id, result.head_seq);
        break;
      case storage::AppendOutcome::kPrevMismatch:
        SendRejection(from, v.id,
                      Reject(RejectReason::kPrevMismatch,
                             absl::StrCat("seq ", v.header.seq(),
                                          " does not chain to the head")));
        break;
      case storage::AppendOutcome::kEquivocation:
        spdlog::error(
            "EQUIVOCATION by {}: a second envelope {} at feed {} seq {}, kept "
            "as evidence",
            v.header.origin(), Short(v.id), Short(v.feed_id), v.header.seq());
        SendRejection(from, v.id,
                      Reject(RejectReason::kEquivocation,
                             absl::StrCat("another envelope holds seq ",
                                          v.header.seq(), " of this feed")));
        break;
    }
  }
  RequestContentKeys(unread);
  for (const auto& [key, head] : pulled) {
    MaybeWant(key.first, key.second, head);
  }
  EmitReceipts(due);
}

bool Engine::OwesReceipt(const proto::Header& header) const {
  // Field nodes do not receipt: "delivered" is the agency's node storing it,
  // and field nodes sit on the thinnest links.
  return header.kind() != proto::KIND_RECEIPT &&
         header.origin() != identity_.agency() &&
         !IsFieldNode(identity_.agency());
}

void Engine::EmitReceipts(const std::vector<ReceiptDue>& due) {
  // One receipt envelope per audience per batch: under load a receipt covers
  // hundreds of envelopes.
  struct Group {
    std::vector<std::string> audience;
    proto::Precedence precedence = proto::PRECEDENCE_ROUTINE;
    proto::ReceiptBody body;
    std::vector<std::string> settles;
  };
  std::vector<Group> groups;
  std::map<std::string, size_t> open;  // audience -> index of a group not full
  const int64_t now_ms = ToUnixMs(clock_.Now());
  for (const ReceiptDue& d : due) {
    const std::string key = absl::StrJoin(d.header->audience(), ",");
    auto it = open.find(key);
    if (it == open.end() ||
        groups[it->second].settles.size() >= kReceiptEntriesPerEnvelope) {
      groups.emplace_back();
      groups.back().audience = AudienceOf(*d.header);
      it = open.insert_or_assign(key, groups.size() - 1).first;
    }
    Group& group = groups[it->second];
    group.precedence = std::min(group.precedence, d.header->precedence());
    proto::ReceiptEntry* entry = group.body.add_entries();
    entry->set_envelope_id(d.id);
    entry->set_status(proto::RECEIPT_DELIVERED);
    entry->set_at_unix_ms(now_ms);
    group.settles.push_back(d.id);
  }
  absl::MutexLock lock(&mu_);
  for (Group& group : groups) {
    // Stored with the next batch; until then they stay owed on disk.
    OwnRequest request;
    request.kind = proto::KIND_RECEIPT;
    request.precedence = group.precedence;
    request.audience = std::move(group.audience);
    request.plaintext = group.body.SerializeAsString();
    request.settles = std::move(group.settles);
    own_queue_.push_back(std::move(request));
  }
}

void Engine::SettleOwedReceipts() {
  absl::StatusOr<std::vector<std::string>> owed = log_.ListOwedReceipts();
  if (!owed.ok()) {
    spdlog::error("cannot list owed receipts: {}", owed.status().ToString());
    return;
  }
  if (owed->empty()) return;
  std::vector<proto::Header> headers(owed->size());
  std::vector<ReceiptDue> due;
  for (size_t i = 0; i < owed->size(); ++i) {
    std::optional<proto::Header> held = HeldHeader(log_, (*owed)[i]);
    if (!held.has_value()) {
      spdlog::error("owed receipt for {} has no readable envelope",
                    Short((*owed)[i]));
      continue;
    }
    headers[i] = *std::move(held);
    due.push_back({(*owed)[i], &headers[i]});
  }
  spdlog::info("settling {} receipts owed from before a restart", due.size());
  EmitReceipts(due);
}

void Engine::Forward(const proto::Header& header, absl::string_view feed_id,
                     const std::string& serialized, absl::string_view except) {
  // Linked audience members and field nodes of audience agencies.
  std::vector<std::string> targets;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [peer, state] : peers_) {
      if (peer == except || peer == header.origin() ||
          !InAudience(header.audience(), peer)) {
        continue;
      }
      uint64_t& known = state.known[feed_id];
      if (known >= header.seq()) continue;
      known = header.seq();
      Hurry(state);
      targets.push_back(peer);
    }
  }
  if (targets.empty()) return;
  proto::PeerMessage message;
  message.mutable_push()->add_envelopes(serialized);
  for (const std::string& peer : targets) {
    if (sender_.SendToPeer(peer, message, header.precedence())) {
      counters_.Add("forwarded");
    }
  }
}

void Engine::MaybeWant(absl::string_view peer, absl::string_view feed_id,
                       uint64_t have) {
  const absl::Time now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    PeerState& state = it->second;
    if (state.known[feed_id] <= have) return;  // nothing more to get there
    Wanted& wanted = state.wanted[feed_id];
    // One Want in flight per feed and peer; its answer may have been dropped
    // from a full queue, so an old one no longer counts.
    if (wanted.upto > have && now - wanted.at < kWantTimeout) return;
    wanted = {have + options_.want_batch, now};
  }
  proto::PeerMessage message;
  proto::Want* want = message.mutable_want();
  want->set_feed_id(std::string(feed_id));
  want->set_from_seq(have + 1);
  want->set_max(options_.want_batch);
  counters_.Add("wants_sent");
  sender_.SendToPeer(peer, message, kControl);
}

std::vector<proto::FeedHead> Engine::SharedHeads(absl::string_view peer) const {
  std::vector<proto::FeedHead> shared;
  for (proto::FeedHead& head : log_.ListHeads()) {
    if (InAudience(head.audience(), peer)) shared.push_back(std::move(head));
  }
  return shared;
}

std::string Engine::DigestOf(const std::vector<proto::FeedHead>& heads) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kHeads);
  for (const proto::FeedHead& head : heads) {
    hasher.UpdateField(head.feed_id());
    hasher.UpdateField(absl::StrCat(head.seq()));
  }
  return hasher.Finish().str();
}

void Engine::HandleDigest(absl::string_view peer,
                          const proto::HeadsDigest& digest) {
  std::vector<proto::FeedHead> mine = SharedHeads(peer);
  if (DigestOf(mine) == digest.digest()) {
    // In sync: the peer holds everything we hold that it may hold.
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    for (const proto::FeedHead& head : mine) {
      uint64_t& known = it->second.known[head.feed_id()];
      known = std::max(known, head.seq());
    }
    return;
  }
  counters_.Add("anti_entropy.mismatch");
  proto::PeerMessage message;
  message.mutable_heads();  // set even when we hold no shared feed
  for (const proto::FeedHead& head : mine) {
    proto::FeedPosition* position = message.mutable_heads()->add_heads();
    position->set_feed_id(head.feed_id());
    position->set_seq(head.seq());
  }
  sender_.SendToPeer(peer, message, kControl);
}

void Engine::HandleHeads(absl::string_view peer, const proto::Heads& heads) {
  absl::flat_hash_map<std::string, uint64_t> theirs;
  for (const proto::FeedPosition& position : heads.heads()) {
    if (position.feed_id().size() != crypto::Hash256::kSize) continue;
    theirs[position.feed_id()] = position.seq();
  }
  for (const auto& [feed_id, seq] : theirs) {
    std::optional<proto::FeedHead> head = log_.GetHead(feed_id);
    const uint64_t have = head.has_value() ? head->seq() : 0;
    {
      absl::MutexLock lock(&mu_);
      auto it = peers_.find(peer);
      if (it == peers_.end()) return;
      uint64_t& known = it->second.known[feed_id];
      known = std::max(known, seq);
      Hurry(it->second);
    }
    // A feed we have never seen may not include us: the peer serves it only
    // if it does, and every envelope is verified anyway.
    if (seq > have) MaybeWant(peer, feed_id, have);
  }
  if (heads.is_reply()) return;
  std::vector<proto::FeedHead> mine = SharedHeads(peer);
  const bool ahead = std::any_of(
      mine.begin(), mine.end(), [&theirs](const proto::FeedHead& head) {
        auto it = theirs.find(head.feed_id());
        return it == theirs.end() || it->second < head.seq();
      });
  if (!ahead) return;
  proto::PeerMessage message;
  message.mutable_heads()->set_is_reply(true);
  for (const proto::FeedHead& head : mine) {
    proto::FeedPosition* position = message.mutable_heads()->add_heads();
    position->set_feed_id(head.feed_id());
    position->set_seq(head.seq());
  }
  sender_.SendToPeer(peer, message, kControl);
}

absl::Status Engine::HandleWant(absl::string_view peer,
                                const proto::Want& want) {
  std::optional<proto::FeedHead> head = log_.GetHead(want.feed_id());
  if (!head.has_value()) {
    counters_.Add("want.unknown_feed");
    return absl::OkStatus();
  }
  if (!membership_.chain()->IsActive(peer)) {
    // Removed or revoked while its link was closing.
    counters_.Add("want.inactive_peer");
    return absl::OkStatus();
  }
  if (!InAudience(head->audience(), peer)) {
    // Never serve a feed, not even as ciphertext, outside its audience.
    counters_.Add("want.not_in_audience");
    spdlog::warn("peer {} asked for feed {}, whose audience excludes it", peer,
                 Short(want.feed_id()));
    return absl::OkStatus();
  }
  const uint64_t from = std::max<uint64_t>(1, want.from_seq());
  if (from > head->seq()) return absl::OkStatus();
  const size_t max = std::clamp<size_t>(want.max(), 1, options_.want_batch);
  absl::StatusOr<std::vector<std::string>> envelopes =
      log_.ReadFeed(want.feed_id(), from, max, kMaxWantReplyBytes);
  if (!envelopes.ok()) {
    spdlog::error("cannot read feed {}: {}", Short(want.feed_id()),
                  envelopes.status().ToString());
    return absl::OkStatus();
  }
  if (envelopes->empty()) return absl::OkStatus();
  proto::PeerMessage message;
  for (std::string& envelope : *envelopes) {
    message.mutable_push()->add_envelopes(std::move(envelope));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it != peers_.end()) {
      uint64_t& known = it->second.known[want.feed_id()];
      known = std::max<uint64_t>(
          known,
          from + static_cast<uint64_t>(message.push().envelopes_size()) - 1);
    }
  }
  counters_.Add("wants_served");
  sender_.SendToPeer(peer, message, proto::PRECEDENCE_ROUTINE);
  return absl::OkStatus();
}

}  // namespace tidings::node

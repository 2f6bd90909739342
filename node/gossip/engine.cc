#include "node/gossip/engine.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "node/gossip/internal/envelopes.h"

namespace tidings::node {
namespace {

using gossip_internal::AudienceOf;
using gossip_internal::Short;

// A peer whose envelopes fail verification this often loses its link: an
// honest node never sends forgeries, and verifying them costs us CPU.
constexpr int kMaxStrikesPerMinute = 64;
// How long a principal that passed it is cut off: doubling with each
// cut-off within a day, from the first to the most.
constexpr absl::Duration kFirstCutOff = absl::Minutes(1);
constexpr absl::Duration kMaxCutOff = absl::Hours(1);

// Held but unreadable (a field node before its agency's node sends the key);
// receipts are never opened, so they are never unread.
bool HeldUnread(const Verified& v) {
  return !v.readable && v.header.kind() != proto::KIND_RECEIPT;
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

Engine::Engine(const EngineOptions& options)
    : options_(options),
      membership_(*options.membership),
      identity_(*options.identity),
      log_(*options.log),
      clock_(*options.clock),
      counters_(*options.counters),
      forward_secrecy_(options.epochs, options.directory, options.storage_key),
      context_{membership_, identity_,       *options.keyring, log_,
               clock_,      *options.sender, counters_,        *this},
      epoch_keys_(context_, forward_secrecy_),
      field_node_records_(context_),
      content_keys_(MakeContentKeys(context_, forward_secrecy_)),
      roster_gossip_(context_),
      holdings_(context_,
                HoldingsOptions{.interval = options.receipt_interval}),
      feed_sync_(
          context_, forward_secrecy_, *this, &holdings_,
          FeedSyncOptions{
              .want_batch = options.want_batch,
              .anti_entropy_interval = options.anti_entropy_interval,
              .max_anti_entropy_interval = options.max_anti_entropy_interval,
              .graft_timeout = options.graft_timeout}),
      sub_protocols_{&epoch_keys_,    &field_node_records_, content_keys_.get(),
                     &roster_gossip_, &holdings_,           &feed_sync_} {
  for (SubProtocol* sub_protocol : sub_protocols_) {
    for (proto::PeerMessage::MsgCase kind : sub_protocol->Routes()) {
      routes_[kind] = sub_protocol;
    }
  }
  epoch_keys_.Advance(clock_.Now());
  committer_ = std::thread([this] { CommitLoop(); });
}

Engine::~Engine() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
  // Holdings records learnt since the last write (at most one a
  // receipt_interval) are kept too: their holders need not send them again.
  holdings_.PersistNow();
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
      NormalizeAudience(membership_.chain()->current(), identity_.principal(),
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

// Routing and links.

void Engine::OnLinkUp(absl::string_view peer) {
  {
    absl::MutexLock lock(&mu_);
    peers_.insert(std::string(peer));
  }
  counters_.Add("links_up");
  for (SubProtocol* sub_protocol : sub_protocols_) {
    sub_protocol->OnLinkOpening(peer);
  }
  for (SubProtocol* sub_protocol : sub_protocols_) {
    sub_protocol->OnLinkUp(peer);
  }
}

void Engine::OnLinkDown(absl::string_view peer) {
  {
    absl::MutexLock lock(&mu_);
    peers_.erase(peer);
  }
  for (SubProtocol* sub_protocol : sub_protocols_) {
    sub_protocol->OnLinkDown(peer);
  }
}

absl::Status Engine::OnPeerMessage(absl::string_view peer,
                                   const proto::PeerMessage& message) {
  if (message.msg_case() == proto::PeerMessage::kHello ||
      message.msg_case() == proto::PeerMessage::kProof) {
    return absl::FailedPreconditionError("handshake message on a live link");
  }
  auto route = routes_.find(message.msg_case());
  if (route == routes_.end()) {
    // A newer peer may send kinds we do not know: count and ignore them.
    counters_.Add("peer_messages_unknown");
    return absl::OkStatus();
  }
  return route->second->OnMessage(peer, message);
}

void Engine::Tick() {
  const absl::Time now = clock_.Now();
  for (SubProtocol* sub_protocol : sub_protocols_) sub_protocol->OnTick(now);
}

void Engine::Announce(const proto::SignedRoster& proposal) {
  roster_gossip_.Announce(proposal);
}

void Engine::OnRosterApplied(const RosterChain& chain) {
  counters_.Add("roster.applied");
  epoch_keys_.ForgetResigned(chain);
  // Peers no longer members, and field nodes no longer valid (agency
  // removed, certifying key revoked).
  ForgetInactive(chain);
  roster_gossip_.PassOn(chain);
}

void Engine::OnNodesChanged(const RosterChain& chain) {
  counters_.Add("nodes.changed");
  ForgetInactive(chain);
}

void Engine::AnnounceNodeRecords(const proto::NodeCerts& records) {
  field_node_records_.Announce(records);
}

void Engine::ForgetInactive(const RosterChain& chain) {
  epoch_keys_.ForgetInactive(chain);
  {
    absl::MutexLock lock(&mu_);
    absl::erase_if(
        peers_, [&](const std::string& peer) { return !chain.IsActive(peer); });
    absl::erase_if(standing_, [&](const auto& entry) {
      return !chain.IsActive(entry.first);
    });
  }
  feed_sync_.ForgetInactive(chain);
  holdings_.ForgetInactive(chain);
}

std::vector<Delivery> Engine::DeliveredOf(const proto::Header& header,
                                          absl::string_view feed_id) const {
  return holdings_.DeliveredOf(AudienceOf(header), feed_id, header.seq(),
                               header.origin());
}

std::vector<std::string> Engine::linked_peers() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  out.assign(peers_.begin(), peers_.end());
  std::sort(out.begin(), out.end());
  return out;
}

bool Engine::IsLinked(absl::string_view peer) const {
  absl::MutexLock lock(&mu_);
  return peers_.contains(peer);
}

void Engine::Broadcast(const proto::PeerMessage& message,
                       absl::string_view except) {
  for (const std::string& peer : linked_peers()) {
    if (peer != except) options_.sender->SendToPeer(peer, message, kControl);
  }
}

absl::Status Engine::Strike(absl::string_view peer) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  Standing& standing = standing_[peer];
  if (standing.scored_at != absl::InfinitePast()) {
    standing.score = std::max(
        0.0, standing.score - absl::ToDoubleMinutes(now - standing.scored_at) *
                                  kMaxStrikesPerMinute);
  }
  standing.scored_at = now;
  standing.score += 1;
  if (standing.score <= kMaxStrikesPerMinute) return absl::OkStatus();
  if (now - standing.cut_at > absl::Hours(24)) standing.cutoffs = 0;
  const absl::Duration backoff = std::min(
      kMaxCutOff, kFirstCutOff * (1 << std::min(standing.cutoffs, 16)));
  ++standing.cutoffs;
  standing.cut_at = now;
  standing.cut_until = now + backoff;
  standing.score = 0;
  standing.refusal_logged = false;
  counters_.Add("peers_cut_off");
  spdlog::warn(
      "{} sent more than {} refused messages within a minute: link closed, "
      "new links refused for {}",
      peer, kMaxStrikesPerMinute, absl::FormatDuration(backoff));
  return absl::ResourceExhaustedError(
      absl::StrCat(peer, " sent more than ", kMaxStrikesPerMinute,
                   " refused messages within a minute; cut off for ",
                   absl::FormatDuration(backoff)));
}

absl::Status Engine::Admit(absl::string_view peer) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = standing_.find(peer);
  if (it == standing_.end() || now >= it->second.cut_until) {
    return absl::OkStatus();
  }
  counters_.Add("links_refused.cut_off");
  if (!std::exchange(it->second.refusal_logged, true)) {
    spdlog::warn("refusing links from {} until {} (cut off)", peer,
                 absl::FormatTime(it->second.cut_until));
  }
  return absl::UnavailableError(
      absl::StrCat(peer, " is cut off for refused messages until ",
                   absl::FormatTime(it->second.cut_until)));
}

// Group commit.

namespace {

// What a verified envelope waiting for commit holds in memory, about.
size_t QueuedBytesOf(const Received& received) {
  return 3 * received.verified.serialized.size();
}

}  // namespace

void Engine::Enqueue(Received received) {
  const size_t bytes = QueuedBytesOf(received);
  absl::MutexLock lock(&mu_);
  auto room = [this, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || queue_.empty() ||
           (queue_.size() < options_.max_queued &&
            queued_bytes_ + bytes <= options_.max_queued_bytes);
  };
  mu_.Await(absl::Condition(&room));
  queued_bytes_ += bytes;
  queue_.push_back(std::move(received));
}

void Engine::CommitLoop() {
  while (true) {
    std::vector<Received> batch;
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
        queued_bytes_ -= QueuedBytesOf(queue_.front());
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      while (!own_queue_.empty() && own.size() < options_.max_batch) {
        own.push_back(std::move(own_queue_.front()));
        own_queue_.pop_front();
      }
      committing_ = true;
    }
    CommitBatch(std::move(batch), std::move(own));
    absl::MutexLock lock(&mu_);
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

void Engine::CommitBatch(std::vector<Received> batch,
                         std::vector<OwnRequest> own) {
  const absl::Time now = clock_.Now();
  std::vector<storage::EnvelopeRecord> records = RecordsOfReceived(batch, now);
  std::vector<OwnSlot> slots = SequenceOwn(std::move(own), records, now);
  // A field node remembers what it is about to hold unread before it holds
  // it (one synced write), so that a crash cannot leave it unread for good.
  std::vector<std::string> unread;
  for (const Received& received : batch) {
    if (HeldUnread(received.verified)) unread.push_back(received.verified.id);
  }
  content_keys_->MarkUnread(unread);
  absl::StatusOr<std::vector<storage::AppendResult>> results =
      log_.Append(records);
  feed_sync_.Settle(batch);
  if (!results.ok()) {
    FailCommit(slots, records.size(), results.status());
    return;
  }
  FinishOwn(slots, *results);
  FinishReceived(batch, *results);
}

std::vector<storage::EnvelopeRecord> Engine::RecordsOfReceived(
    std::vector<Received>& batch, absl::Time now) const {
  std::vector<storage::EnvelopeRecord> records;
  records.reserve(batch.size());
  for (Received& received : batch) {
    const Verified& v = received.verified;
    records.push_back(RecordOf(v.header, v.id, v.feed_id, v.serialized, now));
    records.back().receipts = std::move(received.receipts);
    if (v.readable) {
      records.back().local_key =
          forward_secrecy_.LocalKeyOf(v.id, v.content_key);
    }
  }
  return records;
}

std::vector<Engine::OwnSlot> Engine::SequenceOwn(
    std::vector<OwnRequest> own, std::vector<storage::EnvelopeRecord>& records,
    absl::Time now) {
  // Our own envelopes take the next positions of their feeds, counting
  // those taken earlier in this batch. Only this thread writes our feeds, so
  // nothing can take a position between reading the head and appending.
  std::vector<OwnSlot> slots;
  Heads heads;
  for (OwnRequest& request : own) {
    absl::StatusOr<OwnSlot> slot = PrepareOwn(std::move(request), heads, now);
    if (!slot.ok()) continue;
    slot->record = records.size();
    records.push_back(RecordOfOwn(*slot, now));
    slots.push_back(*std::move(slot));
  }
  return slots;
}

absl::StatusOr<Engine::OwnSlot> Engine::PrepareOwn(OwnRequest request,
                                                   Heads& heads,
                                                   absl::Time now) {
  OwnSlot slot;
  const std::shared_ptr<const RosterChain> chain = membership_.chain();
  const Roster& roster = chain->current();
  const std::string feed_id = FeedIdOf(roster.network_id().view(),
                                       identity_.principal(), request.audience);
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
  input.created_unix_ms = absl::ToUnixMillis(now);
  input.expires_unix_ms = request.expires_unix_ms;
  input.seq = head->second.first + 1;
  input.prev_id = head->second.second;
  absl::StatusOr<Composed> composed =
      Compose(identity_,
              SealKeys{context_.keyring, forward_secrecy_.own_keys(),
                       forward_secrecy_.directory(), now, &chain->nodes()},
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

storage::EnvelopeRecord Engine::RecordOfOwn(OwnSlot& slot,
                                            absl::Time now) const {
  storage::EnvelopeRecord record =
      RecordOf(slot.header, slot.composed.id, slot.composed.feed_id,
               slot.composed.serialized, now);
  record.local_key =
      forward_secrecy_.LocalKeyOf(slot.composed.id, slot.composed.content_key);
  return record;
}

void Engine::FailCommit(std::vector<OwnSlot>& slots, size_t records,
                        const absl::Status& error) {
  // Nothing of the batch is stored and nothing was acknowledged: the
  // senders still hold it and anti-entropy brings it again.
  counters_.Add("commit_failures");
  spdlog::error("cannot store {} envelopes: {}", records, error.ToString());
  for (OwnSlot& slot : slots) {
    if (slot.request.waiter != nullptr) {
      slot.request.waiter->result = error;
      slot.request.waiter->done.Notify();
    }
  }
}

void Engine::FinishOwn(std::vector<OwnSlot>& slots,
                       const std::vector<storage::AppendResult>& results) {
  for (OwnSlot& slot : slots) {
    const storage::AppendResult& result = results[slot.record];
    absl::StatusOr<SendResult> outcome =
        SendResult{slot.composed.id, slot.composed.feed_id, slot.header.seq()};
    if (result.outcome == storage::AppendOutcome::kStored) {
      // Durable before it leaves this node: a crash cannot make us sign a
      // different envelope at this position.
      feed_sync_.Forward(slot.header, slot.composed.feed_id, slot.composed.id,
                         slot.composed.serialized, "");
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
}

void Engine::FinishReceived(const std::vector<Received>& batch,
                            const std::vector<storage::AppendResult>& results) {
  // Feed id -> its new head, for the holdings records.
  std::map<std::string, proto::FeedHead> heads;
  // Stored without a wrapped key for this field node.
  std::vector<std::string> unread;
  // (peer, feed) -> head after this batch, to keep pulling where behind.
  std::map<std::pair<std::string, std::string>, uint64_t> pulled;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Verified& v = batch[i].verified;
    const storage::AppendResult& result = results[i];
    if (result.outcome != storage::AppendOutcome::kStored) {
      AnswerNotStored(batch[i], result);
      continue;
    }
    counters_.Add("accepted");
    proto::FeedHead& head = heads[v.feed_id];
    if (head.seq() < v.header.seq()) {
      head.set_feed_id(v.feed_id);
      head.set_origin(v.header.origin());
      *head.mutable_audience() = v.header.audience();
      head.set_seq(v.header.seq());
      head.set_head_id(v.id);
    }
    if (HeldUnread(v)) unread.push_back(v.id);
    pulled[{batch[i].from, v.feed_id}] = result.head_seq;
    feed_sync_.Forward(v.header, v.feed_id, v.id, v.serialized, batch[i].from);
  }
  content_keys_->RequestKeys(unread);
  for (const auto& [key, head] : pulled) {
    feed_sync_.MaybeWant(key.first, key.second, head);
  }
  if (!heads.empty()) {
    std::vector<proto::FeedHead> advanced;
    advanced.reserve(heads.size());
    for (auto& [feed_id, head] : heads) advanced.push_back(std::move(head));
    holdings_.OnStored(advanced);
  }
}

void Engine::AnswerNotStored(const Received& received,
                             const storage::AppendResult& result) {
  const Verified& v = received.verified;
  const std::string& from = received.from;
  switch (result.outcome) {
    case storage::AppendOutcome::kStored:
      break;
    case storage::AppendOutcome::kDuplicate:
      counters_.Add("duplicates");
      break;
    case storage::AppendOutcome::kGap:
      feed_sync_.SendRejection(
          from, v.id,
          Reject(RejectReason::kGap,
                 absl::StrCat("feed ", Short(v.feed_id), " expected seq ",
                              result.head_seq + 1, ", got ", v.header.seq())));
      feed_sync_.MaybeWant(from, v.feed_id, result.head_seq);
      break;
    case storage::AppendOutcome::kPrevMismatch:
      feed_sync_.SendRejection(
          from, v.id,
          Reject(RejectReason::kPrevMismatch,
                 absl::StrCat("seq ", v.header.seq(),
                              " does not chain to the head")));
      break;
    case storage::AppendOutcome::kEquivocation: {
      spdlog::error(
          "EQUIVOCATION by {}: a second envelope {} at feed {} seq {}, kept "
          "as evidence",
          v.header.origin(), Short(v.id), Short(v.feed_id), v.header.seq());
      const absl::Status refused =
          Reject(RejectReason::kEquivocation,
                 absl::StrCat("another envelope holds seq ", v.header.seq(),
                              " of this feed"));
      feed_sync_.SendRejection(from, v.id, refused);
      // Evidence is kept once: a replay costs a lookup, not a synced write
      // and an ERROR line.
      feed_sync_.RememberRefusal(v, refused);
      break;
    }
  }
}

}  // namespace tidings::node

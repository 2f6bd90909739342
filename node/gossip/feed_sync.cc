#include "node/gossip/feed_sync.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/labels.h"
#include "node/gossip/internal/envelopes.h"
#include "node/gossip/receipts.h"

namespace tidings::node {
namespace {

using gossip_internal::AudienceOf;
using gossip_internal::InAudience;
using gossip_internal::Short;

constexpr size_t kMaxWantReplyBytes = 4 * 1024 * 1024;
constexpr absl::Duration kWantTimeout = absl::Seconds(5);

// Every head of `heads` as a Heads message.
proto::PeerMessage HeadsMessage(const std::vector<proto::FeedHead>& heads,
                                bool is_reply) {
  proto::PeerMessage message;
  message.mutable_heads();  // set even when we hold no shared feed
  if (is_reply) message.mutable_heads()->set_is_reply(true);
  for (const proto::FeedHead& head : heads) {
    proto::FeedPosition* position = message.mutable_heads()->add_heads();
    position->set_feed_id(head.feed_id());
    position->set_seq(head.seq());
  }
  return message;
}

// Whether `reason` is not the relaying peer's doing, so not held against
// it: signed under a roster this node has not applied yet (its updates are
// on their way) or by a field node whose certificate has not arrived yet,
// signed by a revoked key past its cut (an honest member may still hold and
// serve it), or authentic but wrapped to an epoch key this node no longer
// holds.
bool NotThePeersDoing(std::optional<RejectReason> reason) {
  return reason == RejectReason::kRosterAhead ||
         reason == RejectReason::kUnknownNode ||
         reason == RejectReason::kRevoked ||
         reason == RejectReason::kUndecryptable;
}

}  // namespace

std::string DigestOf(const std::vector<proto::FeedHead>& heads,
                     absl::string_view part_digest) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kHeads);
  for (const proto::FeedHead& head : heads) {
    hasher.UpdateField(head.feed_id());
    hasher.UpdateField(absl::StrCat(head.seq()));
  }
  if (!part_digest.empty()) hasher.UpdateField(part_digest);
  return hasher.Finish().str();
}

FeedSync::FeedSync(const GossipContext& context, const ForwardSecrecy& keys,
                   ReceivedQueue& queue, DigestPart* part,
                   const FeedSyncOptions& options)
    : context_(context),
      keys_(keys),
      queue_(queue),
      part_(part),
      options_(options) {}

std::string FeedSync::DigestWith(
    absl::string_view peer, const std::vector<proto::FeedHead>& heads) const {
  return DigestOf(heads, part_ == nullptr ? "" : part_->DigestFor(peer));
}

std::vector<proto::PeerMessage::MsgCase> FeedSync::Routes() const {
  return {proto::PeerMessage::kPush,      proto::PeerMessage::kHeadsDigest,
          proto::PeerMessage::kHeads,     proto::PeerMessage::kWant,
          proto::PeerMessage::kRejection, proto::PeerMessage::kAnnounce,
          proto::PeerMessage::kGraft,     proto::PeerMessage::kPrune};
}

void FeedSync::OnLinkOpening(absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  PeerFeeds& feeds = peers_[peer] = PeerFeeds();
  feeds.digest_interval = options_.anti_entropy_interval;
  feeds.next_digest = context_.clock.Now() + options_.anti_entropy_interval;
}

void FeedSync::OnLinkUp(absl::string_view peer) { SendDigest(peer); }

void FeedSync::OnLinkDown(absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  peers_.erase(peer);
  absl::erase_if(missing_,
                 [&](const auto& entry) { return entry.second.peer == peer; });
  absl::erase_if(feed_wants_,
                 [&](const auto& entry) { return entry.second.peer == peer; });
}

void FeedSync::ForgetInactive(const RosterChain& chain) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(
      peers_, [&](const auto& entry) { return !chain.IsActive(entry.first); });
  absl::erase_if(refusal_lines_, [&](const auto& entry) {
    return !chain.IsActive(entry.first);
  });
}

absl::Status FeedSync::OnMessage(absl::string_view peer,
                                 const proto::PeerMessage& message) {
  GraftDue(context_.clock.Now());
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
    case proto::PeerMessage::kAnnounce:
      HandleAnnounce(peer, message.announce());
      return absl::OkStatus();
    case proto::PeerMessage::kGraft:
      return HandleGraft(peer, message.graft());
    case proto::PeerMessage::kPrune:
      HandlePrune(peer, message.prune());
      return absl::OkStatus();
    case proto::PeerMessage::kRejection:
      context_.counters.Add("rejections_received");
      spdlog::warn("peer {} refused envelope {}: {}", peer,
                   Short(message.rejection().envelope_id()),
                   message.rejection().reason().substr(0, 200));
      return absl::OkStatus();
    default:
      return absl::InternalError("not a feed sync message");
  }
}

void FeedSync::OnTick(absl::Time now) {
  GraftDue(now);
  std::vector<std::string> due;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [peer, feeds] : peers_) {
      // One side starting rounds is enough: the other answers a mismatch.
      if (!(context_.identity.principal() < peer) || now < feeds.next_digest) {
        continue;
      }
      feeds.next_digest = now + feeds.digest_interval;
      feeds.digest_interval = std::min(feeds.digest_interval * 2,
                                       options_.max_anti_entropy_interval);
      due.push_back(peer);
    }
  }
  for (const std::string& peer : due) SendDigest(peer);
}

void FeedSync::SendDigest(absl::string_view peer) {
  proto::PeerMessage message;
  message.mutable_heads_digest()->set_digest(
      DigestWith(peer, SharedHeads(peer)));
  context_.sender.SendToPeer(peer, message, kControl);
}

void FeedSync::Hurry(PeerFeeds& feeds) {
  feeds.digest_interval = options_.anti_entropy_interval;
  feeds.next_digest = std::min(
      feeds.next_digest, context_.clock.Now() + options_.anti_entropy_interval);
}

absl::Status FeedSync::HandlePush(absl::string_view peer,
                                  const proto::Push& push) {
  const std::shared_ptr<const RosterChain> chain = context_.membership.chain();
  const VerifyContext verify{*chain, context_.identity.principal(),
                             context_.keyring, peer, keys_.own_keys()};
  for (const std::string& bytes : push.envelopes()) {
    std::string held_origin;
    TIDINGS_ASSIGN_OR_RETURN(std::optional<Received> received,
                             Check(peer, verify, bytes, &held_origin));
    if (!held_origin.empty() && !push.answers_want()) {
      Prune(peer, held_origin);
    }
    if (!received.has_value()) continue;
    const Verified& v = received->verified;
    std::optional<proto::FeedHead> head = context_.log.GetHead(v.feed_id);
    bool chains = false;
    {
      absl::MutexLock lock(&mu_);
      PeerFeeds& feeds = peers_[peer];
      Hurry(feeds);
      uint64_t& known = feeds.known[v.feed_id];
      known = std::max(known, v.header.seq());
      // Forwarded at once when it follows what is held or already
      // forwarded; stored in the next group commit.
      Tip& tip = tips_[v.feed_id];
      if (head.has_value() && head->seq() >= tip.seq) {
        tip = {head->seq(), head->head_id()};
      }
      chains = v.header.seq() == tip.seq + 1 && v.header.prev_id() == tip.id;
      if (chains) tip = {v.header.seq(), v.id};
    }
    if (chains) Forward(v.header, v.feed_id, v.id, v.serialized, peer);
    queue_.Enqueue(*std::move(received));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Received>> FeedSync::Check(
    absl::string_view peer, const VerifyContext& context,
    const std::string& bytes, std::string* held_origin) {
  context_.counters.Add("received");
  context_.counters.Add("received_bytes", bytes.size());
  // A copy already held (or waiting for commit) costs a hash and a key
  // lookup, never a signature check or a read of the envelope.
  proto::Envelope outer;
  proto::Header header;
  std::string id;
  // What a refusal is remembered by: the signed bytes and the signature (not
  // the id alone, or a copy with a broken signature would get an honest
  // envelope refused).
  std::string refusal_key;
  if (bytes.size() <= kMaxEnvelopeBytes && outer.ParseFromString(bytes)) {
    id = crypto::Hash(outer.header()).str();
    if (header.ParseFromString(outer.header()) && Held(header, id)) {
      context_.counters.Add("duplicates");
      *held_origin = header.origin();
      return std::optional<Received>();
    }
    refusal_key = absl::StrCat(id, outer.signature());
    std::optional<absl::Status> refused = RefusedBefore(refusal_key);
    if (refused.has_value()) {
      // A replay of a refused envelope costs a lookup.
      context_.counters.Add("refused_replays");
      SendRejection(peer, id, *refused);
      TIDINGS_RETURN_IF_ERROR(context_.links.Strike(peer));
      return std::optional<Received>();
    }
  }
  context_.counters.Add("verifies");
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
    if (!NotThePeersDoing(RejectReasonOf(verified.status()))) {
      // The same bytes are refused the same way whoever relays them again
      // (the reasons that are not the peer's doing may pass later, and one
      // about the relay may pass from another).
      if (!refusal_key.empty() && RejectReasonOf(verified.status()) !=
                                      RejectReason::kSenderNotInAudience) {
        Remember(refusal_key, verified.status());
      }
      TIDINGS_RETURN_IF_ERROR(context_.links.Strike(peer));
    }
    return std::optional<Received>();
  }
  {
    // Another link may have brought the same envelope meanwhile.
    absl::MutexLock lock(&mu_);
    missing_.erase(verified->id);
    if (!pending_.insert(verified->id).second) {
      context_.counters.Add("duplicates");
      *held_origin = verified->header.origin();
      return std::optional<Received>();
    }
  }
  Received received{*std::move(verified), std::string(peer),
                    std::move(receipts)};
  received.verified.plaintext.clear();  // never kept beyond the checks
  return std::optional<Received>(std::move(received));
}

std::optional<absl::Status> FeedSync::RefusedBefore(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = refused_.find(key);
  if (it == refused_.end()) return std::nullopt;
  return it->second;
}

void FeedSync::RememberRefusal(const Verified& v, const absl::Status& status) {
  Remember(absl::StrCat(v.id, v.envelope.signature()), status);
}

void FeedSync::Remember(const std::string& key, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (!refused_.emplace(key, status).second) return;
  refused_order_.push_back(key);
  if (refused_order_.size() > kMaxRemembered) {
    refused_.erase(refused_order_.front());
    refused_order_.pop_front();
  }
}

bool FeedSync::Held(const proto::Header& header, const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    if (pending_.contains(id)) return true;
  }
  const std::string feed_id =
      FeedIdOf(context_.membership.chain()->current().network_id().view(),
               header.origin(), AudienceOf(header));
  return context_.log.HoldsAt(feed_id, header.seq(), id);
}

void FeedSync::Settle(const std::vector<Received>& batch) {
  absl::flat_hash_map<std::string, uint64_t> heads;
  for (const Received& received : batch) {
    const std::string& feed_id = received.verified.feed_id;
    if (heads.contains(feed_id)) continue;
    std::optional<proto::FeedHead> head = context_.log.GetHead(feed_id);
    heads[feed_id] = head.has_value() ? head->seq() : 0;
  }
  absl::MutexLock lock(&mu_);
  for (const Received& received : batch) {
    pending_.erase(received.verified.id);
  }
  // A tip the log has reached (or that a failed commit left behind) is
  // taken from the log again.
  for (const auto& [feed_id, head_seq] : heads) {
    auto it = tips_.find(feed_id);
    if (it != tips_.end() && (it->second.seq <= head_seq || pending_.empty())) {
      tips_.erase(it);
    }
  }
}

void FeedSync::SendRejection(absl::string_view peer,
                             absl::string_view envelope_id,
                             const absl::Status& status) {
  std::optional<RejectReason> reason = RejectReasonOf(status);
  const std::string name =
      reason.has_value() ? std::string(RejectReasonName(*reason)) : "internal";
  context_.counters.Add(absl::StrCat("rejected.", name));
  int suppressed = 0;
  bool log = false;
  {
    const absl::Time now = context_.clock.Now();
    absl::MutexLock lock(&mu_);
    RefusalLines& lines = refusal_lines_[peer];
    if (now - lines.since >= absl::Minutes(1)) {
      suppressed = std::exchange(lines.suppressed, 0);
      lines = {now, 0, 0};
    }
    log = lines.logged < kRefusalLinesPerMinute;
    if (log) {
      ++lines.logged;
    } else {
      ++lines.suppressed;
    }
  }
  if (suppressed > 0) {
    spdlog::warn(
        "{} more envelopes from {} refused in the last minute, not "
        "logged (see the rejected.* counters)",
        suppressed, peer);
  }
  if (log) {
    spdlog::warn("refused envelope {} from {}: {}", Short(envelope_id), peer,
                 status.message());
  }
  proto::PeerMessage message;
  message.mutable_rejection()->set_envelope_id(std::string(envelope_id));
  message.mutable_rejection()->set_reason(std::string(status.message()));
  context_.sender.SendToPeer(peer, message, kControl);
}

void FeedSync::Forward(const proto::Header& header, absl::string_view feed_id,
                       absl::string_view envelope_id,
                       const std::string& serialized,
                       absl::string_view except) {
  // Linked audience members and field nodes of audience agencies.
  std::vector<std::string> eager;
  std::vector<std::string> lazy;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [peer, feeds] : peers_) {
      if (peer == except || peer == header.origin() ||
          !InAudience(header.audience(), peer)) {
        continue;
      }
      uint64_t& known = feeds.known[feed_id];
      if (known >= header.seq()) continue;
      known = header.seq();
      Hurry(feeds);
      (feeds.lazy.contains(header.origin()) ? lazy : eager).push_back(peer);
    }
  }
  if (!eager.empty()) {
    proto::PeerMessage message;
    message.mutable_push()->add_envelopes(serialized);
    for (const std::string& peer : eager) {
      if (context_.sender.SendToPeer(peer, message, header.precedence())) {
        context_.counters.Add("forwarded");
      }
    }
  }
  if (!lazy.empty()) {
    proto::PeerMessage message;
    proto::Announce* announce = message.mutable_announce();
    announce->set_feed_id(std::string(feed_id));
    announce->set_seq(header.seq());
    announce->set_envelope_id(std::string(envelope_id));
    announce->set_origin(header.origin());
    for (const std::string& peer : lazy) {
      if (context_.sender.SendToPeer(peer, message, header.precedence())) {
        context_.counters.Add("announced");
      }
    }
  }
}

void FeedSync::Prune(absl::string_view peer, const std::string& origin) {
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.lazy.insert(origin).second) return;
  }
  context_.counters.Add("prunes_sent");
  proto::PeerMessage message;
  message.mutable_prune()->set_origin(origin);
  context_.sender.SendToPeer(peer, message, kControl);
}

void FeedSync::HandlePrune(absl::string_view peer, const proto::Prune& prune) {
  // Only principals of the roster: the set stays as small as the network.
  if (!context_.membership.chain()->IsActive(prune.origin())) return;
  context_.counters.Add("prunes_received");
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(peer);
  if (it != peers_.end()) it->second.lazy.insert(prune.origin());
}

void FeedSync::HandleAnnounce(absl::string_view peer,
                              const proto::Announce& announce) {
  context_.counters.Add("announces_received");
  if (announce.feed_id().size() != crypto::Hash256::kSize ||
      announce.envelope_id().size() != crypto::Hash256::kSize ||
      announce.seq() == 0) {
    return;
  }
  std::optional<proto::FeedHead> head =
      context_.log.GetHead(announce.feed_id());
  if (head.has_value() && InAudience(head->audience(), peer) &&
      head->seq() >= announce.seq()) {
    return;  // held already
  }
  absl::MutexLock lock(&mu_);
  if (pending_.contains(announce.envelope_id()) ||
      missing_.contains(announce.envelope_id()) ||
      missing_.size() >= kMaxMissing) {
    return;
  }
  const absl::Time due = context_.clock.Now() + options_.graft_timeout;
  missing_[announce.envelope_id()] =
      Missing{std::string(peer), announce.feed_id(), announce.seq(),
              announce.origin(), due};
  next_graft_ = std::min(next_graft_, due);
}

void FeedSync::GraftDue(absl::Time now) {
  std::vector<Missing> due;
  {
    absl::MutexLock lock(&mu_);
    if (now < next_graft_) return;
    next_graft_ = absl::InfiniteFuture();
    for (auto it = missing_.begin(); it != missing_.end();) {
      if (it->second.due > now) {
        next_graft_ = std::min(next_graft_, it->second.due);
        ++it;
        continue;
      }
      due.push_back(std::move(it->second));
      missing_.erase(it++);
    }
  }
  for (const Missing& missing : due) {
    std::optional<proto::FeedHead> head = context_.log.GetHead(missing.feed_id);
    // Answered the same whether or not we hold a feed whose audience
    // excludes the announcer: from the start.
    const bool shared =
        head.has_value() && InAudience(head->audience(), missing.peer);
    const uint64_t have = shared ? head->seq() : 0;
    if (have >= missing.seq) continue;  // arrived meanwhile
    {
      absl::MutexLock lock(&mu_);
      auto it = peers_.find(missing.peer);
      if (it == peers_.end()) continue;
      it->second.lazy.erase(missing.origin);
      NoteWantLocked(missing.peer, it->second, missing.feed_id, have, shared,
                     now);
    }
    context_.counters.Add("grafts_sent");
    proto::PeerMessage message;
    proto::Graft* graft = message.mutable_graft();
    graft->set_feed_id(missing.feed_id);
    graft->set_from_seq(have + 1);
    graft->set_origin(missing.origin);
    context_.sender.SendToPeer(missing.peer, message, kControl);
  }
}

absl::Status FeedSync::HandleGraft(absl::string_view peer,
                                   const proto::Graft& graft) {
  context_.counters.Add("grafts_received");
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it != peers_.end()) it->second.lazy.erase(graft.origin());
  }
  proto::Want want;
  want.set_feed_id(graft.feed_id());
  want.set_from_seq(graft.from_seq());
  want.set_max(options_.want_batch);
  return HandleWant(peer, want);
}

void FeedSync::MaybeWant(absl::string_view peer, absl::string_view feed_id,
                         uint64_t have) {
  RequestMore(peer, feed_id, have, /*shared=*/true);
}

void FeedSync::RequestMore(absl::string_view peer, absl::string_view feed_id,
                           uint64_t have, bool shared) {
  const absl::Time now = context_.clock.Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    PeerFeeds& feeds = it->second;
    if (feeds.known[feed_id] <= have) return;  // nothing more to get there
    const Wanted& wanted = feeds.wanted[feed_id];
    // One Want in flight per feed and peer; its answer may have been dropped
    // from a full queue, so an old one no longer counts.
    if (wanted.upto > have && now - wanted.at < kWantTimeout) return;
    // One peer per feed at a time: after a partition every peer may be
    // ahead, and each would send the same envelopes. Not for a feed not
    // shared with this peer: whether another pulls it is none of its
    // business.
    if (shared) {
      auto feed_want = feed_wants_.find(feed_id);
      if (feed_want != feed_wants_.end() && feed_want->second.peer != peer &&
          feed_want->second.wanted.upto > have &&
          now - feed_want->second.wanted.at < kWantTimeout) {
        return;
      }
    }
    NoteWantLocked(peer, feeds, feed_id, have, shared, now);
  }
  proto::PeerMessage message;
  proto::Want* want = message.mutable_want();
  want->set_feed_id(std::string(feed_id));
  want->set_from_seq(have + 1);
  want->set_max(options_.want_batch);
  context_.counters.Add("wants_sent");
  context_.sender.SendToPeer(peer, message, kControl);
}

void FeedSync::NoteWantLocked(absl::string_view peer, PeerFeeds& feeds,
                              absl::string_view feed_id, uint64_t have,
                              bool shared, absl::Time now) {
  const Wanted wanted{have + options_.want_batch, now};
  feeds.wanted[feed_id] = wanted;
  if (shared) feed_wants_[feed_id] = {std::string(peer), wanted};
}

std::vector<proto::FeedHead> FeedSync::SharedHeads(
    absl::string_view peer) const {
  std::vector<proto::FeedHead> shared;
  for (proto::FeedHead& head : context_.log.ListHeads()) {
    if (InAudience(head.audience(), peer)) shared.push_back(std::move(head));
  }
  return shared;
}

void FeedSync::HandleDigest(absl::string_view peer,
                            const proto::HeadsDigest& digest) {
  std::vector<proto::FeedHead> mine = SharedHeads(peer);
  if (DigestWith(peer, mine) == digest.digest()) {
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
  context_.counters.Add("anti_entropy.mismatch");
  context_.sender.SendToPeer(peer, HeadsMessage(mine, /*is_reply=*/false),
                             kControl);
  if (part_ != nullptr) part_->OnMismatch(peer);
}

void FeedSync::HandleHeads(absl::string_view peer, const proto::Heads& heads) {
  absl::flat_hash_map<std::string, uint64_t> theirs;
  for (const proto::FeedPosition& position : heads.heads()) {
    if (position.feed_id().size() != crypto::Hash256::kSize) continue;
    theirs[position.feed_id()] = position.seq();
  }
  for (const auto& [feed_id, seq] : theirs) {
    std::optional<proto::FeedHead> head = context_.log.GetHead(feed_id);
    // A feed whose audience excludes the peer is answered exactly as one
    // this node has never seen: what it asks for must not tell whether it
    // holds the feed, how much of it, or who else it pulls it from.
    const bool shared = head.has_value() && InAudience(head->audience(), peer);
    const uint64_t have = shared ? head->seq() : 0;
    {
      absl::MutexLock lock(&mu_);
      auto it = peers_.find(peer);
      if (it == peers_.end()) return;
      PeerFeeds& feeds = it->second;
      if (shared) {
        feeds.unshared.erase(feed_id);
      } else if (!feeds.unshared.contains(feed_id)) {
        if (feeds.unshared.size() >= kMaxUnsharedFeeds) {
          context_.counters.Add("heads.unshared_dropped");
          continue;
        }
        feeds.unshared.insert(feed_id);
      }
      uint64_t& known = feeds.known[feed_id];
      known = std::max(known, seq);
      Hurry(feeds);
    }
    // A feed we have never seen may not include us: the peer serves it only
    // if it does, and every envelope is verified anyway.
    if (seq > have) RequestMore(peer, feed_id, have, shared);
  }
  if (heads.is_reply()) return;
  std::vector<proto::FeedHead> mine = SharedHeads(peer);
  const bool ahead = std::any_of(
      mine.begin(), mine.end(), [&theirs](const proto::FeedHead& head) {
        auto it = theirs.find(head.feed_id());
        return it == theirs.end() || it->second < head.seq();
      });
  if (!ahead) return;
  context_.sender.SendToPeer(peer, HeadsMessage(mine, /*is_reply=*/true),
                             kControl);
}

absl::Status FeedSync::HandleWant(absl::string_view peer,
                                  const proto::Want& want) {
  std::optional<proto::FeedHead> head = context_.log.GetHead(want.feed_id());
  if (!head.has_value()) {
    context_.counters.Add("want.unknown_feed");
    return absl::OkStatus();
  }
  if (!context_.membership.chain()->IsActive(peer)) {
    // Removed or revoked while its link was closing.
    context_.counters.Add("want.inactive_peer");
    return absl::OkStatus();
  }
  if (!InAudience(head->audience(), peer)) {
    // Never serve a feed, not even as ciphertext, outside its audience.
    context_.counters.Add("want.not_in_audience");
    spdlog::warn("peer {} asked for feed {}, whose audience excludes it", peer,
                 Short(want.feed_id()));
    return absl::OkStatus();
  }
  const uint64_t from = std::max<uint64_t>(1, want.from_seq());
  if (from > head->seq()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(peer);
    if (it == peers_.end()) return absl::OkStatus();
    PeerFeeds& feeds = it->second;
    const absl::Time now = context_.clock.Now();
    if (feeds.served_at != absl::InfinitePast()) {
      feeds.serve_tokens =
          std::min(static_cast<double>(kWantServeBurstBytes),
                   feeds.serve_tokens +
                       absl::ToDoubleSeconds(now - feeds.served_at) *
                           static_cast<double>(kWantServeBytesPerSecond));
    }
    feeds.served_at = now;
    if (feeds.serve_tokens <= 0) {
      context_.counters.Add("want.throttled");
      return absl::OkStatus();
    }
  }
  const size_t max = std::clamp<size_t>(want.max(), 1, options_.want_batch);
  absl::StatusOr<std::vector<std::string>> envelopes =
      context_.log.ReadFeed(want.feed_id(), from, max, kMaxWantReplyBytes);
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
      it->second.serve_tokens -= static_cast<double>(message.ByteSizeLong());
    }
  }
  message.mutable_push()->set_answers_want(true);
  context_.counters.Add("wants_served");
  context_.sender.SendToPeer(peer, message, proto::PRECEDENCE_ROUTINE);
  return absl::OkStatus();
}

}  // namespace tidings::node

#include "node/gossip/holdings.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/labels.h"
#include "crypto/sign.h"
#include "node/gossip/internal/envelopes.h"
#include "storage/state_keys.h"

namespace tidings::node {
namespace {

using gossip_internal::InAudience;
using gossip_internal::Short;
using storage::state_keys::kHoldings;

// A HoldingsPush this node sends, at most (well under the message cap).
constexpr size_t kPushBytes = 1024 * 1024;

std::string KeyOf(absl::string_view audience_id, absl::string_view holder) {
  return absl::StrCat(audience_id, holder);
}

std::string StateNameOf(absl::string_view audience_id,
                        absl::string_view holder) {
  return absl::StrCat(kHoldings, crypto::ToHex(audience_id), "/", holder);
}

bool InList(const std::vector<std::string>& audience,
            absl::string_view principal) {
  return std::binary_search(audience.begin(), audience.end(),
                            AgencyOf(principal));
}

// A refusal of a received record, named for its counter.
struct Refusal {
  std::string reason;  // holdings.refused.<reason>
  std::string detail;
  bool strike = true;  // held against the relaying peer
};

}  // namespace

void HoldingsGossip::AddProgress(Entry& entry, const proto::Holdings& next) {
  absl::flat_hash_map<std::string, uint64_t> before;
  for (const proto::FeedHolding& feed : entry.holdings.feeds()) {
    before[feed.feed_id()] = feed.seq();
  }
  for (const proto::FeedHolding& feed : next.feeds()) {
    auto it = before.find(feed.feed_id());
    if (it != before.end() && it->second >= feed.seq()) continue;
    std::vector<proto::DeliveryPoint>& points = entry.progress[feed.feed_id()];
    // A holder that went back (lost its disk) starts its points again.
    std::erase_if(points, [&](const proto::DeliveryPoint& point) {
      return point.seq() >= feed.seq();
    });
    proto::DeliveryPoint& point = points.emplace_back();
    point.set_seq(feed.seq());
    point.set_at_unix_ms(next.at_unix_ms());
    if (points.size() > kMaxDeliveryPoints) points.erase(points.begin());
  }
}

std::string AudienceIdOf(const std::vector<std::string>& audience) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kAudienceId);
  for (const std::string& member : audience) hasher.UpdateField(member);
  return hasher.Finish().str();
}

HoldingsGossip::HoldingsGossip(const GossipContext& context,
                               const HoldingsOptions& options)
    : context_(context),
      options_(options),
      network_id_(context.membership.chain()->current().network_id().str()) {
  Load();
}

void HoldingsGossip::Load() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> stored =
      context_.log.ScanState(kHoldings);
  if (!stored.ok()) {
    spdlog::error("cannot read holdings records: {}",
                  stored.status().ToString());
  } else {
    for (const auto& [name, value] : *stored) {
      proto::StoredHoldings kept;
      proto::SignedHoldings record;
      Entry entry;
      if (!kept.ParseFromString(value) ||
          !entry.holdings.ParseFromString(kept.record().holdings())) {
        spdlog::error("holdings record {} does not parse; dropped", name);
        continue;
      }
      entry.serialized = kept.record().SerializeAsString();
      for (const proto::StoredHoldings::Progress& p : kept.progress()) {
        entry.progress[p.feed_id()].assign(p.points().begin(),
                                           p.points().end());
      }
      const std::vector<std::string> audience(entry.holdings.audience().begin(),
                                              entry.holdings.audience().end());
      records_[KeyOf(AudienceIdOf(audience), entry.holdings.holder())] =
          std::move(entry);
    }
  }
  // Our own heads: every feed of another origin whose audience includes us.
  const std::string& self = context_.identity.principal();
  for (const proto::FeedHead& head : context_.log.ListHeads()) {
    if (head.origin() == self || !InAudience(head.audience(), self)) continue;
    std::vector<std::string> audience(head.audience().begin(),
                                      head.audience().end());
    const std::string audience_id = AudienceIdOf(audience);
    Own& own = own_[audience_id];
    own.audience = std::move(audience);
    proto::FeedHolding& feed = own.feeds[head.feed_id()];
    feed.set_feed_id(head.feed_id());
    feed.set_origin(head.origin());
    feed.set_seq(head.seq());
    feed.set_head_id(head.head_id());
    // Re-signed only if what is held differs from our newest record.
    auto it = records_.find(KeyOf(audience_id, self));
    own.changed = true;
    if (it != records_.end()) {
      const proto::Holdings& last = it->second.holdings;
      own.changed = !std::any_of(last.feeds().begin(), last.feeds().end(),
                                 [&](const proto::FeedHolding& f) {
                                   return f.feed_id() == head.feed_id() &&
                                          f.seq() == head.seq();
                                 });
    }
  }
  // A record is re-signed if any of its feeds changed.
  for (auto& [audience_id, own] : own_) {
    auto it = records_.find(KeyOf(audience_id, self));
    if (it != records_.end() &&
        static_cast<size_t>(it->second.holdings.feeds_size()) !=
            own.feeds.size()) {
      own.changed = true;
    }
  }
}

std::vector<proto::PeerMessage::MsgCase> HoldingsGossip::Routes() const {
  return {proto::PeerMessage::kHoldingsPush,
          proto::PeerMessage::kHoldingsHeads};
}

void HoldingsGossip::OnLinkOpening(absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  peers_[peer] = Known();
}

void HoldingsGossip::OnLinkDown(absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  peers_.erase(peer);
}

void HoldingsGossip::ForgetInactive(const RosterChain& chain) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(
      peers_, [&](const auto& entry) { return !chain.IsActive(entry.first); });
}

void HoldingsGossip::OnStored(const std::vector<proto::FeedHead>& heads) {
  const std::string& self = context_.identity.principal();
  std::vector<std::string> signed_keys;
  {
    absl::MutexLock lock(&mu_);
    for (const proto::FeedHead& head : heads) {
      if (head.origin() == self || !InAudience(head.audience(), self)) {
        continue;
      }
      std::vector<std::string> audience(head.audience().begin(),
                                        head.audience().end());
      Own& own = own_[AudienceIdOf(audience)];
      if (own.audience.empty()) own.audience = std::move(audience);
      proto::FeedHolding& feed = own.feeds[head.feed_id()];
      if (feed.seq() >= head.seq()) continue;
      feed.set_feed_id(head.feed_id());
      feed.set_origin(head.origin());
      feed.set_seq(head.seq());
      feed.set_head_id(head.head_id());
      own.changed = true;
    }
    signed_keys = SignDue(context_.clock.Now());
  }
  Spread(signed_keys, "");
}

void HoldingsGossip::OnTick(absl::Time now) {
  std::vector<std::string> signed_keys;
  {
    absl::MutexLock lock(&mu_);
    signed_keys = SignDue(now);
  }
  Spread(signed_keys, "");
  Persist(now);
}

std::vector<std::string> HoldingsGossip::SignDue(absl::Time now) {
  const std::string& self = context_.identity.principal();
  std::vector<std::string> keys;
  for (auto& [audience_id, own] : own_) {
    if (!own.changed || now - own.signed_at < options_.interval) continue;
    const std::string key = KeyOf(audience_id, self);
    Entry& entry = records_[key];
    const uint64_t counter = std::max<uint64_t>(
        entry.holdings.counter() + 1,
        static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(now))));
    proto::Holdings holdings;
    holdings.set_network_id(network_id_);
    holdings.set_holder(self);
    for (const std::string& member : own.audience) {
      holdings.add_audience(member);
    }
    holdings.set_counter(counter);
    holdings.set_at_unix_ms(absl::ToUnixMillis(now));
    for (const auto& [feed_id, feed] : own.feeds) {
      *holdings.add_feeds() = feed;
    }
    proto::SignedHoldings record;
    record.set_holdings(holdings.SerializeAsString());
    record.set_signature(
        std::string(crypto::Sign(context_.identity.signing_key(),
                                 crypto::Domain::kHoldings, record.holdings())
                        .view()));
    AddProgress(entry, holdings);
    entry.holdings = std::move(holdings);
    entry.serialized = record.SerializeAsString();
    entry.dirty = true;
    own.changed = false;
    own.signed_at = now;
    context_.counters.Add("holdings.signed");
    keys.push_back(key);
  }
  return keys;
}

void HoldingsGossip::Spread(const std::vector<std::string>& keys,
                            absl::string_view except) {
  if (keys.empty()) return;
  // Peer -> the records to push it.
  std::map<std::string, proto::PeerMessage> out;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& key : keys) {
      auto it = records_.find(key);
      if (it == records_.end()) continue;
      const proto::Holdings& holdings = it->second.holdings;
      for (auto& [peer, known] : peers_) {
        if (peer == except || peer == holdings.holder() ||
            !InAudience(holdings.audience(), peer)) {
          continue;
        }
        uint64_t& counter = known[key];
        if (counter >= holdings.counter()) continue;
        counter = holdings.counter();
        out[peer].mutable_holdings_push()->add_records(it->second.serialized);
      }
    }
  }
  for (const auto& [peer, message] : out) {
    if (context_.sender.SendToPeer(peer, message, proto::PRECEDENCE_ROUTINE)) {
      context_.counters.Add("holdings.sent",
                            message.holdings_push().records_size());
      context_.counters.Add("holdings.sent_bytes", message.ByteSizeLong());
    }
  }
}

void HoldingsGossip::Persist(absl::Time now) {
  std::vector<std::pair<std::string, std::string>> writes;
  {
    absl::MutexLock lock(&mu_);
    if (now - persisted_at_ < options_.interval) return;
    persisted_at_ = now;
    for (auto& [key, entry] : records_) {
      if (!entry.dirty) continue;
      proto::StoredHoldings kept;
      if (!kept.mutable_record()->ParseFromString(entry.serialized)) continue;
      for (const auto& [feed_id, points] : entry.progress) {
        proto::StoredHoldings::Progress* p = kept.add_progress();
        p->set_feed_id(feed_id);
        for (const proto::DeliveryPoint& point : points) {
          *p->add_points() = point;
        }
      }
      const std::string audience_id = key.substr(0, crypto::Hash256::kSize);
      writes.emplace_back(StateNameOf(audience_id, entry.holdings.holder()),
                          kept.SerializeAsString());
      entry.dirty = false;
    }
  }
  if (writes.empty()) return;
  absl::Status status = context_.log.PutStates(writes);
  if (!status.ok()) {
    // Kept in memory; the holders send them again.
    context_.counters.Add("holdings.write_failures");
    spdlog::error("cannot store {} holdings records: {}", writes.size(),
                  status.ToString());
  }
}

absl::Status HoldingsGossip::OnMessage(absl::string_view peer,
                                       const proto::PeerMessage& message) {
  if (message.msg_case() == proto::PeerMessage::kHoldingsHeads) {
    return HandleHeads(peer, message.holdings_heads());
  }
  const proto::HoldingsPush& push = message.holdings_push();
  if (static_cast<size_t>(push.records_size()) > kMaxHoldingsPerPush) {
    context_.counters.Add("holdings.refused.too_many");
    return absl::ResourceExhaustedError(
        absl::StrCat("holdings push with ", push.records_size(),
                     " records; at most ", kMaxHoldingsPerPush));
  }
  std::vector<std::string> fresh;
  for (const std::string& bytes : push.records()) {
    TIDINGS_RETURN_IF_ERROR(Accept(peer, bytes, fresh));
  }
  Spread(fresh, peer);
  return absl::OkStatus();
}

absl::Status HoldingsGossip::Accept(absl::string_view peer,
                                    const std::string& bytes,
                                    std::vector<std::string>& fresh) {
  const std::string& self = context_.identity.principal();
  const std::shared_ptr<const RosterChain> chain = context_.membership.chain();
  proto::SignedHoldings record;
  proto::Holdings holdings;
  // Cheap checks first, the signature last.
  auto check = [&]() -> std::optional<Refusal> {
    if (bytes.size() > kMaxHoldingsBytes || !record.ParseFromString(bytes) ||
        !holdings.ParseFromString(record.holdings())) {
      return Refusal{"malformed", "does not parse or is too large"};
    }
    if (holdings.network_id() != network_id_) {
      return Refusal{"wrong_network", "of another network"};
    }
    const auto& audience = holdings.audience();
    if (audience.empty() ||
        static_cast<size_t>(audience.size()) > kMaxAudience ||
        !std::is_sorted(audience.begin(), audience.end()) ||
        std::adjacent_find(audience.begin(), audience.end()) !=
            audience.end()) {
      return Refusal{"bad_audience", "audience not sorted, unique, <= 256"};
    }
    if (!InAudience(audience, holdings.holder())) {
      return Refusal{"bad_audience", absl::StrCat("holder ", holdings.holder(),
                                                  " is outside its audience")};
    }
    if (!InAudience(audience, self) || !InAudience(audience, peer)) {
      // Sent to, or by, a node outside the audience: never to be passed.
      return Refusal{"not_in_audience",
                     "its audience excludes this node or the sender"};
    }
    return std::nullopt;
  };
  std::optional<Refusal> refusal = check();
  std::string key;
  if (!refusal.has_value()) {
    if (holdings.holder() == self) return absl::OkStatus();  // ours, back
    const std::vector<std::string> audience(holdings.audience().begin(),
                                            holdings.audience().end());
    key = KeyOf(AudienceIdOf(audience), holdings.holder());
    absl::MutexLock lock(&mu_);
    auto held = records_.find(key);
    auto known = peers_.find(peer);
    if (known != peers_.end()) {
      uint64_t& counter = known->second[key];
      counter = std::max(counter, holdings.counter());
    }
    if (held != records_.end() &&
        held->second.holdings.counter() >= holdings.counter()) {
      // Held already, or older: no signature check.
      context_.counters.Add("holdings.stale");
      return absl::OkStatus();
    }
  }
  if (!refusal.has_value()) {
    std::optional<crypto::VerifyKey> signer =
        chain->VerifyKeyOf(holdings.holder());
    std::optional<crypto::Signature> signature =
        crypto::Signature::FromBytes(record.signature());
    if (!signer.has_value()) {
      // Removed, or a field node whose certificate has not arrived: not the
      // relaying peer's doing.
      refusal = Refusal{"unknown_holder",
                        absl::StrCat(holdings.holder(), " is not active"),
                        /*strike=*/false};
    } else if (!signature.has_value() ||
               !crypto::Verify(*signer, crypto::Domain::kHoldings,
                               record.holdings(), *signature)
                    .ok()) {
      refusal = Refusal{"bad_signature", "signature does not verify"};
    }
  }
  if (!refusal.has_value()) {
    const std::vector<std::string> audience(holdings.audience().begin(),
                                            holdings.audience().end());
    if (static_cast<size_t>(holdings.feeds_size()) > kMaxHoldingsFeeds) {
      refusal = Refusal{"bad_feed", "too many feeds"};
    }
    const std::string* previous = nullptr;
    for (const proto::FeedHolding& feed : holdings.feeds()) {
      if (refusal.has_value()) break;
      if ((previous != nullptr && *previous >= feed.feed_id()) ||
          feed.seq() == 0 || feed.head_id().size() != crypto::Hash256::kSize ||
          !InList(audience, feed.origin()) ||
          FeedIdOf(network_id_, feed.origin(), audience) != feed.feed_id()) {
        // Naming a feed of another audience would leak it to this one.
        refusal =
            Refusal{"bad_feed", absl::StrCat("feed ", Short(feed.feed_id()),
                                             " is not one of its audience's")};
      }
      previous = &feed.feed_id();
    }
  }
  if (refusal.has_value()) {
    context_.counters.Add(absl::StrCat("holdings.refused.", refusal->reason));
    spdlog::warn("refused a holdings record from {}: {}", peer,
                 refusal->detail);
    if (refusal->strike) return context_.links.Strike(peer);
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  Entry& entry = records_[key];
  if (entry.holdings.counter() >= holdings.counter()) {
    context_.counters.Add("holdings.stale");  // another thread was first
    return absl::OkStatus();
  }
  AddProgress(entry, holdings);
  entry.holdings = std::move(holdings);
  entry.serialized = bytes;
  entry.dirty = true;
  context_.counters.Add("holdings.accepted");
  fresh.push_back(key);
  return absl::OkStatus();
}

std::string HoldingsGossip::DigestFor(absl::string_view peer) const {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kHoldingsDigest);
  absl::MutexLock lock(&mu_);
  for (const auto& [key, entry] : records_) {
    if (!InAudience(entry.holdings.audience(), peer)) continue;
    hasher.UpdateField(key);
    hasher.UpdateField(absl::StrCat(entry.holdings.counter()));
  }
  return hasher.Finish().str();
}

proto::PeerMessage HoldingsGossip::RefsFor(absl::string_view peer,
                                           bool is_reply) const {
  proto::PeerMessage message;
  proto::HoldingsHeads* heads = message.mutable_holdings_heads();
  heads->set_is_reply(is_reply);
  for (const auto& [key, entry] : records_) {
    if (!InAudience(entry.holdings.audience(), peer)) continue;
    proto::HoldingsRef* ref = heads->add_refs();
    ref->set_holder(entry.holdings.holder());
    ref->set_audience_id(key.substr(0, crypto::Hash256::kSize));
    ref->set_counter(entry.holdings.counter());
  }
  return message;
}

void HoldingsGossip::OnMismatch(absl::string_view peer) {
  proto::PeerMessage message;
  {
    absl::MutexLock lock(&mu_);
    message = RefsFor(peer, /*is_reply=*/false);
  }
  context_.sender.SendToPeer(peer, message, kControl);
}

absl::Status HoldingsGossip::HandleHeads(absl::string_view peer,
                                         const proto::HoldingsHeads& heads) {
  if (static_cast<size_t>(heads.refs_size()) > kMaxHoldingsRefs) {
    context_.counters.Add("holdings.refused.too_many");
    return absl::ResourceExhaustedError(
        absl::StrCat("holdings heads with ", heads.refs_size(),
                     " refs; at most ", kMaxHoldingsRefs));
  }
  absl::flat_hash_map<std::string, uint64_t> theirs;
  for (const proto::HoldingsRef& ref : heads.refs()) {
    if (ref.audience_id().size() != crypto::Hash256::kSize) continue;
    theirs[KeyOf(ref.audience_id(), ref.holder())] = ref.counter();
  }
  std::vector<proto::PeerMessage> pushes;
  bool behind = false;
  proto::PeerMessage reply;
  {
    absl::MutexLock lock(&mu_);
    auto known = peers_.find(peer);
    if (known == peers_.end()) return absl::OkStatus();
    size_t bytes = 0;
    for (const auto& [key, entry] : records_) {
      if (!InAudience(entry.holdings.audience(), peer)) continue;
      auto it = theirs.find(key);
      const uint64_t have = it == theirs.end() ? 0 : it->second;
      uint64_t& counter = known->second[key];
      counter = std::max(counter, have);
      if (have >= entry.holdings.counter()) continue;
      if (pushes.empty() || bytes + entry.serialized.size() > kPushBytes ||
          static_cast<size_t>(pushes.back().holdings_push().records_size()) >=
              kMaxHoldingsPerPush) {
        pushes.emplace_back().mutable_holdings_push();
        bytes = 0;
      }
      pushes.back().mutable_holdings_push()->add_records(entry.serialized);
      bytes += entry.serialized.size();
      counter = entry.holdings.counter();
    }
    // A record whose audience excludes the peer counts as one this node
    // lacks: the answer must not tell whether it holds it, or how new.
    for (const auto& [key, counter] : theirs) {
      auto it = records_.find(key);
      if (it == records_.end() ||
          !InAudience(it->second.holdings.audience(), peer) ||
          it->second.holdings.counter() < counter) {
        behind = true;
        break;
      }
    }
    if (behind && !heads.is_reply()) reply = RefsFor(peer, /*is_reply=*/true);
  }
  for (const proto::PeerMessage& push : pushes) {
    if (context_.sender.SendToPeer(peer, push, proto::PRECEDENCE_ROUTINE)) {
      context_.counters.Add("holdings.sent",
                            push.holdings_push().records_size());
      context_.counters.Add("holdings.sent_bytes", push.ByteSizeLong());
    }
  }
  if (behind && !heads.is_reply()) {
    context_.sender.SendToPeer(peer, reply, kControl);
  }
  return absl::OkStatus();
}

std::vector<Delivery> HoldingsGossip::DeliveredOf(
    const std::vector<std::string>& audience, absl::string_view feed_id,
    uint64_t seq, absl::string_view origin) const {
  const std::string audience_id = AudienceIdOf(audience);
  std::vector<Delivery> out;
  absl::MutexLock lock(&mu_);
  for (auto it = records_.lower_bound(audience_id);
       it != records_.end() && absl::string_view(it->first).substr(
                                   0, audience_id.size()) == audience_id;
       ++it) {
    const Entry& entry = it->second;
    if (entry.holdings.holder() == origin) continue;
    const auto feed = std::find_if(
        entry.holdings.feeds().begin(), entry.holdings.feeds().end(),
        [&](const proto::FeedHolding& f) { return f.feed_id() == feed_id; });
    if (feed == entry.holdings.feeds().end() || feed->seq() < seq) continue;
    Delivery delivery{entry.holdings.holder(), entry.holdings.at_unix_ms()};
    auto progress = entry.progress.find(std::string(feed_id));
    if (progress != entry.progress.end()) {
      for (const proto::DeliveryPoint& point : progress->second) {
        if (point.seq() >= seq) {
          delivery.at_unix_ms = point.at_unix_ms();
          break;
        }
      }
    }
    out.push_back(std::move(delivery));
  }
  return out;
}

}  // namespace tidings::node

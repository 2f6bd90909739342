#include "node/model/membership.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "node/model/reject.h"
#include "storage/state_keys.h"

namespace tidings::node {
namespace {

// State record names (storage/state_keys.h).
using storage::state_keys::kContact;
using storage::state_keys::kNodeCert;
using storage::state_keys::kNodeIssued;
using storage::state_keys::kNodeRevocation;
using storage::state_keys::kProposal;
using storage::state_keys::kRoster;
using storage::state_keys::kRosterFork;
using storage::state_keys::kSigned;
// Node certificates and revocations held for a roster version not reached,
// at most this many and this many versions ahead of the chain.
constexpr size_t kMaxHeldNodeRecords = 64;
constexpr uint32_t kMaxHeldVersionsAhead = 8;

std::string VersionKey(absl::string_view prefix, uint32_t version) {
  return absl::StrFormat("%s%010u", prefix, version);
}

absl::StatusOr<proto::Roster> ParseUpdate(const proto::SignedRoster& update) {
  proto::Roster roster;
  if (!roster.ParseFromString(update.roster())) {
    return absl::InvalidArgumentError(
        "roster update bytes do not parse as a tidings.proto.Roster");
  }
  return roster;
}

// `into` plus the signatures of `from` it lacks (both verified already).
bool MergeSignatures(proto::SignedRoster& into,
                     const proto::SignedRoster& from) {
  bool changed = false;
  for (const proto::RosterSignature& sig : from.signatures()) {
    bool have = false;
    for (const proto::RosterSignature& mine : into.signatures()) {
      have |= mine.agency() == sig.agency();
    }
    if (!have) {
      *into.add_signatures() = sig;
      changed = true;
    }
  }
  std::sort(
      into.mutable_signatures()->begin(), into.mutable_signatures()->end(),
      [](const proto::RosterSignature& a, const proto::RosterSignature& b) {
        return a.agency() < b.agency();
      });
  return changed;
}

// The node id and roster version a certificate or revocation (one of them
// non-null) names; empty and 0 if it does not parse (the check says why).
std::pair<std::string, uint32_t> NodeAndVersionOf(
    const proto::SignedNodeCert* cert, const proto::SignedNodeRevocation* rev) {
  if (cert != nullptr) {
    proto::NodeCert parsed;
    if (!parsed.ParseFromString(cert->cert())) return {"", 0};
    return {parsed.node(), parsed.roster_version()};
  }
  proto::NodeRevocation parsed;
  if (!parsed.ParseFromString(rev->revocation())) return {"", 0};
  return {parsed.node(), parsed.roster_version()};
}

}  // namespace

absl::string_view OfferedName(Offered offered) {
  switch (offered) {
    case Offered::kApplied:
      return "applied";
    case Offered::kPending:
      return "pending";
    case Offered::kKnown:
      return "known";
    case Offered::kStale:
      return "stale";
    case Offered::kFork:
      return "fork";
  }
  return "unknown";
}

const proto::Revocation* RosterChain::RevocationOf(
    absl::string_view origin, absl::string_view sign_pk) const {
  for (const proto::Revocation& r : current().roster().revocations()) {
    if (r.agency() == origin && r.sign_pk() == sign_pk) return &r;
  }
  return nullptr;
}

absl::StatusOr<crypto::VerifyKey> RosterChain::SignerKey(
    absl::string_view origin, uint32_t roster_version,
    absl::string_view feed_id, uint64_t seq) const {
  const Roster* roster = at(roster_version);
  if (roster == nullptr) {
    return Reject(RejectReason::kRosterAhead,
                  absl::StrCat("signed under roster v", roster_version,
                               "; this node has v", version()));
  }
  if (IsFieldNode(origin)) {
    return nodes_->SignerKey(origin, feed_id, seq, current());
  }
  const proto::Member* member = roster->Find(origin);
  if (member == nullptr) {
    return Reject(RejectReason::kUnknownOrigin,
                  absl::StrCat("origin '", origin.substr(0, 64),
                               "' is not in roster v", roster_version));
  }
  if (const proto::Revocation* r = RevocationOf(origin, member->sign_pk())) {
    uint64_t last = 0;
    for (const proto::FeedCut& cut : r->cuts()) {
      if (cut.feed_id() == feed_id) last = cut.last_seq();
    }
    if (seq > last) {
      return Reject(
          RejectReason::kRevoked,
          absl::StrCat(
              origin, "'s key was ", r->removed() ? "removed" : "revoked",
              " at roster v", r->at_version(), "; position ", seq,
              " of this feed is past its last valid one (", last, ")"));
    }
  }
  std::optional<crypto::VerifyKey> key =
      crypto::VerifyKey::FromBytes(member->sign_pk());
  if (!key.has_value()) {
    return Reject(RejectReason::kUnknownOrigin, "origin key is malformed");
  }
  return *key;
}

bool RosterChain::IsActive(absl::string_view principal) const {
  return IsFieldNode(principal)
             ? nodes_->Active(principal, current()) != nullptr
             : current().IsMember(principal);
}

std::optional<crypto::VerifyKey> RosterChain::VerifyKeyOf(
    absl::string_view principal) const {
  if (!IsFieldNode(principal)) return current().VerifyKeyOf(principal);
  const FieldNode* node = nodes_->Active(principal, current());
  if (node == nullptr) return std::nullopt;
  return crypto::VerifyKey::FromBytes(node->cert.sign_pk());
}

const proto::MemberContact* RosterChain::ContactOf(
    absl::string_view agency) const {
  const Contact* contact = nodes_->FindContact(agency);
  if (contact == nullptr) return nullptr;
  const Roster* signed_under = at(contact->contact.roster_version());
  const proto::Member* now = current().Find(agency);
  if (signed_under == nullptr || now == nullptr) return nullptr;
  const proto::Member* then = signed_under->Find(agency);
  if (then == nullptr ||
      then->SerializeAsString() != now->SerializeAsString()) {
    return nullptr;
  }
  return &contact->contact;
}

std::optional<crypto::Sha256> RosterChain::TlsFingerprintOf(
    absl::string_view principal) const {
  if (!IsFieldNode(principal)) {
    if (const proto::MemberContact* contact = ContactOf(principal)) {
      return crypto::Sha256::FromBytes(contact->tls_cert_sha256());
    }
    return current().TlsFingerprintOf(principal);
  }
  const FieldNode* node = nodes_->Active(principal, current());
  if (node == nullptr) return std::nullopt;
  return crypto::Sha256::FromBytes(node->cert.tls_cert_sha256());
}

bool RosterChain::IsPinned(const crypto::Sha256& fingerprint) const {
  for (const proto::Member& m : current().roster().members()) {
    std::optional<crypto::Sha256> pinned = TlsFingerprintOf(m.agency());
    if (pinned.has_value() && *pinned == fingerprint) return true;
  }
  for (const auto& [id, node] : nodes_->all()) {
    if (node.has_cert && node.cert.tls_cert_sha256() == fingerprint.view() &&
        nodes_->Active(id, current()) != nullptr) {
      return true;
    }
  }
  return false;
}

std::optional<crypto::BoxPublicKey> RosterChain::BoxKeyOf(
    absl::string_view principal, uint32_t version) const {
  if (IsFieldNode(principal)) {
    const FieldNode* node = nodes_->Find(principal);
    if (node == nullptr || !node->has_cert) return std::nullopt;
    return crypto::BoxPublicKey::FromBytes(node->cert.box_pk());
  }
  const Roster* roster = at(version);
  if (roster == nullptr) return std::nullopt;
  return roster->BoxKeyOf(principal);
}

Membership::Membership(std::shared_ptr<const RosterChain> chain,
                       storage::Log* log)
    : log_(log), network_id_(chain->network_id()), chain_(std::move(chain)) {}

absl::StatusOr<std::unique_ptr<Membership>> Membership::Open(
    Roster genesis, storage::Log* log) {
  std::vector<std::shared_ptr<const Roster>> versions;
  versions.push_back(std::make_shared<const Roster>(std::move(genesis)));
  std::vector<std::pair<std::string, std::string>> proposals;
  std::vector<RosterFork> forks;
  if (log != nullptr) {
    TIDINGS_ASSIGN_OR_RETURN(auto updates, log->ScanState(kRoster));
    for (const auto& [key, value] : updates) {
      proto::SignedRoster update;
      absl::StatusOr<Roster> next =
          update.ParseFromString(value)
              ? Roster::FromUpdate(*versions.back(), update)
              : absl::InvalidArgumentError("does not parse");
      if (!next.ok()) {
        return absl::DataLossError(
            absl::StrCat("stored roster update ", key,
                         " does not verify: ", next.status().message()));
      }
      versions.push_back(std::make_shared<const Roster>(std::move(*next)));
    }
    TIDINGS_ASSIGN_OR_RETURN(proposals, log->ScanState(kProposal));
    TIDINGS_ASSIGN_OR_RETURN(auto fork_records, log->ScanState(kRosterFork));
    for (const auto& [key, value] : fork_records) {
      proto::SignedRoster other;
      proto::Roster roster;
      if (!other.ParseFromString(value) ||
          !roster.ParseFromString(other.roster()) ||
          roster.version() >= versions.size()) {
        continue;
      }
      forks.push_back({roster.version(),
                       versions[roster.version()]->hash().str(),
                       crypto::Hash(other.roster()).str()});
    }
  }
  std::unique_ptr<Membership> out(new Membership(
      std::make_shared<const RosterChain>(std::move(versions)), log));
  absl::MutexLock lock(&out->mu_);
  out->forks_ = std::move(forks);
  if (log != nullptr) {
    TIDINGS_ASSIGN_OR_RETURN(auto issued, log->ScanState(kNodeIssued));
    for (const auto& [key, value] : issued) {
      int64_t since = 0;
      if (absl::SimpleAtoi(value, &since)) {
        out->issued_[key.substr(kNodeIssued.size())] = since;
      }
    }
    // Certificates first: a revocation may name one.
    TIDINGS_ASSIGN_OR_RETURN(auto certs, log->ScanState(kNodeCert));
    TIDINGS_ASSIGN_OR_RETURN(auto revocations, log->ScanState(kNodeRevocation));
    for (const auto& [key, value] : certs) {
      proto::SignedNodeCert cert;
      if (!cert.ParseFromString(value) ||
          !out->OfferNodeLocked(&cert, nullptr, false).ok()) {
        spdlog::warn("stored node certificate {} no longer holds; dropped",
                     key);
      }
    }
    for (const auto& [key, value] : revocations) {
      proto::SignedNodeRevocation revocation;
      if (!revocation.ParseFromString(value) ||
          !out->OfferNodeLocked(nullptr, &revocation, false).ok()) {
        spdlog::warn("stored node revocation {} no longer holds; dropped", key);
      }
    }
    TIDINGS_ASSIGN_OR_RETURN(auto contacts, log->ScanState(kContact));
    for (const auto& [key, value] : contacts) {
      proto::SignedMemberContact contact;
      if (!contact.ParseFromString(value) ||
          !out->OfferContactLocked(contact, false).ok()) {
        spdlog::info("stored member contact {} no longer holds; dropped", key);
      }
    }
  }
  for (const auto& [key, value] : proposals) {
    proto::SignedRoster proposal;
    bool applied = false;
    if (!proposal.ParseFromString(value) ||
        !out->OfferLocked(proposal, &applied).ok() || applied) {
      // Stale or unusable: forget it.
      if (log != nullptr) log->DeleteState(key).IgnoreError();
    }
  }
  return out;
}

std::shared_ptr<const RosterChain> Membership::chain() const {
  absl::MutexLock lock(&mu_);
  return chain_;
}

std::vector<proto::SignedRoster> Membership::Pending() const {
  absl::MutexLock lock(&mu_);
  return pending_;
}

std::vector<RosterFork> Membership::Forks() const {
  absl::MutexLock lock(&mu_);
  return forks_;
}

void Membership::AddListener(std::function<void(const RosterChain&)> listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void Membership::Notify(const std::shared_ptr<const RosterChain>& chain) {
  std::vector<std::function<void(const RosterChain&)>> listeners;
  bool nodes_changed = false;
  {
    absl::MutexLock lock(&mu_);
    listeners = listeners_;
    nodes_changed = std::exchange(held_accepted_, false);
  }
  for (const auto& listener : listeners) listener(*chain);
  // Held node records the update let in.
  if (nodes_changed) NotifyNodes(chain);
}

absl::Status Membership::PersistProposal(const proto::SignedRoster& proposal) {
  if (log_ == nullptr) return absl::OkStatus();
  return log_->PutState(
      absl::StrCat(kProposal,
                   crypto::ToHex(crypto::Hash(proposal.roster()).view())),
      proposal.SerializeAsString());
}

absl::Status Membership::ApplyLocked(const proto::SignedRoster& update) {
  TIDINGS_ASSIGN_OR_RETURN(Roster next,
                           Roster::FromUpdate(chain_->current(), update));
  if (log_ != nullptr) {
    TIDINGS_RETURN_IF_ERROR(log_->PutState(VersionKey(kRoster, next.version()),
                                           update.SerializeAsString()));
    for (const proto::SignedRoster& p : pending_) {
      log_
          ->DeleteState(absl::StrCat(
              kProposal, crypto::ToHex(crypto::Hash(p.roster()).view())))
          .IgnoreError();
    }
  }
  spdlog::info("roster v{} applied: {} (signed by {} members)", next.version(),
               next.roster().change(), update.signatures_size());
  std::vector<std::shared_ptr<const Roster>> versions = chain_->versions();
  versions.push_back(std::make_shared<const Roster>(std::move(next)));
  chain_ = std::make_shared<const RosterChain>(std::move(versions),
                                               chain_->shared_nodes());
  pending_.clear();
  RetryHeldNodesLocked();
  return absl::OkStatus();
}

absl::StatusOr<Offered> Membership::OfferLocked(
    const proto::SignedRoster& update, bool* applied) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Roster roster, ParseUpdate(update));
  const uint32_t version = roster.version();
  if (version == 0) {
    if (update.roster() == chain_->at(0)->signed_roster().roster()) {
      return Offered::kKnown;
    }
    return absl::InvalidArgumentError("a genesis roster is not an update");
  }
  if (version <= chain_->version()) {
    return OfferHeldVersionLocked(update, version);
  }
  TIDINGS_RETURN_IF_ERROR(CheckSuccessorLocked(roster));
  return MergeProposalLocked(update, applied);
}

absl::StatusOr<Offered> Membership::OfferHeldVersionLocked(
    const proto::SignedRoster& update, uint32_t version) {
  const Roster& have = *chain_->at(version);
  if (update.roster() == have.signed_roster().roster()) {
    return Offered::kKnown;
  }
  TIDINGS_ASSIGN_OR_RETURN(UpdateCheck check,
                           CheckUpdate(*chain_->at(version - 1), update));
  if (!check.complete) return Offered::kStale;
  // Two complete updates for one version: every honest member signs one
  // proposal per version and k > n/2, so some signer equivocated.
  return RecordForkLocked(update, version, have, check);
}

absl::StatusOr<Offered> Membership::RecordForkLocked(
    const proto::SignedRoster& update, uint32_t version, const Roster& have,
    const UpdateCheck& check) {
  for (const RosterFork& fork : forks_) {
    if (fork.version == version && fork.other_hash == check.hash.view()) {
      return Offered::kKnown;
    }
  }
  forks_.push_back({version, have.hash().str(), check.hash.str()});
  if (log_ != nullptr) {
    log_->PutState(absl::StrCat(VersionKey(kRosterFork, version), "/",
                                crypto::ToHex(check.hash.view())),
                   update.SerializeAsString())
        .IgnoreError();
  }
  spdlog::error(
      "ROSTER EQUIVOCATION at v{}: applied {} but {} also has a quorum "
      "(signed by {}); the roster chain is frozen until an operator "
      "resolves it",
      version, crypto::ToHex(have.hash().view()),
      crypto::ToHex(check.hash.view()), absl::StrJoin(check.signers, ", "));
  return Offered::kFork;
}

absl::Status Membership::CheckSuccessorLocked(const proto::Roster& roster) {
  const uint32_t version = roster.version();
  const uint32_t current = chain_->version();
  if (!forks_.empty()) {
    return WithChainRefusal(
        absl::FailedPreconditionError(absl::StrCat(
            "the roster chain forked at v", forks_.front().version,
            "; no update is applied until an operator resolves it")),
        ChainRefusal::kForked);
  }
  if (version > current + 1) {
    return WithChainRefusal(
        absl::FailedPreconditionError(
            absl::StrCat("update v", version, " but this node has roster v",
                         current, "; the updates between come first")),
        ChainRefusal::kBehind);
  }
  if (roster.prev_hash() != chain_->current().hash().view()) {
    // Its author holds another v<current>: the chains differ.
    return absl::FailedPreconditionError(absl::StrCat(
        "update v", version, " does not chain to this node's roster v", current,
        "; the sender holds a different history"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Offered> Membership::MergeProposalLocked(
    const proto::SignedRoster& update, bool* applied) {
  TIDINGS_ASSIGN_OR_RETURN(UpdateCheck check,
                           CheckUpdate(chain_->current(), update));
  if (check.signers.empty()) {
    return absl::InvalidArgumentError(
        "roster proposal carries no signature of a member");
  }
  proto::SignedRoster* merged = nullptr;
  bool changed = true;
  for (proto::SignedRoster& p : pending_) {
    if (p.roster() == update.roster()) {
      merged = &p;
      changed = MergeSignatures(p, update);
    }
  }
  if (merged == nullptr) {
    // Complete on its own: applied whatever is pending (no bound below
    // can stand in the way of a quorum).
    if (check.complete) {
      TIDINGS_RETURN_IF_ERROR(ApplyLocked(update));
      *applied = true;
      return Offered::kApplied;
    }
    // One pending proposal per member: a new one needs a signer that has
    // signed none of the pending ones (an honest member signs one per
    // version). So at most one proposal per member is held, and a member
    // that floods proposals holds one slot, never anyone else's.
    TIDINGS_RETURN_IF_ERROR(AdmitProposalLocked(check));
    pending_.push_back(update);
    merged = &pending_.back();
  }
  TIDINGS_ASSIGN_OR_RETURN(check, CheckUpdate(chain_->current(), *merged));
  if (check.complete) {
    const proto::SignedRoster complete = *merged;
    TIDINGS_RETURN_IF_ERROR(ApplyLocked(complete));
    *applied = true;
    return Offered::kApplied;
  }
  if (!changed) return Offered::kKnown;
  TIDINGS_RETURN_IF_ERROR(PersistProposal(*merged));
  return Offered::kPending;
}

absl::Status Membership::AdmitProposalLocked(const UpdateCheck& check) const {
  absl::flat_hash_set<std::string> busy;
  for (const proto::SignedRoster& p : pending_) {
    for (const proto::RosterSignature& sig : p.signatures()) {
      busy.insert(sig.agency());
    }
  }
  for (const std::string& signer : check.signers) {
    if (!busy.contains(signer)) return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "every signer of proposal ", crypto::ToHex(check.hash.view()), " (",
      absl::StrJoin(check.signers, ", "),
      ") already signed another pending proposal for roster v",
      chain_->version() + 1, "; a member signs one proposal per version"));
}

absl::StatusOr<Offered> Membership::Offer(const proto::SignedRoster& update) {
  bool applied = false;
  absl::StatusOr<Offered> out;
  std::shared_ptr<const RosterChain> chain;
  {
    absl::MutexLock lock(&mu_);
    out = OfferLocked(update, &applied);
    chain = chain_;
  }
  if (applied) Notify(chain);
  return out;
}

absl::StatusOr<Offered> Membership::OfferBytes(absl::string_view serialized) {
  proto::SignedRoster update;
  if (!update.ParseFromArray(serialized.data(),
                             static_cast<int>(serialized.size()))) {
    return absl::InvalidArgumentError(
        "roster update does not parse as a tidings.proto.SignedRoster");
  }
  return Offer(update);
}

absl::StatusOr<proto::SignedRoster> Membership::Propose(
    proto::Roster next, const crypto::Identity& identity) {
  proto::SignedRoster proposal;
  {
    absl::MutexLock lock(&mu_);
    TIDINGS_ASSIGN_OR_RETURN(proposal,
                             MakeUpdate(chain_->current(), std::move(next)));
  }
  return Sign(crypto::Hash(proposal.roster()).view(), identity, &proposal);
}

absl::StatusOr<proto::SignedRoster> Membership::Sign(
    absl::string_view hash, const crypto::Identity& identity) {
  return Sign(hash, identity, nullptr);
}

absl::StatusOr<proto::SignedRoster> Membership::Sign(
    absl::string_view hash, const crypto::Identity& identity,
    const proto::SignedRoster* fresh) {
  bool applied = false;
  proto::SignedRoster signed_update;
  std::shared_ptr<const RosterChain> chain;
  {
    absl::MutexLock lock(&mu_);
    if (fresh != nullptr) {
      signed_update = *fresh;
    } else {
      bool found = false;
      for (const proto::SignedRoster& p : pending_) {
        if (crypto::Hash(p.roster()).view() == hash) {
          signed_update = p;
          found = true;
        }
      }
      if (!found) {
        return absl::NotFoundError(absl::StrCat(
            "no pending roster proposal ", crypto::ToHex(hash), " for v",
            chain_->version() + 1, " (see `tidings roster show`)"));
      }
    }
    const uint32_t version = chain_->version() + 1;
    // Per version and predecessor (the record's name since one-signature
    // self-changes could replace a predecessor; kept for the disk format).
    const std::string signed_key =
        absl::StrCat(VersionKey(kSigned, version), "/",
                     crypto::ToHex(chain_->current().hash().view()));
    std::vector<std::string> earlier;
    if (log_ != nullptr) {
      TIDINGS_ASSIGN_OR_RETURN(auto records, log_->ScanState(signed_key));
      for (auto& [key, value] : records) earlier.push_back(std::move(value));
    } else if (auto it = signed_in_memory_.find(signed_key);
               it != signed_in_memory_.end()) {
      earlier.push_back(it->second);
    }
    for (const std::string& value : earlier) {
      if (value != hash) {
        return absl::FailedPreconditionError(
            absl::StrCat("this node already signed proposal ",
                         crypto::ToHex(value), " for roster v", version,
                         "; a member signs one proposal per version"));
      }
    }
    TIDINGS_RETURN_IF_ERROR(
        SignUpdate(signed_update, chain_->current(), identity));
    // Recorded before the signature can be stored or sent anywhere: a crash
    // in between must not let this node sign a second proposal for the
    // version (one proposal per version, also across restarts).
    if (log_ != nullptr) {
      TIDINGS_RETURN_IF_ERROR(log_->PutState(signed_key, hash));
    } else {
      signed_in_memory_[signed_key] = std::string(hash);
    }
    if (absl::Status offered = OfferLocked(signed_update, &applied).status();
        !offered.ok()) {
      // Refused before it was held, so the signature was neither stored nor
      // sent: forget the record, or this member could not propose for the
      // version again.
      const bool held = std::any_of(
          pending_.begin(), pending_.end(), [&](const proto::SignedRoster& p) {
            return p.roster() == signed_update.roster();
          });
      if (earlier.empty() && !held) {
        if (log_ != nullptr) {
          log_->DeleteState(signed_key).IgnoreError();
        } else {
          signed_in_memory_.erase(signed_key);
        }
      }
      return offered;
    }
    if (!applied) {
      for (const proto::SignedRoster& p : pending_) {
        if (p.roster() == signed_update.roster()) signed_update = p;
      }
    }
    chain = chain_;
  }
  if (applied) Notify(chain);
  return signed_update;
}

void Membership::AddNodesListener(
    std::function<void(const RosterChain&)> listener) {
  absl::MutexLock lock(&mu_);
  node_listeners_.push_back(std::move(listener));
}

void Membership::NotifyNodes(const std::shared_ptr<const RosterChain>& chain) {
  std::vector<std::function<void(const RosterChain&)>> listeners;
  {
    absl::MutexLock lock(&mu_);
    listeners = node_listeners_;
  }
  for (const auto& listener : listeners) listener(*chain);
}

absl::StatusOr<bool> Membership::OfferNodeLocked(
    const proto::SignedNodeCert* cert, const proto::SignedNodeRevocation* rev,
    bool persist) {
  const auto [node, version] = NodeAndVersionOf(cert, rev);
  if (persist && cert != nullptr && !self_.empty() && !IsFieldNode(self_) &&
      AgencyOf(node) == self_ && !issued_.contains(node) &&
      (chain_->nodes().Find(node) == nullptr ||
       !chain_->nodes().Find(node)->has_cert)) {
    spdlog::error(
        "FOREIGN CERTIFICATE: {} is certified with {}'s key, but this node "
        "did not issue it; the agency key may be stolen (revoke it with a "
        "roster update)",
        node, self_);
    return absl::FailedPreconditionError(absl::StrCat(
        "certificate of ", node, " was not issued by this node, which holds ",
        self_, "'s key"));
  }
  const Roster* signed_under = chain_->at(version);
  const FieldNodes& nodes = chain_->nodes();
  absl::StatusOr<std::optional<FieldNodes>> next =
      cert != nullptr
          ? nodes.WithCert(*cert, signed_under, chain_->current())
          : nodes.WithRevocation(*rev, signed_under, chain_->current());
  if (!next.ok()) {
    // Only a record whose one fault is a roster version not reached yet.
    if (signed_under == nullptr && IsRosterAhead(next.status())) {
      HoldLocked(cert, rev, version);
    }
    return next.status();
  }
  if (!next->has_value()) return false;
  if (persist && log_ != nullptr) {
    // Keyed by node id: one certificate and one revocation per node.
    TIDINGS_RETURN_IF_ERROR(log_->PutState(
        absl::StrCat(cert != nullptr ? kNodeCert : kNodeRevocation, node),
        cert != nullptr ? cert->SerializeAsString()
                        : rev->SerializeAsString()));
  }
  chain_ = std::make_shared<const RosterChain>(
      chain_->versions(),
      std::make_shared<const FieldNodes>(std::move(**next)));
  return true;
}

void Membership::HoldLocked(const proto::SignedNodeCert* cert,
                            const proto::SignedNodeRevocation* rev,
                            uint32_t version) {
  // Honest records are signed under a version the sender holds, and a link
  // brings both ends to the same roster: one far ahead is not honest.
  if (version > chain_->version() + kMaxHeldVersionsAhead) return;
  HeldNodeRecord record{version, {}, {}, ""};
  if (cert != nullptr) record.cert = *cert;
  if (rev != nullptr) record.revocation = *rev;
  // The serialized records: unambiguous, unlike a concatenation of fields.
  record.hash = crypto::Hash(cert != nullptr
                                 ? absl::StrCat("c", cert->SerializeAsString())
                                 : absl::StrCat("r", rev->SerializeAsString()))
                    .str();
  auto highest = held_.end();
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->hash == record.hash) return;
    if (highest == held_.end() || it->version > highest->version) {
      highest = it;
    }
  }
  if (held_.size() < kMaxHeldNodeRecords) {
    held_.push_back(std::move(record));
  } else if (highest->version > version) {
    // Full: those furthest ahead make way (the nearest are likeliest to be
    // honest and to hold soon).
    *highest = std::move(record);
  }
}

void Membership::RetryHeldNodesLocked() {
  std::vector<HeldNodeRecord> held = std::move(held_);
  held_.clear();
  // Certificates first: a revocation names one.
  std::stable_sort(held.begin(), held.end(),
                   [](const HeldNodeRecord& a, const HeldNodeRecord& b) {
                     return a.cert.has_value() > b.cert.has_value();
                   });
  for (const HeldNodeRecord& record : held) {
    absl::StatusOr<bool> added = OfferNodeLocked(
        record.cert ? &*record.cert : nullptr,
        record.revocation ? &*record.revocation : nullptr, true);
    if (added.ok() && *added) held_accepted_ = true;
  }
}

Membership::NodeRecordsOffered Membership::OfferNodeRecords(
    const proto::NodeCerts& records) {
  NodeRecordsOffered out;
  std::shared_ptr<const RosterChain> chain;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& bytes : records.certs()) {
      proto::SignedNodeCert cert;
      absl::StatusOr<bool> added =
          bytes.size() <= kMaxNodeRecordBytes && cert.ParseFromString(bytes)
              ? OfferNodeLocked(&cert, nullptr, true)
              : absl::InvalidArgumentError(
                    "node certificate does not parse as a "
                    "tidings.proto.SignedNodeCert");
      if (!added.ok()) out.refused.push_back(added.status());
      if (added.ok() && *added) out.fresh.add_certs(bytes);
    }
    for (const std::string& bytes : records.revocations()) {
      proto::SignedNodeRevocation rev;
      absl::StatusOr<bool> added =
          bytes.size() <= kMaxNodeRecordBytes && rev.ParseFromString(bytes)
              ? OfferNodeLocked(nullptr, &rev, true)
              : absl::InvalidArgumentError(
                    "node revocation does not parse as a "
                    "tidings.proto.SignedNodeRevocation");
      if (!added.ok()) out.refused.push_back(added.status());
      if (added.ok() && *added) out.fresh.add_revocations(bytes);
    }
    for (const std::string& bytes : records.contacts()) {
      proto::SignedMemberContact contact;
      absl::StatusOr<bool> added =
          bytes.size() <= kMaxContactBytes && contact.ParseFromString(bytes)
              ? OfferContactLocked(contact, true)
              : absl::InvalidArgumentError(
                    "member contact does not parse as a "
                    "tidings.proto.SignedMemberContact");
      if (!added.ok()) out.refused.push_back(added.status());
      if (added.ok() && *added) out.fresh.add_contacts(bytes);
    }
    chain = chain_;
  }
  if (out.fresh.certs_size() + out.fresh.revocations_size() +
          out.fresh.contacts_size() >
      0) {
    NotifyNodes(chain);
  }
  return out;
}

absl::StatusOr<bool> Membership::OfferContactLocked(
    const proto::SignedMemberContact& contact, bool persist) {
  proto::MemberContact parsed;
  const Roster* signed_under = parsed.ParseFromString(contact.contact())
                                   ? chain_->at(parsed.roster_version())
                                   : nullptr;
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<FieldNodes> next,
      chain_->nodes().WithContact(contact, signed_under, chain_->current()));
  if (!next.has_value()) return false;
  if (persist && log_ != nullptr) {
    TIDINGS_RETURN_IF_ERROR(log_->PutState(
        absl::StrCat(kContact, parsed.agency()), contact.SerializeAsString()));
  }
  spdlog::info("contact of {} issued {} applied", parsed.agency(),
               parsed.issued_unix_ms());
  chain_ = std::make_shared<const RosterChain>(
      chain_->versions(), std::make_shared<const FieldNodes>(*std::move(next)));
  return true;
}

namespace {

// One record's outcome from OfferNodeRecords.
absl::StatusOr<bool> OutcomeOf(const Membership::NodeRecordsOffered& offered) {
  if (!offered.refused.empty()) return offered.refused.front();
  return offered.fresh.certs_size() + offered.fresh.revocations_size() +
             offered.fresh.contacts_size() >
         0;
}

}  // namespace

absl::StatusOr<bool> Membership::OfferNodeCert(
    const proto::SignedNodeCert& cert) {
  proto::NodeCerts records;
  records.add_certs(cert.SerializeAsString());
  return OutcomeOf(OfferNodeRecords(records));
}

absl::StatusOr<bool> Membership::OfferNodeRevocation(
    const proto::SignedNodeRevocation& revocation) {
  proto::NodeCerts records;
  records.add_revocations(revocation.SerializeAsString());
  return OutcomeOf(OfferNodeRecords(records));
}

absl::StatusOr<bool> Membership::OfferContact(
    const proto::SignedMemberContact& contact) {
  proto::NodeCerts records;
  records.add_contacts(contact.SerializeAsString());
  return OutcomeOf(OfferNodeRecords(records));
}

absl::StatusOr<proto::SignedMemberContact> Membership::PublishContact(
    std::string tls_cert_sha256, std::vector<std::string> endpoints,
    const crypto::Identity& identity, int64_t now_unix_ms) {
  std::shared_ptr<const RosterChain> now = chain();
  const proto::Member* member = now->current().Find(identity.principal());
  if (member == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        identity.principal(), " is not a member of roster v", now->version()));
  }
  const proto::MemberContact* held = now->ContactOf(identity.principal());
  if (tls_cert_sha256.empty()) {
    tls_cert_sha256 =
        held != nullptr ? held->tls_cert_sha256() : member->tls_cert_sha256();
  }
  if (endpoints.empty()) {
    const auto& from =
        held != nullptr ? held->endpoints() : member->endpoints();
    endpoints.assign(from.begin(), from.end());
  }
  // Later than any contact of this agency known here, even one that no
  // longer holds: the newest wins everywhere.
  int64_t issued = now_unix_ms;
  if (const Contact* known = now->nodes().FindContact(identity.principal())) {
    issued = std::max(issued, known->contact.issued_unix_ms() + 1);
  }
  TIDINGS_ASSIGN_OR_RETURN(proto::SignedMemberContact contact,
                           SignMemberContact(tls_cert_sha256, endpoints, issued,
                                             identity, now->current()));
  TIDINGS_ASSIGN_OR_RETURN(const bool fresh, OfferContact(contact));
  if (!fresh) {
    return absl::InternalError("this node's own new contact was not taken");
  }
  return contact;
}

absl::StatusOr<proto::SignedNodeCert> Membership::CertifyNode(
    proto::NodeCert cert, const crypto::Identity& identity,
    absl::Duration backlog) {
  if (chain()->nodes().Find(cert.node()) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat(cert.node(),
                     " is certified or revoked already; a node "
                     "id is certified once (use a new name)"));
  }
  const std::string node = cert.node();
  const int64_t since =
      cert.issued_unix_ms() - absl::ToInt64Milliseconds(backlog);
  TIDINGS_ASSIGN_OR_RETURN(
      proto::SignedNodeCert signed_cert,
      SignNodeCert(std::move(cert), identity, chain()->current()));
  {
    absl::MutexLock lock(&mu_);
    if (log_ != nullptr) {
      TIDINGS_RETURN_IF_ERROR(
          log_->PutState(absl::StrCat(kNodeIssued, node), absl::StrCat(since)));
    }
    issued_[node] = since;
  }
  TIDINGS_RETURN_IF_ERROR(OfferNodeCert(signed_cert).status());
  return signed_cert;
}

void Membership::SetSelf(absl::string_view principal) {
  absl::MutexLock lock(&mu_);
  self_ = std::string(principal);
}

std::optional<int64_t> Membership::KeyBacklogStart(
    absl::string_view node) const {
  absl::MutexLock lock(&mu_);
  auto it = issued_.find(node);
  if (it == issued_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<proto::SignedNodeRevocation> Membership::RevokeNode(
    absl::string_view node, const crypto::Identity& identity,
    int64_t now_unix_ms) {
  std::shared_ptr<const RosterChain> now = chain();
  const FieldNode* entry = now->nodes().Find(node);
  if (entry == nullptr || !entry->has_cert) {
    return absl::NotFoundError(
        absl::StrCat("no certificate of ", node, " is known here"));
  }
  if (entry->revocation.has_value()) {
    return absl::AlreadyExistsError(absl::StrCat(node, " is revoked already"));
  }
  std::vector<proto::FeedCut> cuts;
  if (log_ != nullptr) cuts = CutsFor(*log_, node);
  TIDINGS_ASSIGN_OR_RETURN(
      proto::SignedNodeRevocation revocation,
      SignNodeRevocation(entry->cert, std::move(cuts), now_unix_ms, identity,
                         now->current()));
  TIDINGS_RETURN_IF_ERROR(OfferNodeRevocation(revocation).status());
  return revocation;
}

std::vector<proto::FeedCut> CutsFor(const storage::Log& log,
                                    absl::string_view origin) {
  std::vector<proto::FeedCut> cuts;
  for (const proto::FeedHead& head : log.ListHeads()) {
    if (head.origin() != origin) continue;
    proto::FeedCut cut;
    cut.set_feed_id(head.feed_id());
    cut.set_last_seq(head.seq());
    cuts.push_back(std::move(cut));
  }
  std::sort(cuts.begin(), cuts.end(),
            [](const proto::FeedCut& a, const proto::FeedCut& b) {
              return a.feed_id() < b.feed_id();
            });
  return cuts;
}

}  // namespace tidings::node

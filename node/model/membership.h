// Membership over time: the chain of rosters from the genesis, the updates
// still gathering signatures, and forks (equivocation) of the chain.
//
// A `RosterChain` is an immutable snapshot: the genesis and every applied
// update, each verified against its predecessor (node/roster.h). Envelopes
// name the roster version their origin signed under; the chain answers which
// key that was and whether a later revocation cut it off.
//
// `Membership` owns the current chain and moves it forward. Updates arrive
// from the CLI (propose, sign) and by gossip (proposals with some signatures,
// complete updates); each is checked against this node's own chain, never
// taken on a peer's word. Applied updates and pending proposals are kept in
// the log's state records, so a restart resumes where it stopped. Two
// different complete updates at one version are a fork: both are kept as
// evidence, reported, and the chain stops moving until an operator resolves
// it; neither wins silently.
//
// Thread-safety: RosterChain is immutable. Membership's methods may be
// called from any thread; listeners run on the applying thread, outside the
// lock.
#ifndef TIDINGS_NODE_MODEL_MEMBERSHIP_H_
#define TIDINGS_NODE_MODEL_MEMBERSHIP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/types.h"
#include "node/model/field_nodes.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"
#include "storage/log.h"

namespace tidings::node {

class RosterChain {
 public:
  explicit RosterChain(std::vector<std::shared_ptr<const Roster>> versions,
                       std::shared_ptr<const FieldNodes> nodes = nullptr)
      : versions_(std::move(versions)),
        nodes_(nodes != nullptr ? std::move(nodes)
                                : std::make_shared<const FieldNodes>()) {}

  const Roster& current() const { return *versions_.back(); }
  uint32_t version() const { return current().version(); }
  const crypto::Hash256& network_id() const {
    return versions_.front()->network_id();
  }
  // The roster of `version`, or nullptr if this chain has not reached it.
  const Roster* at(uint32_t version) const {
    return version < versions_.size() ? versions_[version].get() : nullptr;
  }

  // Every version, genesis first (shared, not copied).
  const std::vector<std::shared_ptr<const Roster>>& versions() const {
    return versions_;
  }

  // The key that must have signed an envelope of `origin` signed under
  // `roster_version` at feed position (feed_id, seq). Reject statuses
  // (node/envelope.h): roster_ahead if this chain has not reached that
  // version yet, unknown_origin if the origin was not a member then, revoked
  // if a later update revoked that key and the position is past its cut.
  // For a field node origin ("AGENCY/NAME"), FieldNodes::SignerKey under
  // the current roster.
  absl::StatusOr<crypto::VerifyKey> SignerKey(absl::string_view origin,
                                              uint32_t roster_version,
                                              absl::string_view feed_id,
                                              uint64_t seq) const;

  // The revocation of `origin`'s `sign_pk` in the current roster, if any.
  const proto::Revocation* RevocationOf(absl::string_view origin,
                                        absl::string_view sign_pk) const;

  // The field-node certificates and revocations known with this chain.
  const FieldNodes& nodes() const { return *nodes_; }
  const std::shared_ptr<const FieldNodes>& shared_nodes() const {
    return nodes_;
  }

  // Principals (node/field_nodes.h) as they stand now: a current member, or
  // a field node whose certificate holds under the current roster.
  bool IsActive(absl::string_view principal) const;
  std::optional<crypto::VerifyKey> VerifyKeyOf(
      absl::string_view principal) const;
  // A member's pin is its contact's while that holds (ContactOf), else its
  // roster entry's; a field node's is its certificate's.
  std::optional<crypto::Sha256> TlsFingerprintOf(
      absl::string_view principal) const;
  // `agency`'s newest contact if it holds: the agency is a member and its
  // entry is the same as in the roster the contact was signed under.
  const proto::MemberContact* ContactOf(absl::string_view agency) const;
  // Whether `fingerprint` is an active principal's TLS certificate.
  bool IsPinned(const crypto::Sha256& fingerprint) const;
  // `principal`'s long-term box key as of roster `version` (for a field
  // node: its certificate's, whatever the version).
  std::optional<crypto::BoxPublicKey> BoxKeyOf(absl::string_view principal,
                                               uint32_t version) const;

 private:
  std::vector<std::shared_ptr<const Roster>> versions_;  // index = version
  std::shared_ptr<const FieldNodes> nodes_;
};

// Two different complete updates at one version.
struct RosterFork {
  uint32_t version = 0;
  std::string applied_hash;  // the one this node applied
  std::string other_hash;    // the conflicting one
};

// What happened to an offered update or proposal.
enum class Offered {
  kApplied,  // complete: applied (with any pending successors it unlocked)
  kPending,  // new proposal, or new signatures merged into one
  kKnown,    // nothing new
  kStale,    // for a version already passed (no quorum, no conflict)
  kFork,     // conflicts with an applied update: reported
};
absl::string_view OfferedName(Offered offered);

class Membership {
 public:
  // Starts from `genesis`, then re-applies the updates and reloads the
  // proposals kept in `log` (may be null: nothing is kept).
  static absl::StatusOr<std::unique_ptr<Membership>> Open(Roster genesis,
                                                          storage::Log* log);

  std::shared_ptr<const RosterChain> chain() const;
  const crypto::Hash256& network_id() const { return network_id_; }

  // An update or proposal from a peer or the CLI. Checked against the
  // chain; a proposal for the next version merges with a pending one of the
  // same bytes and is applied once complete. kInvalidArgument /
  // kUnauthenticated say what is wrong with it; kFailedPrecondition if it is
  // for a version beyond the next (earlier updates are missing) or the chain
  // has forked.
  absl::StatusOr<Offered> Offer(const proto::SignedRoster& update);
  // Offer for a serialized SignedRoster off the wire; kInvalidArgument if it
  // does not parse.
  absl::StatusOr<Offered> OfferBytes(absl::string_view serialized);

  // Makes the successor of the current roster from `next` (see MakeUpdate),
  // signs it with `identity` and offers it. Returns it as signed so far.
  absl::StatusOr<proto::SignedRoster> Propose(proto::Roster next,
                                              const crypto::Identity& identity);

  // Adds `identity`'s signature to the pending proposal whose roster hash is
  // `hash` and offers it. kNotFound if no such proposal is pending;
  // kFailedPrecondition if this node already signed a different proposal
  // for that version (an honest member signs one per version, so two
  // quorums can only come from members that equivocate).
  absl::StatusOr<proto::SignedRoster> Sign(absl::string_view hash,
                                           const crypto::Identity& identity);

  // Proposals for the next version, with the signatures gathered so far.
  std::vector<proto::SignedRoster> Pending() const;
  std::vector<RosterFork> Forks() const;

  // Called after each applied update with the new chain.
  void AddListener(std::function<void(const RosterChain&)> listener);

  // A field-node certificate or revocation from a peer, the CLI or the
  // node's own certificate file, checked against the chain (see
  // FieldNodes::WithCert). True if it is new: then it is kept in the log,
  // and the node listeners run. One signed under a roster version this node
  // has not reached is held (at most 64, at most 8 versions ahead, nearest
  // first) and offered again after each applied update (node listeners then
  // run after the roster listeners); kFailedPrecondition "roster_ahead ..."
  // says so.
  absl::StatusOr<bool> OfferNodeCert(const proto::SignedNodeCert& cert);
  absl::StatusOr<bool> OfferNodeRevocation(
      const proto::SignedNodeRevocation& revocation);
  // A member's contact (FieldNodes::WithContact): true if it is new and
  // replaces the one kept; then it is kept in the log and the node
  // listeners run. Not held when signed under a version not reached: the
  // handshake brings both ends of a link to one roster first.
  absl::StatusOr<bool> OfferContact(const proto::SignedMemberContact& contact);
  // A batch off the wire (serialized records; certificates first): each is
  // offered as above, and the node listeners run once if any was new.
  struct NodeRecordsOffered {
    proto::NodeCerts fresh;             // the records new here, as received
    std::vector<absl::Status> refused;  // why each refused one was
  };
  NodeRecordsOffered OfferNodeRecords(const proto::NodeCerts& records);

  // Certifies a field node of `identity`'s agency (signed under the current
  // roster) and offers it. kAlreadyExists if that node id is known. The
  // node records that it issued it, and that it may give the field node the
  // content keys of envelopes created from `cert.issued_unix_ms - backlog`
  // on (KeyBacklogStart).
  absl::StatusOr<proto::SignedNodeCert> CertifyNode(
      proto::NodeCert cert, const crypto::Identity& identity,
      absl::Duration backlog = absl::ZeroDuration());

  // This node's principal. Set on an agency's node, a certificate of one of
  // its own agency's field nodes that it did not issue itself is refused
  // and reported (it was signed with the agency's key elsewhere: the key
  // may be stolen).
  void SetSelf(absl::string_view principal);
  // For a field node this node certified: the creation time (Unix ms) from
  // which it may hand that node content keys; nullopt for any other node.
  std::optional<int64_t> KeyBacklogStart(absl::string_view node) const;
  // Revokes field node `node` of `identity`'s agency, cutting each of its
  // feeds at the head `log` holds, and offers the revocation. kNotFound if
  // no certificate of it is known.
  absl::StatusOr<proto::SignedNodeRevocation> RevokeNode(
      absl::string_view node, const crypto::Identity& identity,
      int64_t now_unix_ms);

  // Signs `identity`'s contact under the current roster: `tls_cert_sha256`
  // and `endpoints` replace what the member's entry (or its last contact)
  // says, each where not empty. Dated now, or just after the contact it
  // replaces. Offered, so the node listeners run.
  absl::StatusOr<proto::SignedMemberContact> PublishContact(
      std::string tls_cert_sha256, std::vector<std::string> endpoints,
      const crypto::Identity& identity, int64_t now_unix_ms);

  // Called after each accepted certificate or revocation with the new chain.
  void AddNodesListener(std::function<void(const RosterChain&)> listener);

 private:
  Membership(std::shared_ptr<const RosterChain> chain, storage::Log* log);
  // Applies `update` (complete, for the next version) under mu_.
  absl::Status ApplyLocked(const proto::SignedRoster& update)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Offer under mu_; sets *applied when the chain moved.
  absl::StatusOr<Offered> OfferLocked(const proto::SignedRoster& update,
                                      bool* applied)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An update for a version this chain holds already: known, stale or a
  // fork.
  absl::StatusOr<Offered> OfferHeldVersionLocked(
      const proto::SignedRoster& update, uint32_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A second complete update at `version` (not `have`): kept and reported.
  absl::StatusOr<Offered> RecordForkLocked(const proto::SignedRoster& update,
                                           uint32_t version, const Roster& have,
                                           const UpdateCheck& check)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `roster` (beyond the current version) may be the next one:
  // forked, behind, or a different history are kFailedPrecondition.
  absl::Status CheckSuccessorLocked(const proto::Roster& roster)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A proposal for the next version: merged with a pending one of the same
  // bytes, applied once complete.
  absl::StatusOr<Offered> MergeProposalLocked(const proto::SignedRoster& update,
                                              bool* applied)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a new proposal with `check`'s signers may be held: one of them
  // has signed no pending proposal. kResourceExhausted says whose are.
  absl::Status AdmitProposalLocked(const UpdateCheck& check) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PersistProposal(const proto::SignedRoster& proposal)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const std::shared_ptr<const RosterChain>& chain);
  void NotifyNodes(const std::shared_ptr<const RosterChain>& chain);
  // Offers a certificate or revocation (one of them non-null) under mu_;
  // sets *changed. Held ones are retried by RetryHeldNodesLocked.
  absl::StatusOr<bool> OfferNodeLocked(const proto::SignedNodeCert* cert,
                                       const proto::SignedNodeRevocation* rev,
                                       bool persist)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RetryHeldNodesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<bool> OfferContactLocked(
      const proto::SignedMemberContact& contact, bool persist)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HoldLocked(const proto::SignedNodeCert* cert,
                  const proto::SignedNodeRevocation* rev, uint32_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sign() for a pending proposal, or for `fresh` (Propose) if not null.
  absl::StatusOr<proto::SignedRoster> Sign(absl::string_view hash,
                                           const crypto::Identity& identity,
                                           const proto::SignedRoster* fresh);

  // Constant after construction
  storage::Log* const log_;
  crypto::Hash256 network_id_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const RosterChain> chain_ ABSL_GUARDED_BY(mu_);
  // Proposals for chain_->version() + 1, by roster hash.
  std::vector<proto::SignedRoster> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<RosterFork> forks_ ABSL_GUARDED_BY(mu_);
  // What this node signed, by version and predecessor, when there is no log
  // to keep it.
  std::map<std::string, std::string> signed_in_memory_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const RosterChain&)>> listeners_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const RosterChain&)>> node_listeners_
      ABSL_GUARDED_BY(mu_);
  // Node certificates and revocations signed under a version not reached.
  struct HeldNodeRecord {
    uint32_t version = 0;
    std::optional<proto::SignedNodeCert> cert;
    std::optional<proto::SignedNodeRevocation> revocation;
    std::string hash;  // of the record's bytes, to spot repeats
  };
  std::vector<HeldNodeRecord> held_ ABSL_GUARDED_BY(mu_);
  // Set when an applied update let a held record in (node listeners due).
  bool held_accepted_ ABSL_GUARDED_BY(mu_) = false;
  std::string self_ ABSL_GUARDED_BY(mu_);
  // Field nodes this node certified: node id -> KeyBacklogStart.
  std::map<std::string, int64_t, std::less<>> issued_ ABSL_GUARDED_BY(mu_);
};

// Feed cuts for a revocation of `origin` (an agency or a field node): the
// head of every feed of its that `log` holds.
std::vector<proto::FeedCut> CutsFor(const storage::Log& log,
                                    absl::string_view origin);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_MEMBERSHIP_H_

// Field nodes: further nodes of one agency (a patrol ship, a second site),
// certified with the agency's identity key and withdrawn by it alone
// (docs/protocol.md, "Field nodes").
//
// A node is named by a *principal*: a member's agency id ("MY.NCB") for the
// node that holds the agency's roster key, or "AGENCY/NAME" ("MY.NCB/SHIP1")
// for a field node. A field node signs with its own key (envelopes of its
// own feeds, with `origin` = its principal), links with its own TLS
// certificate, and receives a wrapped content key of everything its agency
// is in the audience of. Audiences list agencies only.
//
// `FieldNodes` is an immutable set of the certificates and revocations a node
// has accepted; node/membership.h keeps the current one next to the roster
// chain and judges, against the current roster, which of them hold. It also
// keeps each member's newest contact (proto::MemberContact: its own TLS pin
// and endpoints, signed by it alone): like a certificate, a record one
// principal signs outside the roster chain, travelling with the certificates.
//
// Thread-safety: FieldNodes is immutable; the free functions are pure.
#ifndef TIDINGS_NODE_MODEL_FIELD_NODES_H_
#define TIDINGS_NODE_MODEL_FIELD_NODES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/identity.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"

namespace tidings::node {

// Field nodes of one agency at a time: active certificates, and revocations
// of no known certificate signed by a key still valid.
inline constexpr size_t kMaxFieldNodesPerAgency = 64;
// Entries of one agency kept in all (revoked and void ones included).
inline constexpr size_t kMaxFieldNodeEntriesPerAgency =
    4 * kMaxFieldNodesPerAgency;
// A serialized SignedNodeCert is a few hundred bytes (name, endpoints);
// anything larger is refused.
inline constexpr size_t kMaxNodeCertBytes = 4 * 1024;
// Feeds a revocation cuts, at most: about 40 bytes each. A node that holds
// more feeds of the revoked node keeps the cuts of the longest ones; the
// others are cut at 0 (SignNodeRevocation).
inline constexpr size_t kMaxNodeRevocationCuts = 1024;
// A serialized SignedNodeRevocation, at most (its cuts and a little).
inline constexpr size_t kMaxNodeRecordBytes = 48 * 1024;

// True for "AGENCY/NAME".
bool IsFieldNode(absl::string_view principal);
// "MY.NCB" for both "MY.NCB" and "MY.NCB/SHIP1".
absl::string_view AgencyOf(absl::string_view principal);
// OK for a well-formed agency id or field node id: "AGENCY/NAME" where both
// parts follow the agency id rules (node/roster.h) and the whole is at most
// 64 characters (the longest TLS certificate common name). kInvalidArgument
// naming the problem otherwise.
absl::Status ValidatePrincipal(absl::string_view principal);
// As ValidatePrincipal, but only "AGENCY/NAME" is accepted.
absl::Status ValidateFieldNodeId(absl::string_view node);
// The principal as a file name stem: '/' becomes '+' ("MY.NCB+SHIP1").
std::string FileStemOf(absl::string_view principal);

// One field node as this node knows it. A revocation may arrive before the
// certificate it ends; then `has_cert` is false and no certificate for that
// node is accepted any more.
struct FieldNode {
  bool has_cert = false;
  proto::SignedNodeCert signed_cert;
  proto::NodeCert cert;
  std::string signer_pk;  // the agency key that signed the certificate
  std::optional<proto::NodeRevocation> revocation;
  proto::SignedNodeRevocation signed_revocation;
  std::string revocation_signer_pk;  // the agency key that signed it
};

// A serialized SignedMemberContact, at most.
inline constexpr size_t kMaxContactBytes = 8 * 1024;

// A member's contact as this node keeps it (the newest known).
struct Contact {
  proto::SignedMemberContact signed_contact;
  proto::MemberContact contact;
  std::string hash;  // BLAKE2b-256 of the SignedMemberContact bytes
};

class FieldNodes {
 public:
  FieldNodes() = default;

  // The entry for node id `node`, or nullptr.
  const FieldNode* Find(absl::string_view node) const;
  // Every entry, by node id.
  const std::map<std::string, FieldNode, std::less<>>& all() const {
    return nodes_;
  }

  // The certificate or revocation below, checked against the rosters.
  // Returns the set with it added, or nullopt if it was known already.
  // Errors (only the first two are a forger's or a broken relay's doing):
  //  - kInvalidArgument if it does not parse or a field is malformed;
  //  - kUnauthenticated if the signature does not verify under the agency's
  //    key in `signed_under` (the roster at the record's roster_version);
  //  - kFailedPrecondition if the agency is not a member of `current`, was
  //    not one in `signed_under`, or that key is revoked in `current`; and
  //    "roster_ahead ..." when `signed_under` is null (this node has not
  //    reached that version: retry once it has);
  //  - kAlreadyExists if the node was revoked or holds a different
  //    certificate (the first one is kept; an honest agency never certifies
  //    one id twice), or a key or certificate fingerprint is a member's or
  //    another field node's; for a revocation, if another one is kept or it
  //    names another key than the certificate's;
  //  - kResourceExhausted if the agency has kMaxFieldNodesPerAgency already.
  absl::StatusOr<std::optional<FieldNodes>> WithCert(
      const proto::SignedNodeCert& signed_cert, const Roster* signed_under,
      const Roster& current) const;
  absl::StatusOr<std::optional<FieldNodes>> WithRevocation(
      const proto::SignedNodeRevocation& signed_revocation,
      const Roster* signed_under, const Roster& current) const;

  // A member's contact (proto::MemberContact), checked against the roster
  // it was signed under; returns the set with it in place of the member's
  // older contact, or nullopt if it is known or not newer than the one kept
  // (later issued_unix_ms, then smaller hash, wins). Errors:
  //  - kInvalidArgument if it does not parse or a field is malformed;
  //  - kUnauthenticated if the signature does not verify under the agency's
  //    key in `signed_under`; roster_ahead when `signed_under` is null;
  //  - kFailedPrecondition if the agency is not a member of `current`, its
  //    key is revoked, or its entry changed since `signed_under`;
  //  - kAlreadyExists if the certificate fingerprint is another principal's.
  absl::StatusOr<std::optional<FieldNodes>> WithContact(
      const proto::SignedMemberContact& signed_contact,
      const Roster* signed_under, const Roster& current) const;
  // The newest contact known of `agency` (whether it still holds is the
  // chain's to say: RosterChain::ContactOf), or nullptr.
  const Contact* FindContact(absl::string_view agency) const;
  const std::map<std::string, Contact, std::less<>>& contacts() const {
    return contacts_;
  }

  // Whether `node`'s certificate holds under `current`: known, not revoked,
  // its agency a member, and the agency key that signed it not revoked.
  const FieldNode* Active(absl::string_view node, const Roster& current) const;
  // The active field nodes of `agency`, by id.
  std::vector<const FieldNode*> ActiveOf(absl::string_view agency,
                                         const Roster& current) const;

  // The key an envelope of field node `origin` at (feed_id, seq) must be
  // signed with. Reject statuses (node/envelope.h): unknown_node if no
  // certificate is known; revoked if the node was revoked and seq is past
  // the cut for that feed, or its agency was removed or the agency key that
  // certified it revoked.
  absl::StatusOr<crypto::VerifyKey> SignerKey(absl::string_view origin,
                                              absl::string_view feed_id,
                                              uint64_t seq,
                                              const Roster& current) const;

 private:
  std::map<std::string, FieldNode, std::less<>> nodes_;
  std::map<std::string, Contact, std::less<>> contacts_;  // by agency
};

// Signs `cert` as `agency`'s certificate of one of its field nodes, under
// `roster` (its version is set in the certificate). kFailedPrecondition if
// `agency` is not a member of `roster` with this key; kInvalidArgument if
// the node id is not `agency`'s or the keys are malformed.
absl::StatusOr<proto::SignedNodeCert> SignNodeCert(
    proto::NodeCert cert, const crypto::Identity& agency, const Roster& roster);
// Signs the revocation of `node`'s certificate, with the given cuts (the
// kMaxNodeRevocationCuts longest if there are more).
absl::StatusOr<proto::SignedNodeRevocation> SignNodeRevocation(
    const proto::NodeCert& cert, std::vector<proto::FeedCut> cuts,
    int64_t revoked_unix_ms, const crypto::Identity& agency,
    const Roster& roster);

// Signs `agency`'s contact (its TLS certificate fingerprint and endpoints)
// under `roster`, dated `issued_unix_ms`. kFailedPrecondition if `agency`
// is not a member of `roster` with this key.
absl::StatusOr<proto::SignedMemberContact> SignMemberContact(
    const std::string& tls_cert_sha256,
    const std::vector<std::string>& endpoints, int64_t issued_unix_ms,
    const crypto::Identity& agency, const Roster& roster);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_FIELD_NODES_H_

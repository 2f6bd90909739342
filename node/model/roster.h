// Membership: the genesis roster, signed by every founder.
//
// A `Roster` is only ever constructed from signed bytes that passed every
// check, so holding one means holding a verified membership view. The network
// id is BLAKE2b-256 of the genesis roster's exact bytes.
//
// Thread-safety: a Roster is immutable; const methods are safe from any
// thread.
#ifndef TIDINGS_NODE_MODEL_ROSTER_H_
#define TIDINGS_NODE_MODEL_ROSTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/identity.h"
#include "crypto/types.h"
#include "proto/roster.pb.h"

namespace tidings::node {

// OK if `agency` is a well-formed agency id: 1 to 32 characters, upper-case
// letters, digits, '.', '-' and '_', starting with a letter or digit
// ("MY.NCB", "PH.CG"). kInvalidArgument naming the problem otherwise.
absl::Status ValidateAgencyId(absl::string_view agency);

class Roster {
 public:
  // Verifies a genesis roster: version 0, no prev_hash, at least one member,
  // agencies valid, unique and sorted, keys and TLS certificate fingerprints
  // of the right size and unique across members, 1 <= threshold <= n and
  // threshold > n/2, and a valid signature from every member.
  // kInvalidArgument / kUnauthenticated say exactly which check failed.
  static absl::StatusOr<Roster> FromSigned(
      const proto::SignedRoster& signed_roster);

  // Reads and verifies a roster file (a serialized proto::SignedRoster).
  static absl::StatusOr<Roster> LoadFile(const std::string& path);

  // Verifies `update` as the successor of `prev` (see CheckUpdate) and
  // requires it to be complete. kUnauthenticated names the signatures
  // missing.
  static absl::StatusOr<Roster> FromUpdate(const Roster& prev,
                                           const proto::SignedRoster& update);

  const crypto::Hash256& network_id() const { return network_id_; }
  // BLAKE2b-256 of this roster's bytes: what the next version chains to.
  const crypto::Hash256& hash() const { return hash_; }
  uint32_t version() const { return roster_.version(); }
  const proto::Roster& roster() const { return roster_; }
  const proto::SignedRoster& signed_roster() const { return signed_; }

  // The member entry, or nullptr.
  const proto::Member* Find(absl::string_view agency) const;
  bool IsMember(absl::string_view agency) const {
    return Find(agency) != nullptr;
  }
  std::optional<crypto::VerifyKey> VerifyKeyOf(absl::string_view agency) const;
  std::optional<crypto::BoxPublicKey> BoxKeyOf(absl::string_view agency) const;
  // The SHA-256 fingerprint of the member's TLS certificate
  // (crypto::CertificateFingerprint), or nullopt if not a member.
  std::optional<crypto::Sha256> TlsFingerprintOf(
      absl::string_view agency) const;
  // Member agency ids, sorted.
  std::vector<std::string> agencies() const;

 private:
  Roster() = default;

  proto::SignedRoster signed_;
  proto::Roster roster_;
  crypto::Hash256 network_id_;
  crypto::Hash256 hash_;
};

// What CheckUpdate found: an update is complete (it may be applied) with
// `needed` valid signatures of members of the previous roster, its
// threshold, whatever it changes. (A member changes its own TLS certificate
// and endpoints alone with a contact, proto::MemberContact, outside the
// chain: a change one member signs alone could race another update for the
// same version and split the chain.)
struct UpdateCheck {
  uint32_t version = 0;
  crypto::Hash256 hash;              // of the update's roster bytes
  std::vector<std::string> signers;  // sorted
  uint32_t needed = 0;
  bool complete = false;
};

// Checks `update` as the successor of `prev`: version prev+1, prev_hash,
// same network, members valid (as for a genesis), earlier revocations kept
// unchanged, new revocations naming the key the agency had in `prev`, every
// removed member revoked, no revoked key in use; and every signature present
// by a member of `prev` and valid. Says how many signatures it has and needs.
absl::StatusOr<UpdateCheck> CheckUpdate(const Roster& prev,
                                        const proto::SignedRoster& update);

// An unsigned successor of `prev` with `next`'s members, threshold,
// revocations and change note (version, prev_hash and network name are set
// here). kInvalidArgument if CheckUpdate would refuse it.
absl::StatusOr<proto::SignedRoster> MakeUpdate(const Roster& prev,
                                               proto::Roster next);

// Adds `identity`'s signature to an update of `prev`. kPermissionDenied if it
// is not a member of `prev` with these keys; kAlreadyExists if it already
// signed.
absl::Status SignUpdate(proto::SignedRoster& update, const Roster& prev,
                        const crypto::Identity& identity);

// The public identity (key file `.pub`) of `identity`, with its endpoints
// and the fingerprint of its TLS certificate.
proto::PublicIdentity PublicIdentityOf(
    const crypto::Identity& identity, absl::string_view name,
    const std::vector<std::string>& endpoints,
    const crypto::Sha256& tls_cert_sha256);

// As above, for tests and tools that have no TLS certificate: the
// fingerprint is PlaceholderTlsFingerprint(identity), so the roster is valid
// but no certificate will ever match it, and TLS links to this member fail.
proto::PublicIdentity PublicIdentityOf(
    const crypto::Identity& identity, absl::string_view name,
    const std::vector<std::string>& endpoints);

// A fingerprint no certificate has (finding one would take a SHA-256
// preimage): BLAKE2b-256 of "tidings/v1/no-tls-cert" and the sign key. Unique
// per identity, so members built with it stay distinct.
crypto::Sha256 PlaceholderTlsFingerprint(const crypto::Identity& identity);

// An unsigned genesis roster of `members` (sorted here by agency).
// kInvalidArgument if the threshold or a member is unacceptable.
absl::StatusOr<proto::SignedRoster> MakeGenesis(
    absl::string_view network_name, uint32_t threshold,
    std::vector<proto::Member> members, int64_t created_unix_ms);

// Adds `identity`'s signature to a genesis roster. kPermissionDenied if it is
// not a member whose keys match; kAlreadyExists if it already signed.
absl::Status SignGenesis(proto::SignedRoster& signed_roster,
                         const crypto::Identity& identity);

// Founders that have not yet signed, sorted.
std::vector<std::string> MissingSignatures(
    const proto::SignedRoster& signed_roster);

// True if `status` is Roster::FromSigned's refusal of a genesis that some
// founders have not validly signed yet (kUnauthenticated "not signed by
// founder(s) ..."): told by a payload, never by the message text.
bool IsMissingFounderSignatures(const absl::Status& status);

// Reads / writes a serialized proto message file (rosters, .pub files).
absl::Status WriteProtoFile(const std::string& path,
                            const google::protobuf::MessageLite& message);
absl::Status ReadProtoFile(const std::string& path,
                           google::protobuf::MessageLite& message);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_ROSTER_H_

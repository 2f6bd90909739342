#include "node/model/roster.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "base/durable_file.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/labels.h"
#include "crypto/sign.h"

namespace tidings::node {
namespace {

constexpr size_t kMaxAgencyIdLength = 32;
// Rosters and .pub files are a few KiB; anything this large is not ours and
// would only make us allocate for an attacker.
constexpr uint64_t kMaxProtoFileBytes = 16 << 20;
// Marks FromSigned's refusal of a genesis some founders have not signed; the
// value lists them, comma-separated.
constexpr absl::string_view kMissingSignaturesPayload =
    "tidings/roster/missing_signatures";

// Checks the members and the threshold of any roster: ids, keys and
// fingerprints well-formed and unique, threshold a majority.
absl::Status ValidateMembers(const proto::Roster& roster) {
  const int n = roster.members_size();
  if (n == 0) return absl::InvalidArgumentError("roster has no members");
  for (int i = 0; i < n; ++i) {
    const proto::Member& member = roster.members(i);
    if (absl::Status s = ValidateAgencyId(member.agency()); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("member ", i + 1, ": ", s.message()));
    }
    if (i > 0) {
      const std::string& prev = roster.members(i - 1).agency();
      if (member.agency() == prev) {
        return absl::InvalidArgumentError(
            absl::StrCat("agency ", member.agency(), " is listed twice"));
      }
      if (member.agency() < prev) {
        return absl::InvalidArgumentError(
            absl::StrCat("members are not sorted by agency: ", member.agency(),
                         " comes after ", prev));
      }
    }
    if (member.sign_pk().size() != crypto::VerifyKey::kSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", member.agency(), ": sign_pk is ", member.sign_pk().size(),
          " bytes, want ", crypto::VerifyKey::kSize));
    }
    if (member.box_pk().size() != crypto::BoxPublicKey::kSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", member.agency(), ": box_pk is ", member.box_pk().size(),
          " bytes, want ", crypto::BoxPublicKey::kSize));
    }
    if (member.tls_cert_sha256().size() != crypto::Sha256::kSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", member.agency(), ": tls_cert_sha256 is ",
          member.tls_cert_sha256().size(), " bytes, want ",
          crypto::Sha256::kSize,
          " (the SHA-256 of its TLS certificate, which `tidings keygen` puts "
          "in the .pub file)"));
    }
  }
  // Two members sharing a key would share wrap keys, and one envelope would
  // then wrap its content key twice under one key and nonce.
  absl::flat_hash_set<std::string> keys;
  for (const proto::Member& member : roster.members()) {
    if (!keys.insert(member.sign_pk()).second ||
        !keys.insert(member.box_pk()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", member.agency(), " reuses a key of another member"));
    }
  }
  // One certificate pinned for two agencies would let either pass the TLS
  // check as the other.
  absl::flat_hash_set<std::string> fingerprints;
  for (const proto::Member& member : roster.members()) {
    if (!fingerprints.insert(member.tls_cert_sha256()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("member ", member.agency(),
                       " has the TLS certificate fingerprint of another "
                       "member"));
    }
  }
  const uint32_t k = roster.threshold();
  const auto members = static_cast<uint32_t>(n);
  if (k < 1 || k > members) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threshold ", k, " is outside 1..", members, " (the member count)"));
  }
  // A majority, so that two disjoint groups can never both change the roster.
  if (2 * static_cast<uint64_t>(k) <= members) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold ", k, " is not a majority of ", members,
                     " members; need threshold > ", members / 2));
  }
  return absl::OkStatus();
}

// Everything about a genesis roster except its signatures. Shared by
// MakeGenesis and SignGenesis (never make or sign a roster that FromSigned
// would refuse) and by FromSigned itself.
absl::Status ValidateGenesisStructure(const proto::Roster& roster) {
  if (roster.version() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "roster version is ", roster.version(), "; a genesis roster has 0"));
  }
  if (!roster.prev_hash().empty()) {
    return absl::InvalidArgumentError(
        "genesis roster has a prev_hash; only later rosters chain");
  }
  if (roster.revocations_size() != 0) {
    return absl::InvalidArgumentError("genesis roster has revocations");
  }
  return ValidateMembers(roster);
}

// A revocation new in `next`: it names the key `prev` held, is dated
// `next`'s version, once per agency (`revoked_now` collects them), with
// sorted cuts, and matches whether the agency stays a member.
absl::Status CheckNewRevocation(const Roster& prev, const proto::Roster& next,
                                const proto::Revocation& r,
                                absl::flat_hash_set<std::string>& revoked_now) {
  const proto::Roster& p = prev.roster();
  const proto::Member* was = prev.Find(r.agency());
  if (was == nullptr || was->sign_pk() != r.sign_pk()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation of '", absl::CHexEscape(r.agency()),
                     "' does not name its key in roster v", p.version()));
  }
  if (r.at_version() != next.version()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation of ", r.agency(), " is dated v",
                     r.at_version(), " in update v", next.version()));
  }
  if (!revoked_now.insert(r.agency()).second) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.agency(), " is revoked twice in one update"));
  }
  for (int j = 0; j < r.cuts_size(); ++j) {
    if (r.cuts(j).feed_id().size() != crypto::Hash256::kSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "revocation of ", r.agency(), ": cut ", j + 1, " has a feed id of ",
          r.cuts(j).feed_id().size(), " bytes"));
    }
    if (j > 0 && !(r.cuts(j - 1).feed_id() < r.cuts(j).feed_id())) {
      return absl::InvalidArgumentError(
          absl::StrCat("revocation of ", r.agency(),
                       ": cuts are not sorted and unique by feed"));
    }
  }
  const proto::Member* now = nullptr;
  for (const proto::Member& m : next.members()) {
    if (m.agency() == r.agency()) now = &m;
  }
  if (r.removed() != (now == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revocation of ", r.agency(),
        r.removed() ? " says removed but it is still a member"
                    : " keeps it a member but it is not in the roster"));
  }
  if (now != nullptr && now->sign_pk() == r.sign_pk()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revocation of ", r.agency(), " keeps the revoked key in use"));
  }
  return absl::OkStatus();
}

// Everything about `next` as the successor of `prev` except its signatures.
absl::Status ValidateUpdateStructure(const Roster& prev,
                                     const proto::Roster& next) {
  const proto::Roster& p = prev.roster();
  if (next.version() != p.version() + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("update has version ", next.version(), "; after roster v",
                     p.version(), " comes v", p.version() + 1));
  }
  if (next.prev_hash() != prev.hash().view()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "update v", next.version(), " does not chain to roster v", p.version(),
        " (prev_hash ", crypto::ToHex(next.prev_hash()), ", want ",
        crypto::ToHex(prev.hash().view()), ")"));
  }
  if (next.network_name() != p.network_name()) {
    return absl::InvalidArgumentError("update changes the network name");
  }
  TIDINGS_RETURN_IF_ERROR(ValidateMembers(next));
  if (next.revocations_size() < p.revocations_size()) {
    return absl::InvalidArgumentError("update drops earlier revocations");
  }
  for (int i = 0; i < p.revocations_size(); ++i) {
    if (next.revocations(i).SerializeAsString() !=
        p.revocations(i).SerializeAsString()) {
      return absl::InvalidArgumentError(
          absl::StrCat("update changes earlier revocation ", i + 1));
    }
  }
  absl::flat_hash_set<std::string> revoked_now;
  for (int i = p.revocations_size(); i < next.revocations_size(); ++i) {
    TIDINGS_RETURN_IF_ERROR(
        CheckNewRevocation(prev, next, next.revocations(i), revoked_now));
  }
  // Removing a member always names where its feeds stop.
  for (const proto::Member& m : p.members()) {
    bool still = false;
    for (const proto::Member& n : next.members())
      still |= n.agency() == m.agency();
    if (!still && !revoked_now.contains(m.agency())) {
      return absl::InvalidArgumentError(
          absl::StrCat("update removes ", m.agency(), " without a revocation"));
    }
  }
  // A revoked key never comes back.
  for (const proto::Revocation& r : next.revocations()) {
    for (const proto::Member& m : next.members()) {
      if (m.sign_pk() == r.sign_pk()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "member ", m.agency(), " uses a key revoked at v", r.at_version()));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::Roster> ParseRoster(
    const proto::SignedRoster& signed_roster) {
  proto::Roster roster;
  if (!roster.ParseFromString(signed_roster.roster())) {
    return absl::InvalidArgumentError(
        "roster bytes do not parse as a tidings.proto.Roster");
  }
  return roster;
}

const proto::Member* FindMember(const proto::Roster& roster,
                                absl::string_view agency) {
  // Members are sorted (checked before any Roster exists), but
  // MissingSignatures and SignGenesis also see unchecked rosters: a linear scan
  // is right for both and rosters are small.
  for (const proto::Member& member : roster.members()) {
    if (member.agency() == agency) return &member;
  }
  return nullptr;
}

bool SignatureVerifies(const proto::Member& member, absl::string_view bytes,
                       absl::string_view signature) {
  std::optional<crypto::VerifyKey> key =
      crypto::VerifyKey::FromBytes(member.sign_pk());
  std::optional<crypto::Signature> sig =
      crypto::Signature::FromBytes(signature);
  if (!key.has_value() || !sig.has_value()) return false;
  return crypto::Verify(*key, crypto::Domain::kRoster, bytes, *sig).ok();
}

}  // namespace

absl::Status ValidateAgencyId(absl::string_view agency) {
  if (agency.empty()) return absl::InvalidArgumentError("agency id is empty");
  if (agency.size() > kMaxAgencyIdLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "agency id '", agency.substr(0, kMaxAgencyIdLength),
        "...' is longer than ", kMaxAgencyIdLength, " characters"));
  }
  if (!absl::ascii_isupper(static_cast<unsigned char>(agency[0])) &&
      !absl::ascii_isdigit(static_cast<unsigned char>(agency[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("agency id '", absl::CHexEscape(agency),
                     "' must start with an upper-case letter or a digit"));
  }
  for (char c : agency) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isupper(u) || absl::ascii_isdigit(u) || c == '.' ||
        c == '-' || c == '_') {
      continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("agency id '", absl::CHexEscape(agency), "' contains '",
                     absl::CHexEscape(absl::string_view(&c, 1)),
                     "'; allowed are A-Z, 0-9, '.', '-' and '_'"));
  }
  return absl::OkStatus();
}

namespace {

// Verifies every signature of `signed_roster` against the members of
// `signers` (the roster itself for a genesis, the previous one for an
// update) and returns who signed. Any signature that is not a member's, is
// repeated or does not verify is an error: nothing forged is ignored quietly.
absl::StatusOr<std::set<std::string>> VerifySignatures(
    const proto::Roster& signers, const proto::SignedRoster& signed_roster) {
  const std::string& bytes = signed_roster.roster();
  std::set<std::string> out;
  for (const proto::RosterSignature& sig : signed_roster.signatures()) {
    const proto::Member* member = FindMember(signers, sig.agency());
    if (member == nullptr) {
      return absl::UnauthenticatedError(absl::StrCat(
          "signature by '", absl::CHexEscape(sig.agency().substr(0, 64)),
          "', which is not a member of roster v", signers.version()));
    }
    if (!out.insert(sig.agency()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two signatures by ", sig.agency()));
    }
    if (sig.signature().size() != crypto::Signature::kSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signature by ", sig.agency(), " is ", sig.signature().size(),
          " bytes, want ", crypto::Signature::kSize));
    }
    if (!SignatureVerifies(*member, bytes, sig.signature())) {
      return absl::UnauthenticatedError(
          absl::StrCat("signature by ", sig.agency(), " does not verify"));
    }
  }
  return out;
}

// Adds `identity`'s signature over `signed_roster`'s bytes, as `member` of
// the signing roster. kPermissionDenied if the keys are not the member's;
// kAlreadyExists if it already signed.
absl::Status AddSignature(proto::SignedRoster& signed_roster,
                          const proto::Member& member,
                          const crypto::Identity& identity) {
  if (member.sign_pk() != identity.verify_key().view()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the keys of this key file do not match the roster entry of ",
        identity.principal()));
  }
  const std::string& bytes = signed_roster.roster();
  auto* signatures = signed_roster.mutable_signatures();
  for (auto it = signatures->begin(); it != signatures->end();) {
    if (it->agency() != identity.principal()) {
      ++it;
      continue;
    }
    if (SignatureVerifies(member, bytes, it->signature())) {
      return absl::AlreadyExistsError(absl::StrCat(
          identity.principal(), " has already signed this roster"));
    }
    // Someone else's bytes under our name: ours replaces them rather than
    // leaving a roster that can never verify.
    it = signatures->erase(it);
  }
  proto::RosterSignature* sig = signed_roster.add_signatures();
  sig->set_agency(identity.principal());
  sig->set_signature(
      crypto::Sign(identity.signing_key(), crypto::Domain::kRoster, bytes)
          .str());
  // Kept sorted so that the file does not depend on signing order.
  std::sort(
      signatures->begin(), signatures->end(),
      [](const proto::RosterSignature& a, const proto::RosterSignature& b) {
        return a.agency() < b.agency();
      });
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Roster> Roster::FromSigned(
    const proto::SignedRoster& signed_roster) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Roster roster, ParseRoster(signed_roster));
  TIDINGS_RETURN_IF_ERROR(ValidateGenesisStructure(roster));
  TIDINGS_ASSIGN_OR_RETURN(std::set<std::string> signers,
                           VerifySignatures(roster, signed_roster));
  std::vector<std::string> missing;
  for (const proto::Member& member : roster.members()) {
    if (!signers.contains(member.agency())) missing.push_back(member.agency());
  }
  if (!missing.empty()) {
    absl::Status unsigned_genesis = absl::UnauthenticatedError(
        absl::StrCat("not signed by founder", missing.size() > 1 ? "s " : " ",
                     absl::StrJoin(missing, ", "), " (", signers.size(), " of ",
                     roster.members_size(), " have signed)"));
    unsigned_genesis.SetPayload(kMissingSignaturesPayload,
                                absl::Cord(absl::StrJoin(missing, ",")));
    return unsigned_genesis;
  }

  Roster out;
  out.signed_ = signed_roster;
  out.roster_ = std::move(roster);
  out.hash_ = crypto::Hash(signed_roster.roster());
  out.network_id_ = out.hash_;
  return out;
}

absl::StatusOr<UpdateCheck> CheckUpdate(const Roster& prev,
                                        const proto::SignedRoster& update) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Roster next, ParseRoster(update));
  TIDINGS_RETURN_IF_ERROR(ValidateUpdateStructure(prev, next));
  TIDINGS_ASSIGN_OR_RETURN(std::set<std::string> signers,
                           VerifySignatures(prev.roster(), update));
  UpdateCheck out;
  out.version = next.version();
  out.hash = crypto::Hash(update.roster());
  out.signers.assign(signers.begin(), signers.end());
  out.needed = prev.roster().threshold();
  out.complete = out.signers.size() >= out.needed;
  return out;
}

absl::StatusOr<Roster> Roster::FromUpdate(const Roster& prev,
                                          const proto::SignedRoster& update) {
  TIDINGS_ASSIGN_OR_RETURN(UpdateCheck check, CheckUpdate(prev, update));
  if (!check.complete) {
    return absl::UnauthenticatedError(absl::StrCat(
        "update v", check.version, " has ", check.signers.size(), " of the ",
        check.needed, " signatures it needs (signed by ",
        check.signers.empty() ? "nobody" : absl::StrJoin(check.signers, ", "),
        ")"));
  }
  Roster out;
  out.signed_ = update;
  out.roster_ = *ParseRoster(update);
  out.hash_ = check.hash;
  out.network_id_ = prev.network_id_;
  return out;
}

absl::StatusOr<proto::SignedRoster> MakeUpdate(const Roster& prev,
                                               proto::Roster next) {
  next.set_version(prev.roster().version() + 1);
  next.set_prev_hash(prev.hash().str());
  next.set_network_name(prev.roster().network_name());
  std::stable_sort(next.mutable_members()->begin(),
                   next.mutable_members()->end(),
                   [](const proto::Member& a, const proto::Member& b) {
                     return a.agency() < b.agency();
                   });
  TIDINGS_RETURN_IF_ERROR(ValidateUpdateStructure(prev, next));
  proto::SignedRoster out;
  if (!next.SerializeToString(out.mutable_roster())) {
    return absl::InternalError("cannot serialize the roster");
  }
  return out;
}

absl::Status SignUpdate(proto::SignedRoster& update, const Roster& prev,
                        const crypto::Identity& identity) {
  TIDINGS_RETURN_IF_ERROR(CheckUpdate(prev, update).status());
  const proto::Member* member = prev.Find(identity.principal());
  if (member == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        identity.principal(), " is not a member of roster v",
        prev.roster().version(), " and cannot sign its successor"));
  }
  return AddSignature(update, *member, identity);
}

absl::StatusOr<Roster> Roster::LoadFile(const std::string& path) {
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  absl::StatusOr<Roster> roster = FromSigned(signed_roster);
  if (!roster.ok()) {
    return absl::Status(roster.status().code(),
                        absl::StrCat(path, ": ", roster.status().message()));
  }
  return roster;
}

const proto::Member* Roster::Find(absl::string_view agency) const {
  auto it =
      std::lower_bound(roster_.members().begin(), roster_.members().end(),
                       agency, [](const proto::Member& m, absl::string_view a) {
                         return m.agency() < a;
                       });
  if (it == roster_.members().end() || it->agency() != agency) return nullptr;
  return &*it;
}

std::optional<crypto::VerifyKey> Roster::VerifyKeyOf(
    absl::string_view agency) const {
  const proto::Member* member = Find(agency);
  if (member == nullptr) return std::nullopt;
  return crypto::VerifyKey::FromBytes(member->sign_pk());
}

std::optional<crypto::BoxPublicKey> Roster::BoxKeyOf(
    absl::string_view agency) const {
  const proto::Member* member = Find(agency);
  if (member == nullptr) return std::nullopt;
  return crypto::BoxPublicKey::FromBytes(member->box_pk());
}

std::optional<crypto::Sha256> Roster::TlsFingerprintOf(
    absl::string_view agency) const {
  const proto::Member* member = Find(agency);
  if (member == nullptr) return std::nullopt;
  return crypto::Sha256::FromBytes(member->tls_cert_sha256());
}

std::vector<std::string> Roster::agencies() const {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(roster_.members_size()));
  for (const proto::Member& member : roster_.members()) {
    out.push_back(member.agency());
  }
  return out;
}

proto::PublicIdentity PublicIdentityOf(
    const crypto::Identity& identity, absl::string_view name,
    const std::vector<std::string>& endpoints,
    const crypto::Sha256& tls_cert_sha256) {
  proto::PublicIdentity out;
  proto::Member* member = out.mutable_member();
  member->set_agency(identity.principal());
  member->set_name(std::string(name));
  member->set_sign_pk(identity.verify_key().str());
  member->set_box_pk(identity.box_public().str());
  for (const std::string& endpoint : endpoints) member->add_endpoints(endpoint);
  member->set_tls_cert_sha256(tls_cert_sha256.str());
  return out;
}

proto::PublicIdentity PublicIdentityOf(
    const crypto::Identity& identity, absl::string_view name,
    const std::vector<std::string>& endpoints) {
  return PublicIdentityOf(identity, name, endpoints,
                          PlaceholderTlsFingerprint(identity));
}

crypto::Sha256 PlaceholderTlsFingerprint(const crypto::Identity& identity) {
  crypto::Hasher hasher;
  hasher.UpdateField(crypto::labels::kNoTlsCert);
  hasher.UpdateField(identity.verify_key().view());
  const crypto::Hash256 hash = hasher.Finish();
  return *crypto::Sha256::FromBytes(hash.view());
}

absl::StatusOr<proto::SignedRoster> MakeGenesis(
    absl::string_view network_name, uint32_t threshold,
    std::vector<proto::Member> members, int64_t created_unix_ms) {
  if (network_name.empty()) {
    return absl::InvalidArgumentError("network name is empty");
  }
  std::stable_sort(members.begin(), members.end(),
                   [](const proto::Member& a, const proto::Member& b) {
                     return a.agency() < b.agency();
                   });
  proto::Roster roster;
  roster.set_version(0);
  roster.set_network_name(std::string(network_name));
  roster.set_threshold(threshold);
  for (proto::Member& member : members) {
    *roster.add_members() = std::move(member);
  }
  roster.set_created_unix_ms(created_unix_ms);
  TIDINGS_RETURN_IF_ERROR(ValidateGenesisStructure(roster));

  proto::SignedRoster out;
  // These bytes are signed and hashed as they are, forever; nobody
  // re-serializes them, so plain serialization is fine.
  if (!roster.SerializeToString(out.mutable_roster())) {
    return absl::InternalError("cannot serialize the roster");
  }
  return out;
}

absl::Status SignGenesis(proto::SignedRoster& signed_roster,
                         const crypto::Identity& identity) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Roster roster, ParseRoster(signed_roster));
  TIDINGS_RETURN_IF_ERROR(ValidateGenesisStructure(roster));
  const proto::Member* member = FindMember(roster, identity.principal());
  if (member == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(identity.principal(), " is not a founder in this roster"));
  }
  if (member->box_pk() != identity.box_public().view()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the keys of this key file do not match the roster entry of ",
        identity.principal()));
  }
  return AddSignature(signed_roster, *member, identity);
}

bool IsMissingFounderSignatures(const absl::Status& status) {
  return status.GetPayload(kMissingSignaturesPayload).has_value();
}

std::vector<std::string> MissingSignatures(
    const proto::SignedRoster& signed_roster) {
  std::vector<std::string> missing;
  absl::StatusOr<proto::Roster> roster = ParseRoster(signed_roster);
  if (!roster.ok()) return missing;
  // Only a signature that verifies counts: a forged one must not hide that
  // the founder has not actually signed.
  for (const proto::Member& member : roster->members()) {
    bool signed_by_member = false;
    for (const proto::RosterSignature& sig : signed_roster.signatures()) {
      if (sig.agency() == member.agency() &&
          SignatureVerifies(member, signed_roster.roster(), sig.signature())) {
        signed_by_member = true;
        break;
      }
    }
    if (!signed_by_member) missing.push_back(member.agency());
  }
  std::sort(missing.begin(), missing.end());
  return missing;
}

absl::Status WriteProtoFile(const std::string& path,
                            const google::protobuf::MessageLite& message) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize ", message.GetTypeName()));
  }
  // Readers see the old file or the new one, never a torn one, even if we
  // crash mid-write. Public material (rosters, .pub files): readable by all.
  return base::ReplaceFile(path, "", bytes, 0644, base::TempFile::kUnique);
}

absl::Status ReadProtoFile(const std::string& path,
                           google::protobuf::MessageLite& message) {
  TIDINGS_ASSIGN_OR_RETURN(base::FileReader file,
                           base::FileReader::Open(path, ""));
  if (!file.is_regular()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  if (file.size_bytes() > kMaxProtoFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", file.size_bytes(), " bytes; a ",
                     message.GetTypeName(), " file is never that large"));
  }
  std::string bytes(file.size_bytes(), '\0');
  // A file that shrank while we read: parse what is there.
  TIDINGS_ASSIGN_OR_RETURN(const size_t read,
                           file.ReadInto(absl::MakeSpan(bytes)));
  bytes.resize(read);
  if (!message.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a valid ", message.GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace tidings::node

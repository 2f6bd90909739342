#include "node/model/field_nodes.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "node/model/reject.h"

namespace tidings::node {
namespace {

constexpr char kSeparator = '/';
// A TLS certificate's common name holds at most 64 characters.
constexpr size_t kMaxFieldNodeIdLength = 64;

// Whether a certificate grants rights (it needs a key the agency may still
// use) or a revocation takes them away (any key the agency held may sign
// one, whatever became of the key or the agency since).
enum class Grants { kYes, kNo };

// The agency key that signed `bytes` under `signed_under`, checked; for a
// grant, the agency must be a member of `current` and that key not revoked.
absl::StatusOr<std::string> CheckAgencySignature(
    absl::string_view what, absl::string_view agency, uint32_t roster_version,
    absl::string_view bytes, absl::string_view signature, crypto::Domain domain,
    const Roster* signed_under, const Roster& current, Grants grants) {
  if (signed_under == nullptr) {
    return WithChainRefusal(
        absl::FailedPreconditionError(absl::StrCat(
            "roster_ahead: ", what, " is signed under roster v", roster_version,
            "; this node has v", current.version())),
        ChainRefusal::kRosterAhead);
  }
  if (grants == Grants::kYes && !current.IsMember(agency)) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": ", agency, " is not a member of roster v", current.version()));
  }
  const proto::Member* member = signed_under->Find(agency);
  if (member == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": ", agency, " was not a member of roster v", roster_version));
  }
  for (const proto::Revocation& r : current.roster().revocations()) {
    if (grants == Grants::kYes && r.agency() == agency &&
        r.sign_pk() == member->sign_pk()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": signed with ", agency, "'s key of roster v",
                       roster_version, ", revoked at v", r.at_version()));
    }
  }
  std::optional<crypto::VerifyKey> key =
      crypto::VerifyKey::FromBytes(member->sign_pk());
  std::optional<crypto::Signature> sig =
      crypto::Signature::FromBytes(signature);
  if (!key.has_value() || !sig.has_value() ||
      !crypto::Verify(*key, domain, bytes, *sig).ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat(what, ": signature does not verify under ", agency,
                     "'s key of roster v", roster_version));
  }
  return member->sign_pk();
}

absl::Status CheckCuts(
    absl::string_view node,
    const google::protobuf::RepeatedPtrField<proto::FeedCut>& cuts) {
  for (int j = 0; j < cuts.size(); ++j) {
    if (cuts[j].feed_id().size() != crypto::Hash256::kSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "revocation of ", node, ": cut ", j + 1, " has a feed id of ",
          cuts[j].feed_id().size(), " bytes"));
    }
    if (j > 0 && !(cuts[j - 1].feed_id() < cuts[j].feed_id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "revocation of ", node, ": cuts are not sorted and unique by feed"));
    }
  }
  if (static_cast<size_t>(cuts.size()) > kMaxNodeRevocationCuts) {
    return absl::InvalidArgumentError(
        absl::StrCat("revocation of ", node, ": ", cuts.size(),
                     " cuts; at most ", kMaxNodeRevocationCuts));
  }
  return absl::OkStatus();
}

// Why `entry`'s certificate no longer holds under `current`, or "" if it
// does (revocation of the node itself not considered).
std::string WhyNotValid(const FieldNode& entry, const Roster& current) {
  if (!entry.has_cert) return "no certificate is known";
  const absl::string_view agency = AgencyOf(entry.cert.node());
  if (!current.IsMember(agency)) {
    return absl::StrCat("its agency ", agency, " is no longer a member");
  }
  for (const proto::Revocation& r : current.roster().revocations()) {
    if (r.agency() != agency) continue;
    if (r.sign_pk() == entry.signer_pk) {
      return absl::StrCat("the key of ", agency,
                          " that certified it was revoked at roster v",
                          r.at_version());
    }
    // Removed since, and admitted again: certificates from before the
    // removal stay void, whatever key signed them.
    if (r.removed() && r.at_version() > entry.cert.roster_version()) {
      return absl::StrCat(agency, " was removed at roster v", r.at_version(),
                          ", after it certified this node");
    }
  }
  return "";
}

// Whether `sign_pk` is `agency`'s key in `current` (a member, not revoked).
bool IsCurrentKey(absl::string_view agency, absl::string_view sign_pk,
                  const Roster& current) {
  const proto::Member* member = current.Find(agency);
  return member != nullptr && member->sign_pk() == sign_pk;
}

// Slots `agency` uses: its active certificates, and revocations of no known
// certificate signed by its current key (a stolen key's records stop
// counting once it is replaced). Entries of any kind are bounded apart.
bool SlotsFull(const std::map<std::string, FieldNode, std::less<>>& nodes,
               absl::string_view agency, const Roster& current) {
  size_t slots = 0;
  size_t entries = 0;
  for (const auto& [id, entry] : nodes) {
    if (AgencyOf(id) != agency) continue;
    ++entries;
    if (entry.has_cert) {
      slots +=
          !entry.revocation.has_value() && WhyNotValid(entry, current).empty();
    } else {
      slots += IsCurrentKey(agency, entry.revocation_signer_pk, current);
    }
  }
  return slots >= kMaxFieldNodesPerAgency ||
         entries >= kMaxFieldNodeEntriesPerAgency;
}

}  // namespace

bool IsFieldNode(absl::string_view principal) {
  return principal.find(kSeparator) != absl::string_view::npos;
}

absl::string_view AgencyOf(absl::string_view principal) {
  return principal.substr(0, principal.find(kSeparator));
}

absl::Status ValidatePrincipal(absl::string_view principal) {
  const size_t slash = principal.find(kSeparator);
  if (slash == absl::string_view::npos) return ValidateAgencyId(principal);
  return ValidateFieldNodeId(principal);
}

absl::Status ValidateFieldNodeId(absl::string_view node) {
  const size_t slash = node.find(kSeparator);
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("field node id '", absl::CHexEscape(node.substr(0, 80)),
                     "' is not AGENCY/NAME"));
  }
  if (node.size() > kMaxFieldNodeIdLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field node id '", absl::CHexEscape(node.substr(0, 80)),
        "' is longer than ", kMaxFieldNodeIdLength, " characters"));
  }
  absl::Status agency = ValidateAgencyId(node.substr(0, slash));
  absl::Status name = ValidateAgencyId(node.substr(slash + 1));
  if (!agency.ok() || !name.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field node id '", absl::CHexEscape(node.substr(0, 80)),
                     "': ", !agency.ok() ? agency.message() : name.message(),
                     agency.ok() ? " (in its name part)" : ""));
  }
  return absl::OkStatus();
}

std::string FileStemOf(absl::string_view principal) {
  std::string stem(principal);
  for (char& c : stem) {
    if (c == kSeparator) c = '+';
  }
  return stem;
}

const FieldNode* FieldNodes::Find(absl::string_view node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : &it->second;
}

namespace {

// Key sizes, a usable box key, and bounds on names, endpoints and size.
absl::Status CheckCertShape(absl::string_view what, const proto::NodeCert& cert,
                            const proto::SignedNodeCert& signed_cert) {
  if (cert.sign_pk().size() != crypto::VerifyKey::kSize ||
      cert.box_pk().size() != crypto::BoxPublicKey::kSize ||
      cert.tls_cert_sha256().size() != crypto::Sha256::kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": sign_pk, box_pk or tls_cert_sha256 has the "
                     "wrong size (32 bytes each)"));
  }
  if (absl::Status s = crypto::ValidateBoxPublicKey(
          *crypto::BoxPublicKey::FromBytes(cert.box_pk()));
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.message()));
  }
  bool long_endpoint = false;
  for (const std::string& e : cert.endpoints()) long_endpoint |= e.size() > 256;
  if (cert.name().size() > 256 || cert.endpoints_size() > 16 || long_endpoint) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": name, endpoints or an endpoint too long (256 bytes, 16 "
                     "endpoints)"));
  }
  if (signed_cert.ByteSizeLong() > kMaxNodeCertBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", signed_cert.ByteSizeLong(), " bytes; at most ",
                     kMaxNodeCertBytes));
  }
  return absl::OkStatus();
}

// Keys and certificates are never shared: a shared box key would wrap one
// content key twice under one key and nonce, a shared certificate would let
// one node pass for the other.
absl::Status CheckKeysUnshared(
    absl::string_view what, const proto::NodeCert& cert, const Roster& current,
    const std::map<std::string, FieldNode, std::less<>>& nodes,
    const std::map<std::string, Contact, std::less<>>& contacts) {
  for (const proto::Member& m : current.roster().members()) {
    if (m.sign_pk() == cert.sign_pk() || m.box_pk() == cert.box_pk() ||
        m.tls_cert_sha256() == cert.tls_cert_sha256()) {
      return absl::AlreadyExistsError(absl::StrCat(
          what, ": a key or the certificate is also ", m.agency(), "'s"));
    }
  }
  for (const auto& [agency, contact] : contacts) {
    if (contact.contact.tls_cert_sha256() == cert.tls_cert_sha256()) {
      return absl::AlreadyExistsError(absl::StrCat(
          what, ": the certificate is also ", agency, "'s (its contact)"));
    }
  }
  for (const auto& [id, other] : nodes) {
    if (id != cert.node() && other.has_cert &&
        (other.cert.sign_pk() == cert.sign_pk() ||
         other.cert.box_pk() == cert.box_pk() ||
         other.cert.tls_cert_sha256() == cert.tls_cert_sha256())) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": a key or the certificate is also ", id, "'s"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<FieldNodes>> FieldNodes::WithCert(
    const proto::SignedNodeCert& signed_cert, const Roster* signed_under,
    const Roster& current) const {
  proto::NodeCert cert;
  if (!cert.ParseFromString(signed_cert.cert())) {
    return absl::InvalidArgumentError(
        "node certificate does not parse as a tidings.proto.NodeCert");
  }
  TIDINGS_RETURN_IF_ERROR(ValidateFieldNodeId(cert.node()));
  const FieldNode* known = Find(cert.node());
  // Known bytes cost no signature check (gossip repeats itself).
  if (known != nullptr && known->has_cert &&
      known->signed_cert.cert() == signed_cert.cert()) {
    return std::nullopt;
  }
  const std::string what = absl::StrCat("certificate of ", cert.node());
  TIDINGS_RETURN_IF_ERROR(CheckCertShape(what, cert, signed_cert));
  const absl::string_view agency = AgencyOf(cert.node());
  TIDINGS_ASSIGN_OR_RETURN(
      std::string signer_pk,
      CheckAgencySignature(what, agency, cert.roster_version(),
                           signed_cert.cert(), signed_cert.signature(),
                           crypto::Domain::kNodeCert, signed_under, current,
                           Grants::kYes));
  // A revocation that came first and names this key: the certificate is
  // kept (inactive), so that what the node signed up to the cuts verifies.
  const bool revoked_first = known != nullptr && !known->has_cert &&
                             known->revocation.has_value() &&
                             known->revocation->sign_pk() == cert.sign_pk();
  if (known != nullptr && !revoked_first) {
    if (known->revocation.has_value()) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": ", cert.node(),
                       " was revoked; a revoked node id is never "
                       "certified again"));
    }
    return absl::AlreadyExistsError(
        absl::StrCat(what, ": a different certificate of ", cert.node(),
                     " is already known (the first one is kept)"));
  }
  if (known == nullptr && SlotsFull(nodes_, agency, current)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": ", agency, " already has ",
                     kMaxFieldNodesPerAgency, " field nodes"));
  }
  TIDINGS_RETURN_IF_ERROR(
      CheckKeysUnshared(what, cert, current, nodes_, contacts_));
  FieldNodes out = *this;
  FieldNode& entry = out.nodes_[cert.node()];
  entry.has_cert = true;
  entry.signed_cert = signed_cert;
  entry.cert = std::move(cert);
  entry.signer_pk = std::move(signer_pk);
  return std::optional<FieldNodes>(std::move(out));
}

absl::StatusOr<std::optional<FieldNodes>> FieldNodes::WithRevocation(
    const proto::SignedNodeRevocation& signed_revocation,
    const Roster* signed_under, const Roster& current) const {
  proto::NodeRevocation revocation;
  if (!revocation.ParseFromString(signed_revocation.revocation())) {
    return absl::InvalidArgumentError(
        "node revocation does not parse as a tidings.proto.NodeRevocation");
  }
  TIDINGS_RETURN_IF_ERROR(ValidateFieldNodeId(revocation.node()));
  const std::string what = absl::StrCat("revocation of ", revocation.node());
  if (revocation.sign_pk().size() != crypto::VerifyKey::kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": sign_pk is not 32 bytes"));
  }
  TIDINGS_RETURN_IF_ERROR(CheckCuts(revocation.node(), revocation.cuts()));
  const FieldNode* known = Find(revocation.node());
  if (known != nullptr && known->revocation.has_value() &&
      known->signed_revocation.revocation() == signed_revocation.revocation()) {
    return std::nullopt;
  }
  if (signed_revocation.ByteSizeLong() > kMaxNodeRecordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", signed_revocation.ByteSizeLong(),
                     " bytes; at most ", kMaxNodeRecordBytes));
  }
  const absl::string_view agency = AgencyOf(revocation.node());
  TIDINGS_ASSIGN_OR_RETURN(
      std::string signer_pk,
      CheckAgencySignature(
          what, agency, revocation.roster_version(),
          signed_revocation.revocation(), signed_revocation.signature(),
          crypto::Domain::kNodeRevocation, signed_under, current, Grants::kNo));
  // An honest revocation is signed under a roster at least as new as the
  // certificate it ends. One signed by a key no longer the agency's (stolen
  // and replaced, or the agency removed) is taken only for a certificate it
  // could have seen: it cannot pre-empt nodes certified after it.
  if (known != nullptr && known->has_cert &&
      revocation.roster_version() < known->cert.roster_version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": signed under roster v", revocation.roster_version(),
        ", before the certificate it ends (v", known->cert.roster_version(),
        ")"));
  }
  if (!IsCurrentKey(agency, signer_pk, current) &&
      (known == nullptr || !known->has_cert)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": signed with a key that is no longer ", agency,
                     "'s, and no certificate of it is known"));
  }
  if (known != nullptr && known->revocation.has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat(what, ": ", revocation.node(),
                     " is revoked already (the first "
                     "revocation is kept)"));
  }
  if (known != nullptr && known->has_cert &&
      known->cert.sign_pk() != revocation.sign_pk()) {
    return absl::AlreadyExistsError(
        absl::StrCat(what, ": it names a key that is not the one ",
                     revocation.node(), "'s certificate holds"));
  }
  if (known == nullptr && SlotsFull(nodes_, agency, current)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": ", agency, " already has ",
                     kMaxFieldNodesPerAgency, " field nodes"));
  }
  FieldNodes out = *this;
  FieldNode& entry = out.nodes_[revocation.node()];
  entry.revocation = std::move(revocation);
  entry.signed_revocation = signed_revocation;
  entry.revocation_signer_pk = std::move(signer_pk);
  return std::optional<FieldNodes>(std::move(out));
}

namespace {

absl::Status CheckContactShape(absl::string_view what,
                               const proto::MemberContact& contact,
                               const proto::SignedMemberContact& whole) {
  if (contact.tls_cert_sha256().size() != crypto::Sha256::kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": tls_cert_sha256 is not 32 bytes"));
  }
  bool long_endpoint = false;
  for (const std::string& e : contact.endpoints()) {
    long_endpoint |= e.size() > 256;
  }
  if (contact.endpoints_size() > 16 || long_endpoint) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": too many endpoints or one too long (16, 256 bytes each)"));
  }
  if (whole.ByteSizeLong() > kMaxContactBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", whole.ByteSizeLong(), " bytes; at most ",
                     kMaxContactBytes));
  }
  return absl::OkStatus();
}

// Whether `a` replaces `b`: issued later, or at the same time with the
// smaller hash (so that every node keeps the same one).
bool Replaces(const Contact& a, const Contact& b) {
  if (a.contact.issued_unix_ms() != b.contact.issued_unix_ms()) {
    return a.contact.issued_unix_ms() > b.contact.issued_unix_ms();
  }
  return a.hash < b.hash;
}

}  // namespace

absl::StatusOr<std::optional<FieldNodes>> FieldNodes::WithContact(
    const proto::SignedMemberContact& signed_contact,
    const Roster* signed_under, const Roster& current) const {
  Contact entry;
  if (!entry.contact.ParseFromString(signed_contact.contact())) {
    return absl::InvalidArgumentError(
        "member contact does not parse as a tidings.proto.MemberContact");
  }
  const proto::MemberContact& contact = entry.contact;
  if (IsFieldNode(contact.agency())) {
    return absl::InvalidArgumentError(
        "member contact: a field node's details are in its certificate");
  }
  TIDINGS_RETURN_IF_ERROR(ValidatePrincipal(contact.agency()));
  const std::string what = absl::StrCat("contact of ", contact.agency());
  entry.hash = crypto::Hash(signed_contact.SerializeAsString()).str();
  const Contact* known = FindContact(contact.agency());
  // Known or older bytes cost no signature check (gossip repeats itself).
  if (known != nullptr && !Replaces(entry, *known)) return std::nullopt;
  TIDINGS_RETURN_IF_ERROR(CheckContactShape(what, contact, signed_contact));
  TIDINGS_RETURN_IF_ERROR(
      CheckAgencySignature(what, contact.agency(), contact.roster_version(),
                           signed_contact.contact(), signed_contact.signature(),
                           crypto::Domain::kContact, signed_under, current,
                           Grants::kYes)
          .status());
  if (signed_under->Find(contact.agency())->SerializeAsString() !=
      current.Find(contact.agency())->SerializeAsString()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": signed under roster v", contact.roster_version(),
        ", and a later update changed ", contact.agency(), "'s entry"));
  }
  for (const proto::Member& m : current.roster().members()) {
    if (m.agency() != contact.agency() &&
        m.tls_cert_sha256() == contact.tls_cert_sha256()) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": the certificate is also ", m.agency(), "'s"));
    }
  }
  for (const auto& [agency, other] : contacts_) {
    if (agency != contact.agency() &&
        other.contact.tls_cert_sha256() == contact.tls_cert_sha256()) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": the certificate is also ", agency, "'s"));
    }
  }
  for (const auto& [id, node] : nodes_) {
    if (node.has_cert &&
        node.cert.tls_cert_sha256() == contact.tls_cert_sha256()) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": the certificate is also ", id, "'s"));
    }
  }
  entry.signed_contact = signed_contact;
  FieldNodes out = *this;
  out.contacts_[contact.agency()] = std::move(entry);
  return std::optional<FieldNodes>(std::move(out));
}

const Contact* FieldNodes::FindContact(absl::string_view agency) const {
  auto it = contacts_.find(agency);
  return it == contacts_.end() ? nullptr : &it->second;
}

const FieldNode* FieldNodes::Active(absl::string_view node,
                                    const Roster& current) const {
  const FieldNode* entry = Find(node);
  if (entry == nullptr || entry->revocation.has_value() ||
      !WhyNotValid(*entry, current).empty()) {
    return nullptr;
  }
  return entry;
}

std::vector<const FieldNode*> FieldNodes::ActiveOf(
    absl::string_view agency, const Roster& current) const {
  std::vector<const FieldNode*> out;
  for (const auto& [id, entry] : nodes_) {
    if (AgencyOf(id) == agency && Active(id, current) != nullptr) {
      out.push_back(&entry);
    }
  }
  return out;
}

absl::StatusOr<crypto::VerifyKey> FieldNodes::SignerKey(
    absl::string_view origin, absl::string_view feed_id, uint64_t seq,
    const Roster& current) const {
  const FieldNode* entry = Find(origin);
  if (entry == nullptr || !entry->has_cert) {
    return Reject(RejectReason::kUnknownNode,
                  absl::StrCat("no certificate of field node '",
                               absl::CHexEscape(origin.substr(0, 80)),
                               "' is known here yet"));
  }
  if (std::string why = WhyNotValid(*entry, current); !why.empty()) {
    return Reject(RejectReason::kRevoked,
                  absl::StrCat("field node ", origin, ": ", why));
  }
  if (entry->revocation.has_value()) {
    uint64_t last = 0;
    for (const proto::FeedCut& cut : entry->revocation->cuts()) {
      if (cut.feed_id() == feed_id) last = cut.last_seq();
    }
    if (seq > last) {
      return Reject(RejectReason::kRevoked,
                    absl::StrCat("field node ", origin,
                                 " was revoked by its agency; position ", seq,
                                 " of this feed is past its last valid one (",
                                 last, ")"));
    }
  }
  std::optional<crypto::VerifyKey> key =
      crypto::VerifyKey::FromBytes(entry->cert.sign_pk());
  if (!key.has_value()) {
    return Reject(RejectReason::kUnknownNode, "node key is malformed");
  }
  return *key;
}

namespace {

// OK if `agency` may sign records about `node` under `roster`: the node is
// its agency's, and its key is the agency's key in that roster.
absl::Status CheckCertifier(absl::string_view node,
                            const crypto::Identity& agency,
                            const Roster& roster) {
  if (AgencyOf(node) != agency.principal()) {
    return absl::InvalidArgumentError(
        absl::StrCat(node, " is not a node of ", agency.principal()));
  }
  const proto::Member* self = roster.Find(agency.principal());
  if (self == nullptr || self->sign_pk() != agency.verify_key().view()) {
    return absl::FailedPreconditionError(
        absl::StrCat("this node's key is not ", agency.principal(),
                     "'s key in roster v", roster.version()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<proto::SignedNodeCert> SignNodeCert(
    proto::NodeCert cert, const crypto::Identity& agency,
    const Roster& roster) {
  TIDINGS_RETURN_IF_ERROR(ValidateFieldNodeId(cert.node()));
  TIDINGS_RETURN_IF_ERROR(CheckCertifier(cert.node(), agency, roster));
  cert.set_roster_version(roster.version());
  proto::SignedNodeCert out;
  out.set_cert(cert.SerializeAsString());
  out.set_signature(
      crypto::Sign(agency.signing_key(), crypto::Domain::kNodeCert, out.cert())
          .str());
  // The same checks every receiver runs.
  TIDINGS_RETURN_IF_ERROR(FieldNodes().WithCert(out, &roster, roster).status());
  return out;
}

absl::StatusOr<proto::SignedMemberContact> SignMemberContact(
    const std::string& tls_cert_sha256,
    const std::vector<std::string>& endpoints, int64_t issued_unix_ms,
    const crypto::Identity& agency, const Roster& roster) {
  TIDINGS_RETURN_IF_ERROR(CheckCertifier(agency.principal(), agency, roster));
  proto::MemberContact contact;
  contact.set_agency(agency.principal());
  contact.set_roster_version(roster.version());
  contact.set_issued_unix_ms(issued_unix_ms);
  contact.set_tls_cert_sha256(tls_cert_sha256);
  for (const std::string& e : endpoints) contact.add_endpoints(e);
  proto::SignedMemberContact out;
  out.set_contact(contact.SerializeAsString());
  out.set_signature(crypto::Sign(agency.signing_key(), crypto::Domain::kContact,
                                 out.contact())
                        .str());
  // The same checks every receiver runs.
  TIDINGS_RETURN_IF_ERROR(
      FieldNodes().WithContact(out, &roster, roster).status());
  return out;
}

absl::StatusOr<proto::SignedNodeRevocation> SignNodeRevocation(
    const proto::NodeCert& cert, std::vector<proto::FeedCut> cuts,
    int64_t revoked_unix_ms, const crypto::Identity& agency,
    const Roster& roster) {
  TIDINGS_RETURN_IF_ERROR(CheckCertifier(cert.node(), agency, roster));
  if (cuts.size() > kMaxNodeRevocationCuts) {
    // Bounded, or a stolen node could make its revocation too large to
    // travel by opening many feeds. Its longest feeds keep their cuts; the
    // rest (one-off feeds, as such a flood would open) are cut at 0.
    std::stable_sort(cuts.begin(), cuts.end(),
                     [](const proto::FeedCut& a, const proto::FeedCut& b) {
                       return a.last_seq() > b.last_seq();
                     });
    cuts.resize(kMaxNodeRevocationCuts);
  }
  std::sort(cuts.begin(), cuts.end(),
            [](const proto::FeedCut& a, const proto::FeedCut& b) {
              return a.feed_id() < b.feed_id();
            });
  proto::NodeRevocation revocation;
  revocation.set_node(cert.node());
  revocation.set_sign_pk(cert.sign_pk());
  for (proto::FeedCut& cut : cuts) *revocation.add_cuts() = std::move(cut);
  revocation.set_roster_version(roster.version());
  revocation.set_revoked_unix_ms(revoked_unix_ms);
  proto::SignedNodeRevocation out;
  out.set_revocation(revocation.SerializeAsString());
  out.set_signature(crypto::Sign(agency.signing_key(),
                                 crypto::Domain::kNodeRevocation,
                                 out.revocation())
                        .str());
  return out;
}

}  // namespace tidings::node

// Tests for field nodes (node/field_nodes.h): principals, certificates and
// revocations checked against the rosters, the keys their envelopes must be
// signed with; and how the membership (node/membership.h) certifies, revokes,
// holds and judges them as the roster moves on.
#include "node/model/field_nodes.h"

#include <stdlib.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/model/envelope.h"
#include "node/model/membership.h"
#include "node/model/reject.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"
#include "storage/log.h"
#include "tests/testing/rosters.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using test_rosters::Cut;
using test_rosters::Feed;
using test_rosters::kCreated;
using test_rosters::MemberOf;

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kIssued = 1700000100000;

// The certificate a field node's .pub asks for (keygen --agency A/NAME).
proto::NodeCert CertOf(const crypto::Identity& node) {
  proto::NodeCert cert;
  cert.set_node(node.principal());
  cert.set_name(absl::StrCat(node.principal(), " ship"));
  cert.set_sign_pk(node.verify_key().str());
  cert.set_box_pk(node.box_public().str());
  cert.set_tls_cert_sha256(PlaceholderTlsFingerprint(node).str());
  cert.add_endpoints("ship.example:7101");
  cert.set_issued_unix_ms(kIssued);
  return cert;
}

// Serializes and signs `cert` as is with `signer`'s key, bypassing every
// check SignNodeCert runs.
proto::SignedNodeCert RawSigned(const proto::NodeCert& cert,
                                const crypto::Identity& signer) {
  proto::SignedNodeCert out;
  out.set_cert(cert.SerializeAsString());
  out.set_signature(
      crypto::Sign(signer.signing_key(), crypto::Domain::kNodeCert, out.cert())
          .str());
  return out;
}

proto::SignedNodeRevocation RawSigned(const proto::NodeRevocation& revocation,
                                      const crypto::Identity& signer) {
  proto::SignedNodeRevocation out;
  out.set_revocation(revocation.SerializeAsString());
  out.set_signature(crypto::Sign(signer.signing_key(),
                                 crypto::Domain::kNodeRevocation,
                                 out.revocation())
                        .str());
  return out;
}

// Three members, MY.NCB, PH.CG and ID.NCB, threshold 2; field nodes of
// MY.NCB: SHIP1 and SHIP2, of PH.CG: CUTTER.
class FieldNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* agency : {"MY.NCB", "PH.CG", "ID.NCB"}) {
      members_.push_back(crypto::Identity::Generate(agency));
    }
    for (const char* node : {"MY.NCB/SHIP1", "MY.NCB/SHIP2", "PH.CG/CUTTER"}) {
      nodes_.push_back(crypto::Identity::Generate(node));
    }
    absl::StatusOr<Roster> roster = test_rosters::SignedGenesis(members_, 2);
    ASSERT_TRUE(roster.ok()) << roster.status();
    genesis_.emplace(*std::move(roster));
  }

  const Roster& genesis() const { return *genesis_; }

  const crypto::Identity& Who(absl::string_view principal) const {
    for (const auto* group : {&members_, &nodes_}) {
      for (const crypto::Identity& identity : *group) {
        if (identity.principal() == principal) return identity;
      }
    }
    ADD_FAILURE() << "no identity " << principal;
    return members_.front();
  }

  // `node`'s certificate signed by its agency under the genesis.
  proto::SignedNodeCert Certified(absl::string_view node) const {
    absl::StatusOr<proto::SignedNodeCert> signed_cert =
        SignNodeCert(CertOf(Who(node)), Who(AgencyOf(node)), genesis());
    EXPECT_TRUE(signed_cert.ok()) << signed_cert.status();
    return signed_cert.ok() ? *std::move(signed_cert) : proto::SignedNodeCert();
  }

  // `set` with `node`'s certificate added; fails the test otherwise.
  FieldNodes With(const FieldNodes& set, absl::string_view node) const {
    absl::StatusOr<std::optional<FieldNodes>> next =
        set.WithCert(Certified(node), &genesis(), genesis());
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !next->has_value()) {
      ADD_FAILURE() << node << " was not added";
      return set;
    }
    return **next;
  }

  proto::SignedNodeRevocation Revoked(const FieldNodes& set,
                                      absl::string_view node,
                                      std::vector<proto::FeedCut> cuts) const {
    const FieldNode* entry = set.Find(node);
    EXPECT_NE(entry, nullptr) << node;
    if (entry == nullptr) return proto::SignedNodeRevocation();
    absl::StatusOr<proto::SignedNodeRevocation> revocation =
        SignNodeRevocation(entry->cert, std::move(cuts), kIssued + 1,
                           Who(AgencyOf(node)), genesis());
    EXPECT_TRUE(revocation.ok()) << revocation.status();
    return revocation.ok() ? *std::move(revocation)
                           : proto::SignedNodeRevocation();
  }

  // `membership` applies an update giving MY.NCB the keys of `next` (PH.CG
  // proposes, ID.NCB signs), revoking the old key if `compromised`.
  void RekeyMyNcb(Membership& membership, const crypto::Identity& next,
                  bool compromised) const {
    absl::StatusOr<proto::SignedRoster> proposal = membership.Propose(
        Rekeyed(membership.chain()->current(), "MY.NCB", next, compromised),
        Who("PH.CG"));
    ASSERT_TRUE(proposal.ok()) << proposal.status();
    ASSERT_TRUE(
        membership.Sign(crypto::Hash(proposal->roster()).str(), Who("ID.NCB"))
            .ok());
  }

  // v1: the members move ID.NCB to a new endpoint.
  proto::SignedRoster IdNcbMoves() const {
    proto::Roster moved = NextOf(genesis(), "ID.NCB moves");
    for (proto::Member& member : *moved.mutable_members()) {
      if (member.agency() == "ID.NCB") member.set_endpoints(0, "id2.example:1");
    }
    return Update(genesis(), moved, {"ID.NCB", "PH.CG"});
  }

  // `prev`'s roster with a change note: the base of a successor.
  static proto::Roster NextOf(const Roster& prev, absl::string_view change) {
    proto::Roster next = prev.roster();
    next.set_change(std::string(change));
    return next;
  }

  // Removes `agency`, revoking its key.
  static proto::Roster Without(const Roster& prev, absl::string_view agency) {
    proto::Roster next = NextOf(prev, absl::StrCat("remove ", agency));
    next.clear_members();
    for (const proto::Member& member : prev.roster().members()) {
      if (member.agency() != agency) *next.add_members() = member;
    }
    proto::Revocation* revocation = next.add_revocations();
    revocation->set_agency(std::string(agency));
    revocation->set_sign_pk(prev.Find(agency)->sign_pk());
    revocation->set_at_version(prev.version() + 1);
    revocation->set_removed(true);
    return next;
  }

  // Gives `agency` the keys of `fresh`; revoking the old key if `compromised`.
  static proto::Roster Rekeyed(const Roster& prev, absl::string_view agency,
                               const crypto::Identity& fresh,
                               bool compromised) {
    proto::Roster next = NextOf(prev, absl::StrCat("new keys for ", agency));
    for (proto::Member& member : *next.mutable_members()) {
      if (member.agency() == agency) member = MemberOf(fresh);
    }
    if (compromised) {
      proto::Revocation* revocation = next.add_revocations();
      revocation->set_agency(std::string(agency));
      revocation->set_sign_pk(prev.Find(agency)->sign_pk());
      revocation->set_at_version(prev.version() + 1);
    }
    return next;
  }

  // `next` as a complete update of `prev`, signed by `signers`.
  proto::SignedRoster Update(
      const Roster& prev, proto::Roster next,
      std::initializer_list<absl::string_view> signers) const {
    absl::StatusOr<proto::SignedRoster> update =
        MakeUpdate(prev, std::move(next));
    EXPECT_TRUE(update.ok()) << update.status();
    if (!update.ok()) return proto::SignedRoster();
    for (absl::string_view signer : signers) {
      absl::Status status = SignUpdate(*update, prev, Who(signer));
      EXPECT_TRUE(status.ok()) << signer << ": " << status;
    }
    return *std::move(update);
  }

  static Roster Apply(const Roster& prev, const proto::SignedRoster& update) {
    absl::StatusOr<Roster> next = Roster::FromUpdate(prev, update);
    EXPECT_TRUE(next.ok()) << next.status();
    return next.ok() ? *std::move(next) : prev;
  }

  std::unique_ptr<Membership> OpenMembership() const {
    absl::StatusOr<std::unique_ptr<Membership>> membership =
        Membership::Open(genesis(), nullptr);
    EXPECT_TRUE(membership.ok()) << membership.status();
    return membership.ok() ? *std::move(membership) : nullptr;
  }

  std::vector<crypto::Identity> members_;
  std::vector<crypto::Identity> nodes_;
  std::optional<Roster> genesis_;
};

// --- Principals --------------------------------------------------------------

TEST(PrincipalTest, AgencyIdsAndFieldNodeIds) {
  for (const char* ok :
       {"MY.NCB", "PH.CG", "9", "MY.NCB/SHIP1", "A/B", "MY.NCB/1ST-BOAT_2.X"}) {
    EXPECT_TRUE(ValidatePrincipal(ok).ok()) << ok;
  }
  // The longest: 64 characters, what a TLS common name holds.
  const std::string longest =
      absl::StrCat(std::string(32, 'A'), "/", std::string(31, 'B'));
  EXPECT_TRUE(ValidatePrincipal(longest).ok());
  EXPECT_TRUE(ValidateFieldNodeId(longest).ok());
  const std::string too_long = absl::StrCat(longest, "B");
  EXPECT_FALSE(ValidatePrincipal(too_long).ok());
  EXPECT_FALSE(ValidateFieldNodeId(too_long).ok());
  for (const std::string& bad :
       {std::string(""), std::string("my.ncb"), std::string("MY.NCB/ship1"),
        std::string("my.ncb/SHIP1"), std::string("MY.NCB/"),
        std::string("/SHIP1"), std::string("/"), std::string("MY.NCB//SHIP1"),
        std::string("MY.NCB/SHIP1/X"), std::string("MY.NCB+SHIP1"),
        std::string("MY.NCB/SHIP 1"), std::string("MY.NCB/.SHIP"),
        std::string("MY.NCB/SHIP\n1"), std::string("MY.NCB/SHIP\0", 12),
        absl::StrCat(std::string(33, 'A'), "/B"),
        absl::StrCat("A/", std::string(33, 'B'))}) {
    const absl::Status status = ValidatePrincipal(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    // Error messages are one line, whatever the input.
    EXPECT_THAT(status.message(), Not(HasSubstr("\n"))) << bad;
  }

  EXPECT_TRUE(ValidateFieldNodeId("MY.NCB/SHIP1").ok());
  absl::Status agency_only = ValidateFieldNodeId("MY.NCB");
  EXPECT_EQ(agency_only.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(agency_only.message(),
              HasSubstr("field node id 'MY.NCB' is not AGENCY/NAME"));
  absl::Status name = ValidateFieldNodeId("MY.NCB/ship");
  EXPECT_EQ(name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(name.message(), HasSubstr("(in its name part)"));
  absl::Status agency = ValidateFieldNodeId("my.ncb/SHIP");
  EXPECT_EQ(agency.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(agency.message(), Not(HasSubstr("name part")));

  EXPECT_FALSE(IsFieldNode("MY.NCB"));
  EXPECT_TRUE(IsFieldNode("MY.NCB/SHIP1"));
  EXPECT_EQ(AgencyOf("MY.NCB"), "MY.NCB");
  EXPECT_EQ(AgencyOf("MY.NCB/SHIP1"), "MY.NCB");
  EXPECT_EQ(AgencyOf(""), "");
  EXPECT_EQ(FileStemOf("MY.NCB"), "MY.NCB");
  EXPECT_EQ(FileStemOf("MY.NCB/SHIP1"), "MY.NCB+SHIP1");
  // '+' is in no valid principal, so stems never collide.
  EXPECT_FALSE(ValidatePrincipal(FileStemOf("MY.NCB/SHIP1")).ok());
}

// --- Certificates ------------------------------------------------------------

TEST_F(FieldNodesTest, GoodCertificateIsAcceptedOnce) {
  const proto::SignedNodeCert signed_cert = Certified("MY.NCB/SHIP1");
  proto::NodeCert cert;
  ASSERT_TRUE(cert.ParseFromString(signed_cert.cert()));
  EXPECT_EQ(cert.roster_version(), 0u);

  const FieldNodes empty;
  absl::StatusOr<std::optional<FieldNodes>> next =
      empty.WithCert(signed_cert, &genesis(), genesis());
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  const FieldNodes& nodes = **next;
  EXPECT_EQ(empty.Find("MY.NCB/SHIP1"), nullptr) << "immutable";

  const FieldNode* entry = nodes.Find("MY.NCB/SHIP1");
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(entry->has_cert);
  EXPECT_EQ(entry->cert.node(), "MY.NCB/SHIP1");
  EXPECT_EQ(entry->cert.sign_pk(), Who("MY.NCB/SHIP1").verify_key().str());
  EXPECT_EQ(entry->signed_cert.SerializeAsString(),
            signed_cert.SerializeAsString());
  EXPECT_EQ(entry->signer_pk, Who("MY.NCB").verify_key().str());
  EXPECT_FALSE(entry->revocation.has_value());
  EXPECT_EQ(nodes.Active("MY.NCB/SHIP1", genesis()), entry);
  EXPECT_EQ(nodes.ActiveOf("MY.NCB", genesis()).size(), 1u);
  EXPECT_THAT(nodes.ActiveOf("PH.CG", genesis()), IsEmpty());
  EXPECT_EQ(nodes.all().size(), 1u);

  absl::StatusOr<crypto::VerifyKey> key =
      nodes.SignerKey("MY.NCB/SHIP1", Feed('f'), 1000000, genesis());
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, Who("MY.NCB/SHIP1").verify_key());

  // The same bytes again: known, nothing new.
  absl::StatusOr<std::optional<FieldNodes>> again =
      nodes.WithCert(signed_cert, &genesis(), genesis());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
}

TEST_F(FieldNodesTest, CertificateSignedByAnotherMemberIsUnauthenticated) {
  proto::NodeCert cert = CertOf(Who("MY.NCB/SHIP1"));
  cert.set_roster_version(0);
  for (const char* signer : {"PH.CG", "ID.NCB", "MY.NCB/SHIP2"}) {
    absl::StatusOr<std::optional<FieldNodes>> next = FieldNodes().WithCert(
        RawSigned(cert, Who(signer)), &genesis(), genesis());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated)
        << signer;
    EXPECT_THAT(next.status().message(),
                HasSubstr("does not verify under MY.NCB's key of roster v0"));
  }
  // The node itself, too: a node cannot certify itself.
  absl::StatusOr<std::optional<FieldNodes>> self = FieldNodes().WithCert(
      RawSigned(cert, Who("MY.NCB/SHIP1")), &genesis(), genesis());
  EXPECT_EQ(self.status().code(), absl::StatusCode::kUnauthenticated);
  // Signed by the right key but for another domain.
  proto::SignedNodeCert other_domain;
  other_domain.set_cert(cert.SerializeAsString());
  other_domain.set_signature(crypto::Sign(Who("MY.NCB").signing_key(),
                                          crypto::Domain::kNodeRevocation,
                                          other_domain.cert())
                                 .str());
  EXPECT_EQ(FieldNodes()
                .WithCert(other_domain, &genesis(), genesis())
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  // SignNodeCert with a key that is not the roster's for that agency.
  const crypto::Identity impostor = crypto::Identity::Generate("MY.NCB");
  absl::StatusOr<proto::SignedNodeCert> signed_cert =
      SignNodeCert(CertOf(Who("MY.NCB/SHIP1")), impostor, genesis());
  EXPECT_EQ(signed_cert.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FieldNodesTest, TamperedCertificateIsUnauthenticated) {
  const proto::SignedNodeCert good = Certified("MY.NCB/SHIP1");
  // One byte of the name (still parses), then one of the signature.
  proto::SignedNodeCert bad_name = good;
  const size_t at = bad_name.cert().find("ship");
  ASSERT_NE(at, std::string::npos);
  (*bad_name.mutable_cert())[at] = 'S';
  proto::NodeCert parsed;
  ASSERT_TRUE(parsed.ParseFromString(bad_name.cert()));
  proto::SignedNodeCert bad_sig = good;
  (*bad_sig.mutable_signature())[17] ^= 0x01;
  proto::SignedNodeCert short_sig = good;
  short_sig.mutable_signature()->pop_back();
  // A field changed and the old signature kept: another node's keys.
  proto::NodeCert swapped;
  ASSERT_TRUE(swapped.ParseFromString(good.cert()));
  swapped.set_sign_pk(Who("MY.NCB/SHIP2").verify_key().str());
  proto::SignedNodeCert bad_key = good;
  bad_key.set_cert(swapped.SerializeAsString());

  for (const proto::SignedNodeCert* bad :
       {&bad_name, &bad_sig, &short_sig, &bad_key}) {
    absl::StatusOr<std::optional<FieldNodes>> next =
        FieldNodes().WithCert(*bad, &genesis(), genesis());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated)
        << next.status();
  }

  proto::SignedNodeCert garbage;
  garbage.set_cert("\xff\xff\xff");
  garbage.set_signature(good.signature());
  EXPECT_EQ(
      FieldNodes().WithCert(garbage, &genesis(), genesis()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(FieldNodesTest, CertificateOfAnotherAgencysNodeIsRefused) {
  // MY.NCB cannot sign for PH.CG's node.
  absl::StatusOr<proto::SignedNodeCert> signed_cert =
      SignNodeCert(CertOf(Who("PH.CG/CUTTER")), Who("MY.NCB"), genesis());
  EXPECT_EQ(signed_cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(signed_cert.status().message(),
              HasSubstr("PH.CG/CUTTER is not a node of MY.NCB"));

  // Made by hand, it is checked against PH.CG's key and fails.
  proto::NodeCert cert = CertOf(Who("PH.CG/CUTTER"));
  absl::StatusOr<std::optional<FieldNodes>> next = FieldNodes().WithCert(
      RawSigned(cert, Who("MY.NCB")), &genesis(), genesis());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(next.status().message(), HasSubstr("PH.CG's key"));

  // A node of an agency that is no member: no key to check against.
  cert.set_node("XX.NCB/SHIP");
  next = FieldNodes().WithCert(RawSigned(cert, Who("MY.NCB")), &genesis(),
                               genesis());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(next.status().message(), HasSubstr("XX.NCB is not a member"));

  // An agency id where a node id belongs.
  cert.set_node("MY.NCB");
  next = FieldNodes().WithCert(RawSigned(cert, Who("MY.NCB")), &genesis(),
                               genesis());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  signed_cert = SignNodeCert(cert, Who("MY.NCB"), genesis());
  EXPECT_EQ(signed_cert.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FieldNodesTest, MalformedKeysAreInvalidArgument) {
  const proto::NodeCert good = CertOf(Who("MY.NCB/SHIP1"));
  std::vector<proto::NodeCert> bad(9, good);
  bad[0].set_sign_pk(good.sign_pk().substr(1));
  bad[1].set_sign_pk(good.sign_pk() + "x");
  bad[2].set_box_pk(good.box_pk().substr(1));
  bad[3].clear_box_pk();
  bad[4].set_tls_cert_sha256(good.tls_cert_sha256().substr(1));
  bad[5].clear_tls_cert_sha256();
  // A low-order X25519 point: every shared secret with it is known.
  bad[6].set_box_pk(std::string(crypto::BoxPublicKey::kSize, '\0'));
  bad[7].set_name(std::string(257, 'n'));
  for (int i = 0; i < 17; ++i) bad[8].add_endpoints("e.example:1");
  for (size_t i = 0; i < bad.size(); ++i) {
    absl::StatusOr<std::optional<FieldNodes>> next = FieldNodes().WithCert(
        RawSigned(bad[i], Who("MY.NCB")), &genesis(), genesis());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument)
        << i << ": " << next.status();
    // SignNodeCert runs the same checks before anything leaves the node.
    EXPECT_EQ(SignNodeCert(bad[i], Who("MY.NCB"), genesis()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << i;
  }
}

TEST_F(FieldNodesTest, KeysAndCertificatesAreNeverShared) {
  const FieldNodes nodes = With(FieldNodes(), "MY.NCB/SHIP1");
  const proto::Member& member = *genesis().Find("PH.CG");
  const proto::NodeCert ship1 = nodes.Find("MY.NCB/SHIP1")->cert;
  std::vector<proto::NodeCert> clashing(7, CertOf(Who("MY.NCB/SHIP2")));
  clashing[0].set_sign_pk(member.sign_pk());
  clashing[1].set_box_pk(member.box_pk());
  clashing[2].set_tls_cert_sha256(member.tls_cert_sha256());
  clashing[3].set_sign_pk(ship1.sign_pk());
  clashing[4].set_box_pk(ship1.box_pk());
  clashing[5].set_tls_cert_sha256(ship1.tls_cert_sha256());
  // Its own agency's keys, too.
  clashing[6].set_tls_cert_sha256(genesis().Find("MY.NCB")->tls_cert_sha256());
  for (size_t i = 0; i < clashing.size(); ++i) {
    clashing[i].set_roster_version(0);
    absl::StatusOr<std::optional<FieldNodes>> next = nodes.WithCert(
        RawSigned(clashing[i], Who("MY.NCB")), &genesis(), genesis());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kAlreadyExists)
        << i << ": " << next.status();
  }
  // Another agency's node may not take them either.
  proto::NodeCert cutter = CertOf(Who("PH.CG/CUTTER"));
  cutter.set_tls_cert_sha256(ship1.tls_cert_sha256());
  EXPECT_EQ(
      nodes.WithCert(RawSigned(cutter, Who("PH.CG")), &genesis(), genesis())
          .status()
          .code(),
      absl::StatusCode::kAlreadyExists);
  // A revoked node's keys stay taken.
  absl::StatusOr<std::optional<FieldNodes>> revoked = nodes.WithRevocation(
      Revoked(nodes, "MY.NCB/SHIP1", {}), &genesis(), genesis());
  ASSERT_TRUE(revoked.ok() && revoked->has_value()) << revoked.status();
  EXPECT_EQ((*revoked)
                ->WithCert(RawSigned(clashing[3], Who("MY.NCB")), &genesis(),
                           genesis())
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(FieldNodesTest, SecondCertificateForOneIdIsRefusedAndTheFirstKept) {
  const FieldNodes nodes = With(FieldNodes(), "MY.NCB/SHIP1");
  const std::string first = nodes.Find("MY.NCB/SHIP1")->signed_cert.cert();
  // Same id, new keys: e.g. the ship's disk was replaced.
  proto::NodeCert second = CertOf(crypto::Identity::Generate("MY.NCB/SHIP1"));
  absl::StatusOr<proto::SignedNodeCert> signed_second =
      SignNodeCert(second, Who("MY.NCB"), genesis());
  ASSERT_TRUE(signed_second.ok()) << signed_second.status();
  absl::StatusOr<std::optional<FieldNodes>> next =
      nodes.WithCert(*signed_second, &genesis(), genesis());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(next.status().message(), HasSubstr("the first one is kept"));
  // Same keys, only the issue time differs: still a different certificate.
  proto::NodeCert reissued = nodes.Find("MY.NCB/SHIP1")->cert;
  reissued.set_issued_unix_ms(kIssued + 1);
  EXPECT_EQ(
      nodes.WithCert(RawSigned(reissued, Who("MY.NCB")), &genesis(), genesis())
          .status()
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(nodes.Find("MY.NCB/SHIP1")->signed_cert.cert(), first);
}

TEST_F(FieldNodesTest, CertificateUnderARosterNotReachedIsRosterAhead) {
  proto::NodeCert cert = CertOf(Who("MY.NCB/SHIP1"));
  cert.set_roster_version(1);
  absl::StatusOr<std::optional<FieldNodes>> next =
      FieldNodes().WithCert(RawSigned(cert, Who("MY.NCB")), nullptr, genesis());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(next.status().message()), StartsWith("roster_ahead"));
  EXPECT_THAT(next.status().message(), HasSubstr("v1"));

  absl::StatusOr<std::optional<FieldNodes>> revocation =
      FieldNodes().WithRevocation(
          Revoked(With(FieldNodes(), "MY.NCB/SHIP1"), "MY.NCB/SHIP1", {}),
          nullptr, genesis());
  EXPECT_EQ(revocation.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(revocation.status().message()),
              StartsWith("roster_ahead"));
}

TEST_F(FieldNodesTest, RosterAheadIsTyped) {
  proto::NodeCert cert = CertOf(Who("MY.NCB/SHIP1"));
  cert.set_roster_version(1);
  absl::StatusOr<std::optional<FieldNodes>> next =
      FieldNodes().WithCert(RawSigned(cert, Who("MY.NCB")), nullptr, genesis());
  EXPECT_TRUE(IsRosterAhead(next.status())) << next.status();
  EXPECT_EQ(ChainRefusalOf(next.status()), ChainRefusal::kRosterAhead);
  EXPECT_FALSE(IsBehind(next.status()));
  // Not an envelope refusal: RejectReasonOf stays for those.
  EXPECT_EQ(RejectReasonOf(next.status()), std::nullopt);

  absl::StatusOr<std::optional<FieldNodes>> revocation =
      FieldNodes().WithRevocation(
          Revoked(With(FieldNodes(), "MY.NCB/SHIP1"), "MY.NCB/SHIP1", {}),
          nullptr, genesis());
  EXPECT_TRUE(IsRosterAhead(revocation.status())) << revocation.status();

  // Any other refusal is not.
  proto::NodeCert foreign = CertOf(Who("MY.NCB/SHIP1"));
  absl::StatusOr<std::optional<FieldNodes>> forged = FieldNodes().WithCert(
      RawSigned(foreign, Who("ID.NCB")), &genesis(), genesis());
  EXPECT_FALSE(forged.ok());
  EXPECT_FALSE(IsRosterAhead(forged.status())) << forged.status();
}

TEST_F(FieldNodesTest, AnAgencyHasAtMostTheMaximumOfFieldNodes) {
  FieldNodes nodes;
  for (size_t i = 0; i < kMaxFieldNodesPerAgency; ++i) {
    const crypto::Identity node =
        crypto::Identity::Generate(absl::StrCat("MY.NCB/S", i));
    absl::StatusOr<proto::SignedNodeCert> signed_cert =
        SignNodeCert(CertOf(node), Who("MY.NCB"), genesis());
    ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
    absl::StatusOr<std::optional<FieldNodes>> next =
        nodes.WithCert(*signed_cert, &genesis(), genesis());
    ASSERT_TRUE(next.ok() && next->has_value()) << i << ": " << next.status();
    nodes = **std::move(next);
  }
  absl::StatusOr<std::optional<FieldNodes>> one_more =
      nodes.WithCert(Certified("MY.NCB/SHIP1"), &genesis(), genesis());
  EXPECT_EQ(one_more.status().code(), absl::StatusCode::kResourceExhausted);
  // Revocations of unknown nodes count too.
  proto::NodeRevocation revocation;
  revocation.set_node("MY.NCB/SHIP1");
  revocation.set_sign_pk(Who("MY.NCB/SHIP1").verify_key().str());
  EXPECT_EQ(nodes
                .WithRevocation(RawSigned(revocation, Who("MY.NCB")),
                                &genesis(), genesis())
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  // A revoked one frees its slot (its id is never reused).
  absl::StatusOr<std::optional<FieldNodes>> revoked = nodes.WithRevocation(
      Revoked(nodes, "MY.NCB/S0", {}), &genesis(), genesis());
  ASSERT_TRUE(revoked.ok() && revoked->has_value()) << revoked.status();
  absl::StatusOr<std::optional<FieldNodes>> replaced =
      (*revoked)->WithCert(Certified("MY.NCB/SHIP1"), &genesis(), genesis());
  EXPECT_TRUE(replaced.ok() && replaced->has_value()) << replaced.status();
  proto::NodeCert again = CertOf(crypto::Identity::Generate("MY.NCB/S0"));
  EXPECT_EQ(
      (*revoked)
          ->WithCert(RawSigned(again, Who("MY.NCB")), &genesis(), genesis())
          .status()
          .code(),
      absl::StatusCode::kAlreadyExists);
  // Other agencies are not affected.
  absl::StatusOr<std::optional<FieldNodes>> cutter =
      nodes.WithCert(Certified("PH.CG/CUTTER"), &genesis(), genesis());
  EXPECT_TRUE(cutter.ok() && cutter->has_value()) << cutter.status();
}

// --- Revocations -------------------------------------------------------------

TEST_F(FieldNodesTest, RevokedNodeSignsOnlyUpToItsCuts) {
  const FieldNodes nodes =
      With(With(FieldNodes(), "MY.NCB/SHIP1"), "MY.NCB/SHIP2");
  const std::string cut_feed = Feed('a');
  const std::string other_feed = Feed('b');
  const proto::SignedNodeRevocation signed_revocation =
      Revoked(nodes, "MY.NCB/SHIP1", {Cut(cut_feed, 5)});
  absl::StatusOr<std::optional<FieldNodes>> next =
      nodes.WithRevocation(signed_revocation, &genesis(), genesis());
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  const FieldNodes& revoked = **next;

  const FieldNode* entry = revoked.Find("MY.NCB/SHIP1");
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(entry->has_cert);
  ASSERT_TRUE(entry->revocation.has_value());
  EXPECT_EQ(entry->revocation->revoked_unix_ms(), kIssued + 1);
  EXPECT_EQ(revoked.Active("MY.NCB/SHIP1", genesis()), nullptr);
  EXPECT_NE(revoked.Active("MY.NCB/SHIP2", genesis()), nullptr);
  EXPECT_EQ(revoked.ActiveOf("MY.NCB", genesis()).size(), 1u);

  for (uint64_t seq : {uint64_t{1}, uint64_t{5}}) {
    absl::StatusOr<crypto::VerifyKey> key =
        revoked.SignerKey("MY.NCB/SHIP1", cut_feed, seq, genesis());
    ASSERT_TRUE(key.ok()) << seq << ": " << key.status();
    EXPECT_EQ(*key, Who("MY.NCB/SHIP1").verify_key());
  }
  absl::StatusOr<crypto::VerifyKey> past =
      revoked.SignerKey("MY.NCB/SHIP1", cut_feed, 6, genesis());
  EXPECT_EQ(RejectReasonOf(past.status()), RejectReason::kRevoked);
  EXPECT_THAT(past.status().message(), HasSubstr("revoked by its agency"));
  // A feed the revocation does not cut: nothing of it holds.
  absl::StatusOr<crypto::VerifyKey> uncut =
      revoked.SignerKey("MY.NCB/SHIP1", other_feed, 1, genesis());
  EXPECT_EQ(RejectReasonOf(uncut.status()), RejectReason::kRevoked);
  // The other node is untouched.
  EXPECT_TRUE(revoked.SignerKey("MY.NCB/SHIP2", cut_feed, 100, genesis()).ok());
  // Nor did the set it came from change.
  EXPECT_NE(nodes.Active("MY.NCB/SHIP1", genesis()), nullptr);

  // The same revocation again is known; another one is refused.
  absl::StatusOr<std::optional<FieldNodes>> again =
      revoked.WithRevocation(signed_revocation, &genesis(), genesis());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
  absl::StatusOr<std::optional<FieldNodes>> other =
      revoked.WithRevocation(Revoked(nodes, "MY.NCB/SHIP1", {Cut(cut_feed, 9)}),
                             &genesis(), genesis());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(other.status().message(), HasSubstr("first revocation is kept"));
  EXPECT_EQ(revoked.Find("MY.NCB/SHIP1")->revocation->cuts(0).last_seq(), 5u);
}

TEST_F(FieldNodesTest, NoCertificateIsAcceptedAfterARevocation) {
  const FieldNodes certified = With(FieldNodes(), "MY.NCB/SHIP1");
  const proto::SignedNodeRevocation revocation =
      Revoked(certified, "MY.NCB/SHIP1", {});

  // The revocation first, on a node that never saw the certificate.
  absl::StatusOr<std::optional<FieldNodes>> only =
      FieldNodes().WithRevocation(revocation, &genesis(), genesis());
  ASSERT_TRUE(only.ok() && only->has_value()) << only.status();
  const FieldNode* entry = (*only)->Find("MY.NCB/SHIP1");
  ASSERT_NE(entry, nullptr);
  EXPECT_FALSE(entry->has_cert);
  EXPECT_TRUE(entry->revocation.has_value());
  EXPECT_EQ((*only)->Active("MY.NCB/SHIP1", genesis()), nullptr);
  absl::StatusOr<crypto::VerifyKey> key =
      (*only)->SignerKey("MY.NCB/SHIP1", Feed('a'), 1, genesis());
  EXPECT_FALSE(key.ok());

  // Then the certificate it ends: kept, never active, so that what the
  // node signed up to the cuts still verifies here.
  absl::StatusOr<std::optional<FieldNodes>> late = (*only)->WithCert(
      certified.Find("MY.NCB/SHIP1")->signed_cert, &genesis(), genesis());
  ASSERT_TRUE(late.ok() && late->has_value()) << late.status();
  EXPECT_EQ((*late)->Active("MY.NCB/SHIP1", genesis()), nullptr);
  EXPECT_TRUE((*late)->Find("MY.NCB/SHIP1")->has_cert);
  EXPECT_TRUE((*late)->Find("MY.NCB/SHIP1")->revocation.has_value());
  // Any other certificate for the id is refused, now and for good.
  absl::StatusOr<std::optional<FieldNodes>> fresh = (*only)->WithCert(
      RawSigned(CertOf(crypto::Identity::Generate("MY.NCB/SHIP1")),
                Who("MY.NCB")),
      &genesis(), genesis());
  EXPECT_EQ(fresh.status().code(), absl::StatusCode::kAlreadyExists);

  // After the certificate and its revocation: a new certificate for the id.
  absl::StatusOr<std::optional<FieldNodes>> both =
      certified.WithRevocation(revocation, &genesis(), genesis());
  ASSERT_TRUE(both.ok() && both->has_value()) << both.status();
  absl::StatusOr<proto::SignedNodeCert> recertified =
      SignNodeCert(CertOf(crypto::Identity::Generate("MY.NCB/SHIP1")),
                   Who("MY.NCB"), genesis());
  ASSERT_TRUE(recertified.ok()) << recertified.status();
  late = (*both)->WithCert(*recertified, &genesis(), genesis());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(late.status().message(), HasSubstr("was revoked"));
}

TEST_F(FieldNodesTest, RevocationByAnotherAgencyOrOfAnotherKeyIsRefused) {
  const FieldNodes nodes = With(FieldNodes(), "MY.NCB/SHIP1");
  const proto::NodeCert& cert = nodes.Find("MY.NCB/SHIP1")->cert;

  // PH.CG cannot revoke MY.NCB's node: SignNodeRevocation says so, and by
  // hand the signature does not verify under MY.NCB's key.
  absl::StatusOr<proto::SignedNodeRevocation> signed_revocation =
      SignNodeRevocation(cert, {}, kIssued, Who("PH.CG"), genesis());
  EXPECT_EQ(signed_revocation.status().code(),
            absl::StatusCode::kInvalidArgument);
  proto::NodeRevocation revocation;
  revocation.set_node("MY.NCB/SHIP1");
  revocation.set_sign_pk(cert.sign_pk());
  for (const char* signer : {"PH.CG", "MY.NCB/SHIP1", "MY.NCB/SHIP2"}) {
    absl::StatusOr<std::optional<FieldNodes>> next = nodes.WithRevocation(
        RawSigned(revocation, Who(signer)), &genesis(), genesis());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated)
        << signer;
  }
  // Nor may a member's key other than the roster's sign it.
  signed_revocation = SignNodeRevocation(
      cert, {}, kIssued, crypto::Identity::Generate("MY.NCB"), genesis());
  EXPECT_EQ(signed_revocation.status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Tampered after signing.
  proto::SignedNodeRevocation tampered = Revoked(nodes, "MY.NCB/SHIP1", {});
  (*tampered.mutable_signature())[3] ^= 0x40;
  EXPECT_EQ(
      nodes.WithRevocation(tampered, &genesis(), genesis()).status().code(),
      absl::StatusCode::kUnauthenticated);

  // Signed by MY.NCB, but naming a key the certificate does not hold.
  revocation.set_sign_pk(Who("MY.NCB/SHIP2").verify_key().str());
  absl::StatusOr<std::optional<FieldNodes>> other_key = nodes.WithRevocation(
      RawSigned(revocation, Who("MY.NCB")), &genesis(), genesis());
  EXPECT_EQ(other_key.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(nodes.Active("MY.NCB/SHIP1", genesis()), nullptr);
}

TEST_F(FieldNodesTest, MalformedRevocationsAreInvalidArgument) {
  const FieldNodes nodes = With(FieldNodes(), "MY.NCB/SHIP1");
  proto::NodeRevocation good;
  good.set_node("MY.NCB/SHIP1");
  good.set_sign_pk(Who("MY.NCB/SHIP1").verify_key().str());
  std::vector<proto::NodeRevocation> bad(5, good);
  bad[0].set_node("MY.NCB");
  bad[1].set_sign_pk("short");
  *bad[2].add_cuts() = Cut("short", 1);
  // Cuts must be sorted and unique by feed.
  *bad[3].add_cuts() = Cut(Feed('b'), 1);
  *bad[3].add_cuts() = Cut(Feed('a'), 1);
  *bad[4].add_cuts() = Cut(Feed('a'), 1);
  *bad[4].add_cuts() = Cut(Feed('a'), 2);
  for (size_t i = 0; i < bad.size(); ++i) {
    absl::StatusOr<std::optional<FieldNodes>> next = nodes.WithRevocation(
        RawSigned(bad[i], Who("MY.NCB")), &genesis(), genesis());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument)
        << i << ": " << next.status();
  }
  proto::SignedNodeRevocation garbage;
  garbage.set_revocation("\xff\xff");
  EXPECT_EQ(
      nodes.WithRevocation(garbage, &genesis(), genesis()).status().code(),
      absl::StatusCode::kInvalidArgument);

  // SignNodeRevocation sorts the cuts it is given.
  absl::StatusOr<proto::SignedNodeRevocation> sorted = SignNodeRevocation(
      nodes.Find("MY.NCB/SHIP1")->cert, {Cut(Feed('c'), 3), Cut(Feed('a'), 1)},
      kIssued, Who("MY.NCB"), genesis());
  ASSERT_TRUE(sorted.ok()) << sorted.status();
  absl::StatusOr<std::optional<FieldNodes>> next =
      nodes.WithRevocation(*sorted, &genesis(), genesis());
  ASSERT_TRUE(next.ok() && next->has_value()) << next.status();
  EXPECT_TRUE((*next)->SignerKey("MY.NCB/SHIP1", Feed('c'), 3, genesis()).ok());
  EXPECT_FALSE(
      (*next)->SignerKey("MY.NCB/SHIP1", Feed('c'), 4, genesis()).ok());
}

TEST_F(FieldNodesTest, UnknownNodeIsUnknownNode) {
  const FieldNodes nodes = With(FieldNodes(), "MY.NCB/SHIP1");
  for (const char* origin : {"MY.NCB/SHIP2", "PH.CG/CUTTER", "MY.NCB/\x1b"}) {
    absl::StatusOr<crypto::VerifyKey> key =
        nodes.SignerKey(origin, Feed('a'), 1, genesis());
    EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kUnknownNode)
        << origin;
    EXPECT_THAT(key.status().message(), Not(HasSubstr("\x1b")));
  }
  EXPECT_EQ(nodes.Find("MY.NCB/SHIP2"), nullptr);
  EXPECT_EQ(nodes.Active("MY.NCB/SHIP2", genesis()), nullptr);
}

// --- Against the roster as it moves on
// -----------------------------------------

TEST_F(FieldNodesTest, RemovingTheAgencyInvalidatesItsNodes) {
  const FieldNodes nodes =
      With(With(FieldNodes(), "MY.NCB/SHIP1"), "PH.CG/CUTTER");
  const Roster v1 = Apply(
      genesis(),
      Update(genesis(), Without(genesis(), "MY.NCB"), {"PH.CG", "ID.NCB"}));
  EXPECT_EQ(nodes.Active("MY.NCB/SHIP1", v1), nullptr);
  EXPECT_NE(nodes.Active("PH.CG/CUTTER", v1), nullptr);
  EXPECT_THAT(nodes.ActiveOf("MY.NCB", v1), IsEmpty());
  absl::StatusOr<crypto::VerifyKey> key =
      nodes.SignerKey("MY.NCB/SHIP1", Feed('a'), 1, v1);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kRevoked);
  EXPECT_THAT(key.status().message(), HasSubstr("no longer a member"));
  EXPECT_TRUE(nodes.SignerKey("PH.CG/CUTTER", Feed('a'), 1, v1).ok());

  // Certificates signed under the genesis by the removed agency: refused.
  absl::StatusOr<std::optional<FieldNodes>> late =
      FieldNodes().WithCert(Certified("MY.NCB/SHIP2"), &genesis(), v1);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("not a member of roster v1"));
}

TEST_F(FieldNodesTest, MembershipJudgesNodesAgainstTheCurrentRoster) {
  std::unique_ptr<Membership> membership = OpenMembership();
  ASSERT_NE(membership, nullptr);
  ASSERT_TRUE(
      membership->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB")).ok());
  ASSERT_TRUE(
      membership->CertifyNode(CertOf(Who("PH.CG/CUTTER")), Who("PH.CG")).ok());
  ASSERT_TRUE(membership->chain()->IsActive("MY.NCB/SHIP1"));

  // MY.NCB's key is stolen: it is revoked and replaced. The certificate it
  // signed no longer holds; the new key certifies a new id.
  const crypto::Identity new_key = crypto::Identity::Generate("MY.NCB");
  ASSERT_NO_FATAL_FAILURE(RekeyMyNcb(*membership, new_key, true));
  std::shared_ptr<const RosterChain> chain = membership->chain();
  ASSERT_EQ(chain->version(), 1u);
  EXPECT_FALSE(chain->IsActive("MY.NCB/SHIP1"));
  EXPECT_EQ(chain->nodes().Active("MY.NCB/SHIP1", chain->current()), nullptr);
  EXPECT_FALSE(chain->VerifyKeyOf("MY.NCB/SHIP1").has_value());
  EXPECT_FALSE(chain->TlsFingerprintOf("MY.NCB/SHIP1").has_value());
  EXPECT_FALSE(chain->IsPinned(*crypto::Sha256::FromBytes(
      CertOf(Who("MY.NCB/SHIP1")).tls_cert_sha256())));
  absl::StatusOr<crypto::VerifyKey> key =
      chain->SignerKey("MY.NCB/SHIP1", 0, Feed('a'), 1);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kRevoked);
  EXPECT_THAT(key.status().message(), HasSubstr("revoked at roster v1"));
  EXPECT_TRUE(chain->IsActive("PH.CG/CUTTER"));

  // The stolen key cannot certify more, even claiming the old version.
  absl::StatusOr<proto::SignedNodeCert> stolen =
      SignNodeCert(CertOf(Who("MY.NCB/SHIP2")), Who("MY.NCB"), genesis());
  ASSERT_TRUE(stolen.ok()) << stolen.status();
  absl::StatusOr<bool> offered = membership->OfferNodeCert(*stolen);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(offered.status().message(), HasSubstr("revoked at v1"));
  EXPECT_EQ(membership->chain()->nodes().Find("MY.NCB/SHIP2"), nullptr);
  EXPECT_EQ(membership->CertifyNode(CertOf(Who("MY.NCB/SHIP2")), Who("MY.NCB"))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  // The new key can.
  absl::StatusOr<proto::SignedNodeCert> fresh =
      membership->CertifyNode(CertOf(Who("MY.NCB/SHIP2")), new_key);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(membership->chain()->IsActive("MY.NCB/SHIP2"));
}

TEST_F(FieldNodesTest, RotatedAgencyKeyKeepsItsCertificatesValid) {
  std::unique_ptr<Membership> membership = OpenMembership();
  ASSERT_NE(membership, nullptr);
  ASSERT_TRUE(
      membership->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB")).ok());
  const crypto::Identity new_key = crypto::Identity::Generate("MY.NCB");
  ASSERT_NO_FATAL_FAILURE(RekeyMyNcb(*membership, new_key, false));
  ASSERT_EQ(membership->chain()->version(), 1u);
  // A planned rotation is no compromise: the ship keeps working.
  EXPECT_TRUE(membership->chain()->IsActive("MY.NCB/SHIP1"));
  EXPECT_TRUE(
      membership->chain()->SignerKey("MY.NCB/SHIP1", 1, Feed('a'), 9).ok());
}

// --- The membership
// ------------------------------------------------------------

TEST_F(FieldNodesTest, MembershipCertifiesRevokesAndGossipsNodes) {
  std::unique_ptr<Membership> agency_node = OpenMembership();
  std::unique_ptr<Membership> peer = OpenMembership();
  ASSERT_NE(agency_node, nullptr);
  ASSERT_NE(peer, nullptr);
  int notified = 0;
  agency_node->AddNodesListener([&](const RosterChain&) { ++notified; });

  absl::StatusOr<proto::SignedNodeCert> signed_cert =
      agency_node->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB"));
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  EXPECT_EQ(notified, 1);
  std::shared_ptr<const RosterChain> chain = agency_node->chain();
  const FieldNode* entry = chain->nodes().Find("MY.NCB/SHIP1");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->signed_cert.SerializeAsString(),
            signed_cert->SerializeAsString());
  EXPECT_TRUE(chain->IsActive("MY.NCB/SHIP1"));
  EXPECT_EQ(chain->VerifyKeyOf("MY.NCB/SHIP1"),
            Who("MY.NCB/SHIP1").verify_key());
  EXPECT_EQ(chain->TlsFingerprintOf("MY.NCB/SHIP1")->str(),
            PlaceholderTlsFingerprint(Who("MY.NCB/SHIP1")).str());
  EXPECT_TRUE(chain->IsPinned(PlaceholderTlsFingerprint(Who("MY.NCB/SHIP1"))));
  EXPECT_EQ(chain->BoxKeyOf("MY.NCB/SHIP1", 0)->str(),
            Who("MY.NCB/SHIP1").box_public().str());
  EXPECT_EQ(chain->SignerKey("MY.NCB/SHIP1", 0, Feed('a'), 1).value(),
            Who("MY.NCB/SHIP1").verify_key());

  // A node id is certified once; another agency cannot certify it.
  EXPECT_EQ(agency_node->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB"))
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(agency_node->CertifyNode(CertOf(Who("MY.NCB/SHIP2")), Who("PH.CG"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(agency_node->OfferNodeCert(*signed_cert).value(), false);
  EXPECT_EQ(notified, 1);

  // The certificate reaches a peer by gossip.
  absl::StatusOr<bool> offered = peer->OfferNodeCert(*signed_cert);
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_TRUE(*offered);
  EXPECT_TRUE(peer->chain()->IsActive("MY.NCB/SHIP1"));

  // Revoked by the agency alone.
  EXPECT_EQ(agency_node->RevokeNode("MY.NCB/SHIP1", Who("PH.CG"), kIssued)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(agency_node->RevokeNode("MY.NCB/SHIP2", Who("MY.NCB"), kIssued)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<proto::SignedNodeRevocation> revocation =
      agency_node->RevokeNode("MY.NCB/SHIP1", Who("MY.NCB"), kIssued + 7);
  ASSERT_TRUE(revocation.ok()) << revocation.status();
  EXPECT_EQ(notified, 2);
  chain = agency_node->chain();
  entry = chain->nodes().Find("MY.NCB/SHIP1");
  ASSERT_NE(entry, nullptr);
  ASSERT_TRUE(entry->revocation.has_value());
  EXPECT_EQ(entry->revocation->revoked_unix_ms(), kIssued + 7);
  EXPECT_THAT(entry->revocation->cuts(), IsEmpty()) << "no log, no cuts";
  EXPECT_FALSE(chain->IsActive("MY.NCB/SHIP1"));
  EXPECT_FALSE(chain->VerifyKeyOf("MY.NCB/SHIP1").has_value());
  EXPECT_FALSE(chain->IsPinned(PlaceholderTlsFingerprint(Who("MY.NCB/SHIP1"))));
  EXPECT_EQ(RejectReasonOf(
                chain->SignerKey("MY.NCB/SHIP1", 0, Feed('a'), 1).status()),
            RejectReason::kRevoked);
  EXPECT_EQ(agency_node->RevokeNode("MY.NCB/SHIP1", Who("MY.NCB"), kIssued)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);

  offered = peer->OfferNodeRevocation(*revocation);
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_TRUE(*offered);
  EXPECT_FALSE(peer->chain()->IsActive("MY.NCB/SHIP1"));
  EXPECT_EQ(peer->OfferNodeRevocation(*revocation).value(), false);
}

TEST_F(FieldNodesTest, CertificatesAndRevocationsSurviveARestart) {
  tidings::testing::TempDir temp("field_nodes_test");
  const std::string& dir = temp.path();
  auto open_log = [&] {
    absl::StatusOr<std::unique_ptr<storage::Log>> log =
        storage::Log::Open({.path = dir, .sync = false});
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  };
  {
    std::unique_ptr<storage::Log> log = open_log();
    ASSERT_NE(log, nullptr);
    absl::StatusOr<std::unique_ptr<Membership>> membership =
        Membership::Open(genesis(), log.get());
    ASSERT_TRUE(membership.ok()) << membership.status();
    for (const char* node : {"MY.NCB/SHIP1", "MY.NCB/SHIP2"}) {
      ASSERT_TRUE(
          (*membership)->CertifyNode(CertOf(Who(node)), Who("MY.NCB")).ok());
    }
    ASSERT_TRUE(
        (*membership)->RevokeNode("MY.NCB/SHIP2", Who("MY.NCB"), kIssued).ok());
  }
  std::unique_ptr<storage::Log> log = open_log();
  ASSERT_NE(log, nullptr);
  absl::StatusOr<std::unique_ptr<Membership>> membership =
      Membership::Open(genesis(), log.get());
  ASSERT_TRUE(membership.ok()) << membership.status();
  std::shared_ptr<const RosterChain> chain = (*membership)->chain();
  EXPECT_TRUE(chain->IsActive("MY.NCB/SHIP1"));
  const FieldNode* ship2 = chain->nodes().Find("MY.NCB/SHIP2");
  ASSERT_NE(ship2, nullptr);
  EXPECT_TRUE(ship2->has_cert);
  EXPECT_TRUE(ship2->revocation.has_value());
  EXPECT_FALSE(chain->IsActive("MY.NCB/SHIP2"));
  log.reset();
}

TEST_F(FieldNodesTest, CertificateUnderALaterRosterIsHeldUntilItArrives) {
  std::unique_ptr<Membership> ahead = OpenMembership();
  std::unique_ptr<Membership> behind = OpenMembership();
  ASSERT_NE(ahead, nullptr);
  ASSERT_NE(behind, nullptr);
  int notified = 0;
  behind->AddNodesListener([&](const RosterChain& chain) {
    ++notified;
    EXPECT_TRUE(chain.IsActive("MY.NCB/SHIP1"));
  });

  // v1 (ID.NCB moves) reaches `ahead` first, and MY.NCB certifies there.
  const proto::SignedRoster v1 = IdNcbMoves();
  ASSERT_EQ(ahead->Offer(v1).value(), Offered::kApplied);
  absl::StatusOr<proto::SignedNodeCert> signed_cert =
      ahead->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB"));
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  proto::NodeCert cert;
  ASSERT_TRUE(cert.ParseFromString(signed_cert->cert()));
  EXPECT_EQ(cert.roster_version(), 1u);

  absl::StatusOr<bool> offered = behind->OfferNodeCert(*signed_cert);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(offered.status().message()),
              StartsWith("roster_ahead"));
  EXPECT_EQ(behind->chain()->nodes().Find("MY.NCB/SHIP1"), nullptr);

  ASSERT_EQ(behind->Offer(v1).value(), Offered::kApplied);
  const FieldNode* entry = behind->chain()->nodes().Find("MY.NCB/SHIP1");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->signed_cert.SerializeAsString(),
            signed_cert->SerializeAsString());
  EXPECT_TRUE(behind->chain()->IsActive("MY.NCB/SHIP1"));
  // Node listeners run for each accepted certificate (membership.h), held
  // ones included: they gossip it on and let its links in.
  EXPECT_EQ(notified, 1);
  EXPECT_EQ(behind->OfferNodeCert(*signed_cert).value(), false);
}

TEST_F(FieldNodesTest, RevocationUnderALaterRosterIsHeldUntilItArrives) {
  std::unique_ptr<Membership> ahead = OpenMembership();
  std::unique_ptr<Membership> behind = OpenMembership();
  ASSERT_NE(ahead, nullptr);
  ASSERT_NE(behind, nullptr);
  absl::StatusOr<proto::SignedNodeCert> signed_cert =
      ahead->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB"));
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  ASSERT_TRUE(behind->OfferNodeCert(*signed_cert).value());

  const proto::SignedRoster v1 = IdNcbMoves();
  ASSERT_EQ(ahead->Offer(v1).value(), Offered::kApplied);
  absl::StatusOr<proto::SignedNodeRevocation> revocation =
      ahead->RevokeNode("MY.NCB/SHIP1", Who("MY.NCB"), kIssued);
  ASSERT_TRUE(revocation.ok()) << revocation.status();

  absl::StatusOr<bool> offered = behind->OfferNodeRevocation(*revocation);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(offered.status().message()),
              StartsWith("roster_ahead"));
  EXPECT_TRUE(behind->chain()->IsActive("MY.NCB/SHIP1"));
  ASSERT_EQ(behind->Offer(v1).value(), Offered::kApplied);
  EXPECT_FALSE(behind->chain()->IsActive("MY.NCB/SHIP1"));
}

TEST_F(FieldNodesTest, JunkFromTheFutureDoesNotCrowdOutAHeldCertificate) {
  std::unique_ptr<Membership> ahead = OpenMembership();
  std::unique_ptr<Membership> behind = OpenMembership();
  ASSERT_NE(ahead, nullptr);
  ASSERT_NE(behind, nullptr);
  // A hostile peer offers records under a version far ahead that no honest
  // agency signed (they cannot be checked until then, so they are held).
  for (int i = 0; i < 100; ++i) {
    proto::NodeCert junk =
        CertOf(crypto::Identity::Generate(absl::StrCat("MY.NCB/J", i)));
    junk.set_roster_version(1000000);
    proto::SignedNodeCert signed_junk;
    signed_junk.set_cert(junk.SerializeAsString());
    signed_junk.set_signature(std::string(64, 'j'));
    EXPECT_FALSE(behind->OfferNodeCert(signed_junk).ok());
  }
  const proto::SignedRoster v1 = IdNcbMoves();
  ASSERT_EQ(ahead->Offer(v1).value(), Offered::kApplied);
  absl::StatusOr<proto::SignedNodeCert> signed_cert =
      ahead->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB"));
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  EXPECT_FALSE(behind->OfferNodeCert(*signed_cert).ok());
  ASSERT_EQ(behind->Offer(v1).value(), Offered::kApplied);
  EXPECT_TRUE(behind->chain()->IsActive("MY.NCB/SHIP1"))
      << "the honest certificate for v1 was dropped: the held queue was full "
         "of records for v1000000";
}

// A revocation only takes rights away: it stays valid when the agency key
// that signed it is revoked later, so a node that restarts or joins then
// still treats the field node as revoked.
TEST_F(FieldNodesTest, RevocationOutlivesTheAgencyKeyThatSignedIt) {
  std::unique_ptr<Membership> membership = OpenMembership();
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<proto::SignedNodeCert> cert =
      membership->CertifyNode(CertOf(Who("MY.NCB/SHIP1")), Who("MY.NCB"));
  ASSERT_TRUE(cert.ok()) << cert.status();
  // MY.NCB's key is rotated (K1 -> K2, not revoked); K2 revokes the ship.
  const crypto::Identity k2 = crypto::Identity::Generate("MY.NCB");
  ASSERT_NO_FATAL_FAILURE(RekeyMyNcb(*membership, k2, false));
  absl::StatusOr<proto::SignedNodeRevocation> revocation =
      membership->RevokeNode("MY.NCB/SHIP1", k2, kIssued + 5);
  ASSERT_TRUE(revocation.ok()) << revocation.status();
  // Then K2 is stolen and revoked (K2 -> K3).
  ASSERT_NO_FATAL_FAILURE(
      RekeyMyNcb(*membership, crypto::Identity::Generate("MY.NCB"), true));
  const std::shared_ptr<const RosterChain> chain = membership->chain();
  ASSERT_EQ(chain->version(), 2u);
  EXPECT_FALSE(chain->IsActive("MY.NCB/SHIP1"));

  // A node that starts now: the certificate (K1, never revoked) holds, and
  // the revocation signed with K2 still ends it.
  absl::StatusOr<std::optional<FieldNodes>> fresh =
      FieldNodes().WithCert(*cert, chain->at(0), chain->current());
  ASSERT_TRUE(fresh.ok() && fresh->has_value()) << fresh.status();
  absl::StatusOr<std::optional<FieldNodes>> ended =
      (*fresh)->WithRevocation(*revocation, chain->at(1), chain->current());
  ASSERT_TRUE(ended.ok() && ended->has_value()) << ended.status();
  EXPECT_EQ((*ended)->Active("MY.NCB/SHIP1", chain->current()), nullptr);

  // The stolen K2 cannot pre-empt nodes it never saw: a revocation of an
  // unknown node, or of one certified after its roster, is refused.
  proto::NodeRevocation unknown;
  unknown.set_node("MY.NCB/SHIP2");
  unknown.set_sign_pk(Who("MY.NCB/SHIP2").verify_key().str());
  unknown.set_roster_version(1);
  EXPECT_EQ(FieldNodes()
                .WithRevocation(RawSigned(unknown, k2), chain->at(1),
                                chain->current())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// A revocation is bounded however many feeds the node opened: its longest
// feeds keep their cuts, the rest are cut at 0.
TEST_F(FieldNodesTest, RevocationKeepsTheLongestFeedsWithinItsBound) {
  const FieldNodes certified = With(FieldNodes(), "MY.NCB/SHIP1");
  std::vector<proto::FeedCut> cuts;
  for (size_t i = 0; i < kMaxNodeRevocationCuts + 100; ++i) {
    std::string feed(crypto::Hash256::kSize, '\0');
    feed[0] = static_cast<char>(i & 0xff);
    feed[1] = static_cast<char>(i >> 8);
    // 100 long feeds, the rest one envelope each.
    cuts.push_back(Cut(feed, i < 100 ? 1000 + i : 1));
  }
  absl::StatusOr<proto::SignedNodeRevocation> revocation =
      SignNodeRevocation(certified.Find("MY.NCB/SHIP1")->cert, cuts, kIssued,
                         Who("MY.NCB"), genesis());
  ASSERT_TRUE(revocation.ok()) << revocation.status();
  EXPECT_LE(revocation->ByteSizeLong(), kMaxNodeRecordBytes);
  absl::StatusOr<std::optional<FieldNodes>> revoked =
      certified.WithRevocation(*revocation, &genesis(), genesis());
  ASSERT_TRUE(revoked.ok() && revoked->has_value()) << revoked.status();
  const proto::NodeRevocation& kept =
      *(*revoked)->Find("MY.NCB/SHIP1")->revocation;
  EXPECT_EQ(static_cast<size_t>(kept.cuts_size()), kMaxNodeRevocationCuts);
  // Every long feed kept its cut.
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_TRUE(
        (*revoked)
            ->SignerKey("MY.NCB/SHIP1", cuts[i].feed_id(), 1000 + i, genesis())
            .ok())
        << i;
  }
  // More cuts than that are refused from a peer.
  proto::NodeRevocation big = kept;
  for (size_t i = 0; i < 100; ++i)
    *big.add_cuts() = cuts[kMaxNodeRevocationCuts + i];
  std::sort(big.mutable_cuts()->begin(), big.mutable_cuts()->end(),
            [](const proto::FeedCut& a, const proto::FeedCut& b) {
              return a.feed_id() < b.feed_id();
            });
  EXPECT_EQ(
      certified
          .WithRevocation(RawSigned(big, Who("MY.NCB")), &genesis(), genesis())
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tidings::node

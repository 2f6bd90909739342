#include "node/model/roster.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/sign.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/roster.pb.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kCreated = 1700000000000;

std::vector<crypto::Identity> Founders() {
  std::vector<crypto::Identity> out;
  for (const char* agency : {"PH.CG", "MY.NCB", "ID.NCB", "SG.SPF"}) {
    out.push_back(crypto::Identity::Generate(agency));
  }
  return out;
}

std::vector<proto::Member> MembersOf(
    const std::vector<crypto::Identity>& identities) {
  std::vector<proto::Member> out;
  for (const crypto::Identity& id : identities) {
    out.push_back(PublicIdentityOf(id, absl::StrCat(id.principal(), " name"),
                                   {"127.0.0.1:7101"})
                      .member());
  }
  return out;
}

proto::SignedRoster Genesis(const std::vector<crypto::Identity>& identities,
                            uint32_t threshold) {
  absl::StatusOr<proto::SignedRoster> genesis =
      MakeGenesis("seas", threshold, MembersOf(identities), kCreated);
  EXPECT_TRUE(genesis.ok()) << genesis.status();
  return genesis.ok() ? *genesis : proto::SignedRoster();
}

proto::SignedRoster SignedBy(const std::vector<crypto::Identity>& identities,
                             uint32_t threshold) {
  proto::SignedRoster signed_roster = Genesis(identities, threshold);
  for (const crypto::Identity& id : identities) {
    EXPECT_TRUE(SignGenesis(signed_roster, id).ok());
  }
  return signed_roster;
}

// A roster built by hand (bypassing MakeGenesis's checks), signed by every
// identity over its exact bytes.
proto::SignedRoster SignRaw(const proto::Roster& roster,
                            const std::vector<crypto::Identity>& identities) {
  proto::SignedRoster out;
  out.set_roster(roster.SerializeAsString());
  for (const crypto::Identity& id : identities) {
    proto::RosterSignature* sig = out.add_signatures();
    sig->set_agency(id.principal());
    sig->set_signature(
        crypto::Sign(id.signing_key(), crypto::Domain::kRoster, out.roster())
            .str());
  }
  return out;
}

proto::Roster RawRoster(const std::vector<crypto::Identity>& identities,
                        uint32_t threshold) {
  proto::Roster roster;
  roster.set_network_name("seas");
  roster.set_threshold(threshold);
  roster.set_created_unix_ms(kCreated);
  for (proto::Member& m : MembersOf(identities)) {
    *roster.add_members() = std::move(m);
  }
  return roster;
}

TEST(ValidateAgencyIdTest, AcceptsWellFormedIds) {
  for (const char* id : {"MY.NCB", "PH.CG", "1A", "A", "A_B-C.D9",
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"}) {
    EXPECT_TRUE(ValidateAgencyId(id).ok()) << id;
  }
}

TEST(ValidateAgencyIdTest, RefusesMalformedIds) {
  for (const char* id :
       {"", "my.ncb", "My.NCB", ".NCB", "-X", "_X", "A B", "A/B", "A:B",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "A\n", "\xc3\x89T"}) {
    absl::Status status = ValidateAgencyId(id);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
  }
}

TEST(RosterTest, FullySignedGenesisVerifies) {
  const std::vector<crypto::Identity> ids = Founders();
  const proto::SignedRoster signed_roster = SignedBy(ids, 3);
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  ASSERT_TRUE(roster.ok()) << roster.status();

  EXPECT_EQ(roster->network_id(), crypto::Hash(signed_roster.roster()));
  EXPECT_THAT(roster->agencies(),
              ElementsAre("ID.NCB", "MY.NCB", "PH.CG", "SG.SPF"));
  EXPECT_EQ(roster->roster().threshold(), 3u);
  EXPECT_EQ(roster->roster().network_name(), "seas");
  EXPECT_EQ(roster->roster().created_unix_ms(), kCreated);
  EXPECT_THAT(MissingSignatures(signed_roster), IsEmpty());

  for (const crypto::Identity& id : ids) {
    ASSERT_TRUE(roster->IsMember(id.principal()));
    EXPECT_EQ(roster->Find(id.principal())->name(),
              absl::StrCat(id.principal(), " name"));
    EXPECT_EQ(roster->VerifyKeyOf(id.principal()), id.verify_key());
    EXPECT_EQ(roster->BoxKeyOf(id.principal()), id.box_public());
  }
  EXPECT_FALSE(roster->IsMember("XX.NCB"));
  EXPECT_EQ(roster->Find("XX.NCB"), nullptr);
  EXPECT_FALSE(roster->VerifyKeyOf("XX.NCB").has_value());
  EXPECT_FALSE(roster->BoxKeyOf("AA.NCB").has_value());
}

TEST(RosterTest, SigningOrderDoesNotChangeTheFile) {
  std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster a = Genesis(ids, 3);
  proto::SignedRoster b = a;
  for (const crypto::Identity& id : ids) ASSERT_TRUE(SignGenesis(a, id).ok());
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    ASSERT_TRUE(SignGenesis(b, *it).ok());
  }
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

TEST(RosterTest, MissingFounderSignatureIsNamed) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = Genesis(ids, 3);
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    ASSERT_TRUE(SignGenesis(signed_roster, ids[i]).ok());
  }
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(roster.status().message()),
              HasSubstr("not signed by founder"));
  EXPECT_THAT(std::string(roster.status().message()), HasSubstr("SG.SPF"));
  EXPECT_THAT(MissingSignatures(signed_roster), ElementsAre("SG.SPF"));
}

TEST(RosterTest, UnsignedGenesisListsEveryFounderMissing) {
  const proto::SignedRoster signed_roster = Genesis(Founders(), 3);
  EXPECT_THAT(MissingSignatures(signed_roster),
              ElementsAre("ID.NCB", "MY.NCB", "PH.CG", "SG.SPF"));
  EXPECT_EQ(Roster::FromSigned(signed_roster).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(RosterTest, MissingSignaturesAreToldByPayloadNotByText) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = Genesis(ids, 3);
  ASSERT_TRUE(SignGenesis(signed_roster, ids[0]).ok());
  EXPECT_TRUE(
      IsMissingFounderSignatures(Roster::FromSigned(signed_roster).status()));
  // The same words in another status mean nothing.
  EXPECT_FALSE(IsMissingFounderSignatures(
      absl::UnauthenticatedError("not signed by founder SG.SPF")));
  EXPECT_FALSE(IsMissingFounderSignatures(absl::OkStatus()));
  // Nor does another refusal, a forged signature, carry it.
  const crypto::Identity forger = crypto::Identity::Generate("MY.NCB");
  proto::SignedRoster forged = SignedBy(ids, 3);
  for (proto::RosterSignature& sig : *forged.mutable_signatures()) {
    if (sig.agency() == "MY.NCB") {
      sig.set_signature(crypto::Sign(forger.signing_key(),
                                     crypto::Domain::kRoster, forged.roster())
                            .str());
    }
  }
  const absl::Status refused = Roster::FromSigned(forged).status();
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(IsMissingFounderSignatures(refused));
}

TEST(RosterTest, ForgedSignatureIsRefused) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = SignedBy(ids, 3);
  // An outsider signs the right bytes, under MY.NCB's name.
  const crypto::Identity forger = crypto::Identity::Generate("MY.NCB");
  for (proto::RosterSignature& sig : *signed_roster.mutable_signatures()) {
    if (sig.agency() == "MY.NCB") {
      sig.set_signature(crypto::Sign(forger.signing_key(),
                                     crypto::Domain::kRoster,
                                     signed_roster.roster())
                            .str());
    }
  }
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(roster.status().message()),
              HasSubstr("signature by MY.NCB does not verify"));
  // A forged signature does not count as signed.
  EXPECT_THAT(MissingSignatures(signed_roster), ElementsAre("MY.NCB"));
}

TEST(RosterTest, SignatureForAnotherDomainIsRefused) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = SignedBy(ids, 3);
  proto::RosterSignature& sig = *signed_roster.mutable_signatures(0);
  const crypto::Identity* signer = nullptr;
  for (const crypto::Identity& id : ids) {
    if (id.principal() == sig.agency()) signer = &id;
  }
  ASSERT_NE(signer, nullptr);
  sig.set_signature(crypto::Sign(signer->signing_key(),
                                 crypto::Domain::kEnvelope,
                                 signed_roster.roster())
                        .str());
  EXPECT_EQ(Roster::FromSigned(signed_roster).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(RosterTest, SignatureByNonMemberIsRefused) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = SignedBy(ids, 3);
  const crypto::Identity outsider = crypto::Identity::Generate("XX.NCB");
  proto::RosterSignature* sig = signed_roster.add_signatures();
  sig->set_agency("XX.NCB");
  sig->set_signature(crypto::Sign(outsider.signing_key(),
                                  crypto::Domain::kRoster,
                                  signed_roster.roster())
                         .str());
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(roster.status().message()), HasSubstr("XX.NCB"));
  EXPECT_THAT(std::string(roster.status().message()),
              HasSubstr("not a member"));
}

TEST(RosterTest, DuplicateSignatureIsRefused) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = SignedBy(ids, 3);
  *signed_roster.add_signatures() = signed_roster.signatures(1);
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(roster.status().message()),
              HasSubstr(absl::StrCat("two signatures by ",
                                     signed_roster.signatures(1).agency())));
}

TEST(RosterTest, SignatureOfWrongSizeIsRefused) {
  proto::SignedRoster signed_roster = SignedBy(Founders(), 3);
  std::string* sig = signed_roster.mutable_signatures(2)->mutable_signature();
  sig->pop_back();
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(roster.status().message()),
              HasSubstr("63 bytes, want 64"));
}

TEST(RosterTest, TamperedBytesAfterSigningAreRefused) {
  const std::vector<crypto::Identity> ids = Founders();
  const proto::SignedRoster original = SignedBy(ids, 3);

  // Re-encoded with one field changed.
  proto::Roster roster;
  ASSERT_TRUE(roster.ParseFromString(original.roster()));
  roster.set_threshold(4);
  proto::SignedRoster tampered = original;
  tampered.set_roster(roster.SerializeAsString());
  EXPECT_EQ(Roster::FromSigned(tampered).status().code(),
            absl::StatusCode::kUnauthenticated);

  // One byte flipped inside the network name: still parses, no longer signed.
  tampered = original;
  const size_t at = tampered.roster().find("seas");
  ASSERT_NE(at, std::string::npos);
  (*tampered.mutable_roster())[at] = 'S';
  absl::StatusOr<Roster> result = Roster::FromSigned(tampered);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("does not verify"));

  // Unknown trailing field: a different byte string, so a different roster.
  tampered = original;
  tampered.mutable_roster()->append("\x78\x01");  // field 15, varint 1
  EXPECT_EQ(Roster::FromSigned(tampered).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(RosterTest, GarbageRosterBytesAreRefused) {
  proto::SignedRoster signed_roster;
  signed_roster.set_roster("\xff\xff\xff");
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(roster.status().message()),
              HasSubstr("do not parse"));
}

TEST(RosterTest, DuplicateAgencyIsRefused) {
  std::vector<crypto::Identity> ids = Founders();
  ids.push_back(crypto::Identity::Generate("MY.NCB"));
  absl::StatusOr<proto::SignedRoster> genesis =
      MakeGenesis("seas", 4, MembersOf(ids), kCreated);
  EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(genesis.status().message()),
              HasSubstr("MY.NCB is listed twice"));

  // Even when every "member" signed it.
  proto::Roster roster = RawRoster(ids, 4);
  std::sort(roster.mutable_members()->begin(), roster.mutable_members()->end(),
            [](const proto::Member& a, const proto::Member& b) {
              return a.agency() < b.agency();
            });
  absl::StatusOr<Roster> result = Roster::FromSigned(SignRaw(roster, ids));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("MY.NCB is listed twice"));
}

TEST(RosterTest, MembersSharingAKeyAreRefused) {
  std::vector<crypto::Identity> ids = Founders();
  std::vector<proto::Member> members = MembersOf(ids);
  members[1].set_box_pk(members[0].box_pk());
  absl::StatusOr<proto::SignedRoster> genesis =
      MakeGenesis("seas", 3, members, kCreated);
  EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(genesis.status().message()),
              HasSubstr("reuses a key of another member"));
}

TEST(RosterTest, UnsortedMembersAreRefused) {
  const std::vector<crypto::Identity> ids = Founders();
  // Founders() is deliberately not in agency order.
  absl::StatusOr<Roster> result =
      Roster::FromSigned(SignRaw(RawRoster(ids, 3), ids));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("not sorted"));
}

TEST(RosterTest, MakeGenesisSortsMembers) {
  const proto::SignedRoster genesis = Genesis(Founders(), 3);
  proto::Roster roster;
  ASSERT_TRUE(roster.ParseFromString(genesis.roster()));
  ASSERT_EQ(roster.members_size(), 4);
  EXPECT_EQ(roster.members(0).agency(), "ID.NCB");
  EXPECT_EQ(roster.members(3).agency(), "SG.SPF");
  EXPECT_EQ(roster.version(), 0u);
  EXPECT_TRUE(roster.prev_hash().empty());
}

TEST(RosterTest, InvalidAgencyIdIsRefused) {
  std::vector<crypto::Identity> ids;
  ids.push_back(crypto::Identity::Generate("my.ncb"));
  absl::StatusOr<proto::SignedRoster> genesis =
      MakeGenesis("seas", 1, MembersOf(ids), kCreated);
  EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(genesis.status().message()), HasSubstr("my.ncb"));

  absl::StatusOr<Roster> roster =
      Roster::FromSigned(SignRaw(RawRoster(ids, 1), ids));
  EXPECT_EQ(roster.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(roster.status().message()), HasSubstr("my.ncb"));
}

TEST(RosterTest, ThresholdMustBeAMajorityAndAtMostN) {
  const std::vector<crypto::Identity> ids = Founders();  // n = 4
  for (uint32_t k : {0u, 1u, 2u, 5u}) {
    absl::StatusOr<proto::SignedRoster> genesis =
        MakeGenesis("seas", k, MembersOf(ids), kCreated);
    EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument) << k;
    EXPECT_THAT(std::string(genesis.status().message()), HasSubstr("threshold"))
        << k;

    proto::Roster roster = RawRoster(ids, k);
    std::sort(roster.mutable_members()->begin(),
              roster.mutable_members()->end(),
              [](const proto::Member& a, const proto::Member& b) {
                return a.agency() < b.agency();
              });
    absl::StatusOr<Roster> result = Roster::FromSigned(SignRaw(roster, ids));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << k;
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("threshold"))
        << k;
  }
  for (uint32_t k : {3u, 4u}) {
    EXPECT_TRUE(Roster::FromSigned(SignedBy(ids, k)).ok()) << k;
  }
  // Small networks: 1 of 1 and 2 of 2 are majorities, 1 of 2 is not.
  std::vector<crypto::Identity> one;
  one.push_back(crypto::Identity::Generate("A.X"));
  EXPECT_TRUE(Roster::FromSigned(SignedBy(one, 1)).ok());
  std::vector<crypto::Identity> two;
  two.push_back(crypto::Identity::Generate("A.X"));
  two.push_back(crypto::Identity::Generate("B.X"));
  EXPECT_TRUE(Roster::FromSigned(SignedBy(two, 2)).ok());
  EXPECT_FALSE(MakeGenesis("seas", 1, MembersOf(two), kCreated).ok());
}

TEST(RosterTest, WrongKeySizesAreRefused) {
  std::vector<crypto::Identity> ids;
  ids.push_back(crypto::Identity::Generate("A.X"));
  {
    std::vector<proto::Member> members = MembersOf(ids);
    members[0].mutable_sign_pk()->pop_back();
    absl::StatusOr<proto::SignedRoster> genesis =
        MakeGenesis("seas", 1, members, kCreated);
    EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(genesis.status().message()),
                HasSubstr("sign_pk is 31 bytes, want 32"));
  }
  {
    proto::Roster roster = RawRoster(ids, 1);
    roster.mutable_members(0)->mutable_box_pk()->push_back('x');
    absl::StatusOr<Roster> result = Roster::FromSigned(SignRaw(roster, ids));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()),
                HasSubstr("box_pk is 33 bytes, want 32"));
  }
  {
    proto::Roster roster = RawRoster(ids, 1);
    roster.mutable_members(0)->clear_sign_pk();
    EXPECT_EQ(Roster::FromSigned(SignRaw(roster, ids)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(RosterTest, OnlyGenesisShapedRostersAreAccepted) {
  std::vector<crypto::Identity> ids;
  ids.push_back(crypto::Identity::Generate("A.X"));
  {
    proto::Roster roster = RawRoster(ids, 1);
    roster.set_version(1);
    absl::StatusOr<Roster> result = Roster::FromSigned(SignRaw(roster, ids));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("version"));
  }
  {
    proto::Roster roster = RawRoster(ids, 1);
    roster.set_prev_hash(std::string(32, 'h'));
    absl::StatusOr<Roster> result = Roster::FromSigned(SignRaw(roster, ids));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("prev_hash"));
  }
  {
    proto::Roster roster = RawRoster({}, 0);
    absl::StatusOr<Roster> result = Roster::FromSigned(SignRaw(roster, {}));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()),
                HasSubstr("no members"));
  }
  EXPECT_FALSE(MakeGenesis("seas", 0, {}, kCreated).ok());
  EXPECT_FALSE(MakeGenesis("", 1, MembersOf(ids), kCreated).ok());
}

TEST(SignGenesisTest, RefusesNonMembersMismatchedKeysAndDoubleSigning) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = Genesis(ids, 3);

  const crypto::Identity outsider = crypto::Identity::Generate("XX.NCB");
  EXPECT_EQ(SignGenesis(signed_roster, outsider).code(),
            absl::StatusCode::kPermissionDenied);

  const crypto::Identity impostor = crypto::Identity::Generate("MY.NCB");
  absl::Status status = SignGenesis(signed_roster, impostor);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("do not match"));
  EXPECT_EQ(signed_roster.signatures_size(), 0);

  ASSERT_TRUE(SignGenesis(signed_roster, ids[0]).ok());
  EXPECT_EQ(SignGenesis(signed_roster, ids[0]).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(signed_roster.signatures_size(), 1);
}

TEST(SignGenesisTest, ReplacesAnInvalidSignatureUnderItsName) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster signed_roster = Genesis(ids, 3);
  proto::RosterSignature* junk = signed_roster.add_signatures();
  junk->set_agency(ids[0].principal());
  junk->set_signature(std::string(64, 'j'));
  for (const crypto::Identity& id : ids) {
    ASSERT_TRUE(SignGenesis(signed_roster, id).ok()) << id.principal();
  }
  EXPECT_EQ(signed_roster.signatures_size(), 4);
  EXPECT_TRUE(Roster::FromSigned(signed_roster).ok());
}

TEST(SignGenesisTest, RefusesToSignAnInvalidRoster) {
  const std::vector<crypto::Identity> ids = Founders();
  proto::SignedRoster unsorted;
  unsorted.set_roster(RawRoster(ids, 3).SerializeAsString());
  EXPECT_EQ(SignGenesis(unsorted, ids[0]).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RosterFileTest, WriteThenLoad) {
  tidings::testing::TempDir temp("roster_test");
  const std::string& dir = temp.path();
  const std::string path = dir + "/roster.bin";
  const proto::SignedRoster signed_roster = SignedBy(Founders(), 3);
  ASSERT_TRUE(WriteProtoFile(path, signed_roster).ok());

  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // Only the file itself: no temp file left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            1);

  absl::StatusOr<Roster> roster = Roster::LoadFile(path);
  ASSERT_TRUE(roster.ok()) << roster.status();
  EXPECT_EQ(roster->network_id(), crypto::Hash(signed_roster.roster()));
  EXPECT_EQ(roster->signed_roster().SerializeAsString(),
            signed_roster.SerializeAsString());

  // Overwriting is allowed (roster sign rewrites the file).
  ASSERT_TRUE(WriteProtoFile(path, Genesis(Founders(), 3)).ok());
  absl::StatusOr<Roster> unsigned_roster = Roster::LoadFile(path);
  EXPECT_EQ(unsigned_roster.status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(unsigned_roster.status().message()), HasSubstr(path));
}

TEST(RosterFileTest, MissingAndGarbageFiles) {
  tidings::testing::TempDir temp("roster_test");
  const std::string& dir = temp.path();
  absl::StatusOr<Roster> missing = Roster::LoadFile(dir + "/nope.bin");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.bin"));

  const std::string garbage = dir + "/garbage.bin";
  std::ofstream(garbage) << "\xff\xff\xff\xff";
  absl::StatusOr<Roster> bad = Roster::LoadFile(garbage);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("garbage.bin"));

  proto::PublicIdentity pub;
  EXPECT_EQ(ReadProtoFile(dir, pub).code(), absl::StatusCode::kInvalidArgument)
      << "a directory is not a proto file";
}

TEST(PublicIdentityTest, CarriesKeysAndEndpoints) {
  const crypto::Identity id = crypto::Identity::Generate("MY.NCB");
  const proto::PublicIdentity pub = PublicIdentityOf(
      id, "Royal Malaysia Police NCB", {"127.0.0.1:7101", "[::1]:7101"});
  EXPECT_EQ(pub.member().agency(), "MY.NCB");
  EXPECT_EQ(pub.member().name(), "Royal Malaysia Police NCB");
  EXPECT_EQ(pub.member().sign_pk(), id.verify_key().str());
  EXPECT_EQ(pub.member().box_pk(), id.box_public().str());
  EXPECT_THAT(pub.member().endpoints(),
              ElementsAre("127.0.0.1:7101", "[::1]:7101"));
}

TEST(PublicIdentityTest, CarriesTheTlsFingerprint) {
  const crypto::Identity id = crypto::Identity::Generate("MY.NCB");
  const crypto::Sha256 fingerprint =
      *crypto::Sha256::FromBytes(std::string(32, '\xf1'));
  EXPECT_EQ(
      PublicIdentityOf(id, "n", {}, fingerprint).member().tls_cert_sha256(),
      fingerprint.str());

  // Without a certificate: a placeholder, fixed per identity, distinct
  // between identities, and never a zero or a constant value.
  const std::string placeholder =
      PublicIdentityOf(id, "n", {}).member().tls_cert_sha256();
  EXPECT_EQ(placeholder.size(), 32u);
  EXPECT_EQ(placeholder, PlaceholderTlsFingerprint(id).str());
  EXPECT_EQ(PublicIdentityOf(id, "other", {}).member().tls_cert_sha256(),
            placeholder);
  const crypto::Identity other = crypto::Identity::Generate("MY.NCB");
  EXPECT_NE(PublicIdentityOf(other, "n", {}).member().tls_cert_sha256(),
            placeholder);
}

TEST(RosterTest, EveryMemberPinsOneTlsCertificate) {
  const std::vector<crypto::Identity> ids = Founders();
  absl::StatusOr<Roster> roster = Roster::FromSigned(SignedBy(ids, 3));
  ASSERT_TRUE(roster.ok()) << roster.status();
  for (const crypto::Identity& id : ids) {
    EXPECT_EQ(roster->TlsFingerprintOf(id.principal()),
              PlaceholderTlsFingerprint(id));
  }
  EXPECT_FALSE(roster->TlsFingerprintOf("XX.NCB").has_value());

  for (size_t size : {0, 1, 31, 33, 64}) {
    std::vector<proto::Member> members = MembersOf(ids);
    members[1].set_tls_cert_sha256(std::string(size, 'f'));
    const std::string agency = members[1].agency();
    absl::StatusOr<proto::SignedRoster> genesis =
        MakeGenesis("seas", 3, members, kCreated);
    EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        std::string(genesis.status().message()),
        HasSubstr(absl::StrCat("member ", agency, ": tls_cert_sha256 is ", size,
                               " bytes, want 32")));

    // FromSigned checks it too, whatever the signatures.
    proto::Roster raw = RawRoster(ids, 3);
    std::sort(raw.mutable_members()->begin(), raw.mutable_members()->end(),
              [](const proto::Member& a, const proto::Member& b) {
                return a.agency() < b.agency();
              });
    raw.mutable_members(2)->set_tls_cert_sha256(std::string(size, 'f'));
    absl::StatusOr<Roster> from_signed = Roster::FromSigned(SignRaw(raw, ids));
    EXPECT_EQ(from_signed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(from_signed.status().message()),
                HasSubstr("tls_cert_sha256 is"));
  }
}

TEST(RosterTest, TwoMembersCannotPinTheSameCertificate) {
  const std::vector<crypto::Identity> ids = Founders();
  std::vector<proto::Member> members = MembersOf(ids);
  members[3].set_tls_cert_sha256(members[0].tls_cert_sha256());
  absl::StatusOr<proto::SignedRoster> genesis =
      MakeGenesis("seas", 3, members, kCreated);
  EXPECT_EQ(genesis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(genesis.status().message()),
      HasSubstr("has the TLS certificate fingerprint of another member"));

  proto::Roster raw = RawRoster(ids, 3);
  std::sort(raw.mutable_members()->begin(), raw.mutable_members()->end(),
            [](const proto::Member& a, const proto::Member& b) {
              return a.agency() < b.agency();
            });
  raw.mutable_members(0)->set_tls_cert_sha256(raw.members(1).tls_cert_sha256());
  EXPECT_EQ(Roster::FromSigned(SignRaw(raw, ids)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Distinct fingerprints, even if they look alike, are fine.
  for (int i = 0; i < raw.members_size(); ++i) {
    raw.mutable_members(i)->set_tls_cert_sha256(std::string(31, '\0') +
                                                static_cast<char>(i));
  }
  EXPECT_TRUE(Roster::FromSigned(SignRaw(raw, ids)).ok());
}

}  // namespace
}  // namespace tidings::node

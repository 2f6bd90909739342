// Tests for the roster chain: updates as successors of a roster
// (node/roster.h: CheckUpdate, MakeUpdate, SignUpdate, Roster::FromUpdate)
// and the membership that moves the chain forward (node/membership.h).
#include "node/model/membership.h"

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

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

std::string HashOf(const proto::SignedRoster& update) {
  return crypto::Hash(update.roster()).str();
}

std::vector<std::pair<std::string, uint64_t>> CutsOf(
    const std::vector<proto::FeedCut>& cuts) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const proto::FeedCut& cut : cuts) {
    out.emplace_back(cut.feed_id(), cut.last_seq());
  }
  return out;
}

std::vector<std::string> SignersOf(const proto::SignedRoster& update) {
  std::vector<std::string> out;
  for (const proto::RosterSignature& sig : update.signatures()) {
    out.push_back(sig.agency());
  }
  return out;
}

using ::tidings::testing::TempDir;

std::unique_ptr<storage::Log> OpenLog(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<storage::Log>> log =
      storage::Log::Open({.path = dir, .sync = false});
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

// Five founders A..E with threshold 3; F and G are outsiders that updates
// may admit.
class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* agency : {"A", "B", "C", "D", "E"}) {
      founders_.push_back(crypto::Identity::Generate(agency));
    }
    for (const char* agency : {"F", "G"}) {
      outsiders_.push_back(crypto::Identity::Generate(agency));
    }
    absl::StatusOr<Roster> roster = test_rosters::SignedGenesis(founders_, 3);
    ASSERT_TRUE(roster.ok()) << roster.status();
    genesis_.emplace(*std::move(roster));
  }

  const Roster& genesis() const { return *genesis_; }

  const crypto::Identity& Who(absl::string_view agency) const {
    for (const auto* group : {&founders_, &outsiders_}) {
      for (const crypto::Identity& identity : *group) {
        if (identity.principal() == agency) return identity;
      }
    }
    ADD_FAILURE() << "no identity " << agency;
    return founders_.front();
  }

  // `prev`'s roster with a change note: the base of a successor.
  static proto::Roster NextOf(const Roster& prev, absl::string_view change) {
    proto::Roster next = prev.roster();
    next.set_change(std::string(change));
    return next;
  }

  // As NextOf, numbered and chained as MakeUpdate would, but unchecked.
  static proto::Roster RawNextOf(const Roster& prev, absl::string_view change) {
    proto::Roster next = NextOf(prev, change);
    next.set_version(prev.version() + 1);
    next.set_prev_hash(prev.hash().str());
    return next;
  }

  proto::Roster Admit(const Roster& prev, absl::string_view agency,
                      uint32_t threshold) const {
    proto::Roster next = NextOf(prev, absl::StrCat("admit ", agency));
    *next.add_members() = MemberOf(Who(agency));
    next.set_threshold(threshold);
    return next;
  }

  static proto::Roster WithEndpoint(const Roster& prev,
                                    absl::string_view agency,
                                    absl::string_view endpoint) {
    proto::Roster next = NextOf(prev, absl::StrCat(agency, " moves"));
    for (proto::Member& member : *next.mutable_members()) {
      if (member.agency() != agency) continue;
      member.clear_endpoints();
      member.add_endpoints(std::string(endpoint));
    }
    return next;
  }

  // Removes `agency`, revoking its key with `cuts`.
  static proto::Roster Without(const Roster& prev, absl::string_view agency,
                               std::vector<proto::FeedCut> cuts) {
    proto::Roster next = NextOf(prev, absl::StrCat("remove ", agency));
    next.clear_members();
    for (const proto::Member& member : prev.roster().members()) {
      if (member.agency() != agency) *next.add_members() = member;
    }
    proto::Revocation* revocation = next.add_revocations();
    revocation->set_agency(std::string(agency));
    revocation->set_sign_pk(prev.Find(agency)->sign_pk());
    revocation->set_at_version(prev.version() + 1);
    for (proto::FeedCut& cut : cuts) *revocation->add_cuts() = std::move(cut);
    revocation->set_removed(true);
    return next;
  }

  static proto::SignedRoster Make(const Roster& prev, proto::Roster next) {
    absl::StatusOr<proto::SignedRoster> update =
        MakeUpdate(prev, std::move(next));
    EXPECT_TRUE(update.ok()) << update.status();
    return update.ok() ? *std::move(update) : proto::SignedRoster();
  }

  proto::SignedRoster SignedBy(
      proto::SignedRoster update, const Roster& prev,
      std::initializer_list<absl::string_view> agencies) const {
    for (absl::string_view agency : agencies) {
      absl::Status status = SignUpdate(update, prev, Who(agency));
      EXPECT_TRUE(status.ok()) << agency << ": " << status;
    }
    return update;
  }

  // Serializes and signs `roster` as is, bypassing every check: for updates
  // that MakeUpdate and SignUpdate refuse.
  proto::SignedRoster RawSigned(
      const proto::Roster& roster,
      std::initializer_list<absl::string_view> agencies) const {
    proto::SignedRoster out;
    out.set_roster(roster.SerializeAsString());
    for (absl::string_view agency : agencies) {
      proto::RosterSignature* sig = out.add_signatures();
      sig->set_agency(std::string(agency));
      sig->set_signature(crypto::Sign(Who(agency).signing_key(),
                                      crypto::Domain::kRoster, out.roster())
                             .str());
    }
    return out;
  }

  static Roster Apply(const Roster& prev, const proto::SignedRoster& update) {
    absl::StatusOr<Roster> next = Roster::FromUpdate(prev, update);
    EXPECT_TRUE(next.ok()) << next.status();
    return next.ok() ? *std::move(next) : prev;
  }

  std::unique_ptr<Membership> OpenMembership(storage::Log* log) const {
    absl::StatusOr<std::unique_ptr<Membership>> membership =
        Membership::Open(genesis(), log);
    EXPECT_TRUE(membership.ok()) << membership.status();
    return membership.ok() ? *std::move(membership) : nullptr;
  }

  std::vector<crypto::Identity> founders_;
  std::vector<crypto::Identity> outsiders_;
  std::optional<Roster> genesis_;
};

// --- Updates as successors (node/roster.h) ---------------------------------

TEST_F(MembershipTest, CheckUpdateCountsSignaturesAgainstTheThreshold) {
  const proto::SignedRoster unsigned_update =
      Make(genesis(), Admit(genesis(), "F", 4));

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), unsigned_update);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->version, 1u);
  EXPECT_EQ(check->hash.str(), HashOf(unsigned_update));
  EXPECT_THAT(check->signers, IsEmpty());
  EXPECT_EQ(check->needed, 3u);
  EXPECT_FALSE(check->complete);
  absl::StatusOr<Roster> refused =
      Roster::FromUpdate(genesis(), unsigned_update);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("update v1 has 0 of the 3 signatures it needs "
                        "(signed by nobody)"));

  const proto::SignedRoster two =
      SignedBy(unsigned_update, genesis(), {"D", "B"});
  check = CheckUpdate(genesis(), two);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_THAT(check->signers, ElementsAre("B", "D"));
  EXPECT_FALSE(check->complete);
  refused = Roster::FromUpdate(genesis(), two);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("has 2 of the 3 signatures it needs (signed by B, D)"));

  const proto::SignedRoster three = SignedBy(two, genesis(), {"A"});
  EXPECT_THAT(SignersOf(three), ElementsAre("A", "B", "D"));
  check = CheckUpdate(genesis(), three);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->complete);
  absl::StatusOr<Roster> next = Roster::FromUpdate(genesis(), three);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->version(), 1u);
  EXPECT_EQ(next->network_id(), genesis().network_id());
  EXPECT_EQ(next->hash().str(), HashOf(three));
  EXPECT_EQ(next->roster().prev_hash(), genesis().hash().str());
  EXPECT_EQ(next->roster().network_name(), "seas");
  EXPECT_EQ(next->roster().threshold(), 4u);
  EXPECT_EQ(next->roster().change(), "admit F");
  EXPECT_THAT(next->agencies(), ElementsAre("A", "B", "C", "D", "E", "F"));
  EXPECT_EQ(next->VerifyKeyOf("F"), Who("F").verify_key());
}

TEST_F(MembershipTest, SignUpdateRefusesNonMembersOtherKeysAndDoubleSigning) {
  proto::SignedRoster update = Make(genesis(), Admit(genesis(), "F", 4));

  absl::Status status = SignUpdate(update, genesis(), Who("F"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("F is not a member of roster v0"));

  const crypto::Identity impostor = crypto::Identity::Generate("A");
  status = SignUpdate(update, genesis(), impostor);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("do not match the roster entry"));

  ASSERT_TRUE(SignUpdate(update, genesis(), Who("A")).ok());
  status = SignUpdate(update, genesis(), Who("A"));
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("A has already signed"));
  EXPECT_THAT(SignersOf(update), ElementsAre("A"));
}

TEST_F(MembershipTest, SignatureByANonMemberOfThePreviousRosterIsRefused) {
  // F is a member of the update itself, but only members of v0 may sign it.
  const proto::SignedRoster update = Make(genesis(), Admit(genesis(), "F", 4));
  proto::Roster next;
  ASSERT_TRUE(next.ParseFromString(update.roster()));
  const proto::SignedRoster signed_update =
      RawSigned(next, {"A", "B", "C", "F"});

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), signed_update);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(
      check.status().message(),
      HasSubstr("signature by 'F', which is not a member of roster v0"));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(signed_update);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(offered.status().message(), HasSubstr("not a member"));
  EXPECT_EQ(membership->chain()->version(), 0u);
  EXPECT_THAT(membership->Pending(), IsEmpty());
}

TEST_F(MembershipTest, DuplicateSignerIsRefused) {
  const proto::SignedRoster update = Make(genesis(), Admit(genesis(), "F", 4));
  proto::Roster next;
  ASSERT_TRUE(next.ParseFromString(update.roster()));
  // Three signatures, but only two signers.
  const proto::SignedRoster signed_update = RawSigned(next, {"A", "B", "A"});

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), signed_update);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(), HasSubstr("two signatures by A"));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(signed_update);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(offered.status().message(), HasSubstr("two signatures by A"));
  EXPECT_EQ(membership->chain()->version(), 0u);
}

TEST_F(MembershipTest, SignatureThatDoesNotVerifyIsRefused) {
  proto::SignedRoster update = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"});
  std::string* sig = update.mutable_signatures(1)->mutable_signature();
  (*sig)[7] = static_cast<char>((*sig)[7] ^ 0x01);

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), update);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(check.status().message(),
              HasSubstr("signature by B does not verify"));
  EXPECT_EQ(Roster::FromUpdate(genesis(), update).status().code(),
            absl::StatusCode::kUnauthenticated);

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(update);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(offered.status().message(), HasSubstr("does not verify"));
  EXPECT_EQ(membership->chain()->version(), 0u);
}

TEST_F(MembershipTest, UpdateWithAWrongPrevHashIsRefused) {
  proto::Roster next = RawNextOf(genesis(), "admit F");
  *next.add_members() = MemberOf(Who("F"));
  next.set_threshold(4);
  next.set_prev_hash(std::string(crypto::Hash256::kSize, '\x42'));
  const proto::SignedRoster update = RawSigned(next, {"A", "B", "C"});

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), update);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("update v1 does not chain to roster v0"));
  EXPECT_THAT(check.status().message(),
              HasSubstr(crypto::ToHex(genesis().hash().view())));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  // Offered, it says the histories differ (kFailedPrecondition: not held
  // against the peer, which may hold another honest history), before any
  // signature is checked.
  absl::StatusOr<Offered> offered = membership->Offer(update);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(offered.status().message(), HasSubstr("does not chain"));
}

TEST_F(MembershipTest, UpdateThatSkipsAVersionWaitsForTheOnesBetween) {
  const proto::SignedRoster v1 = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"});
  const Roster roster1 = Apply(genesis(), v1);
  const proto::SignedRoster v2 =
      SignedBy(Make(roster1, WithEndpoint(roster1, "C", "c2.example:7101")),
               roster1, {"A", "B", "C", "D"});

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), v2);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("update has version 2; after roster v0 comes v1"));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(v2);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(offered.status().message(),
              HasSubstr("update v2 but this node has roster v0"));
  EXPECT_EQ(membership->chain()->version(), 0u);
  EXPECT_THAT(membership->Pending(), IsEmpty());

  // Once v1 is there, the same v2 applies.
  offered = membership->Offer(v1);
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kApplied);
  offered = membership->Offer(v2);
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kApplied);
  EXPECT_EQ(membership->chain()->version(), 2u);
}

TEST_F(MembershipTest, UpdateThatChangesTheNetworkNameIsRefused) {
  proto::Roster next = RawNextOf(genesis(), "rename");
  next.set_network_name("oceans");
  const proto::SignedRoster update = RawSigned(next, {"A", "B", "C"});

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), update);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("update changes the network name"));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  EXPECT_EQ(membership->Offer(update).status().code(),
            absl::StatusCode::kInvalidArgument);
  // MakeUpdate keeps the name whatever `next` says.
  const proto::SignedRoster made = Make(genesis(), next);
  proto::Roster parsed;
  ASSERT_TRUE(parsed.ParseFromString(made.roster()));
  EXPECT_EQ(parsed.network_name(), "seas");
}

TEST_F(MembershipTest, UpdateThatDropsOrChangesAnEarlierRevocationIsRefused) {
  const proto::SignedRoster v1 =
      SignedBy(Make(genesis(), Without(genesis(), "E", {Cut(Feed('e'), 4)})),
               genesis(), {"A", "B", "C"});
  const Roster roster1 = Apply(genesis(), v1);
  ASSERT_EQ(roster1.roster().revocations_size(), 1);

  proto::Roster dropped = RawNextOf(roster1, "forget E");
  dropped.clear_revocations();
  absl::StatusOr<UpdateCheck> check =
      CheckUpdate(roster1, RawSigned(dropped, {"A", "B", "C"}));
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("update drops earlier revocations"));
  absl::StatusOr<proto::SignedRoster> made = MakeUpdate(roster1, dropped);
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(made.status().message(), HasSubstr("drops earlier revocations"));

  proto::Roster changed = RawNextOf(roster1, "extend E's cut");
  changed.mutable_revocations(0)->mutable_cuts(0)->set_last_seq(9);
  check = CheckUpdate(roster1, RawSigned(changed, {"A", "B", "C"}));
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("update changes earlier revocation 1"));

  // A revoked key never comes back, even with the revocation kept.
  proto::Roster readmitted = RawNextOf(roster1, "readmit E");
  *readmitted.add_members() = MemberOf(Who("E"));
  check = CheckUpdate(roster1, RawSigned(readmitted, {"A", "B", "C"}));
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("member E uses a key revoked at v1"));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  ASSERT_EQ(*membership->Offer(v1), Offered::kApplied);
  absl::StatusOr<Offered> offered =
      membership->Offer(RawSigned(dropped, {"A", "B", "C"}));
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(offered.status().message(), HasSubstr("drops earlier"));
}

TEST_F(MembershipTest, UpdateThatRemovesAMemberWithoutARevocationIsRefused) {
  proto::Roster next = RawNextOf(genesis(), "drop E quietly");
  next.mutable_members()->RemoveLast();
  ASSERT_EQ(next.members_size(), 4);
  const proto::SignedRoster update = RawSigned(next, {"A", "B", "C"});

  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), update);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(check.status().message(),
              HasSubstr("update removes E without a revocation"));
  absl::StatusOr<proto::SignedRoster> made = MakeUpdate(genesis(), next);
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(made.status().message(), HasSubstr("removes E without"));

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(update);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(offered.status().message(), HasSubstr("without a revocation"));
  EXPECT_EQ(membership->chain()->version(), 0u);
}

TEST_F(MembershipTest, GarbageAndGenesisAreNotUpdates) {
  proto::SignedRoster garbage;
  garbage.set_roster("\xff\xff\xff");
  EXPECT_EQ(CheckUpdate(genesis(), garbage).status().code(),
            absl::StatusCode::kInvalidArgument);

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(garbage);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(offered.status().message(), HasSubstr("do not parse"));

  offered = membership->Offer(genesis().signed_roster());
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kKnown);

  proto::Roster other_genesis = genesis().roster();
  other_genesis.set_created_unix_ms(kCreated + 1);
  offered = membership->Offer(RawSigned(other_genesis, {"A", "B", "C"}));
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(offered.status().message(),
              HasSubstr("a genesis roster is not an update"));
}

// --- A member's own details: contacts, not roster updates ----------------

// A change of only one member's own entry signed by that member alone used
// to be complete (a "self-change"); two of them for one version split the
// chain (issue 11). It now needs the threshold like any update.
TEST_F(MembershipTest,
       AnUpdateOfOnlyItsOwnEntrySignedByItsMemberIsNotComplete) {
  const proto::SignedRoster update =
      SignedBy(Make(genesis(), WithEndpoint(genesis(), "C", "c2.example:1")),
               genesis(), {"C"});
  absl::StatusOr<UpdateCheck> check = CheckUpdate(genesis(), update);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->needed, 3u);
  EXPECT_FALSE(check->complete);
  EXPECT_EQ(Roster::FromUpdate(genesis(), update).status().code(),
            absl::StatusCode::kUnauthenticated);

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  EXPECT_EQ(*membership->Offer(update), Offered::kPending);
  EXPECT_EQ(membership->chain()->version(), 0u);
  EXPECT_EQ(*membership->Offer(SignedBy(update, genesis(), {"A", "B"})),
            Offered::kApplied);
}

namespace {

std::string Fingerprint(char fill) {
  return std::string(crypto::Sha256::kSize, fill);
}

}  // namespace

TEST_F(MembershipTest, AContactRepinsItsMembersCertificateAndEndpoints) {
  TempDir dir;
  std::unique_ptr<storage::Log> log = OpenLog(dir.path());
  ASSERT_NE(log, nullptr);
  const std::string old_pin = genesis().Find("C")->tls_cert_sha256();
  {
    std::unique_ptr<Membership> membership = OpenMembership(log.get());
    ASSERT_NE(membership, nullptr);
    int notified = 0;
    membership->AddNodesListener([&](const RosterChain&) { ++notified; });
    absl::StatusOr<proto::SignedMemberContact> contact =
        membership->PublishContact(Fingerprint('\x5a'), {"c2.example:1"},
                                   Who("C"), 1000);
    ASSERT_TRUE(contact.ok()) << contact.status();
    EXPECT_EQ(notified, 1);
    std::shared_ptr<const RosterChain> chain = membership->chain();
    EXPECT_EQ(chain->version(), 0u) << "a contact is not a roster update";
    EXPECT_EQ(chain->TlsFingerprintOf("C")->str(), Fingerprint('\x5a'));
    EXPECT_TRUE(
        chain->IsPinned(*crypto::Sha256::FromBytes(Fingerprint('\x5a'))));
    EXPECT_FALSE(chain->IsPinned(*crypto::Sha256::FromBytes(old_pin)));
    ASSERT_NE(chain->ContactOf("C"), nullptr);
    EXPECT_THAT(chain->ContactOf("C")->endpoints(),
                ElementsAre("c2.example:1"));
    // Known bytes: nothing new.
    EXPECT_FALSE(*membership->OfferContact(*contact));
  }
  // Kept across a restart.
  std::unique_ptr<Membership> reopened = OpenMembership(log.get());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->chain()->TlsFingerprintOf("C")->str(),
            Fingerprint('\x5a'));
}

// The split of issue 11: one member signs two different changes of its own
// entry "for one version" and gives each to half the network. As contacts
// they are two values of one register: every node keeps the same one (the
// later, then the smaller hash) whatever order they come in, and nothing
// is built on either, so there is nothing to split.
TEST_F(MembershipTest, TwoContactsOfOneMemberConvergeWhateverTheOrder) {
  absl::StatusOr<proto::SignedMemberContact> first = SignMemberContact(
      Fingerprint('\x11'), {"c1.example:1"}, 5000, Who("C"), genesis());
  absl::StatusOr<proto::SignedMemberContact> second = SignMemberContact(
      Fingerprint('\x22'), {"c2.example:1"}, 5000, Who("C"), genesis());
  absl::StatusOr<proto::SignedMemberContact> later = SignMemberContact(
      Fingerprint('\x33'), {"c3.example:1"}, 6000, Who("C"), genesis());
  ASSERT_TRUE(first.ok() && second.ok() && later.ok());
  const bool first_wins = crypto::Hash(first->SerializeAsString()).str() <
                          crypto::Hash(second->SerializeAsString()).str();
  const std::string tie_winner =
      first_wins ? Fingerprint('\x11') : Fingerprint('\x22');
  std::unique_ptr<Membership> x = OpenMembership(nullptr);
  std::unique_ptr<Membership> y = OpenMembership(nullptr);
  ASSERT_NE(x, nullptr);
  ASSERT_NE(y, nullptr);
  ASSERT_TRUE(x->OfferContact(*first).ok());
  ASSERT_TRUE(x->OfferContact(*second).ok());
  ASSERT_TRUE(y->OfferContact(*second).ok());
  ASSERT_TRUE(y->OfferContact(*first).ok());
  EXPECT_EQ(x->chain()->TlsFingerprintOf("C")->str(), tie_winner);
  EXPECT_EQ(y->chain()->TlsFingerprintOf("C")->str(), tie_winner);
  // Roster changes go on meanwhile on both: the chain was never involved.
  const proto::SignedRoster admit_f = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "D"});
  EXPECT_EQ(*x->Offer(admit_f), Offered::kApplied);
  EXPECT_EQ(*y->Offer(admit_f), Offered::kApplied);
  EXPECT_EQ(x->chain()->current().hash(), y->chain()->current().hash());
  // A later contact wins on both, and the older ones stay beaten.
  EXPECT_TRUE(*x->OfferContact(*later));
  EXPECT_TRUE(*y->OfferContact(*later));
  EXPECT_FALSE(*x->OfferContact(*first));
  EXPECT_EQ(x->chain()->TlsFingerprintOf("C")->str(), Fingerprint('\x33'));
  EXPECT_EQ(y->chain()->TlsFingerprintOf("C")->str(), Fingerprint('\x33'));
}

TEST_F(MembershipTest, AContactNotSignedByItsMemberIsRefused) {
  absl::StatusOr<proto::SignedMemberContact> contact = SignMemberContact(
      Fingerprint('\x5a'), {"c2.example:1"}, 1000, Who("C"), genesis());
  ASSERT_TRUE(contact.ok()) << contact.status();
  proto::MemberContact parsed;
  ASSERT_TRUE(parsed.ParseFromString(contact->contact()));
  parsed.set_agency("D");  // C's signature over D's contact
  proto::SignedMemberContact forged = *contact;
  forged.set_contact(parsed.SerializeAsString());
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<bool> offered = membership->OfferContact(forged);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kUnauthenticated)
      << offered.status();
  EXPECT_EQ(membership->chain()->ContactOf("D"), nullptr);
  // Nor may A sign one for C.
  EXPECT_FALSE(
      SignMemberContact(Fingerprint('\x5a'), {}, 1000, Who("F"), genesis())
          .ok());
}

TEST_F(MembershipTest,
       AContactIsRefusedWhenMalformedOrPinningAnothersCertificate) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  std::vector<std::string> many(17, "c.example:1");
  EXPECT_EQ(
      membership->PublishContact(Fingerprint('\x5a'), many, Who("C"), 1000)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(membership
                ->PublishContact(genesis().Find("D")->tls_cert_sha256(), {},
                                 Who("C"), 1000)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  proto::SignedMemberContact junk;
  junk.set_contact("\xff\xff");
  EXPECT_EQ(membership->OfferContact(junk).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(membership->chain()->ContactOf("C"), nullptr);
}

// A k-signed update of a member's entry (the members fix an address, or
// rotate its keys) overrides the member's older contact, which is then
// refused if it comes again.
TEST_F(MembershipTest, AQuorumUpdateOfTheEntryOverridesAnOlderContact) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<proto::SignedMemberContact> contact =
      membership->PublishContact(Fingerprint('\x5a'), {"c2.example:1"},
                                 Who("C"), 1000);
  ASSERT_TRUE(contact.ok()) << contact.status();
  EXPECT_EQ(*membership->Offer(SignedBy(
                Make(genesis(), WithEndpoint(genesis(), "C", "c9.example:1")),
                genesis(), {"A", "B", "D"})),
            Offered::kApplied);
  std::shared_ptr<const RosterChain> chain = membership->chain();
  EXPECT_EQ(chain->ContactOf("C"), nullptr);
  EXPECT_EQ(chain->TlsFingerprintOf("C")->str(),
            genesis().Find("C")->tls_cert_sha256());
  std::unique_ptr<Membership> fresh = OpenMembership(nullptr);
  ASSERT_NE(fresh, nullptr);
  ASSERT_EQ(*fresh->Offer(SignedBy(
                Make(genesis(), WithEndpoint(genesis(), "C", "c9.example:1")),
                genesis(), {"A", "B", "D"})),
            Offered::kApplied);
  EXPECT_EQ(fresh->OfferContact(*contact).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // One signed under the new roster holds again.
  EXPECT_TRUE(
      fresh->PublishContact(Fingerprint('\x5b'), {}, Who("C"), 2000).ok());
  EXPECT_EQ(fresh->chain()->TlsFingerprintOf("C")->str(), Fingerprint('\x5b'));
}

// --- Membership ------------------------------------------------------------

TEST_F(MembershipTest, ProposalStaysPendingUntilTheThresholdThenApplies) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  std::vector<uint32_t> notified_versions;
  std::vector<std::vector<std::string>> notified_agencies;
  membership->AddListener([&](const RosterChain& chain) {
    notified_versions.push_back(chain.version());
    notified_agencies.push_back(chain.current().agencies());
  });

  const proto::SignedRoster proposal =
      Make(genesis(), Admit(genesis(), "F", 4));
  absl::StatusOr<Offered> offered =
      membership->Offer(SignedBy(proposal, genesis(), {"A"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kPending);
  EXPECT_EQ(membership->chain()->version(), 0u);

  // The same signature again is nothing new.
  offered = membership->Offer(SignedBy(proposal, genesis(), {"A"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kKnown);

  // A second signature arrives on its own and is merged.
  offered = membership->Offer(SignedBy(proposal, genesis(), {"B"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kPending);
  EXPECT_EQ(membership->chain()->version(), 0u);
  std::vector<proto::SignedRoster> pending = membership->Pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].roster(), proposal.roster());
  EXPECT_THAT(SignersOf(pending[0]), ElementsAre("A", "B"));
  EXPECT_THAT(notified_versions, IsEmpty());

  offered = membership->Offer(SignedBy(proposal, genesis(), {"C"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kApplied);
  std::shared_ptr<const RosterChain> chain = membership->chain();
  EXPECT_EQ(chain->version(), 1u);
  EXPECT_EQ(chain->network_id(), genesis().network_id());
  EXPECT_EQ(chain->current().hash().str(), HashOf(proposal));
  EXPECT_THAT(SignersOf(chain->current().signed_roster()),
              ElementsAre("A", "B", "C"));
  EXPECT_EQ(chain->at(0)->hash(), genesis().hash());
  EXPECT_EQ(chain->at(2), nullptr);
  EXPECT_THAT(membership->Pending(), IsEmpty());
  EXPECT_THAT(notified_versions, ElementsAre(1u));
  ASSERT_EQ(notified_agencies.size(), 1u);
  EXPECT_THAT(notified_agencies[0], ElementsAre("A", "B", "C", "D", "E", "F"));

  // Offered again, complete or in part, it is known; nothing is notified.
  offered = membership->Offer(chain->current().signed_roster());
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kKnown);
  offered = membership->Offer(SignedBy(proposal, genesis(), {"D"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kKnown);
  EXPECT_EQ(notified_versions.size(), 1u);
  EXPECT_EQ(membership->chain()->version(), 1u);
}

TEST_F(MembershipTest, IncompleteProposalForAPassedVersionIsStale) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  ASSERT_EQ(
      *membership->Offer(SignedBy(Make(genesis(), Admit(genesis(), "F", 4)),
                                  genesis(), {"A", "B", "C"})),
      Offered::kApplied);

  absl::StatusOr<Offered> offered = membership->Offer(SignedBy(
      Make(genesis(), Admit(genesis(), "G", 4)), genesis(), {"D", "E"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kStale);
  EXPECT_THAT(membership->Forks(), IsEmpty());
  EXPECT_THAT(membership->Pending(), IsEmpty());
  EXPECT_EQ(membership->chain()->version(), 1u);
}

TEST_F(MembershipTest, ProposeAndSignGatherSignaturesUntilApplied) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  int notified = 0;
  membership->AddListener([&](const RosterChain& chain) {
    ++notified;
    EXPECT_EQ(chain.version(), 1u);
  });

  absl::StatusOr<proto::SignedRoster> proposal =
      membership->Propose(Admit(genesis(), "F", 4), Who("A"));
  ASSERT_TRUE(proposal.ok()) << proposal.status();
  EXPECT_THAT(SignersOf(*proposal), ElementsAre("A"));
  const std::string hash = HashOf(*proposal);
  ASSERT_EQ(membership->Pending().size(), 1u);
  EXPECT_EQ(HashOf(membership->Pending()[0]), hash);

  absl::StatusOr<proto::SignedRoster> signed_update =
      membership->Sign(std::string(crypto::Hash256::kSize, '\0'), Who("B"));
  EXPECT_EQ(signed_update.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(signed_update.status().message(),
              HasSubstr("no pending roster proposal"));

  signed_update = membership->Sign(hash, Who("B"));
  ASSERT_TRUE(signed_update.ok()) << signed_update.status();
  EXPECT_THAT(SignersOf(*signed_update), ElementsAre("A", "B"));
  EXPECT_EQ(membership->chain()->version(), 0u);
  EXPECT_EQ(notified, 0);

  signed_update = membership->Sign(hash, Who("B"));
  EXPECT_EQ(signed_update.status().code(), absl::StatusCode::kAlreadyExists);

  signed_update = membership->Sign(hash, Who("E"));
  ASSERT_TRUE(signed_update.ok()) << signed_update.status();
  EXPECT_THAT(SignersOf(*signed_update), ElementsAre("A", "B", "E"));
  EXPECT_EQ(membership->chain()->version(), 1u);
  EXPECT_TRUE(membership->chain()->current().IsMember("F"));
  EXPECT_EQ(notified, 1);
  EXPECT_THAT(membership->Pending(), IsEmpty());
}

// Where the chain stands is a payload (node/model/reject.h), not text.
TEST_F(MembershipTest, BehindAndForkedRefusalsAreTyped) {
  const proto::SignedRoster v1 = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"});
  const Roster roster1 = Apply(genesis(), v1);
  const proto::SignedRoster v2 =
      SignedBy(Make(roster1, WithEndpoint(roster1, "C", "c2.example:7101")),
               roster1, {"A", "B", "C", "D"});
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered = membership->Offer(v2);
  EXPECT_TRUE(IsBehind(offered.status())) << offered.status();
  EXPECT_FALSE(IsForked(offered.status()));
  EXPECT_FALSE(IsRosterAhead(offered.status()));
  EXPECT_EQ(RejectReasonOf(offered.status()), std::nullopt);

  // A change that chains elsewhere is neither.
  const proto::SignedRoster other = SignedBy(
      Make(genesis(), Admit(genesis(), "G", 4)), genesis(), {"C", "D", "E"});
  ASSERT_EQ(*membership->Offer(v1), Offered::kApplied);
  ASSERT_EQ(*membership->Offer(other), Offered::kFork);
  offered = membership->Offer(v2);
  EXPECT_TRUE(IsForked(offered.status())) << offered.status();
  EXPECT_FALSE(IsBehind(offered.status()));
  absl::StatusOr<proto::SignedRoster> proposed =
      membership->Propose(WithEndpoint(roster1, "B", "b2.example:1"), Who("B"));
  EXPECT_TRUE(IsForked(proposed.status())) << proposed.status();
}

TEST_F(MembershipTest, AnUnchainedUpdateIsNeitherBehindNorForked) {
  proto::Roster next = genesis().roster();
  next.set_version(1);
  next.set_change("admit F");
  *next.add_members() = MemberOf(Who("F"));
  next.set_threshold(4);
  next.set_prev_hash(std::string(crypto::Hash256::kSize, '\x42'));
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  absl::StatusOr<Offered> offered =
      membership->Offer(RawSigned(next, {"A", "B", "C"}));
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(IsBehind(offered.status()));
  EXPECT_FALSE(IsForked(offered.status()));
  EXPECT_FALSE(IsRosterAhead(offered.status()));
}

TEST_F(MembershipTest, TwoQuorumsAtOneVersionAreAForkThatFreezesTheChain) {
  // C signs both: the equivocating member that makes two quorums possible.
  const proto::SignedRoster admit_f = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"});
  const proto::SignedRoster admit_g = SignedBy(
      Make(genesis(), Admit(genesis(), "G", 4)), genesis(), {"C", "D", "E"});

  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  int notified = 0;
  membership->AddListener([&](const RosterChain&) { ++notified; });
  ASSERT_EQ(*membership->Offer(admit_f), Offered::kApplied);

  absl::StatusOr<Offered> offered = membership->Offer(admit_g);
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kFork);
  std::vector<RosterFork> forks = membership->Forks();
  ASSERT_EQ(forks.size(), 1u);
  EXPECT_EQ(forks[0].version, 1u);
  EXPECT_EQ(forks[0].applied_hash, HashOf(admit_f));
  EXPECT_EQ(forks[0].other_hash, HashOf(admit_g));
  // The applied one stays; neither wins silently.
  EXPECT_EQ(membership->chain()->current().hash().str(), HashOf(admit_f));

  offered = membership->Offer(admit_g);
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kKnown);
  EXPECT_EQ(membership->Forks().size(), 1u);

  const Roster roster1 = Apply(genesis(), admit_f);
  const proto::SignedRoster v2 =
      SignedBy(Make(roster1, WithEndpoint(roster1, "A", "a2.example:1")),
               roster1, {"A"});
  offered = membership->Offer(v2);
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(offered.status().message(),
              HasSubstr("the roster chain forked at v1"));

  absl::StatusOr<proto::SignedRoster> proposed =
      membership->Propose(WithEndpoint(roster1, "B", "b2.example:1"), Who("B"));
  EXPECT_EQ(proposed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(proposed.status().message(), HasSubstr("forked"));
  EXPECT_EQ(membership->chain()->version(), 1u);
  EXPECT_EQ(notified, 1);
}

TEST_F(MembershipTest, ForkSurvivesARestart) {
  const proto::SignedRoster admit_f = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"});
  const proto::SignedRoster admit_g = SignedBy(
      Make(genesis(), Admit(genesis(), "G", 4)), genesis(), {"C", "D", "E"});
  TempDir dir;
  {
    std::unique_ptr<storage::Log> log = OpenLog(dir.path());
    ASSERT_NE(log, nullptr);
    std::unique_ptr<Membership> membership = OpenMembership(log.get());
    ASSERT_NE(membership, nullptr);
    ASSERT_EQ(*membership->Offer(admit_f), Offered::kApplied);
    ASSERT_EQ(*membership->Offer(admit_g), Offered::kFork);
  }
  std::unique_ptr<storage::Log> log = OpenLog(dir.path());
  ASSERT_NE(log, nullptr);
  std::unique_ptr<Membership> membership = OpenMembership(log.get());
  ASSERT_NE(membership, nullptr);
  EXPECT_EQ(membership->chain()->version(), 1u);
  std::vector<RosterFork> forks = membership->Forks();
  ASSERT_EQ(forks.size(), 1u);
  EXPECT_EQ(forks[0].version, 1u);
  EXPECT_EQ(forks[0].applied_hash, HashOf(admit_f));
  EXPECT_EQ(forks[0].other_hash, HashOf(admit_g));

  const Roster roster1 = Apply(genesis(), admit_f);
  absl::StatusOr<Offered> offered = membership->Offer(
      SignedBy(Make(roster1, WithEndpoint(roster1, "A", "a2.example:1")),
               roster1, {"A"}));
  EXPECT_EQ(offered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(offered.status().message(), HasSubstr("forked"));
}

// --- Which key signed under which version ----------------------------------

TEST_F(MembershipTest, RemovedMembersKeyIsValidOnlyUpToItsCuts) {
  const std::string feed = Feed('f');
  const std::string other_feed = Feed('o');
  const proto::SignedRoster remove_d =
      SignedBy(Make(genesis(), Without(genesis(), "D", {Cut(feed, 2)})),
               genesis(), {"A", "B", "C"});
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  ASSERT_EQ(*membership->Offer(remove_d), Offered::kApplied);
  std::shared_ptr<const RosterChain> chain = membership->chain();
  ASSERT_EQ(chain->version(), 1u);
  EXPECT_FALSE(chain->current().IsMember("D"));

  for (uint64_t seq : {1u, 2u}) {
    absl::StatusOr<crypto::VerifyKey> key = chain->SignerKey("D", 0, feed, seq);
    ASSERT_TRUE(key.ok()) << seq << ": " << key.status();
    EXPECT_EQ(*key, Who("D").verify_key());
  }

  absl::StatusOr<crypto::VerifyKey> key = chain->SignerKey("D", 0, feed, 3);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kRevoked);
  EXPECT_THAT(key.status().message(), HasSubstr("revoked"));
  EXPECT_THAT(key.status().message(),
              HasSubstr("D's key was removed at roster v1; position 3 of this "
                        "feed is past its last valid one (2)"));

  key = chain->SignerKey("D", 0, other_feed, 1);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kRevoked);
  EXPECT_THAT(key.status().message(), HasSubstr("last valid one (0)"));

  key = chain->SignerKey("D", 1, feed, 1);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kUnknownOrigin);
  EXPECT_THAT(key.status().message(), HasSubstr("'D' is not in roster v1"));

  key = chain->SignerKey("A", 5, feed, 1);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kRosterAhead);
  EXPECT_THAT(key.status().message(),
              HasSubstr("signed under roster v5; this node has v1"));

  key = chain->SignerKey("Z", 0, feed, 1);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kUnknownOrigin);

  // Members that stay are untouched by D's cuts.
  for (uint32_t version : {0u, 1u}) {
    key = chain->SignerKey("A", version, feed, 1000);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(*key, Who("A").verify_key());
  }

  const proto::Revocation* revocation =
      chain->RevocationOf("D", Who("D").verify_key().view());
  ASSERT_NE(revocation, nullptr);
  EXPECT_EQ(revocation->at_version(), 1u);
  EXPECT_TRUE(revocation->removed());
  EXPECT_THAT(CutsOf(std::vector<proto::FeedCut>(revocation->cuts().begin(),
                                                 revocation->cuts().end())),
              ElementsAre(Pair(feed, 2u)));
  EXPECT_EQ(chain->RevocationOf("D", Who("A").verify_key().view()), nullptr);
  EXPECT_EQ(chain->RevocationOf("A", Who("A").verify_key().view()), nullptr);
}

TEST_F(MembershipTest, RotatedKeySignsFromItsVersionOn) {
  const crypto::Identity new_a = crypto::Identity::Generate("A");
  proto::Roster next = NextOf(genesis(), "rotate A");
  for (proto::Member& member : *next.mutable_members()) {
    if (member.agency() == "A") member = MemberOf(new_a);
  }
  // The old key signs A's part of its own rotation.
  const proto::SignedRoster rotate =
      SignedBy(Make(genesis(), next), genesis(), {"A", "B", "C"});
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  ASSERT_EQ(*membership->Offer(rotate), Offered::kApplied);
  std::shared_ptr<const RosterChain> chain = membership->chain();

  absl::StatusOr<crypto::VerifyKey> key =
      chain->SignerKey("A", 0, Feed('a'), 1000);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, Who("A").verify_key());
  key = chain->SignerKey("A", 1, Feed('a'), 1);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, new_a.verify_key());
  EXPECT_EQ(chain->RevocationOf("A", Who("A").verify_key().view()), nullptr);
}

TEST_F(MembershipTest, CompromisedKeyIsCutOffButItsReplacementIsNot) {
  const crypto::Identity new_a = crypto::Identity::Generate("A");
  const std::string feed = Feed('a');
  proto::Roster next = NextOf(genesis(), "A's key was stolen");
  for (proto::Member& member : *next.mutable_members()) {
    if (member.agency() == "A") member = MemberOf(new_a);
  }
  proto::Revocation* revocation = next.add_revocations();
  revocation->set_agency("A");
  revocation->set_sign_pk(Who("A").verify_key().str());
  revocation->set_at_version(1);
  *revocation->add_cuts() = Cut(feed, 5);
  const proto::SignedRoster update =
      SignedBy(Make(genesis(), next), genesis(), {"B", "C", "D"});
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  ASSERT_EQ(*membership->Offer(update), Offered::kApplied);
  std::shared_ptr<const RosterChain> chain = membership->chain();

  absl::StatusOr<crypto::VerifyKey> key = chain->SignerKey("A", 0, feed, 5);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, Who("A").verify_key());
  key = chain->SignerKey("A", 0, feed, 6);
  EXPECT_EQ(RejectReasonOf(key.status()), RejectReason::kRevoked);
  EXPECT_THAT(key.status().message(),
              HasSubstr("A's key was revoked at roster v1"));
  key = chain->SignerKey("A", 1, feed, 6);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, new_a.verify_key());
  ASSERT_NE(chain->RevocationOf("A", Who("A").verify_key().view()), nullptr);
  EXPECT_FALSE(
      chain->RevocationOf("A", Who("A").verify_key().view())->removed());
  EXPECT_EQ(chain->RevocationOf("A", new_a.verify_key().view()), nullptr);
}

// --- Persistence -----------------------------------------------------------

TEST_F(MembershipTest, RestartRestoresTheChainAndPendingProposals) {
  TempDir dir;
  const proto::SignedRoster v1 = SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"});
  const Roster roster1 = Apply(genesis(), v1);
  const proto::SignedRoster v2 =
      SignedBy(Make(roster1, WithEndpoint(roster1, "C", "c2.example:1")),
               roster1, {"A", "B", "C", "D"});
  const Roster roster2 = Apply(roster1, v2);
  proto::Roster raise = NextOf(roster2, "raise the threshold");
  raise.set_threshold(5);
  proto::Roster other = NextOf(roster2, "raise the threshold to all");
  other.set_threshold(6);

  std::string proposal_hash;
  std::string other_hash;
  {
    std::unique_ptr<storage::Log> log = OpenLog(dir.path());
    ASSERT_NE(log, nullptr);
    std::unique_ptr<Membership> membership = OpenMembership(log.get());
    ASSERT_NE(membership, nullptr);
    ASSERT_EQ(*membership->Offer(v1), Offered::kApplied);
    ASSERT_EQ(*membership->Offer(v2), Offered::kApplied);
    absl::StatusOr<proto::SignedRoster> proposal =
        membership->Propose(raise, Who("A"));
    ASSERT_TRUE(proposal.ok()) << proposal.status();
    proposal_hash = HashOf(*proposal);

    // This node signed `raise` for v3: it signs no other v3 proposal,
    // whether its own or one from a peer.
    absl::StatusOr<proto::SignedRoster> second =
        membership->Propose(other, Who("A"));
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(second.status().message(),
                HasSubstr("a member signs one proposal per version"));
    EXPECT_THAT(second.status().message(),
                HasSubstr(crypto::ToHex(proposal_hash)));
    const proto::SignedRoster from_peer =
        SignedBy(Make(roster2, other), roster2, {"B"});
    other_hash = HashOf(from_peer);
    ASSERT_EQ(*membership->Offer(from_peer), Offered::kPending);
    second = membership->Sign(other_hash, Who("A"));
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(second.status().message(),
                HasSubstr("already signed proposal " +
                          crypto::ToHex(proposal_hash) + " for roster v3"));
  }

  std::unique_ptr<storage::Log> log = OpenLog(dir.path());
  ASSERT_NE(log, nullptr);
  std::unique_ptr<Membership> membership = OpenMembership(log.get());
  ASSERT_NE(membership, nullptr);
  std::shared_ptr<const RosterChain> chain = membership->chain();
  EXPECT_EQ(chain->version(), 2u);
  EXPECT_EQ(chain->current().hash(), roster2.hash());
  EXPECT_EQ(chain->at(1)->hash(), roster1.hash());
  std::vector<std::pair<std::string, std::vector<std::string>>> pending;
  for (const proto::SignedRoster& p : membership->Pending()) {
    pending.emplace_back(HashOf(p), SignersOf(p));
  }
  EXPECT_THAT(pending, ::testing::UnorderedElementsAre(
                           Pair(proposal_hash, ElementsAre("A")),
                           Pair(other_hash, ElementsAre("B"))));

  // What this node signed is kept too.
  absl::StatusOr<proto::SignedRoster> second =
      membership->Sign(other_hash, Who("A"));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("one proposal per version"));

  // The restored proposal completes with the peers' signatures (v2 has
  // threshold 4).
  proto::SignedRoster bare;
  for (const proto::SignedRoster& p : membership->Pending()) {
    if (HashOf(p) == proposal_hash) bare.set_roster(p.roster());
  }
  ASSERT_FALSE(bare.roster().empty());
  absl::StatusOr<Offered> offered =
      membership->Offer(SignedBy(bare, roster2, {"B", "D"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kPending);
  offered = membership->Offer(SignedBy(bare, roster2, {"F"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kApplied);
  EXPECT_EQ(membership->chain()->version(), 3u);
  EXPECT_EQ(membership->chain()->current().roster().threshold(), 5u);
  EXPECT_THAT(membership->Pending(), IsEmpty());

  // Applying forgot every proposal for v3 on disk as well.
  membership.reset();
  membership = OpenMembership(log.get());
  ASSERT_NE(membership, nullptr);
  EXPECT_EQ(membership->chain()->version(), 3u);
  EXPECT_THAT(membership->Pending(), IsEmpty());
}

// --- A member that floods proposals -----------------------------------------

// Issue 11: one member held every slot with junk proposals (the current
// roster with another change note) and so froze every roster change, its
// own removal included.
TEST_F(MembershipTest, AMemberFloodingProposalsCannotFreezeTheRoster) {
  TempDir dir;
  std::unique_ptr<storage::Log> log = OpenLog(dir.path());
  ASSERT_NE(log, nullptr);
  std::unique_ptr<Membership> membership = OpenMembership(log.get());
  ASSERT_NE(membership, nullptr);

  // A holds one slot, never a second.
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    absl::StatusOr<Offered> offered = membership->Offer(
        SignedBy(Make(genesis(), NextOf(genesis(), absl::StrCat("junk ", i))),
                 genesis(), {"A"}));
    if (i == 0) {
      ASSERT_TRUE(offered.ok()) << offered.status();
      EXPECT_EQ(*offered, Offered::kPending);
      continue;
    }
    ASSERT_FALSE(offered.ok()) << i;
    EXPECT_EQ(offered.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(offered.status().message(),
                HasSubstr("already signed another pending proposal"));
    ++refused;
  }
  EXPECT_EQ(refused, 39);
  EXPECT_EQ(membership->Pending().size(), 1u);

  // The honest members remove A all the same: B proposes, C and D sign.
  absl::StatusOr<proto::SignedRoster> removal =
      membership->Propose(Without(genesis(), "A", {}), Who("B"));
  ASSERT_TRUE(removal.ok()) << removal.status();
  ASSERT_TRUE(membership->Sign(HashOf(*removal), Who("C")).ok());
  absl::StatusOr<proto::SignedRoster> applied =
      membership->Sign(HashOf(*removal), Who("D"));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(membership->chain()->version(), 1u);
  EXPECT_FALSE(membership->chain()->current().IsMember("A"));
  EXPECT_THAT(membership->Pending(), IsEmpty());
}

TEST_F(MembershipTest, ACompleteUpdateAppliesWhateverIsPending) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  for (const char* agency : {"A", "B", "C", "D", "E"}) {
    ASSERT_TRUE(membership
                    ->Offer(SignedBy(Make(genesis(), NextOf(genesis(), agency)),
                                     genesis(), {agency}))
                    .ok());
  }
  ASSERT_EQ(membership->Pending().size(), 5u);
  // Every member has a proposal pending; a quorum still applies at once.
  absl::StatusOr<Offered> offered = membership->Offer(SignedBy(
      Make(genesis(), Admit(genesis(), "F", 4)), genesis(), {"A", "B", "C"}));
  ASSERT_TRUE(offered.ok()) << offered.status();
  EXPECT_EQ(*offered, Offered::kApplied);
  EXPECT_TRUE(membership->chain()->current().IsMember("F"));
}

// A refused Propose leaves no record that this node signed for the version:
// it may still sign another member's proposal.
TEST_F(MembershipTest, ARefusedProposalDoesNotUseUpTheMembersSignature) {
  std::unique_ptr<Membership> membership = OpenMembership(nullptr);
  ASSERT_NE(membership, nullptr);
  // B's key, stolen, signed junk that this node (B's) never made.
  ASSERT_EQ(*membership->Offer(SignedBy(
                Make(genesis(), NextOf(genesis(), "junk")), genesis(), {"B"})),
            Offered::kPending);
  absl::StatusOr<proto::SignedRoster> own =
      membership->Propose(Without(genesis(), "A", {}), Who("B"));
  EXPECT_EQ(own.status().code(), absl::StatusCode::kResourceExhausted);

  const proto::SignedRoster by_c =
      SignedBy(Make(genesis(), Without(genesis(), "A", {})), genesis(), {"C"});
  ASSERT_EQ(*membership->Offer(by_c), Offered::kPending);
  absl::StatusOr<proto::SignedRoster> signed_update =
      membership->Sign(HashOf(by_c), Who("B"));
  ASSERT_TRUE(signed_update.ok()) << signed_update.status();
  EXPECT_THAT(SignersOf(*signed_update), ElementsAre("B", "C"));
}

// --- Cuts ------------------------------------------------------------------

TEST_F(MembershipTest, CutsForListsTheHeadsOfOnlyThatAgencysFeedsByFeedId) {
  TempDir dir;
  std::unique_ptr<storage::Log> log = OpenLog(dir.path());
  ASSERT_NE(log, nullptr);
  EXPECT_THAT(CutsFor(*log, "D"), IsEmpty());

  // D writes to feeds 'q' (3 records) and 'b' (2), A to 'm' (1).
  std::vector<storage::EnvelopeRecord> records;
  int n = 0;
  auto add = [&](const std::string& feed_id, const std::string& origin,
                 uint64_t seq) {
    storage::EnvelopeRecord record;
    record.id = std::string(crypto::Hash256::kSize - 1, 'i') +
                static_cast<char>('0' + n++);
    record.feed_id = feed_id;
    record.seq = seq;
    for (const storage::EnvelopeRecord& earlier : records) {
      if (earlier.feed_id == feed_id && earlier.seq + 1 == seq) {
        record.prev_id = earlier.id;
      }
    }
    record.origin = origin;
    record.audience = {origin};
    record.envelope = absl::StrCat("envelope ", n);
    record.inbox = storage::InboxEntry::kNo;
    records.push_back(std::move(record));
  };
  add(Feed('q'), "D", 1);
  add(Feed('m'), "A", 1);
  add(Feed('q'), "D", 2);
  add(Feed('b'), "D", 1);
  add(Feed('q'), "D", 3);
  add(Feed('b'), "D", 2);
  absl::StatusOr<std::vector<storage::AppendResult>> results =
      log->Append(records);
  ASSERT_TRUE(results.ok()) << results.status();
  for (const storage::AppendResult& result : *results) {
    EXPECT_EQ(result.outcome, storage::AppendOutcome::kStored);
  }

  EXPECT_THAT(CutsOf(CutsFor(*log, "D")),
              ElementsAre(Pair(Feed('b'), 2u), Pair(Feed('q'), 3u)));
  EXPECT_THAT(CutsOf(CutsFor(*log, "A")), ElementsAre(Pair(Feed('m'), 1u)));
  EXPECT_THAT(CutsFor(*log, "Z"), IsEmpty());
  EXPECT_THAT(CutsFor(*log, "D."), IsEmpty());

  // They are what a removal of D names.
  const proto::SignedRoster remove_d =
      SignedBy(Make(genesis(), Without(genesis(), "D", CutsFor(*log, "D"))),
               genesis(), {"A", "B", "C"});
  std::unique_ptr<Membership> membership = OpenMembership(log.get());
  ASSERT_NE(membership, nullptr);
  ASSERT_EQ(*membership->Offer(remove_d), Offered::kApplied);
  std::shared_ptr<const RosterChain> chain = membership->chain();
  EXPECT_TRUE(chain->SignerKey("D", 0, Feed('q'), 3).ok());
  EXPECT_TRUE(chain->SignerKey("D", 0, Feed('b'), 2).ok());
  EXPECT_EQ(RejectReasonOf(chain->SignerKey("D", 0, Feed('q'), 4).status()),
            RejectReason::kRevoked);
  EXPECT_EQ(RejectReasonOf(chain->SignerKey("D", 0, Feed('m'), 1).status()),
            RejectReason::kRevoked);
}

TEST(OfferedNameTest, NamesEveryOutcome) {
  EXPECT_EQ(OfferedName(Offered::kApplied), "applied");
  EXPECT_EQ(OfferedName(Offered::kPending), "pending");
  EXPECT_EQ(OfferedName(Offered::kKnown), "known");
  EXPECT_EQ(OfferedName(Offered::kStale), "stale");
  EXPECT_EQ(OfferedName(Offered::kFork), "fork");
}

}  // namespace
}  // namespace tidings::node

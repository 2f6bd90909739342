#include "node/model/roster_change.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/model/roster.h"
#include "proto/client.pb.h"
#include "proto/roster.pb.h"
#include "tests/testing/rosters.h"

namespace tidings::node {
namespace {

using test_rosters::Cut;
using test_rosters::Feed;
using test_rosters::MemberOf;
using test_rosters::SignedGenesis;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixMillis(1800000000123);

// A fresh identity of `agency` (key generation is cheap).
crypto::Identity IdentityOf(absl::string_view agency) {
  return crypto::Identity::Generate(agency);
}

// The genesis of the first `n` of PH.CG, MY.NCB, ID.NCB, SG.SPF with
// threshold `k`.
Roster Genesis(int n, uint32_t k) {
  const std::vector<std::string> agencies = {"PH.CG", "MY.NCB", "ID.NCB",
                                             "SG.SPF"};
  std::vector<crypto::Identity> founders;
  for (int i = 0; i < n; ++i) founders.push_back(IdentityOf(agencies[i]));
  absl::StatusOr<Roster> roster = SignedGenesis(founders, k);
  EXPECT_TRUE(roster.ok()) << roster.status();
  return *std::move(roster);
}

// The member entry of `agency` in `roster`.
const proto::Member& Entry(const proto::Roster& roster,
                           absl::string_view agency) {
  for (const proto::Member& m : roster.members()) {
    if (m.agency() == agency) return m;
  }
  static const proto::Member* none = new proto::Member();
  ADD_FAILURE() << agency << " is not in the roster";
  return *none;
}

RosterChangeContext Context() {
  return RosterChangeContext{
      kNow, [](absl::string_view agency) -> std::vector<proto::FeedCut> {
        if (agency != "MY.NCB") return {};
        return {Cut(Feed('a'), 7), Cut(Feed('b'), 2)};
      }};
}

proto::RosterProposeRequest Request(absl::string_view op,
                                    absl::string_view agency = "",
                                    absl::string_view member = "",
                                    uint32_t threshold = 0) {
  proto::RosterProposeRequest request;
  request.set_op(std::string(op));
  request.set_agency(std::string(agency));
  if (!member.empty()) {
    *request.mutable_member() = MemberOf(IdentityOf(member));
  }
  request.set_threshold(threshold);
  return request;
}

std::vector<std::string> AgenciesOf(const proto::Roster& roster) {
  std::vector<std::string> out;
  for (const proto::Member& m : roster.members()) out.push_back(m.agency());
  std::sort(out.begin(), out.end());
  return out;
}

struct ChangeCase {
  std::string name;
  int members;         // of the genesis
  uint32_t threshold;  // of the genesis
  proto::RosterProposeRequest request;
  // Expected:
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;  // a substring, for refusals
  std::string change;
  uint32_t next_threshold = 0;
  std::vector<std::string> next_members;
  int revocations = 0;
};

ChangeCase Made(std::string name, int members, uint32_t threshold,
                proto::RosterProposeRequest request, std::string change,
                uint32_t next_threshold, std::vector<std::string> next_members,
                int revocations = 0) {
  ChangeCase c;
  c.name = std::move(name);
  c.members = members;
  c.threshold = threshold;
  c.request = std::move(request);
  c.change = std::move(change);
  c.next_threshold = next_threshold;
  c.next_members = std::move(next_members);
  c.revocations = revocations;
  return c;
}

ChangeCase Refused(std::string name, proto::RosterProposeRequest request,
                   absl::StatusCode code, std::string message) {
  ChangeCase c;
  c.name = std::move(name);
  c.members = 4;
  c.threshold = 3;
  c.request = std::move(request);
  c.code = code;
  c.message = std::move(message);
  return c;
}

std::vector<ChangeCase> Cases() {
  // Member lists are compared sorted by agency.
  const std::vector<std::string> three = {"ID.NCB", "MY.NCB", "PH.CG"};
  const std::vector<std::string> four = {"ID.NCB", "MY.NCB", "PH.CG", "SG.SPF"};
  const std::vector<std::string> five = {"ID.NCB", "MY.NCB", "PH.CG", "SG.SPF",
                                         "XX.NCB"};
  proto::RosterProposeRequest malformed = Request("admit", "", "XX.NCB");
  malformed.mutable_member()->set_agency("no spaces allowed");
  using Code = absl::StatusCode;
  return {
      // admit: 2 of 3 becomes 2 of 4, no majority: the smallest one, 3.
      Made("AdmitRaisesKToAMajority", 3, 2, Request("admit", "", "XX.NCB"),
           "admit XX.NCB", 3, {"ID.NCB", "MY.NCB", "PH.CG", "XX.NCB"}),
      Made("AdmitKeepsAValidK", 4, 3, Request("admit", "", "XX.NCB"),
           "admit XX.NCB", 3, five),
      Made("AdmitTakesTheRequestedThreshold", 4, 3,
           Request("admit", "", "XX.NCB", 5), "admit XX.NCB", 5, five),
      Refused("AdmitAMemberIsRefused", Request("admit", "", "MY.NCB"),
              Code::kAlreadyExists, "MY.NCB is already a member"),
      Refused("AdmitAMalformedIdIsRefused", malformed, Code::kInvalidArgument,
              "no spaces allowed"),
      // remove: 3 of 4 stays 3 of 3; 4 of 4 cannot stay, becomes 2 of 3.
      Made("RemoveKeepsAValidK", 4, 3, Request("remove", "SG.SPF"),
           "remove SG.SPF", 3, three, 1),
      Made("RemoveLowersKAboveTheCount", 4, 4, Request("remove", "SG.SPF"),
           "remove SG.SPF", 2, three, 1),
      Made("RemoveTakesTheRequestedThreshold", 4, 3,
           Request("remove", "SG.SPF", "", 2), "remove SG.SPF", 2, three, 1),
      Refused("RemoveANonMemberIsRefused", Request("remove", "XX.NCB"),
              Code::kNotFound, "XX.NCB is not a member"),
      // rotate, revoke: k is never re-computed.
      Made("Rotate", 4, 3, Request("rotate", "MY.NCB", "MY.NCB"),
           "rotate the keys of MY.NCB", 3, four, 0),
      Made("RotateIgnoresTheThresholdField", 4, 3,
           Request("rotate", "MY.NCB", "MY.NCB", 4),
           "rotate the keys of MY.NCB", 3, four, 0),
      Refused("RotateANonMemberIsRefused",
              Request("rotate", "XX.NCB", "XX.NCB"), Code::kNotFound,
              "XX.NCB is not a member"),
      Refused("RotateToAnotherAgencysKeysIsRefused",
              Request("rotate", "MY.NCB", "PH.CG"), Code::kInvalidArgument,
              "the new key file is for PH.CG, not MY.NCB"),
      Made("Revoke", 4, 3, Request("revoke", "MY.NCB", "MY.NCB"),
           "revoke the compromised key of MY.NCB", 3, four, 1),
      Refused("RevokeANonMemberIsRefused",
              Request("revoke", "XX.NCB", "XX.NCB"), Code::kNotFound,
              "XX.NCB is not a member"),
      Refused("RevokeToAnotherAgencysKeysIsRefused",
              Request("revoke", "MY.NCB", "ID.NCB"), Code::kInvalidArgument,
              "the new key file is for ID.NCB, not MY.NCB"),
      // threshold: set as asked; the roster's rules judge it (MakeUpdate).
      Made("Threshold", 4, 3, Request("threshold", "", "", 4), "threshold 4", 4,
           four),
      Made("ThresholdIsNotJudgedHere", 4, 3, Request("threshold", "", "", 0),
           "threshold 0", 0, four),
      // endpoints: a contact (Membership::PublishContact), never an update
      Refused("EndpointsAreNotARosterChange", Request("endpoints"),
              Code::kInvalidArgument, "unknown roster change 'endpoints'"),
      // unknown
      Refused("UnknownOpIsRefused", Request("promote", "MY.NCB"),
              Code::kInvalidArgument,
              "unknown roster change 'promote'; one of admit, remove, rotate, "
              "revoke, threshold"),
      Refused("EmptyOpIsRefused", Request(""), Code::kInvalidArgument,
              "unknown roster change ''"),
      Refused("OpsAreCaseSensitive", Request("Admit", "", "XX.NCB"),
              Code::kInvalidArgument, "unknown roster change 'Admit'"),
      Refused(
          "ALongOpIsCutInTheRefusal", Request(std::string(100, 'x')),
          Code::kInvalidArgument,
          absl::StrCat("unknown roster change '", std::string(32, 'x'), "';")),
  };
}

class NextRosterTest : public ::testing::TestWithParam<ChangeCase> {};

TEST_P(NextRosterTest, MakesTheSuccessorOrRefuses) {
  const ChangeCase& c = GetParam();
  const Roster current = Genesis(c.members, c.threshold);
  absl::StatusOr<proto::Roster> next =
      NextRoster(current, c.request, Context());
  ASSERT_EQ(next.status().code(), c.code) << next.status();
  if (!next.ok()) {
    EXPECT_THAT(next.status().message(), HasSubstr(c.message));
    return;
  }
  EXPECT_EQ(next->change(), c.change);
  EXPECT_EQ(next->threshold(), c.next_threshold);
  EXPECT_EQ(AgenciesOf(*next), c.next_members);
  EXPECT_EQ(next->revocations_size(), c.revocations);
  // MakeUpdate sets these; the clock is the context's.
  EXPECT_EQ(next->version(), 0u);
  EXPECT_TRUE(next->prev_hash().empty());
  EXPECT_EQ(next->created_unix_ms(), absl::ToUnixMillis(kNow));
}

INSTANTIATE_TEST_SUITE_P(EveryOp, NextRosterTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ChangeCase>& param) {
                           return param.param.name;
                         });

TEST(NextRosterTest, TheCountedThresholdsMakeValidUpdates) {
  for (const ChangeCase& c : Cases()) {
    if (c.code != absl::StatusCode::kOk || c.name == "ThresholdIsNotJudgedHere")
      continue;
    const Roster current = Genesis(c.members, c.threshold);
    absl::StatusOr<proto::Roster> next =
        NextRoster(current, c.request, Context());
    ASSERT_TRUE(next.ok()) << c.name << ": " << next.status();
    EXPECT_TRUE(MakeUpdate(current, *next).ok()) << c.name;
  }
}

TEST(NextRosterTest, RemoveRevokesTheKeyWithItsCuts) {
  const Roster current = Genesis(4, 3);
  absl::StatusOr<proto::Roster> next =
      NextRoster(current, Request("remove", "MY.NCB"), Context());
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->revocations_size(), 1);
  const proto::Revocation& r = next->revocations(0);
  EXPECT_EQ(r.agency(), "MY.NCB");
  EXPECT_EQ(r.sign_pk(), current.Find("MY.NCB")->sign_pk());
  EXPECT_EQ(r.at_version(), current.version() + 1);
  EXPECT_TRUE(r.removed());
  ASSERT_EQ(r.cuts_size(), 2);
  EXPECT_EQ(r.cuts(0).feed_id(), Feed('a'));
  EXPECT_EQ(r.cuts(0).last_seq(), 7u);
  EXPECT_EQ(r.cuts(1).feed_id(), Feed('b'));
  EXPECT_EQ(r.cuts(1).last_seq(), 2u);
}

TEST(NextRosterTest, RevokeCutsTheOldKeyAndKeepsTheMember) {
  const Roster current = Genesis(4, 3);
  const proto::Member fresh = MemberOf(crypto::Identity::Generate("MY.NCB"));
  proto::RosterProposeRequest request = Request("revoke", "MY.NCB");
  *request.mutable_member() = fresh;
  absl::StatusOr<proto::Roster> next = NextRoster(current, request, Context());
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->revocations_size(), 1);
  const proto::Revocation& r = next->revocations(0);
  EXPECT_EQ(r.sign_pk(), current.Find("MY.NCB")->sign_pk());
  EXPECT_FALSE(r.removed());
  EXPECT_EQ(r.cuts_size(), 2);
  EXPECT_EQ(Entry(*next, "MY.NCB").sign_pk(), fresh.sign_pk());
}

TEST(NextRosterTest, RotateReplacesTheKeysWithoutARevocation) {
  const Roster current = Genesis(4, 3);
  const proto::Member fresh = MemberOf(crypto::Identity::Generate("ID.NCB"));
  proto::RosterProposeRequest request = Request("rotate", "ID.NCB");
  *request.mutable_member() = fresh;
  absl::StatusOr<proto::Roster> next = NextRoster(current, request, Context());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->revocations_size(), 0);
  EXPECT_EQ(Entry(*next, "ID.NCB").sign_pk(), fresh.sign_pk());
  EXPECT_EQ(Entry(*next, "ID.NCB").box_pk(), fresh.box_pk());
}

TEST(NextRosterTest, NoCutsWithoutACutSource) {
  const Roster current = Genesis(4, 3);
  RosterChangeContext context = Context();
  context.cuts_for = nullptr;
  absl::StatusOr<proto::Roster> next =
      NextRoster(current, Request("remove", "MY.NCB"), context);
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->revocations_size(), 1);
  EXPECT_EQ(next->revocations(0).cuts_size(), 0);
}

TEST(NextRosterTest, TheClockIsTheContexts) {
  const Roster current = Genesis(4, 3);
  RosterChangeContext context = Context();
  context.now = absl::FromUnixMillis(42);
  absl::StatusOr<proto::Roster> next =
      NextRoster(current, Request("threshold", "", "", 3), context);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->created_unix_ms(), 42);
}

}  // namespace
}  // namespace tidings::node

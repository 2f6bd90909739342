// Membership changes on a running network: admission by a k-of-n quorum
// gathered by gossip, removal with revocation, key rotation with a node that
// slept through it, and an equivocating roster update. Every node checks
// every change itself; the leakage scan runs after each change.
#include "node/model/roster.h"

#include <sodium.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "crypto/hash.h"
#include "crypto/types.h"
#include "gtest/gtest.h"
#include "node/model/envelope.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "proto/peer.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/fake_peer.h"

namespace tidings::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);
// First links: under ASan on two loaded cores a node takes 6-9 s to start,
// and a dialler that found its peer not yet up backs off before it retries
// (seen: one link still down after 30 s in a clean CI run).
constexpr absl::Duration kLinksUpTimeout = absl::Seconds(120);

::testing::AssertionResult WaitVersion(Cluster& cluster,
                                       const std::string& agency,
                                       uint32_t version) {
  return cluster.WaitUntil(
      [&] {
        absl::StatusOr<uint32_t> v = cluster.RosterVersion(agency);
        return v.ok() && *v == version;
      },
      kTimeout, absl::StrCat(agency, " applies roster v", version));
}

// Waits until `agency` holds the pending proposal `hash` with `signers`
// signatures.
::testing::AssertionResult WaitPending(Cluster& cluster,
                                       const std::string& agency,
                                       const std::string& hash, int signers) {
  return cluster.WaitUntil(
      [&] {
        absl::StatusOr<proto::RosterInfoResponse> info =
            cluster.RosterInfo(agency);
        if (!info.ok()) return false;
        for (const proto::RosterProposalStatus& p : info->pending()) {
          if (p.hash() == hash && p.signers_size() == signers) return true;
        }
        return false;
      },
      kTimeout,
      absl::StrCat(agency, " holds the proposal with ", signers,
                   " signatures"));
}

// Signs `hash` at `agency` as soon as the proposal has reached it.
::testing::AssertionResult SignWhenSeen(Cluster& cluster,
                                        const std::string& agency,
                                        const std::string& hash) {
  return cluster.WaitUntil(
      [&] { return cluster.SignRoster(agency, hash).ok(); }, kTimeout,
      absl::StrCat(agency, " signs the proposal"));
}

// Sends a notice with a fresh canary and checks that every agency in
// `outsiders` never holds the canary, the envelope id or its signature.
void SendAndScan(Cluster& cluster, const std::string& from,
                 const std::vector<std::string>& audience,
                 const std::vector<std::string>& outsiders) {
  const std::string canary = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::SendResponse sent,
                               cluster.Send(from, proto::KIND_NOTICE, audience,
                                            "Leakage check", canary));
  for (const std::string& member : audience) {
    ASSERT_TRUE(cluster.WaitUntil(
        [&] { return cluster.Show(member, sent.envelope_id()).ok(); }, kTimeout,
        absl::StrCat(member, " holds the notice")));
  }
  // The audience has it: anything an outsider were sent is on its way too.
  for (const std::string& outsider : outsiders) {
    EXPECT_FALSE(cluster.Show(outsider, sent.envelope_id()).ok()) << outsider;
    for (const std::string& needle :
         {canary, sent.envelope_id(),
          cluster.FeedEnvelopes(from, sent.feed_id())->back().signature()}) {
      TIDINGS_ASSERT_OK_AND_ASSIGN(
          std::vector<std::string> files,
          FilesContaining(cluster.data_dir(outsider), needle));
      EXPECT_TRUE(files.empty())
          << outsider << " holds a piece of the notice in " << files.front();
    }
  }
}

TEST(RosterTest, AdmitsASixthAgencyWithThreeOfFiveSignatures) {
  const std::vector<std::string> founders = {"AA.CG", "BB.CG", "CC.CG", "DD.CG",
                                             "EE.CG"};
  const std::string joiner = "FF.CG";
  ClusterOptions options = Mesh(founders);
  options.principals.push_back(joiner);
  options.joiners = {joiner};
  options.links.emplace_back(joiner, "AA.CG");
  options.links.emplace_back(joiner, "BB.CG");
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitConnected(
      "AA.CG", {"BB.CG", "CC.CG", "DD.CG", "EE.CG"}, kTimeout));
  // Not a member yet: nobody may address it.
  EXPECT_EQ(cluster->Send("AA.CG", proto::KIND_NOTICE, {joiner}, "t", "x")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  proto::RosterProposeRequest admit;
  admit.set_op("admit");
  *admit.mutable_member() = cluster->MemberEntry(joiner);
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus proposed,
                               cluster->ProposeRoster("AA.CG", admit));
  EXPECT_EQ(proposed.version(), 1u);
  EXPECT_EQ(proposed.needed(), 3u);
  EXPECT_FALSE(proposed.applied());
  const std::string hash = proposed.hash();

  // The proposal reaches B by gossip; B's signature makes two of five.
  ASSERT_TRUE(WaitPending(*cluster, "BB.CG", hash, 1));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus two,
                               cluster->SignRoster("BB.CG", hash));
  EXPECT_EQ(two.signers_size(), 2);
  EXPECT_FALSE(two.applied());
  // Everyone learns of both signatures, and nobody applies it.
  for (const std::string& founder : founders) {
    ASSERT_TRUE(WaitPending(*cluster, founder, hash, 2));
    EXPECT_EQ(*cluster->RosterVersion(founder), 0u) << founder;
  }
  EXPECT_EQ(cluster->Send("AA.CG", proto::KIND_NOTICE, {joiner}, "t", "x")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  // C's signature is the third: every founder applies v1 and the joiner,
  // whose links were refused until now, learns the chain from its peers.
  TIDINGS_ASSERT_OK(cluster->SignRoster("CC.CG", hash).status());
  for (const std::string& agency : options.principals) {
    ASSERT_TRUE(WaitVersion(*cluster, agency, 1));
  }
  ASSERT_TRUE(cluster->WaitConnected(joiner, {"AA.CG", "BB.CG"}, kTimeout));

  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse sent,
      cluster->Send("AA.CG", proto::KIND_ALERT, {joiner, "DD.CG"},
                    "Welcome aboard", "First alert to the new member"));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] { return cluster->Show(joiner, sent.envelope_id()).ok(); }, kTimeout,
      "the new member receives an alert addressed to it"));
  EXPECT_EQ(cluster->Show(joiner, sent.envelope_id())->body().title(),
            "Welcome aboard");

  // Leakage after the admission: neither the new member nor E holds what
  // was not addressed to it.
  SendAndScan(*cluster, "AA.CG", {"BB.CG", "CC.CG"}, {joiner, "EE.CG"});
}

TEST(RosterTest, RemovedAgencyIsCutOffAndWhatItSignsAfterwardsIsRevoked) {
  ClusterOptions options = Mesh({"AA.CG", "BB.CG", "CC.CG", "DD.CG"});
  options.extra_members = {"XX.CG"};  // the test speaks for it
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitAllLinksUp(kLinksUpTimeout));

  // Before the removal, D signs a notice to A: it stays valid.
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse before,
      cluster->Send("DD.CG", proto::KIND_NOTICE, {"AA.CG", "XX.CG"}, "Before",
                    "signed before the removal"));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] { return cluster->Show("AA.CG", before.envelope_id()).ok(); },
      kTimeout, "A holds D's notice"));

  proto::RosterProposeRequest remove;
  remove.set_op("remove");
  remove.set_agency("DD.CG");
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus proposed,
                               cluster->ProposeRoster("AA.CG", remove));
  // k = 3 of 5 (four nodes and XX).
  ASSERT_TRUE(WaitPending(*cluster, "BB.CG", proposed.hash(), 1));
  TIDINGS_ASSERT_OK(cluster->SignRoster("BB.CG", proposed.hash()).status());
  ASSERT_TRUE(WaitPending(*cluster, "CC.CG", proposed.hash(), 2));
  TIDINGS_ASSERT_OK(cluster->SignRoster("CC.CG", proposed.hash()).status());
  for (const char* agency : {"AA.CG", "BB.CG", "CC.CG"}) {
    ASSERT_TRUE(WaitVersion(*cluster, agency, 1));
  }

  // Links to D close within seconds, and stay closed.
  // Each end notices the close on its own stream, so poll every end: the
  // removed agency's, and each member's view of it.
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<proto::StatsResponse> stats = cluster->Stats("DD.CG");
        if (!stats.ok() || !stats->connected_peers().empty()) return false;
        for (const char* agency : {"AA.CG", "BB.CG", "CC.CG"}) {
          stats = cluster->Stats(agency);
          if (!stats.ok()) return false;
          for (const std::string& peer : stats->connected_peers()) {
            if (peer == "DD.CG") return false;
          }
        }
        return true;
      },
      kTimeout, "every link to the removed agency is closed, at both ends"));
  // Nobody encrypts to it any more.
  EXPECT_EQ(cluster->Send("AA.CG", proto::KIND_NOTICE, {"DD.CG"}, "t", "x")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // What is sent to the rest never reaches it.
  SendAndScan(*cluster, "AA.CG", {"BB.CG", "CC.CG"}, {"DD.CG"});
  // What it signed before is kept.
  EXPECT_TRUE(cluster->Show("AA.CG", before.envelope_id()).ok());

  // Its certificate no longer gets a TLS link.
  FakePeerOptions refused;
  refused.tls = &cluster->tls("DD.CG");
  refused.connect_timeout = absl::Seconds(3);
  EXPECT_EQ(FakePeer::Connect(cluster->listen_address("AA.CG"), refused)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);

  // An envelope D's key signs after the revocation point (the next position
  // of its feed, under the roster it still holds), relayed by a member, is
  // refused by every node: "revoked" by A, in its audience; B and C, outside
  // it, refuse it before looking at any key.
  std::unique_ptr<crypto::Keyring> keyring =
      KeyringOf(cluster->identity("DD.CG"));
  node::ComposeInput input;
  input.kind = proto::KIND_NOTICE;
  input.audience = {"AA.CG", "DD.CG", "XX.CG"};
  input.plaintext = "signed after the removal";
  input.seq = 2;
  input.prev_id = before.envelope_id();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      node::Composed late, node::Compose(cluster->identity("DD.CG"), *keyring,
                                         cluster->roster(), input));
  for (const char* agency : {"AA.CG", "BB.CG", "CC.CG"}) {
    SCOPED_TRACE(agency);
    TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> peer,
                                 ConnectAs(*cluster, "XX.CG", agency));
    TIDINGS_ASSERT_OK(peer->Push(late.serialized));
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Rejection rejection,
                                 peer->AwaitRejection(kTimeout));
    EXPECT_TRUE(absl::StartsWith(
        rejection.reason(),
        std::string(agency) == "AA.CG" ? "revoked" : "not_in_audience"))
        << rejection.reason();
    EXPECT_FALSE(cluster->Show(agency, late.id).ok());
  }
}

TEST(RosterTest, RotatedKeyTwoContactsAndANodeThatSleptThroughThem) {
  ClusterOptions options = Mesh({"AA.CG", "BB.CG", "CC.CG", "DD.CG"});
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitAllLinksUp(kLinksUpTimeout));

  // D sleeps; B signs a notice with its first key.
  TIDINGS_ASSERT_OK(cluster->Stop("DD.CG"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse old_key,
      cluster->Send("BB.CG", proto::KIND_NOTICE, {"AA.CG", "DD.CG"}, "Old key",
                    "signed with B's first key"));

  // Change 1: B's keys are rotated (B proposes, A and C sign: 3 of 4).
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Member next,
                               cluster->PrepareNewKey("BB.CG"));
  proto::RosterProposeRequest rotate;
  rotate.set_op("rotate");
  rotate.set_agency("BB.CG");
  *rotate.mutable_member() = next;
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus proposed,
                               cluster->ProposeRoster("BB.CG", rotate));
  for (const char* signer : {"AA.CG", "CC.CG"}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] { return cluster->SignRoster(signer, proposed.hash()).ok(); },
        kTimeout, absl::StrCat(signer, " signs the rotation")));
  }
  for (const char* agency : {"AA.CG", "BB.CG", "CC.CG"}) {
    ASSERT_TRUE(WaitVersion(*cluster, agency, 1));
  }
  // B's running node still holds the old key: it refuses to sign with it.
  EXPECT_EQ(cluster->Send("BB.CG", proto::KIND_NOTICE, {"AA.CG"}, "t", "x")
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  TIDINGS_ASSERT_OK(cluster->Stop("BB.CG"));
  TIDINGS_ASSERT_OK(cluster->UseNewKey("BB.CG"));
  TIDINGS_ASSERT_OK(cluster->Start("BB.CG"));

  // A and C each change their own endpoints: a contact each, signed by
  // that member alone, not a roster version (issue 11: two such changes
  // for one version split the chain).
  for (const char* agency : {"AA.CG", "CC.CG"}) {
    proto::RosterProposeRequest endpoints;
    endpoints.set_op("endpoints");
    endpoints.add_endpoints(cluster->listen_address(agency));
    endpoints.add_endpoints("127.0.0.1:1");
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus changed,
                                 cluster->ProposeRoster(agency, endpoints));
    EXPECT_TRUE(changed.applied()) << agency;
    EXPECT_EQ(changed.version(), 1u) << agency;
  }
  auto contacts_of = [&](const char* member) {
    std::vector<std::string> out;
    absl::StatusOr<proto::RosterInfoResponse> info =
        cluster->RosterInfo(member);
    if (!info.ok()) return out;
    for (const proto::MemberContact& c : info->contacts()) {
      if (c.endpoints_size() == 2 && c.endpoints(1) == "127.0.0.1:1") {
        out.push_back(c.agency());
      }
    }
    return out;
  };
  for (const char* member : {"AA.CG", "BB.CG", "CC.CG"}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          return contacts_of(member) ==
                 std::vector<std::string>{"AA.CG", "CC.CG"};
        },
        kTimeout, absl::StrCat(member, " holds A's and C's contacts")));
    EXPECT_EQ(*cluster->RosterVersion(member), 1u);
  }
  ASSERT_TRUE(cluster->WaitConnected("BB.CG", {"AA.CG", "CC.CG"}, kTimeout));

  // B signs with its new key.
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse new_key,
      cluster->Send("BB.CG", proto::KIND_NOTICE, {"AA.CG", "DD.CG"}, "New key",
                    "signed with B's second key"));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] { return cluster->Show("AA.CG", new_key.envelope_id()).ok(); },
      kTimeout, "A accepts B's notice under the new key"));

  // D wakes with roster v0: the chain comes first, in the link handshake,
  // then both notices, each verified with the key of its time.
  TIDINGS_ASSERT_OK(cluster->Start("DD.CG"));
  for (const auto& sent : {old_key, new_key}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] { return cluster->Show("DD.CG", sent.envelope_id()).ok(); },
        kTimeout, "D catches up on B's notices"));
  }
  EXPECT_EQ(*cluster->RosterVersion("DD.CG"), 1u);
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        return contacts_of("DD.CG") ==
               std::vector<std::string>{"AA.CG", "CC.CG"};
      },
      kTimeout, "D learns A's and C's contacts on its links"));
  EXPECT_EQ(*cluster->Counter("DD.CG", "rejected.roster_ahead"), 0u)
      << "D accepted notices before it had the roster they were signed under";
  EXPECT_EQ(*cluster->Counter("DD.CG", "rejected.bad_signature"), 0u);
  EXPECT_EQ(cluster->Show("DD.CG", old_key.envelope_id())->body().title(),
            "Old key");
  EXPECT_EQ(cluster->Show("DD.CG", new_key.envelope_id())->body().title(),
            "New key");

  // Leakage after the rotation.
  SendAndScan(*cluster, "BB.CG", {"AA.CG", "DD.CG"}, {"CC.CG"});
}

TEST(RosterTest, NothingLeaksAfterAdmitRotateAndRemove) {
  const std::string a = "AA.CG", b = "BB.CG", c = "CC.CG", d = "DD.CG",
                    e = "EE.CG";
  ClusterOptions options = Mesh({a, b, c, d});
  options.principals.push_back(e);
  options.joiners = {e};
  options.links.emplace_back(e, a);
  options.links.emplace_back(e, b);
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitConnected(a, {b, c, d}, kTimeout));

  // v1: admit E (3 of 4).
  proto::RosterProposeRequest admit;
  admit.set_op("admit");
  *admit.mutable_member() = cluster->MemberEntry(e);
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus v1,
                               cluster->ProposeRoster(a, admit));
  ASSERT_TRUE(SignWhenSeen(*cluster, b, v1.hash()));
  ASSERT_TRUE(SignWhenSeen(*cluster, c, v1.hash()));
  for (const std::string& agency : {a, b, c, d, e}) {
    ASSERT_TRUE(WaitVersion(*cluster, agency, 1));
  }

  // v2: rotate C's keys (3 of 5); C restarts with its new key.
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Member next, cluster->PrepareNewKey(c));
  proto::RosterProposeRequest rotate;
  rotate.set_op("rotate");
  rotate.set_agency(c);
  *rotate.mutable_member() = next;
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus v2,
                               cluster->ProposeRoster(c, rotate));
  ASSERT_TRUE(SignWhenSeen(*cluster, a, v2.hash()));
  ASSERT_TRUE(SignWhenSeen(*cluster, b, v2.hash()));
  ASSERT_TRUE(WaitVersion(*cluster, c, 2));
  TIDINGS_ASSERT_OK(cluster->Stop(c));
  TIDINGS_ASSERT_OK(cluster->UseNewKey(c));
  TIDINGS_ASSERT_OK(cluster->Start(c));

  // v3: remove D (3 of 5, C signing with its new key).
  proto::RosterProposeRequest remove;
  remove.set_op("remove");
  remove.set_agency(d);
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterProposalStatus v3,
                               cluster->ProposeRoster(a, remove));
  ASSERT_TRUE(SignWhenSeen(*cluster, b, v3.hash()));
  ASSERT_TRUE(SignWhenSeen(*cluster, c, v3.hash()));
  for (const std::string& agency : {a, b, c, e}) {
    ASSERT_TRUE(WaitVersion(*cluster, agency, 3));
  }
  ASSERT_TRUE(cluster->WaitConnected(c, {a, b}, kTimeout));

  // Every node outside each audience holds none of it.
  SendAndScan(*cluster, a, {b, e}, {c, d});
  SendAndScan(*cluster, c, {a, e}, {b, d});
  SendAndScan(*cluster, e, {a, c}, {b, d});
}

// A v1 that sets `threshold`, signed by `first`, XX.CG and YY.CG.
proto::SignedRoster ThresholdUpdate(Cluster& cluster, uint32_t threshold,
                                    const char* first) {
  const node::Roster& genesis = cluster.roster();
  proto::Roster next = genesis.roster();
  next.set_threshold(threshold);
  next.set_change(absl::StrCat("threshold ", threshold));
  absl::StatusOr<proto::SignedRoster> update = node::MakeUpdate(genesis, next);
  EXPECT_TRUE(update.ok()) << update.status();
  for (const char* signer : {first, "XX.CG", "YY.CG"}) {
    EXPECT_TRUE(
        node::SignUpdate(*update, genesis, cluster.identity(signer)).ok());
  }
  return *update;
}

// Sends `update` to the node at the other end of `peer`.
absl::Status Deliver(FakePeer& peer, const proto::SignedRoster& update) {
  proto::PeerMessage message;
  message.mutable_roster_updates()->add_updates(update.SerializeAsString());
  return peer.Send(message);
}

TEST(RosterTest, EquivocatingUpdatesAreReportedByBothNodesAndNeitherWins) {
  ClusterOptions options;
  options.principals = {"AA.CG", "BB.CG"};  // not linked to each other
  options.extra_members = {"XX.CG", "YY.CG"};
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_EQ(cluster->roster().roster().threshold(), 3u);

  // Two different v1 updates, each signed by three of the four members (X
  // and Y sign both: they equivocate).
  const proto::SignedRoster one = ThresholdUpdate(*cluster, 3, "AA.CG");
  const proto::SignedRoster other = ThresholdUpdate(*cluster, 4, "BB.CG");

  // X gives A the first and B the second, then each the other one.
  std::vector<std::unique_ptr<FakePeer>> links;
  for (const char* agency : {"AA.CG", "BB.CG"}) {
    TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> peer,
                                 ConnectAs(*cluster, "XX.CG", agency));
    links.push_back(std::move(peer));
  }
  TIDINGS_ASSERT_OK(Deliver(*links[0], one));
  TIDINGS_ASSERT_OK(Deliver(*links[1], other));
  ASSERT_TRUE(WaitVersion(*cluster, "AA.CG", 1));
  ASSERT_TRUE(WaitVersion(*cluster, "BB.CG", 1));
  TIDINGS_ASSERT_OK(Deliver(*links[0], other));
  TIDINGS_ASSERT_OK(Deliver(*links[1], one));

  for (const char* agency : {"AA.CG", "BB.CG"}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          absl::StatusOr<proto::RosterInfoResponse> info =
              cluster->RosterInfo(agency);
          return info.ok() && info->forks_size() == 1;
        },
        kTimeout, absl::StrCat(agency, " reports the equivocation")));
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::RosterInfoResponse info,
                                 cluster->RosterInfo(agency));
    EXPECT_EQ(info.forks(0).version(), 1u);
    EXPECT_NE(info.forks(0).applied_hash(), info.forks(0).other_hash());
    // Neither silently replaced the update it holds.
    EXPECT_EQ(info.versions_size(), 2);
  }
  // Counted once the membership's answer is back at the engine, just after
  // the fork is recorded.
  for (const char* agency : {"AA.CG", "BB.CG"}) {
    EXPECT_TRUE(cluster->WaitUntil(
        [&] {
          absl::StatusOr<uint64_t> forks =
              cluster->Counter(agency, "roster.fork");
          return forks.ok() && *forks == 1;
        },
        kTimeout, absl::StrCat(agency, " counts one fork")));
  }
}

// Two nodes that each applied a different v1 (each saw only one of two
// updates) find out the moment they meet, say so, and do not link.
TEST(RosterTest, NodesWhoseHistoriesDifferRefuseToLinkAndSaySo) {
  ClusterOptions options;
  options.principals = {"AA.CG", "BB.CG"};
  options.extra_members = {"XX.CG", "YY.CG"};
  options.links = {{"AA.CG", "BB.CG"}};
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->Start("BB.CG", Links::kIsolated));
  TIDINGS_ASSERT_OK(cluster->Start("AA.CG", Links::kIsolated));
  {
    TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> to_a,
                                 ConnectAs(*cluster, "XX.CG", "AA.CG"));
    TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> to_b,
                                 ConnectAs(*cluster, "XX.CG", "BB.CG"));
    TIDINGS_ASSERT_OK(Deliver(*to_a, ThresholdUpdate(*cluster, 3, "AA.CG")));
    TIDINGS_ASSERT_OK(Deliver(*to_b, ThresholdUpdate(*cluster, 4, "BB.CG")));
    ASSERT_TRUE(WaitVersion(*cluster, "AA.CG", 1));
    ASSERT_TRUE(WaitVersion(*cluster, "BB.CG", 1));
  }
  // A now dials B.
  TIDINGS_ASSERT_OK(cluster->Stop("AA.CG"));
  TIDINGS_ASSERT_OK(cluster->Start("AA.CG"));
  for (const char* agency : {"AA.CG", "BB.CG"}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          absl::StatusOr<uint64_t> split =
              cluster->Counter(agency, "links_refused.roster_split");
          return split.ok() && *split > 0;
        },
        kTimeout, absl::StrCat(agency, " reports the split")));
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::StatsResponse stats,
                                 cluster->Stats(agency));
    EXPECT_TRUE(stats.connected_peers().empty()) << agency;
  }
}

}  // namespace
}  // namespace tidings::testing

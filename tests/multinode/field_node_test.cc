// Field nodes on a running network: an agency certifies a node of its own
// (a patrol ship) with its identity key; the ship receives what its agency
// is in the audience of and nothing else, signs for itself, and is cut off
// by its agency alone. Forged certificates are refused.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "gtest/gtest.h"
#include "node/model/envelope.h"
#include "node/model/field_nodes.h"
#include "node/model/roster.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "proto/peer.pb.h"
#include "proto/roster.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/fake_peer.h"

namespace tidings::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);
constexpr char kAa[] = "AA.NCB";
constexpr char kBb[] = "BB.CG";
constexpr char kCc[] = "CC.CUS";
constexpr char kShip[] = "AA.NCB/SHIP1";
// A roster member with no node: the test relays through it.
constexpr char kXx[] = "XX.CG";

// A, B and C linked to each other; the ship dials A and B.
ClusterOptions ShipOptions() {
  ClusterOptions options = Mesh({kAa, kBb, kCc});
  options.principals.push_back(kShip);
  options.extra_members = {kXx};
  options.links.emplace_back(kShip, kAa);
  options.links.emplace_back(kShip, kBb);
  return options;
}

::testing::AssertionResult Holds(Cluster& cluster, const std::string& principal,
                                 const std::string& id) {
  return cluster.WaitUntil([&] { return cluster.Show(principal, id).ok(); },
                           kTimeout, absl::StrCat(principal, " holds ", id));
}

// Certifies the ship at A, starts it and waits for its links.
void StartShip(Cluster& cluster) {
  for (const char* agency : {kCc, kBb, kAa}) {
    TIDINGS_ASSERT_OK(cluster.Start(agency));
  }
  ASSERT_TRUE(cluster.WaitConnected(kAa, {kBb, kCc}, kTimeout));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::NodeInfo info,
                               cluster.CertifyNode(kShip));
  EXPECT_TRUE(info.active());
  // B learns the certificate by gossip from A before it lets the ship in.
  TIDINGS_ASSERT_OK(cluster.Start(kShip));
  ASSERT_TRUE(cluster.WaitConnected(kShip, {kAa, kBb}, kTimeout));
}

std::string FieldNodesOf(const proto::Header& header) {
  std::string out;
  for (const proto::WrappedKey& key : header.wrapped_keys()) {
    if (node::IsFieldNode(key.recipient())) {
      absl::StrAppend(&out, key.recipient(), ";");
    }
  }
  return out;
}

TEST(FieldNodeTest, ReceivesWhatItsAgencyIsInTheAudienceOfAndNothingElse) {
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(ShipOptions()));
  ASSERT_NO_FATAL_FAILURE(StartShip(*cluster));

  // An alert to A reaches A's ship, which reads it.
  const std::string canary = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse to_a,
      cluster->Send(kBb, proto::KIND_ALERT, {kAa}, canary, "vessel sighted",
                    proto::PRECEDENCE_FLASH));
  ASSERT_TRUE(Holds(*cluster, kShip, to_a.envelope_id()));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::ShowResponse shown,
                               cluster->Show(kShip, to_a.envelope_id()));
  EXPECT_EQ(shown.body().title(), canary);
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                               cluster->FeedEnvelopes(kBb, to_a.feed_id()));
  ASSERT_EQ(feed.size(), 1u);
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Header header, ParseHeader(feed[0]));
  EXPECT_EQ(FieldNodesOf(header), "AA.NCB/SHIP1;");

  // A notice to B and C never reaches the ship, not even as ciphertext.
  const std::string secret = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse to_c,
      cluster->Send(kBb, proto::KIND_NOTICE, {kCc}, secret, "not for AA"));
  ASSERT_TRUE(Holds(*cluster, kCc, to_c.envelope_id()));
  // Anti-entropy with A and B has run past the notice by the time a later
  // alert to A arrives at the ship over the same link.
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse later,
      cluster->Send(kBb, proto::KIND_ALERT, {kAa}, "later", "after"));
  ASSERT_TRUE(Holds(*cluster, kShip, later.envelope_id()));
  EXPECT_FALSE(cluster->Show(kShip, to_c.envelope_id()).ok());
  for (const std::string& needle : {secret, to_c.envelope_id()}) {
    TIDINGS_ASSERT_OK_AND_ASSIGN(
        std::vector<std::string> files,
        FilesContaining(cluster->data_dir(kShip), needle));
    EXPECT_TRUE(files.empty()) << files.front();
  }

  // The ship signs for itself: its alert to C reaches C through A (B is not
  // in the audience), and C verifies it under the ship's certified key.
  const std::string sighting = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse from_ship,
      cluster->Send(kShip, proto::KIND_ALERT, {kCc}, sighting, "boarding"));
  ASSERT_TRUE(Holds(*cluster, kCc, from_ship.envelope_id()));
  TIDINGS_ASSERT_OK_AND_ASSIGN(shown,
                               cluster->Show(kCc, from_ship.envelope_id()));
  EXPECT_EQ(shown.summary().origin(), kShip);
  EXPECT_EQ(shown.body().title(), sighting);
  ASSERT_TRUE(Holds(*cluster, kAa, from_ship.envelope_id()));
  EXPECT_FALSE(cluster->Show(kBb, from_ship.envelope_id()).ok());
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      std::vector<std::string> at_b,
      FilesContaining(cluster->data_dir(kBb), sighting));
  EXPECT_TRUE(at_b.empty());

  // Every member lists the ship as active; the ship is not a member and
  // cannot take part in roster changes.
  for (const char* agency : {kAa, kBb, kCc}) {
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::NodeListResponse nodes,
                                 cluster->ListNodes(agency));
    ASSERT_EQ(nodes.nodes_size(), 1) << agency;
    EXPECT_EQ(nodes.nodes(0).node(), kShip);
    EXPECT_TRUE(nodes.nodes(0).active());
  }
  proto::RosterProposeRequest threshold;
  threshold.set_op("threshold");
  threshold.set_threshold(4);
  EXPECT_FALSE(cluster->ProposeRoster(kShip, threshold).ok());
  // Nobody held anything of this against a peer.
  for (const char* principal : {kAa, kBb, kCc, kShip}) {
    TIDINGS_ASSERT_OK_AND_ASSIGN(
        uint64_t bad, cluster->Counter(principal, "rejected.bad_signature"));
    EXPECT_EQ(bad, 0u) << principal;
  }
}

TEST(FieldNodeTest,
     RevokedByItsAgencyAloneItIsCutOffAndWhatItSignsLaterIsRefused) {
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(ShipOptions()));
  ASSERT_NO_FATAL_FAILURE(StartShip(*cluster));

  // Before: the ship reports to B (and XX, a member the test speaks for).
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse before,
      cluster->Send(kShip, proto::KIND_NOTICE, {kBb, kXx}, "before",
                    "signed before the revocation"));
  ASSERT_TRUE(Holds(*cluster, kBb, before.envelope_id()));
  ASSERT_TRUE(Holds(*cluster, kAa, before.envelope_id()));

  // A revokes it; nobody else signs anything.
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::NodeInfo revoked,
                               cluster->RevokeNode(kShip));
  EXPECT_TRUE(revoked.revoked());
  EXPECT_FALSE(revoked.active());
  for (const char* agency : {kBb, kCc}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          absl::StatusOr<proto::NodeListResponse> nodes =
              cluster->ListNodes(agency);
          return nodes.ok() && nodes->nodes_size() == 1 &&
                 nodes->nodes(0).revoked();
        },
        kTimeout, absl::StrCat(agency, " learns of the revocation")));
  }
  // Its links close at once, and it gets no new ones.
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<proto::StatsResponse> stats = cluster->Stats(kShip);
        return stats.ok() && stats->connected_peers().empty();
      },
      kTimeout, "the ship's links close"));
  // (Its redials reuse the connection whose TLS session was set up before
  // the revocation: the link handshake refuses them.)
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<uint64_t> refused =
            cluster->Counter(kBb, "links_refused");
        return refused.ok() && *refused > 0;
      },
      kTimeout, "B refuses the ship's redial"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::StatsResponse ship_stats,
                               cluster->Stats(kShip));
  EXPECT_TRUE(ship_stats.connected_peers().empty());

  // New notices to A are wrapped to A only, and never reach the ship.
  const std::string canary = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse after,
      cluster->Send(kBb, proto::KIND_ALERT, {kAa}, canary, "after"));
  ASSERT_TRUE(Holds(*cluster, kAa, after.envelope_id()));
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                               cluster->FeedEnvelopes(kAa, after.feed_id()));
  ASSERT_FALSE(feed.empty());
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Header header, ParseHeader(feed.back()));
  EXPECT_EQ(FieldNodesOf(header), "");
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      std::vector<std::string> files,
      FilesContaining(cluster->data_dir(kShip), canary));
  EXPECT_TRUE(files.empty());

  // What it signed before stays valid.
  EXPECT_TRUE(cluster->Show(kBb, before.envelope_id()).ok());

  // What its key signs after the cut (the next position of its feed),
  // relayed by a member, is refused as "revoked".
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      std::optional<node::FieldNodes> nodes,
      node::FieldNodes().WithCert(
          [&] {
            proto::SignedNodeCert cert;
            cert.ParseFromString(revoked.signed_cert());
            return cert;
          }(),
          &cluster->roster(), cluster->roster()));
  ASSERT_TRUE(nodes.has_value());
  std::unique_ptr<crypto::Keyring> keyring =
      KeyringOf(cluster->identity(kShip));
  node::ComposeInput input;
  input.kind = proto::KIND_NOTICE;
  input.audience = {kAa, kBb, kXx};
  input.plaintext = "signed after the revocation";
  input.seq = 2;
  input.prev_id = before.envelope_id();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      node::Composed late,
      node::Compose(
          cluster->identity(kShip),
          node::SealKeys{*keyring, nullptr, nullptr, absl::Now(), &*nodes},
          cluster->roster(), input));
  EXPECT_EQ(late.feed_id, before.feed_id());
  for (const char* agency : {kAa, kBb}) {
    SCOPED_TRACE(agency);
    TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> peer,
                                 ConnectAs(*cluster, kXx, agency));
    TIDINGS_ASSERT_OK(peer->Push(late.serialized));
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Rejection rejection,
                                 peer->AwaitRejection(kTimeout));
    EXPECT_TRUE(absl::StartsWith(rejection.reason(), "revoked"))
        << rejection.reason();
    EXPECT_FALSE(cluster->Show(agency, late.id).ok());
  }

  // Restarted (a new connection), the ship's certificate no longer passes
  // TLS anywhere.
  TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t refused_before,
                               cluster->Counter(kAa, "links_refused.tls"));
  TIDINGS_ASSERT_OK(cluster->Restart(kShip));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<uint64_t> refused =
            cluster->Counter(kAa, "links_refused.tls");
        return refused.ok() && *refused > refused_before;
      },
      kTimeout, "A refuses the restarted ship"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(ship_stats, cluster->Stats(kShip));
  EXPECT_TRUE(ship_stats.connected_peers().empty());
}

// A ship certified after an alert was sealed holds it unread at first (no
// key was wrapped for it), and reads it once its agency's node has given it
// the content key.
TEST(FieldNodeTest, CertifiedLateItReadsWhatWasSentBeforeThroughItsAgency) {
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(ShipOptions()));
  for (const char* agency : {kCc, kBb, kAa}) {
    TIDINGS_ASSERT_OK(cluster->Start(agency));
  }
  ASSERT_TRUE(cluster->WaitConnected(kAa, {kBb, kCc}, kTimeout));
  const std::string canary = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse early,
      cluster->Send(kBb, proto::KIND_NOTICE, {kAa}, canary,
                    "wanted vessel, sent before the ship was certified"));
  ASSERT_TRUE(Holds(*cluster, kAa, early.envelope_id()));

  // A backlog of a day: the ship may be given keys of what is that recent.
  TIDINGS_ASSERT_OK(cluster->CertifyNode(kShip, absl::Hours(24)).status());
  TIDINGS_ASSERT_OK(cluster->Start(kShip));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<proto::ShowResponse> shown =
            cluster->Show(kShip, early.envelope_id());
        return shown.ok() && shown->body().title() == canary;
      },
      kTimeout, "the ship reads the early notice"));
  // It was not wrapped for the ship: the key came from A.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                               cluster->FeedEnvelopes(kBb, early.feed_id()));
  ASSERT_EQ(feed.size(), 1u);
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Header header, ParseHeader(feed[0]));
  EXPECT_EQ(FieldNodesOf(header), "");
  TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t learnt,
                               cluster->Counter(kShip, "content_keys.learnt"));
  EXPECT_GE(learnt, 1u);
  TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t sent,
                               cluster->Counter(kAa, "content_keys.sent"));
  EXPECT_GE(sent, 1u);
  // B (another agency) gives nothing of the kind.
  TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t from_b,
                               cluster->Counter(kBb, "content_keys.sent"));
  EXPECT_EQ(from_b, 0u);
}

// Content keys go only to the agency's own field nodes that its node
// certified, within the backlog chosen then; anyone else asking is refused
// and counted.
TEST(FieldNodeTest, ContentKeysGoOnlyToTheAgencysOwnCertifiedFieldNodes) {
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(ShipOptions()));
  for (const char* agency : {kCc, kBb, kAa}) {
    TIDINGS_ASSERT_OK(cluster->Start(agency));
  }
  ASSERT_TRUE(cluster->WaitConnected(kAa, {kBb, kCc}, kTimeout));
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse early,
      cluster->Send(kBb, proto::KIND_NOTICE, {kAa, kXx}, "early", "before"));
  ASSERT_TRUE(Holds(*cluster, kAa, early.envelope_id()));
  // Certified with no backlog; the test speaks as the ship (its keys and
  // certificate) instead of running it.
  TIDINGS_ASSERT_OK(cluster->CertifyNode(kShip).status());
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<proto::NodeListResponse> nodes = cluster->ListNodes(kBb);
        return nodes.ok() && nodes->nodes_size() == 1;
      },
      kTimeout, "B learns the ship's certificate"));
  proto::PeerMessage ask;
  ask.mutable_key_request()->add_envelope_ids(early.envelope_id());

  // Its own agency's node: nothing from before the certificate.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> to_a,
                               ConnectAs(*cluster, kShip, kAa));
  TIDINGS_ASSERT_OK(to_a->Send(ask));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<uint64_t> skipped =
            cluster->Counter(kAa, "content_keys.outside_backlog");
        return skipped.ok() && *skipped >= 1;
      },
      kTimeout, "A finds the notice older than the ship's backlog"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t sent,
                               cluster->Counter(kAa, "content_keys.sent"));
  EXPECT_EQ(sent, 0u);

  // Another agency's node, and the agency's node asked by a member: refused.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> to_b,
                               ConnectAs(*cluster, kShip, kBb));
  TIDINGS_ASSERT_OK(to_b->Send(ask));
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> member_to_a,
                               ConnectAs(*cluster, kXx, kAa));
  TIDINGS_ASSERT_OK(member_to_a->Send(ask));
  for (const char* agency : {kBb, kAa}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          absl::StatusOr<uint64_t> refused =
              cluster->Counter(agency, "rejected.key_request");
          return refused.ok() && *refused >= 1;
        },
        kTimeout, absl::StrCat(agency, " refuses the request")));
  }
  for (const char* agency : {kBb, kAa}) {
    TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t answered,
                                 cluster->Counter(agency, "content_keys.sent"));
    EXPECT_EQ(answered, 0u) << agency;
  }
  for (FakePeer* peer : {to_a.get(), to_b.get(), member_to_a.get()}) {
    for (const proto::PeerMessage& message : peer->received()) {
      EXPECT_FALSE(message.has_content_keys());
    }
  }
}

TEST(FieldNodeTest, ForgedCertificatesAreRefusedEverywhere) {
  ClusterOptions options = Mesh({kAa, kBb});
  options.extra_members = {kXx};
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitConnected(kAa, {kBb}, kTimeout));

  // XX (a member) signs a certificate for a node of AA: refused, and held
  // against XX.
  crypto::Identity rogue = crypto::Identity::Generate("AA.NCB/ROGUE");
  proto::NodeCert cert;
  cert.set_node("AA.NCB/ROGUE");
  cert.set_sign_pk(std::string(rogue.verify_key().view()));
  cert.set_box_pk(std::string(rogue.box_public().view()));
  cert.set_tls_cert_sha256(std::string(32, '\x42'));
  proto::SignedNodeCert forged;
  forged.set_cert(cert.SerializeAsString());
  forged.set_signature(crypto::Sign(cluster->identity(kXx).signing_key(),
                                    crypto::Domain::kNodeCert, forged.cert())
                           .str());
  // XX's own node, legitimately certified by XX, but with one byte changed
  // after signing.
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::SignedNodeCert own,
                               node::SignNodeCert(
                                   [&] {
                                     proto::NodeCert mine = cert;
                                     mine.set_node("XX.CG/BOAT");
                                     return mine;
                                   }(),
                                   cluster->identity(kXx), cluster->roster()));
  proto::SignedNodeCert tampered = own;
  tampered.mutable_cert()->back() ^= 1;

  TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> peer,
                               ConnectAs(*cluster, kXx, kBb));
  proto::PeerMessage message;
  message.mutable_node_certs()->add_certs(forged.SerializeAsString());
  message.mutable_node_certs()->add_certs(tampered.SerializeAsString());
  message.mutable_node_certs()->add_certs("not a certificate");
  TIDINGS_ASSERT_OK(peer->Send(message));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<uint64_t> refused =
            cluster->Counter(kBb, "rejected.node_record");
        return refused.ok() && *refused == 3;
      },
      kTimeout, "B refuses all three"));
  // The genuine one is then accepted, and gossiped on to A.
  message.mutable_node_certs()->clear_certs();
  message.mutable_node_certs()->add_certs(own.SerializeAsString());
  TIDINGS_ASSERT_OK(peer->Send(message));
  for (const char* agency : {kBb, kAa}) {
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          absl::StatusOr<proto::NodeListResponse> nodes =
              cluster->ListNodes(agency);
          return nodes.ok() && nodes->nodes_size() == 1 &&
                 nodes->nodes(0).node() == "XX.CG/BOAT";
        },
        kTimeout, absl::StrCat(agency, " holds XX.CG/BOAT only")));
  }

  // A certificate signed with AA's key somewhere else (as with a stolen
  // key): B cannot tell, but AA's own node, which did not issue it, refuses
  // it and says so.
  crypto::Identity stolen_node = crypto::Identity::Generate("AA.NCB/SPY");
  proto::NodeCert spy;
  spy.set_node("AA.NCB/SPY");
  spy.set_sign_pk(std::string(stolen_node.verify_key().view()));
  spy.set_box_pk(std::string(stolen_node.box_public().view()));
  spy.set_tls_cert_sha256(std::string(32, '\x43'));
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SignedNodeCert stolen,
      node::SignNodeCert(spy, cluster->identity(kAa), cluster->roster()));
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakePeer> to_a,
                               ConnectAs(*cluster, kXx, kAa));
  TIDINGS_ASSERT_OK_AND_ASSIGN(uint64_t refused_at_a,
                               cluster->Counter(kAa, "rejected.node_record"));
  message.mutable_node_certs()->clear_certs();
  message.mutable_node_certs()->add_certs(stolen.SerializeAsString());
  TIDINGS_ASSERT_OK(to_a->Send(message));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<uint64_t> refused =
            cluster->Counter(kAa, "rejected.node_record");
        return refused.ok() && *refused > refused_at_a;
      },
      kTimeout, "AA refuses a certificate it did not issue"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::NodeListResponse at_a,
                               cluster->ListNodes(kAa));
  for (const proto::NodeInfo& info : at_a.nodes()) {
    EXPECT_NE(info.node(), "AA.NCB/SPY");
  }

  // An agency's node certifies and revokes its own agency's nodes only.
  proto::Member foreign = cluster->MemberEntry(kXx);
  foreign.set_agency("BB.CG/SKIFF");
  EXPECT_EQ(cluster->CertifyNode(foreign, kAa).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(cluster->RevokeNode("XX.CG/BOAT", kAa).ok());
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::NodeListResponse still,
                               cluster->ListNodes(kBb));
  ASSERT_EQ(still.nodes_size(), 1);
  EXPECT_TRUE(still.nodes(0).active());
}

}  // namespace
}  // namespace tidings::testing

// Forwarding: with links A–C and C–B only, an alert from A to {A, B, C}
// reaches B through C, and B's delivered receipt comes back to A the same way.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "tests/testing/cluster.h"

namespace tidings::testing {
namespace {

constexpr char kA[] = "A.NCB";
constexpr char kB[] = "B.NCB";
constexpr char kC[] = "C.CG";
constexpr absl::Duration kTimeout = absl::Seconds(30);

TEST(RelayTest, AlertAndReceiptTravelThroughTheMiddleNode) {
  ClusterOptions options;
  options.principals = {kA, kB, kC};
  options.links = {{kA, kC}, {kB, kC}};
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitAllLinksUp(kTimeout));
  // No direct A–B link, so whatever B gets came through C.
  for (const auto& [agency, other] : {std::pair{kA, kB}, std::pair{kB, kA}}) {
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::StatsResponse stats,
                                 cluster->Stats(agency));
    for (const std::string& peer : stats.connected_peers()) {
      ASSERT_NE(peer, other)
          << agency << " is linked to " << other
          << " directly: " << absl::StrJoin(stats.connected_peers(), ",");
    }
  }

  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse sent,
      cluster->Send(kA, proto::KIND_ALERT, {kB, kC}, "Boarding in progress",
                    "Boarding of MV Example at 5.9N 118.1E",
                    proto::PRECEDENCE_IMMEDIATE));
  const std::string id = sent.envelope_id();

  ASSERT_TRUE(cluster->WaitUntil([&] { return cluster->Show(kB, id).ok(); },
                                 kTimeout, "B holds the alert via C"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::ShowResponse at_b, cluster->Show(kB, id));
  EXPECT_EQ(at_b.body().text(), "Boarding of MV Example at 5.9N 118.1E");
  EXPECT_EQ(at_b.summary().origin(), kA);
  TIDINGS_EXPECT_OK(cluster->Show(kC, id).status());

  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<proto::ReceiptStatus> status =
            cluster->RecipientStatus(kA, id, kB);
        return status.ok() && *status >= proto::RECEIPT_DELIVERED;
      },
      kTimeout, "A holds B's delivered receipt (via C)"));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<proto::ReceiptStatus> status =
            cluster->RecipientStatus(kA, id, kC);
        return status.ok() && *status >= proto::RECEIPT_DELIVERED;
      },
      kTimeout, "A holds C's delivered receipt"));

  // The relayed copy is the origin's exact signed bytes.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> at_a,
                               cluster->FeedEnvelopes(kA, sent.feed_id()));
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> relayed,
                               cluster->FeedEnvelopes(kB, sent.feed_id()));
  ASSERT_EQ(at_a.size(), 1u);
  ASSERT_EQ(relayed.size(), 1u);
  EXPECT_EQ(relayed[0].header(), at_a[0].header());
  EXPECT_EQ(relayed[0].signature(), at_a[0].signature());

  TIDINGS_EXPECT_OK(cluster->StopAll());
}

}  // namespace
}  // namespace tidings::testing

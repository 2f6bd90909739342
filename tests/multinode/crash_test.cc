// Durable before acknowledged: kill -9 a recipient in the middle of a stream
// of notices. Every envelope the origin holds as delivered (from the
// recipient's holdings records) is on the recipient's disk after restart
// (checked with the recipient isolated, so nothing can have been
// re-fetched), its feed chain verifies, and once reconnected it catches up on
// the rest. The same for a relay that forwards before its fsync, killed
// while it forwards.
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "gtest/gtest.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "tests/testing/cluster.h"

namespace tidings::testing {
namespace {

constexpr char kA[] = "A.NCB";
constexpr char kB[] = "B.CG";
constexpr size_t kNotices = 300;
// B is killed once A holds B's receipt for this many-th notice...
constexpr size_t kKillAfterReceipt = 50;
// ...and the sender holds back from this notice on until B is dead, so that
// the kill lands mid-stream whatever the speed of the machine.
constexpr size_t kHoldBackAt = 150;
constexpr absl::Duration kTimeout = absl::Seconds(60);

// Seq 1..n contiguous, each prev_id the id of the one before, each id the
// hash of the header bytes and the one A sent at that seq, and each header
// signature valid under the origin's roster key.
::testing::AssertionResult FeedChainVerifies(
    const std::vector<proto::Envelope>& feed, const crypto::VerifyKey& key,
    const std::vector<std::string>& sent_ids) {
  std::string prev;
  for (size_t i = 0; i < feed.size(); ++i) {
    absl::StatusOr<proto::Header> header = ParseHeader(feed[i]);
    if (!header.ok()) {
      return ::testing::AssertionFailure()
             << "entry " << i << ": " << header.status();
    }
    const std::string id = crypto::Hash(feed[i].header()).str();
    if (header->seq() != i + 1) {
      return ::testing::AssertionFailure()
             << "entry " << i << " has seq " << header->seq();
    }
    if (header->prev_id() != prev) {
      return ::testing::AssertionFailure()
             << "seq " << header->seq() << ": prev_id "
             << crypto::ToHex(header->prev_id()) << " is not the id of seq "
             << i << " (" << crypto::ToHex(prev) << ")";
    }
    if (i >= sent_ids.size() || id != sent_ids[i]) {
      return ::testing::AssertionFailure()
             << "seq " << header->seq() << " is " << crypto::ToHex(id)
             << ", not the envelope A sent at that seq";
    }
    std::optional<crypto::Signature> signature =
        crypto::Signature::FromBytes(feed[i].signature());
    if (!signature.has_value()) {
      return ::testing::AssertionFailure()
             << "seq " << header->seq() << ": malformed signature";
    }
    absl::Status verified = crypto::Verify(key, crypto::Domain::kEnvelope,
                                           feed[i].header(), *signature);
    if (!verified.ok()) {
      return ::testing::AssertionFailure()
             << "seq " << header->seq() << ": " << verified;
    }
    prev = id;
  }
  return ::testing::AssertionSuccess();
}

// Whether `origin` holds `recipient`'s holdings record covering `id`.
bool Delivered(Cluster& cluster, const std::string& id,
               const std::string& recipient, const std::string& origin = kA) {
  absl::StatusOr<proto::ReceiptStatus> status =
      cluster.RecipientStatus(origin, id, recipient);
  return status.ok() && *status >= proto::RECEIPT_DELIVERED;
}

bool DeliveredFromB(Cluster& cluster, const std::string& id) {
  return Delivered(cluster, id, kB);
}

TEST(CrashTest, KillNineLosesNothingAcknowledgedAndCatchesUp) {
  ClusterOptions options;
  options.principals = {kA, kB};
  options.links = {{kB, kA}};  // B dials: the link is back when B is.
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitAllLinksUp(kTimeout));
  std::optional<crypto::VerifyKey> a_key = cluster->roster().VerifyKeyOf(kA);
  ASSERT_TRUE(a_key.has_value());

  absl::Mutex mu;
  std::vector<std::string> ids;  // guarded by mu
  std::string feed_id;           // guarded by mu
  absl::Status sender_status;    // written by the sender, read after join
  absl::Notification b_killed;
  size_t sent_before_kill = 0;  // guarded by mu
  std::thread sender([&] {
    for (size_t i = 1; i <= kNotices; ++i) {
      if (i == kHoldBackAt && !b_killed.HasBeenNotified()) {
        b_killed.WaitForNotificationWithTimeout(kTimeout);
      }
      absl::StatusOr<proto::SendResponse> sent = cluster->Send(
          kA, proto::KIND_NOTICE, {kB}, absl::StrCat("Patrol report ", i),
          absl::StrCat("Position report number ", i));
      if (!sent.ok()) {
        sender_status = sent.status();
        return;
      }
      absl::MutexLock lock(&mu);
      if (i == 1) feed_id = sent->feed_id();
      ids.push_back(sent->envelope_id());
      if (!b_killed.HasBeenNotified()) sent_before_kill = i;
    }
  });

  const ::testing::AssertionResult receipt_seen = cluster->WaitUntil(
      [&] {
        std::string id;
        {
          absl::MutexLock lock(&mu);
          if (ids.size() < kKillAfterReceipt) return false;
          id = ids[kKillAfterReceipt - 1];
        }
        return DeliveredFromB(*cluster, id);
      },
      kTimeout,
      absl::StrCat("A holds B's receipt for notice ", kKillAfterReceipt));
  TIDINGS_EXPECT_OK(cluster->Kill(kB));
  b_killed.Notify();
  sender.join();
  ASSERT_TRUE(receipt_seen);
  TIDINGS_ASSERT_OK(sender_status);
  ASSERT_EQ(ids.size(), kNotices);
  RecordProperty("sent_before_kill", static_cast<int>(sent_before_kill));

  // B is dead, so every record of B's that A holds now was signed before the
  // kill, after B had synced the envelope.
  std::vector<std::string> acknowledged;
  for (const std::string& id : ids) {
    if (DeliveredFromB(*cluster, id)) acknowledged.push_back(id);
  }
  ASSERT_TRUE(DeliveredFromB(*cluster, ids[kKillAfterReceipt - 1]));
  RecordProperty("acknowledged_before_kill",
                 static_cast<int>(acknowledged.size()));

  // B alone: nobody dials it and it dials nobody, so all it has is what was
  // on its disk.
  TIDINGS_ASSERT_OK(cluster->Start(kB, Links::kIsolated));
  for (const std::string& id : acknowledged) {
    absl::StatusOr<proto::ShowResponse> shown = cluster->Show(kB, id);
    EXPECT_TRUE(shown.ok()) << "B acknowledged " << crypto::ToHex(id)
                            << " but lost it: " << shown.status();
  }
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> survived,
                               cluster->FeedEnvelopes(kB, feed_id));
  EXPECT_GE(survived.size(), acknowledged.size());
  EXPECT_TRUE(FeedChainVerifies(survived, *a_key, ids));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::StatsResponse isolated_stats,
                               cluster->Stats(kB));
  EXPECT_TRUE(isolated_stats.connected_peers().empty())
      << "B was meant to be isolated";
  TIDINGS_ASSERT_OK(cluster->Stop(kB));

  // Reconnected, B catches up on the rest, and A hears of all of it.
  TIDINGS_ASSERT_OK(cluster->Start(kB));
  ASSERT_TRUE(cluster->WaitConnected(kB, {kA}, kTimeout));
  size_t held = 0;
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<std::vector<proto::Envelope>> feed =
            cluster->FeedEnvelopes(kB, feed_id);
        if (feed.ok()) held = feed->size();
        return feed.ok() && feed->size() >= kNotices;
      },
      kTimeout, absl::StrCat("B holds all ", kNotices, " notices")))
      << "B holds " << held;
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                               cluster->FeedEnvelopes(kB, feed_id));
  EXPECT_EQ(feed.size(), kNotices);
  EXPECT_TRUE(FeedChainVerifies(feed, *a_key, ids));
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::EnvelopeSummary> inbox,
                               cluster->Inbox(kB, 1000));
  EXPECT_EQ(inbox.size(), kNotices);

  size_t delivered = 0;  // receipts are monotonic: count a prefix once
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        while (delivered < ids.size() &&
               DeliveredFromB(*cluster, ids[delivered])) {
          ++delivered;
        }
        return delivered == ids.size();
      },
      kTimeout, "A holds B's receipts for every notice"))
      << "first notice without a receipt: " << delivered + 1;

  TIDINGS_EXPECT_OK(cluster->StopAll());
}

TEST(CrashTest, ARelayKilledRightAfterForwardingLosesNothing) {
  // A -- R -- C: C hears A only through R, which forwards before it syncs.
  constexpr char kR[] = "R.PORT";
  constexpr char kC[] = "C.CUSTOMS";
  ClusterOptions options;
  options.principals = {kA, kR, kC};
  options.links = {{kR, kA}, {kC, kR}};
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitAllLinksUp(kTimeout));
  std::optional<crypto::VerifyKey> a_key = cluster->roster().VerifyKeyOf(kA);
  ASSERT_TRUE(a_key.has_value());

  absl::Mutex mu;
  std::vector<std::string> ids;  // guarded by mu
  std::string feed_id;           // guarded by mu
  absl::Status sender_status;
  absl::Notification r_killed;
  std::thread sender([&] {
    for (size_t i = 1; i <= kNotices; ++i) {
      if (i == kHoldBackAt && !r_killed.HasBeenNotified()) {
        r_killed.WaitForNotificationWithTimeout(kTimeout);
      }
      absl::StatusOr<proto::SendResponse> sent =
          cluster->Send(kA, proto::KIND_ALERT, {kR, kC},
                        absl::StrCat("Sighting ", i), "Vessel seen");
      if (!sent.ok()) {
        sender_status = sent.status();
        return;
      }
      absl::MutexLock lock(&mu);
      if (i == 1) feed_id = sent->feed_id();
      ids.push_back(sent->envelope_id());
    }
  });
  // Killed while the stream goes through it: C holds the first notices
  // (R forwarded them), and A is still sending.
  const ::testing::AssertionResult forwarded = cluster->WaitUntil(
      [&] {
        std::string id;
        {
          absl::MutexLock lock(&mu);
          if (ids.size() < kKillAfterReceipt) return false;
          id = ids[kKillAfterReceipt - 1];
        }
        return Delivered(*cluster, id, kC, kC);
      },
      kTimeout, absl::StrCat("C holds notice ", kKillAfterReceipt));
  TIDINGS_EXPECT_OK(cluster->Kill(kR));
  r_killed.Notify();
  sender.join();
  ASSERT_TRUE(forwarded);
  TIDINGS_ASSERT_OK(sender_status);
  ASSERT_EQ(ids.size(), kNotices);

  // What A holds as delivered by R is on R's disk, R alone.
  std::vector<std::string> acknowledged;
  for (const std::string& id : ids) {
    if (Delivered(*cluster, id, kR)) acknowledged.push_back(id);
  }
  TIDINGS_ASSERT_OK(cluster->Start(kR, Links::kIsolated));
  for (const std::string& id : acknowledged) {
    absl::StatusOr<proto::ShowResponse> shown = cluster->Show(kR, id);
    EXPECT_TRUE(shown.ok()) << "R acknowledged " << crypto::ToHex(id)
                            << " but lost it: " << shown.status();
  }
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> survived,
                               cluster->FeedEnvelopes(kR, feed_id));
  EXPECT_TRUE(FeedChainVerifies(survived, *a_key, ids));
  TIDINGS_ASSERT_OK(cluster->Stop(kR));

  // Back in the line, every notice reaches both, in order, and A hears so.
  TIDINGS_ASSERT_OK(cluster->Start(kR));
  for (const char* holder : {kR, kC}) {
    size_t delivered = 0;
    ASSERT_TRUE(cluster->WaitUntil(
        [&] {
          while (delivered < ids.size() &&
                 Delivered(*cluster, ids[delivered], holder)) {
            ++delivered;
          }
          return delivered == ids.size();
        },
        kTimeout,
        absl::StrCat("A holds ", holder, "'s record of every notice")))
        << "first notice not delivered to " << holder << ": " << delivered + 1;
    TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                                 cluster->FeedEnvelopes(holder, feed_id));
    EXPECT_EQ(feed.size(), kNotices);
    EXPECT_TRUE(FeedChainVerifies(feed, *a_key, ids));
  }
  TIDINGS_EXPECT_OK(cluster->StopAll());
}

}  // namespace
}  // namespace tidings::testing

// Forward secrecy on a running network: envelopes are wrapped to epoch keys,
// and once a recipient has erased the epoch secret, a captured envelope no
// longer opens with anything left on its disk, while the node still reads
// what it stored.
#include <stdio.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "node/model/envelope.h"
#include "node/model/epochs.h"
#include "node/model/membership.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "tests/testing/cluster.h"

namespace tidings::testing {
namespace {

constexpr char kA[] = "AA.CG";
constexpr char kB[] = "BB.CG";
constexpr absl::Duration kTimeout = absl::Seconds(30);

TEST(ForwardSecrecyTest, CapturedEnvelopeDoesNotOpenAfterTheGracePeriod) {
  ClusterOptions options;
  options.principals = {kA, kB};
  options.links = {{kA, kB}};
  options.epoch = absl::Seconds(2);
  options.epoch_grace = absl::Seconds(1);
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  ASSERT_TRUE(cluster->WaitAllLinksUp(kTimeout));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<uint64_t> learnt =
            cluster->Counter(kA, "epoch_keys.learnt");
        return learnt.ok() && *learnt > 0;
      },
      kTimeout, "A learns B's epoch key"));

  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse sent,
      cluster->Send(kA, proto::KIND_NOTICE, {kB}, "Captured",
                    "recorded off the wire"));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] { return cluster->Show(kB, sent.envelope_id()).ok(); }, kTimeout,
      "B holds the notice"));
  // What an eavesdropper (or a relay) would have recorded.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                               cluster->FeedEnvelopes(kB, sent.feed_id()));
  ASSERT_FALSE(feed.empty());
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Header header, ParseHeader(feed.back()));
  ASSERT_EQ(header.sender_box_pk().size(), 32u)
      << "not sealed from an epoch key";
  uint64_t epoch = 0;
  for (const proto::WrappedKey& wrapped : header.wrapped_keys()) {
    if (wrapped.recipient() == kB) epoch = wrapped.epoch();
  }
  ASSERT_NE(epoch, 0u) << "not wrapped to B's epoch key";

  const node::RosterChain chain(
      {std::make_shared<const node::Roster>(cluster->roster())});
  std::unique_ptr<crypto::Keyring> identity_keyring =
      KeyringOf(cluster->identity(kB));
  const std::string epoch_file = cluster->data_dir(kB) + "/epoch.keys";
  const node::EpochOptions epoch_options{options.epoch, options.epoch_grace};
  auto open_with_disk = [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<std::unique_ptr<node::EpochKeys>> epochs =
        node::EpochKeys::Open(epoch_file, cluster->identity(kB), epoch_options);
    if (!epochs.ok()) return epochs.status();
    return node::OpenBody(
        chain, kB, node::OpenKeys{*identity_keyring, epochs->get()}, header);
  };
  // Positive control: B's key files open it while the epoch secret is held.
  TIDINGS_ASSERT_OK(open_with_disk().status());

  // After the epoch and the grace period, the secret is gone from B's disk:
  // neither the epoch file nor the identity key opens the captured envelope.
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        absl::StatusOr<std::unique_ptr<node::EpochKeys>> epochs =
            node::EpochKeys::Open(epoch_file, cluster->identity(kB),
                                  epoch_options);
        return epochs.ok() && (*epochs)->KeyringFor(epoch) == nullptr;
      },
      kTimeout, "B erases the epoch secret after the grace period"));
  absl::StatusOr<std::string> reopened = open_with_disk();
  EXPECT_FALSE(reopened.ok());
  EXPECT_EQ(node::RejectReasonOf(reopened.status()),
            node::RejectReason::kUndecryptable);
  EXPECT_FALSE(
      node::OpenBody(chain, kB, node::OpenKeys{*identity_keyring}, header)
          .ok());

  // B still reads what it stored (its content key is kept under its storage
  // key), and new notices still flow under the next epoch keys.
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::ShowResponse shown,
                               cluster->Show(kB, sent.envelope_id()));
  EXPECT_EQ(shown.body().title(), "Captured");
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse later,
      cluster->Send(kA, proto::KIND_NOTICE, {kB}, "Later", "next epoch"));
  ASSERT_TRUE(cluster->WaitUntil(
      [&] { return cluster->Show(kB, later.envelope_id()).ok(); }, kTimeout,
      "B reads a notice sealed under a later epoch"));
}

TEST(ForwardSecrecyTest, ALostStorageKeyIsRefusedAtStart) {
  ClusterOptions options;
  options.principals = {kA};
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->Start(kA));
  TIDINGS_ASSERT_OK(cluster->Stop(kA));
  const std::string path = cluster->data_dir(kA) + "/storage.key";
  const std::string saved = path + ".saved";
  ASSERT_EQ(::rename(path.c_str(), saved.c_str()), 0);

  // A fresh key would leave every stored body unreadable once its epoch
  // keys are erased: the node refuses to start, and says why.
  const absl::Status started = cluster->Start(kA);
  EXPECT_FALSE(started.ok());
  EXPECT_NE(cluster->LogTail(kA).find("is not the storage key"),
            std::string::npos)
      << cluster->LogTail(kA);

  // The original key back: it starts.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::rename(saved.c_str(), path.c_str()), 0);
  TIDINGS_EXPECT_OK(cluster->Start(kA));
}

}  // namespace
}  // namespace tidings::testing

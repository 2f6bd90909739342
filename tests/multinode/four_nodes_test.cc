// Four agencies on a full mesh: an alert reaches exactly its audience, and the
// one agency outside it never holds any of its bytes, not even ciphertext.
#include <sodium.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/hash.h"
#include "crypto/types.h"
#include "gtest/gtest.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "tests/testing/cluster.h"

namespace tidings::testing {
namespace {

constexpr char kMy[] = "MY.NCB";
constexpr char kId[] = "ID.NCB";
constexpr char kPh[] = "PH.CG";
constexpr char kVn[] = "VN.MP";
constexpr absl::Duration kTimeout = absl::Seconds(30);

// The byte strings of `envelope` that a non-member must never hold.
std::vector<std::pair<std::string, std::string>> SecretPieces(
    const proto::Envelope& envelope, const proto::Header& header) {
  std::vector<std::pair<std::string, std::string>> pieces;
  pieces.emplace_back("signature", envelope.signature());
  pieces.emplace_back("nonce", header.nonce());
  // A 32-byte window is enough to find the ciphertext, and robust to the
  // store splitting records.
  pieces.emplace_back("ciphertext", header.ciphertext().substr(0, 32));
  for (const proto::WrappedKey& key : header.wrapped_keys()) {
    pieces.emplace_back(absl::StrCat("wrapped key for ", key.recipient()),
                        key.wrapped());
  }
  return pieces;
}

TEST(FourNodesTest, AlertReachesItsAudienceAndNoOneElse) {
  ClusterOptions options;
  options.principals = {kMy, kId, kPh, kVn};
  for (size_t i = 0; i < options.principals.size(); ++i) {
    for (size_t j = i + 1; j < options.principals.size(); ++j) {
      options.links.emplace_back(options.principals[i], options.principals[j]);
    }
  }
  TIDINGS_ASSERT_OK_AND_ASSIGN(auto cluster, Cluster::Create(options));
  TIDINGS_ASSERT_OK(cluster->StartAll());
  // VN's links are up too: whatever it does not get, it was not sent.
  ASSERT_TRUE(cluster->WaitAllLinksUp(kTimeout));

  const std::string canary = RandomCanary();
  TIDINGS_ASSERT_OK_AND_ASSIGN(
      proto::SendResponse sent,
      cluster->Send(
          kMy, proto::KIND_ALERT, {kId, kPh}, "Suspect vessel in the Sulu Sea",
          absl::StrCat("Fishing vessel, no AIS since 04:00. ", canary),
          proto::PRECEDENCE_FLASH));
  const std::string id = sent.envelope_id();
  ASSERT_EQ(id.size(), 32u);
  ASSERT_EQ(sent.seq(), 1u);

  for (const char* member : {kId, kPh}) {
    ASSERT_TRUE(
        cluster->WaitUntil([&] { return cluster->Show(member, id).ok(); },
                           kTimeout, absl::StrCat(member, " holds the alert")));
    TIDINGS_ASSERT_OK_AND_ASSIGN(proto::ShowResponse shown,
                                 cluster->Show(member, id));
    EXPECT_NE(shown.body().text().find(canary), std::string::npos)
        << member << " decrypted: " << shown.body().text();
    EXPECT_EQ(shown.body().title(), "Suspect vessel in the Sulu Sea");
    EXPECT_EQ(shown.summary().origin(), kMy);
    EXPECT_EQ(shown.summary().kind(), proto::KIND_ALERT);
    EXPECT_EQ(shown.summary().precedence(), proto::PRECEDENCE_FLASH);
    EXPECT_EQ(std::vector<std::string>(shown.summary().audience().begin(),
                                       shown.summary().audience().end()),
              (std::vector<std::string>{kId, kMy, kPh}));
  }

  // The origin sees both delivered receipts, and lists exactly the audience
  // minus itself.
  ASSERT_TRUE(cluster->WaitUntil(
      [&] {
        for (const char* member : {kId, kPh}) {
          absl::StatusOr<proto::ReceiptStatus> status =
              cluster->RecipientStatus(kMy, id, member);
          if (!status.ok() || *status < proto::RECEIPT_DELIVERED) return false;
        }
        return true;
      },
      kTimeout, "MY.NCB holds delivered receipts from ID.NCB and PH.CG"));
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::StatusResponse status,
                               cluster->Status(kMy, id));
  std::vector<std::string> recipients;
  for (const proto::RecipientStatus& r : status.recipients()) {
    recipients.push_back(r.agency());
  }
  std::sort(recipients.begin(), recipients.end());
  EXPECT_EQ(recipients, (std::vector<std::string>{kId, kPh}));

  // The origin's own copy is in its feed, with the exact signed bytes.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::Envelope> feed,
                               cluster->FeedEnvelopes(kMy, sent.feed_id()));
  ASSERT_EQ(feed.size(), 1u);
  EXPECT_EQ(crypto::Hash(feed[0].header()).str(), id);
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::Header header, ParseHeader(feed[0]));
  ASSERT_EQ(header.wrapped_keys_size(), 3);

  // VN never got it: not in its store, nothing pushed to it and refused.
  absl::StatusOr<proto::ShowResponse> at_vn = cluster->Show(kVn, id);
  EXPECT_EQ(at_vn.status().code(), absl::StatusCode::kNotFound)
      << at_vn.status();
  TIDINGS_ASSERT_OK_AND_ASSIGN(proto::StatsResponse vn_stats,
                               cluster->Stats(kVn));
  EXPECT_EQ(vn_stats.envelopes_stored(), 0u);
  for (const auto& [name, value] : vn_stats.counters()) {
    if (name == "accepted" || absl::StartsWith(name, "rejected.")) {
      EXPECT_EQ(value, 0u) << "VN.MP counter " << name;
    }
  }
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<proto::EnvelopeSummary> vn_inbox,
                               cluster->Inbox(kVn, 1000, true));
  EXPECT_TRUE(vn_inbox.empty());

  // Not a byte of it on VN's disk. Stopped first, so that all it wrote is
  // there to scan.
  TIDINGS_ASSERT_OK(cluster->Stop(kVn));
  std::vector<std::pair<std::string, std::string>> forbidden =
      SecretPieces(feed[0], header);
  forbidden.emplace_back("canary", canary);
  forbidden.emplace_back("envelope id", id);
  for (const auto& [what, bytes] : forbidden) {
    ASSERT_FALSE(bytes.empty()) << what;
    TIDINGS_ASSERT_OK_AND_ASSIGN(
        std::vector<std::string> files,
        FilesContaining(cluster->data_dir(kVn), bytes));
    EXPECT_TRUE(files.empty()) << "VN.MP's data dir holds the " << what
                               << " in " << absl::StrJoin(files, ", ");
  }

  // Positive control: the same scan finds the id where it must be.
  TIDINGS_ASSERT_OK_AND_ASSIGN(std::vector<std::string> at_id,
                               FilesContaining(cluster->data_dir(kId), id));
  EXPECT_FALSE(at_id.empty()) << "the scan does not find the envelope id in "
                                 "ID.NCB's data dir: the scan proves nothing";

  TIDINGS_EXPECT_OK(cluster->StopAll());
}

}  // namespace
}  // namespace tidings::testing

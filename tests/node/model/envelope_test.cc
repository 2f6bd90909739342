// Audiences at the cap (kMaxAudience = 256 agencies, for INTERPOL-wide
// diffusions of 196 members): an envelope to 256 composes and verifies on a
// recipient; 257 is refused with the cap named, by NormalizeAudience and by
// Verify.
#include "node/model/envelope.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/model/reject.h"
#include "node/model/roster.h"
#include "proto/envelope.pb.h"
#include "tests/testing/rosters.h"

namespace tidings::node {
namespace {

using ::testing::HasSubstr;

std::string AgencyAt(size_t i) { return absl::StrFormat("AG%03d", i); }

// A roster of kMaxAudience + 1 agencies, signed by a majority.
class LargeAudienceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    identities_ = new std::vector<crypto::Identity>();
    std::vector<proto::Member> members;
    std::vector<const crypto::Identity*> founders;
    for (size_t i = 0; i <= kMaxAudience; ++i) {
      identities_->push_back(crypto::Identity::Generate(AgencyAt(i)));
    }
    for (const crypto::Identity& identity : *identities_) {
      members.push_back(test_rosters::MemberOf(identity));
      founders.push_back(&identity);
    }
    absl::StatusOr<Roster> roster = test_rosters::SignedGenesisOf(
        std::move(members), founders,
        static_cast<uint32_t>(kMaxAudience / 2 + 1));
    ASSERT_TRUE(roster.ok()) << roster.status();
    roster_ = new Roster(*std::move(roster));
    chain_ = new RosterChain(std::vector<std::shared_ptr<const Roster>>{
        std::make_shared<const Roster>(*roster_)});
  }

  static std::vector<std::string> FirstAgencies(size_t n) {
    std::vector<std::string> audience;
    for (size_t i = 0; i < n; ++i) audience.push_back(AgencyAt(i));
    return audience;
  }

  // `serialized` verified by `receiver`, relayed by `sender`.
  static absl::StatusOr<Verified> VerifyAs(const crypto::Identity& receiver,
                                           const crypto::Identity& sender,
                                           absl::string_view serialized) {
    std::unique_ptr<crypto::Keyring> keys = test_rosters::KeyringOf(receiver);
    return Verify(
        VerifyContext{*chain_, receiver.principal(), *keys, sender.principal()},
        serialized);
  }

  static ComposeInput InputTo(std::vector<std::string> audience) {
    proto::Body body;
    body.set_title("INTERPOL-wide diffusion");
    // A text at its 64 KiB cap, so the size check below is near the worst.
    body.set_text(std::string(64 * 1024, 't'));
    ComposeInput input;
    input.audience = std::move(audience);
    input.plaintext = body.SerializeAsString();
    input.created_unix_ms = test_rosters::kCreated;
    return input;
  }

  static std::vector<crypto::Identity>* identities_;
  static Roster* roster_;
  static RosterChain* chain_;
};

std::vector<crypto::Identity>* LargeAudienceTest::identities_ = nullptr;
Roster* LargeAudienceTest::roster_ = nullptr;
RosterChain* LargeAudienceTest::chain_ = nullptr;

TEST_F(LargeAudienceTest, AudienceOf256ComposesAndVerifiesOnTheLastMember) {
  const crypto::Identity& origin = (*identities_)[0];
  absl::StatusOr<std::vector<std::string>> audience = NormalizeAudience(
      *roster_, origin.principal(), FirstAgencies(kMaxAudience));
  ASSERT_TRUE(audience.ok()) << audience.status();
  ASSERT_EQ(audience->size(), kMaxAudience);
  absl::StatusOr<Composed> composed = Compose(
      origin, *test_rosters::KeyringOf(origin), *roster_, InputTo(*audience));
  ASSERT_TRUE(composed.ok()) << composed.status();
  EXPECT_LE(composed->serialized.size(), kMaxEnvelopeBytes);

  absl::StatusOr<Verified> verified =
      VerifyAs((*identities_)[kMaxAudience - 1], origin, composed->serialized);
  ASSERT_TRUE(verified.ok()) << verified.status();
  proto::Body body;
  ASSERT_TRUE(body.ParseFromString(verified->plaintext));
  EXPECT_EQ(body.title(), "INTERPOL-wide diffusion");

  // The one agency of the roster left out refuses it.
  absl::StatusOr<Verified> refused =
      VerifyAs((*identities_)[kMaxAudience], origin, composed->serialized);
  EXPECT_EQ(RejectReasonOf(refused.status()), RejectReason::kNotInAudience);
}

TEST_F(LargeAudienceTest, AudienceOf257IsRefusedNamingTheCap) {
  absl::StatusOr<std::vector<std::string>> audience = NormalizeAudience(
      *roster_, (*identities_)[0].principal(), FirstAgencies(kMaxAudience + 1));
  ASSERT_EQ(audience.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(audience.status().message(),
              HasSubstr("audience of 257 agencies; at most 256"));
}

TEST_F(LargeAudienceTest, ReceivedEnvelopeTo257IsRefusedAsBadAudience) {
  // Compose does not re-check what NormalizeAudience checks, so a hostile
  // origin can sign one: every receiver refuses it.
  const crypto::Identity& origin = (*identities_)[0];
  absl::StatusOr<Composed> composed =
      Compose(origin, *test_rosters::KeyringOf(origin), *roster_,
              InputTo(FirstAgencies(kMaxAudience + 1)));
  ASSERT_TRUE(composed.ok()) << composed.status();
  absl::StatusOr<Verified> refused =
      VerifyAs((*identities_)[1], origin, composed->serialized);
  EXPECT_EQ(RejectReasonOf(refused.status()), RejectReason::kBadAudience);
  EXPECT_THAT(refused.status().message(), HasSubstr("256"));
}

}  // namespace
}  // namespace tidings::node

#include "node/model/reject.h"

#include <optional>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace tidings::node {
namespace {

TEST(RejectTest, EveryReasonRoundTripsThroughItsPayload) {
  // The list holds each enumerator once, in order (kUnknownNode is last).
  ASSERT_EQ(AllRejectReasons().size(),
            static_cast<size_t>(RejectReason::kUnknownNode) + 1);
  for (size_t i = 0; i < AllRejectReasons().size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(AllRejectReasons()[i]), i);
  }
  for (RejectReason reason : AllRejectReasons()) {
    const absl::Status status = Reject(reason, "detail");
    EXPECT_EQ(RejectReasonOf(status), reason) << RejectReasonName(reason);
    EXPECT_EQ(status.message(),
              std::string(RejectReasonName(reason)) + ": detail");
    EXPECT_EQ(ChainRefusalOf(status), std::nullopt);
  }
}

TEST(RejectTest, SignatureAndDecryptionFailuresAreUnauthenticated) {
  EXPECT_EQ(Reject(RejectReason::kBadSignature, "x").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Reject(RejectReason::kUndecryptable, "x").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Reject(RejectReason::kGap, "x").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RejectTest, MessageTextIsNotAReason) {
  // Text alone, however it reads, carries no type.
  const absl::Status text = absl::FailedPreconditionError("roster_ahead: v9");
  EXPECT_EQ(RejectReasonOf(text), std::nullopt);
  EXPECT_EQ(ChainRefusalOf(text), std::nullopt);
  EXPECT_FALSE(IsRosterAhead(text));
  EXPECT_FALSE(IsBehind(absl::FailedPreconditionError("behind")));
  EXPECT_FALSE(IsForked(absl::FailedPreconditionError("forked")));
  EXPECT_FALSE(IsRosterAhead(absl::OkStatus()));
}

TEST(RejectTest, ChainRefusalsKeepCodeAndMessage) {
  for (ChainRefusal refusal : {ChainRefusal::kRosterAhead,
                               ChainRefusal::kBehind, ChainRefusal::kForked}) {
    const absl::Status status =
        WithChainRefusal(absl::FailedPreconditionError("some text"), refusal);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(status.message(), "some text");
    EXPECT_EQ(ChainRefusalOf(status), refusal) << ChainRefusalName(refusal);
    EXPECT_EQ(RejectReasonOf(status), std::nullopt);
  }
}

TEST(RejectTest, PredicatesSeeTheirPayloadsOnly) {
  const absl::Status ahead = WithChainRefusal(
      absl::FailedPreconditionError("x"), ChainRefusal::kRosterAhead);
  const absl::Status behind = WithChainRefusal(
      absl::FailedPreconditionError("x"), ChainRefusal::kBehind);
  const absl::Status forked = WithChainRefusal(
      absl::FailedPreconditionError("x"), ChainRefusal::kForked);
  EXPECT_TRUE(IsRosterAhead(ahead));
  EXPECT_FALSE(IsBehind(ahead));
  EXPECT_FALSE(IsForked(ahead));
  EXPECT_TRUE(IsBehind(behind));
  EXPECT_FALSE(IsRosterAhead(behind));
  EXPECT_FALSE(IsForked(behind));
  EXPECT_TRUE(IsForked(forked));
  EXPECT_FALSE(IsRosterAhead(forked));
  EXPECT_FALSE(IsBehind(forked));
}

TEST(RejectTest, AnEnvelopeUnderARosterNotReachedIsRosterAhead) {
  EXPECT_TRUE(IsRosterAhead(Reject(RejectReason::kRosterAhead, "v3")));
  EXPECT_FALSE(IsRosterAhead(Reject(RejectReason::kUnknownNode, "x")));
  EXPECT_FALSE(IsBehind(Reject(RejectReason::kRosterAhead, "v3")));
}

}  // namespace
}  // namespace tidings::node

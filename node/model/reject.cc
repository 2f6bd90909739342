#include "node/model/reject.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace tidings::node {
namespace {

// Payload type URLs; the values are the names below.
constexpr absl::string_view kRejectPayloadUrl = "tidings/reject";
constexpr absl::string_view kChainRefusalPayloadUrl = "tidings/chain_refusal";

constexpr RejectReason kAllReasons[] = {
    RejectReason::kOversized,     RejectReason::kMalformed,
    RejectReason::kWrongNetwork,  RejectReason::kUnknownOrigin,
    RejectReason::kBadSignature,  RejectReason::kBadAudience,
    RejectReason::kNotInAudience, RejectReason::kSenderNotInAudience,
    RejectReason::kUndecryptable, RejectReason::kGap,
    RejectReason::kPrevMismatch,  RejectReason::kEquivocation,
    RejectReason::kRevoked,       RejectReason::kRosterAhead,
    RejectReason::kUnknownNode,
};

constexpr ChainRefusal kAllChainRefusals[] = {
    ChainRefusal::kRosterAhead,
    ChainRefusal::kBehind,
    ChainRefusal::kForked,
};

}  // namespace

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kOversized:
      return "oversized";
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kWrongNetwork:
      return "wrong_network";
    case RejectReason::kUnknownOrigin:
      return "unknown_origin";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kBadAudience:
      return "bad_audience";
    case RejectReason::kNotInAudience:
      return "not_in_audience";
    case RejectReason::kSenderNotInAudience:
      return "sender_not_in_audience";
    case RejectReason::kUndecryptable:
      return "undecryptable";
    case RejectReason::kGap:
      return "gap";
    case RejectReason::kPrevMismatch:
      return "prev_mismatch";
    case RejectReason::kEquivocation:
      return "equivocation";
    case RejectReason::kRevoked:
      return "revoked";
    case RejectReason::kRosterAhead:
      return "roster_ahead";
    case RejectReason::kUnknownNode:
      return "unknown_node";
  }
  return "unknown";
}

absl::Status Reject(RejectReason reason, absl::string_view detail) {
  const bool auth = reason == RejectReason::kBadSignature ||
                    reason == RejectReason::kUndecryptable;
  absl::Status status(auth ? absl::StatusCode::kUnauthenticated
                           : absl::StatusCode::kInvalidArgument,
                      absl::StrCat(RejectReasonName(reason), ": ", detail));
  status.SetPayload(kRejectPayloadUrl, absl::Cord(RejectReasonName(reason)));
  return status;
}

absl::Span<const RejectReason> AllRejectReasons() { return kAllReasons; }

std::optional<RejectReason> RejectReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRejectPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  for (RejectReason reason : kAllReasons) {
    if (*payload == RejectReasonName(reason)) return reason;
  }
  return std::nullopt;
}

absl::string_view ChainRefusalName(ChainRefusal refusal) {
  switch (refusal) {
    case ChainRefusal::kRosterAhead:
      return "roster_ahead";
    case ChainRefusal::kBehind:
      return "behind";
    case ChainRefusal::kForked:
      return "forked";
  }
  return "unknown";
}

absl::Status WithChainRefusal(absl::Status status, ChainRefusal refusal) {
  status.SetPayload(kChainRefusalPayloadUrl,
                    absl::Cord(ChainRefusalName(refusal)));
  return status;
}

std::optional<ChainRefusal> ChainRefusalOf(const absl::Status& status) {
  auto payload = status.GetPayload(kChainRefusalPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  for (ChainRefusal refusal : kAllChainRefusals) {
    if (*payload == ChainRefusalName(refusal)) return refusal;
  }
  return std::nullopt;
}

bool IsRosterAhead(const absl::Status& status) {
  return ChainRefusalOf(status) == ChainRefusal::kRosterAhead ||
         RejectReasonOf(status) == RejectReason::kRosterAhead;
}

bool IsBehind(const absl::Status& status) {
  return ChainRefusalOf(status) == ChainRefusal::kBehind;
}

bool IsForked(const absl::Status& status) {
  return ChainRefusalOf(status) == ChainRefusal::kForked;
}

}  // namespace tidings::node

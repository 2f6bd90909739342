// Refusals as data: why the model refused something, attached to the
// absl::Status as a payload, so that callers branch on a type and never on
// message text (the text is for people and may change).
//
// Two kinds:
//  - `RejectReason`: why a received envelope was refused (node/model/
//    envelope.h `Verify`, and the key checks of the roster chain and the
//    field nodes it calls). Made by `Reject`, read by `RejectReasonOf`.
//  - `ChainRefusal`: a refusal that says where this node's roster chain
//    stands rather than what is wrong with what was offered: signed under a
//    roster version not reached yet, an update beyond the next version, or a
//    chain frozen by a fork. Honest peers cause these; callers use
//    `IsRosterAhead`, `IsBehind` and `IsForked`.
//
// Thread-safety: free functions over values.
#ifndef TIDINGS_NODE_MODEL_REJECT_H_
#define TIDINGS_NODE_MODEL_REJECT_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tidings::node {

// Why a received envelope was refused. The name is the metrics counter suffix
// and the first word of the log line.
enum class RejectReason {
  kOversized,            // "oversized"
  kMalformed,            // "malformed"
  kWrongNetwork,         // "wrong_network"
  kUnknownOrigin,        // "unknown_origin"
  kBadSignature,         // "bad_signature"
  kBadAudience,          // "bad_audience"
  kNotInAudience,        // "not_in_audience": this node is not in it
  kSenderNotInAudience,  // "sender_not_in_audience": the relaying peer is not
  kUndecryptable,        // "undecryptable"
  kGap,                  // "gap"
  kPrevMismatch,         // "prev_mismatch"
  kEquivocation,         // "equivocation"
  kRevoked,              // "revoked": signed with a revoked key past its cut
  kRosterAhead,          // "roster_ahead": signed under a roster version
                         // this node has not applied yet (not the sender's
                         // fault; retried once the update arrives)
  kUnknownNode,          // "unknown_node": signed by a field node whose
                         // certificate has not reached this node yet (not
                         // the sender's fault; retried once it arrives)
};
absl::string_view RejectReasonName(RejectReason reason);
// Every reason, in declaration order.
absl::Span<const RejectReason> AllRejectReasons();

// A status refusing an envelope: kInvalidArgument (kUnauthenticated for
// signature and decryption failures), message "<name>: <detail>", and the
// reason attached as a payload that RejectReasonOf reads back.
absl::Status Reject(RejectReason reason, absl::string_view detail);
// The reason of a status made by Reject, or nullopt for any other status.
std::optional<RejectReason> RejectReasonOf(const absl::Status& status);

// Where this node's roster chain stands, as the cause of a refusal.
enum class ChainRefusal {
  kRosterAhead,  // "roster_ahead": a record (a field-node certificate or
                 // revocation) signed under a roster version this node has
                 // not reached yet
  kBehind,       // "behind": a roster update beyond the next version; the
                 // updates between come first
  kForked,       // "forked": the chain forked; nothing is applied until an
                 // operator resolves it
};
absl::string_view ChainRefusalName(ChainRefusal refusal);

// `status` (not OK; its code and message unchanged) with `refusal` attached.
absl::Status WithChainRefusal(absl::Status status, ChainRefusal refusal);
// The refusal attached by WithChainRefusal, or nullopt.
std::optional<ChainRefusal> ChainRefusalOf(const absl::Status& status);

// Signed under a roster version this node has not applied yet: an envelope
// (RejectReason::kRosterAhead) or a field-node record
// (ChainRefusal::kRosterAhead).
bool IsRosterAhead(const absl::Status& status);
// A roster update beyond the next version (ChainRefusal::kBehind).
bool IsBehind(const absl::Status& status);
// Refused because this node's roster chain forked (ChainRefusal::kForked).
bool IsForked(const absl::Status& status);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_REJECT_H_

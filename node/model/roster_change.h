// Roster changes an officer asks for: the successor roster that one change
// (admit, remove, rotate, revoke, threshold) makes of the current one,
// before anyone signs it (Membership::Propose signs and offers it). A
// member's own endpoints and TLS pin change with a contact instead
// (Membership::PublishContact), outside the chain.
//
// The policy lives here, apart from the client service that receives the
// request: which fields each change reads, what it refuses, how a removal
// or a compromised key is revoked with feed cuts, and how the threshold
// follows the member count. The clock and the feed cuts come in through
// `RosterChangeContext`, so a test runs it without a log or a real clock.
//
// Thread-safety: free functions over values; the context's `cuts_for` is
// called on the calling thread.
#ifndef TIDINGS_NODE_MODEL_ROSTER_CHANGE_H_
#define TIDINGS_NODE_MODEL_ROSTER_CHANGE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "node/model/roster.h"
#include "proto/client.pb.h"
#include "proto/roster.pb.h"

namespace tidings::node {

// The changes, as officers name them in RosterProposeRequest.op:
//   "admit"      add request.member
//   "remove"     drop request.agency, revoking its key with cuts
//   "rotate"     request.agency gets request.member's keys
//   "revoke"     as rotate, and the old key is revoked with cuts (it was
//                compromised)
//   "threshold"  k becomes request.threshold

struct RosterChangeContext {
  // The successor's created_unix_ms.
  absl::Time now;
  // The feed cuts for a revocation of `agency`: the head of every feed of
  // its this node holds (CutsFor over the log). Null: no cuts.
  std::function<std::vector<proto::FeedCut>(absl::string_view agency)> cuts_for;
};

// The roster `request` asks for, as the successor of `current`: version and
// prev_hash cleared (MakeUpdate sets them), created_unix_ms from
// `context.now`, `change` describing it. After admit and remove, k is
// request.threshold if set, else kept unless the new member count makes it
// invalid (k > n or 2k <= n), then the smallest majority n/2 + 1; the
// roster's own rules (MakeUpdate) judge the result.
// Errors: kInvalidArgument for an unknown op, a malformed agency id (admit)
// or a key file of another agency (rotate, revoke); kAlreadyExists to admit
// a member; kNotFound to remove, rotate or revoke a non-member.
absl::StatusOr<proto::Roster> NextRoster(
    const Roster& current, const proto::RosterProposeRequest& request,
    const RosterChangeContext& context);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_ROSTER_CHANGE_H_

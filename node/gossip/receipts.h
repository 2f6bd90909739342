// Receipt envelopes (read, acknowledged: officer actions at human rate).
// They travel as KIND_RECEIPT envelopes of the receiving node's own feeds,
// so they have no peer message of their own; this module reads the rows a
// received one carries. "Delivered" is not a receipt envelope any more: it
// is derived from holdings records (holdings.h). A received receipt that
// still says delivered (an older node) is kept like any other.
//
// Thread-safety: free functions.
#ifndef TIDINGS_NODE_GOSSIP_RECEIPTS_H_
#define TIDINGS_NODE_GOSSIP_RECEIPTS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/envelope.pb.h"
#include "storage/log.h"

namespace tidings::node {

// Entries a received receipt may carry.
inline constexpr size_t kMaxReceiptEntries = 4096;

// Receipt rows carried by a verified KIND_RECEIPT envelope `receipt_id`
// from `recipient`. A Reject(kMalformed) if the body is not a valid one.
absl::StatusOr<std::vector<storage::ReceiptUpdate>> ReceiptUpdatesOf(
    absl::string_view recipient, absl::string_view receipt_id,
    absl::string_view plaintext);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_RECEIPTS_H_

#include "node/gossip/receipts.h"

#include "absl/strings/str_cat.h"
#include "crypto/hash.h"
#include "node/model/envelope.h"

namespace tidings::node {

absl::StatusOr<std::vector<storage::ReceiptUpdate>> ReceiptUpdatesOf(
    absl::string_view recipient, absl::string_view receipt_id,
    absl::string_view plaintext) {
  proto::ReceiptBody body;
  if (!body.ParseFromArray(plaintext.data(),
                           static_cast<int>(plaintext.size()))) {
    return Reject(RejectReason::kMalformed, "receipt body does not parse");
  }
  if (static_cast<size_t>(body.entries_size()) > kMaxReceiptEntries) {
    return Reject(RejectReason::kMalformed,
                  absl::StrCat("receipt with ", body.entries_size(),
                               " entries; at most ", kMaxReceiptEntries));
  }
  std::vector<storage::ReceiptUpdate> updates;
  updates.reserve(static_cast<size_t>(body.entries_size()));
  for (const proto::ReceiptEntry& entry : body.entries()) {
    if (entry.envelope_id().size() != crypto::Hash256::kSize ||
        entry.status() < proto::RECEIPT_DELIVERED ||
        entry.status() > proto::RECEIPT_ACKNOWLEDGED) {
      return Reject(RejectReason::kMalformed, "receipt entry out of range");
    }
    updates.push_back({entry.envelope_id(), std::string(recipient),
                       static_cast<int32_t>(entry.status()), entry.at_unix_ms(),
                       std::string(receipt_id)});
  }
  return updates;
}

}  // namespace tidings::node

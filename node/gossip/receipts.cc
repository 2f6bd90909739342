#include "node/gossip/receipts.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"
#include "crypto/hash.h"
#include "node/gossip/internal/envelopes.h"
#include "node/model/envelope.h"
#include "node/model/field_nodes.h"

namespace tidings::node {

using gossip_internal::AudienceOf;
using gossip_internal::HeldHeader;
using gossip_internal::Short;

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

Receipts::Receipts(absl::string_view self)
    : self_(self), receipts_deliveries_(!IsFieldNode(self)) {}

bool Receipts::Owes(const proto::Header& header) const {
  return header.kind() != proto::KIND_RECEIPT && header.origin() != self_ &&
         receipts_deliveries_;
}

std::vector<ReceiptToSend> Receipts::Group(const std::vector<ReceiptDue>& due,
                                           absl::Time now) {
  std::vector<ReceiptToSend> groups;
  std::vector<proto::ReceiptBody> bodies;
  std::map<std::string, size_t> open;  // audience -> index of a group not full
  const int64_t now_ms = absl::ToUnixMillis(now);
  for (const ReceiptDue& d : due) {
    const std::string key = absl::StrJoin(d.header->audience(), ",");
    auto it = open.find(key);
    if (it == open.end() ||
        groups[it->second].settles.size() >= kReceiptEntriesPerEnvelope) {
      groups.emplace_back();
      bodies.emplace_back();
      groups.back().audience = AudienceOf(*d.header);
      it = open.insert_or_assign(key, groups.size() - 1).first;
    }
    ReceiptToSend& group = groups[it->second];
    group.precedence = std::min(group.precedence, d.header->precedence());
    proto::ReceiptEntry* entry = bodies[it->second].add_entries();
    entry->set_envelope_id(d.id);
    entry->set_status(proto::RECEIPT_DELIVERED);
    entry->set_at_unix_ms(now_ms);
    group.settles.push_back(d.id);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].plaintext = bodies[i].SerializeAsString();
  }
  return groups;
}

std::vector<ReceiptToSend> Receipts::OwedAtStart(const storage::Log& log,
                                                 absl::Time now) {
  absl::StatusOr<std::vector<std::string>> owed = log.ListOwedReceipts();
  if (!owed.ok()) {
    spdlog::error("cannot list owed receipts: {}", owed.status().ToString());
    return {};
  }
  if (owed->empty()) return {};
  std::vector<proto::Header> headers(owed->size());
  std::vector<ReceiptDue> due;
  for (size_t i = 0; i < owed->size(); ++i) {
    std::optional<proto::Header> held = HeldHeader(log, (*owed)[i]);
    if (!held.has_value()) {
      spdlog::error("owed receipt for {} has no readable envelope",
                    Short((*owed)[i]));
      continue;
    }
    headers[i] = *std::move(held);
    due.push_back({(*owed)[i], &headers[i]});
  }
  spdlog::info("settling {} receipts owed from before a restart", due.size());
  return Group(due, now);
}

}  // namespace tidings::node

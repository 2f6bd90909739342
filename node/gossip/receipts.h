// Delivery receipts. They travel as KIND_RECEIPT envelopes of the receiving
// node's own feeds, so they have no peer message of their own: the engine
// asks this module which stored envelopes owe a receipt, groups those owed
// into receipt bodies it then sequences and stores like any own envelope,
// and reads the rows a received receipt carries.
//
// Thread-safety: free functions and a class without mutable state.
#ifndef TIDINGS_NODE_GOSSIP_RECEIPTS_H_
#define TIDINGS_NODE_GOSSIP_RECEIPTS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/envelope.pb.h"
#include "storage/log.h"

namespace tidings::node {

// Entries a received receipt may carry.
inline constexpr size_t kMaxReceiptEntries = 4096;
// What we put in one receipt envelope: well under what receivers accept.
inline constexpr size_t kReceiptEntriesPerEnvelope = 1024;

// Receipt rows carried by a verified KIND_RECEIPT envelope `receipt_id`
// from `recipient`. A Reject(kMalformed) if the body is not a valid one.
absl::StatusOr<std::vector<storage::ReceiptUpdate>> ReceiptUpdatesOf(
    absl::string_view recipient, absl::string_view receipt_id,
    absl::string_view plaintext);

// An envelope stored here whose receipt is due. `header` is borrowed.
struct ReceiptDue {
  std::string id;
  const proto::Header* header;
};

// One receipt envelope to send: its audience, precedence and body, and the
// owed receipts it settles.
struct ReceiptToSend {
  std::vector<std::string> audience;
  proto::Precedence precedence = proto::PRECEDENCE_ROUTINE;
  std::string plaintext;  // a serialized proto::ReceiptBody
  std::vector<std::string> settles;
};

class Receipts {
 public:
  // `self` is this node's principal.
  explicit Receipts(absl::string_view self);

  // Whether storing an envelope with `header` obliges this node to receipt
  // it (never its own, never a receipt; field nodes never do).
  bool Owes(const proto::Header& header) const;

  // Delivered receipts for `due` at `now`: one envelope per audience, at
  // most kReceiptEntriesPerEnvelope entries each (under load a receipt
  // covers hundreds of envelopes).
  static std::vector<ReceiptToSend> Group(const std::vector<ReceiptDue>& due,
                                          absl::Time now);

  // Receipts owed from before a crash (stored, never receipted), grouped.
  // Logs what it cannot read.
  static std::vector<ReceiptToSend> OwedAtStart(const storage::Log& log,
                                                absl::Time now);

 private:
  const std::string self_;
  // Field nodes do not receipt: "delivered" is the agency's node storing it,
  // and field nodes sit on the thinnest links.
  const bool receipts_deliveries_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_RECEIPTS_H_

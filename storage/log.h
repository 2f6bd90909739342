// The local log: every envelope this node holds, on RocksDB.
//
// Column families (keys are raw bytes; integers big-endian):
//   envelopes  id(32)                     -> serialized proto::Envelope
//   feeds      feed_id(32) || seq(8)      -> id(32)
//   heads      feed_id(32)                -> proto::FeedHead
//   inbox      arrival(8)                 -> proto::InboxRecord
//   receipts   envelope_id(32) || agency  -> proto::ReceiptRecord
//   evidence   feed_id || seq || id       -> serialized proto::Envelope
//   meta       name                       -> value
//   owed       no longer written (delivered receipts became holdings
//              records); kept so that logs written before still open
//
// The log enforces feed structure (contiguous sequence numbers, each record
// naming its predecessor's id) but no crypto policy: callers verify
// signatures, audiences and bodies before they append.
//
// Durability: with `LogOptions::sync` (the default) Append returns only after
// its write batch is in a synced WAL. One Append call is one atomic batch,
// whatever the number of records in it (that is how callers group-commit).
//
// Thread-safety: all methods are safe to call from any thread; appends are
// serialised internally.
#ifndef TIDINGS_STORAGE_LOG_H_
#define TIDINGS_STORAGE_LOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/storage.pb.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
}  // namespace rocksdb

namespace tidings::storage {

struct LogOptions {
  // Directory of the RocksDB database; created if missing.
  std::string path;
  // Sync the WAL on every Append (default). Turning it off loses
  // acknowledged data on power loss; only benchmarks measuring the
  // difference should.
  bool sync = true;
  // The Env RocksDB does all its file I/O through; null (the default) is
  // RocksDB's default Env. Borrowed: must outlive the Log. Only for tests
  // that simulate power loss.
  rocksdb::Env* env = nullptr;
};

enum class InboxEntry { kNo, kYes };

// A status for (envelope_id, recipient). Higher statuses replace lower ones,
// never the reverse.
struct ReceiptUpdate {
  std::string envelope_id;
  std::string recipient;
  int32_t status = 0;
  int64_t at_unix_ms = 0;
  std::string receipt_envelope_id;
};

// One verified envelope to store.
struct EnvelopeRecord {
  std::string id;       // 32 bytes
  std::string feed_id;  // 32 bytes
  uint64_t seq = 0;     // >= 1
  std::string prev_id;  // empty iff seq == 1
  std::string origin;
  std::vector<std::string> audience;
  std::string envelope;  // serialized proto::Envelope
  InboxEntry inbox = InboxEntry::kYes;
  int64_t stored_unix_us = 0;
  // Applied in the same batch as the envelope, only if it is stored.
  std::vector<ReceiptUpdate> receipts;
  // The envelope's content key sealed under the node's storage key (opaque
  // here), so the node can read what it holds after its epoch keys are
  // erased. Empty: none.
  std::string local_key;
};

enum class AppendOutcome {
  kStored,        // new; written
  kDuplicate,     // this exact id is already held; nothing written
  kGap,           // seq > head + 1; nothing written
  kPrevMismatch,  // seq == head + 1 but prev_id != head id; nothing written
  kEquivocation,  // a different envelope holds this position; kept as evidence
};

struct AppendResult {
  AppendOutcome outcome = AppendOutcome::kStored;
  uint64_t head_seq = 0;  // the feed's head after this record
};

// Human-readable name of an outcome ("stored", "duplicate", "gap", ...).
absl::string_view OutcomeName(AppendOutcome outcome);

class Log {
 public:
  // Opens or creates the log at `options.path`. Errors keep RocksDB's
  // message: kFailedPrecondition if the directory is locked by another
  // process (or another open Log), kDataLoss on corruption, kUnavailable on
  // I/O errors.
  static absl::StatusOr<std::unique_ptr<Log>> Open(const LogOptions& options);

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;
  ~Log();

  // Checks each record against the feed heads (including earlier records of
  // the same call) and writes all kStored ones, plus equivocation evidence, in
  // one atomic batch. Returns one result per record, in order. A storage
  // failure returns an error and writes nothing; so does a malformed record
  // (kInvalidArgument: id, feed_id or a receipt's envelope_id not 32 bytes,
  // or seq 0).
  absl::StatusOr<std::vector<AppendResult>> Append(
      absl::Span<const EnvelopeRecord> records);

  // The serialized envelope with this id, or nullopt.
  absl::StatusOr<std::optional<std::string>> GetEnvelope(
      absl::string_view id) const;

  // Whether envelope `id` holds position `seq` of feed `feed_id`: one
  // lookup of a 32-byte value, never a read of the envelope (how a copy
  // already held is recognised). False for malformed ids, or on a read
  // error.
  bool HoldsAt(absl::string_view feed_id, uint64_t seq,
               absl::string_view id) const;

  // The head of a feed, or nullopt if this log holds none of it.
  std::optional<proto::FeedHead> GetHead(absl::string_view feed_id) const;

  // Every feed head, ordered by feed id.
  std::vector<proto::FeedHead> ListHeads() const;

  // Up to `max_count` envelopes of a feed, from `from_seq` on, in order,
  // totalling at most `max_bytes` unless the first alone is larger (at least
  // one is returned if any exists, when max_count > 0). kInvalidArgument if
  // feed_id is not 32 bytes.
  absl::StatusOr<std::vector<std::string>> ReadFeed(absl::string_view feed_id,
                                                    uint64_t from_seq,
                                                    size_t max_count,
                                                    size_t max_bytes) const;

  // Inbox entries, newest first.
  absl::StatusOr<std::vector<proto::InboxRecord>> ListInbox(size_t limit) const;

  // Receipts for one envelope, by recipient agency. kInvalidArgument if
  // envelope_id is not 32 bytes.
  absl::StatusOr<std::vector<std::pair<std::string, proto::ReceiptRecord>>>
  ListReceipts(absl::string_view envelope_id) const;

  // The local key stored with envelope `id`, or nullopt.
  absl::StatusOr<std::optional<std::string>> GetLocalKey(
      absl::string_view id) const;
  // Stores the local key of envelope `id`, learnt after the envelope (a
  // field node given its content key by its agency's node). Synced.
  // kNotFound if no envelope `id` is held.
  absl::Status PutLocalKey(absl::string_view id, absl::string_view local_key);

  // Serialized envelopes kept as equivocation evidence.
  absl::StatusOr<std::vector<std::string>> ListEvidence() const;

  // Number of envelopes held.
  uint64_t envelope_count() const;

  // Small named records kept beside the envelopes (the roster chain, pending
  // roster proposals; every name is in storage/state_keys.h). Each write is
  // its own synced batch. Keys are opaque to the log; ScanState returns
  // (key, value) pairs whose key starts with `prefix`, ordered by key.
  absl::Status PutState(absl::string_view key, absl::string_view value);
  // Several state records in one synced batch.
  absl::Status PutStates(
      const std::vector<std::pair<std::string, std::string>>& records);
  absl::Status DeleteState(absl::string_view key);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanState(
      absl::string_view prefix) const;

 private:
  struct Impl;
  explicit Log(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidings::storage

#endif  // TIDINGS_STORAGE_LOG_H_

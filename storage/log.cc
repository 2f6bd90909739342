#include "storage/log.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "proto/storage.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/status.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/state_keys.h"

namespace tidings::storage {
namespace {

// State keys live in the meta family under this prefix, apart from the
// log's own counters (storage/state_keys.h).
using state_keys::kStatePrefix;

// Ids and feed ids are fixed-size so that `feed_id || seq` and
// `envelope_id || agency` keys can be scanned by prefix without one feed's
// keys running into another's.
constexpr size_t kIdSize = 32;

// Memory for memtables, all column families together, and per memtable.
constexpr size_t kMemtableBudget = 32 << 20;
constexpr size_t kMemtableBytes = 8 << 20;

// Column family names, as stored in the database. Order matches `Cf`.
// "owed" is no longer written, but logs that have it must still open.
constexpr const char* kCfNames[] = {"envelopes", "feeds",    "heads",
                                    "inbox",     "receipts", "evidence",
                                    "meta",      "owed",     "local_keys"};
enum Cf : size_t {
  kEnvelopes,
  kFeeds,
  kHeads,
  kInbox,
  kReceipts,
  kEvidence,
  kMeta,
  kOwed,
  kLocalKeys,
  kCfCount,
};

// meta keys.
constexpr absl::string_view kMetaEnvelopeCount = "envelope_count";
constexpr absl::string_view kMetaNextArrival = "next_arrival";

// The one place a rocksdb::Status becomes an absl::Status. `what` says which
// operation failed; RocksDB's own message is kept after it.
absl::Status FromRocksDb(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string rocks_message = s.ToString();
  std::string message = absl::StrCat(what, ": ", rocks_message);
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      // RocksDB reports a held LOCK file as a plain IOError ("While lock
      // file: ...: Resource temporarily unavailable" from another process,
      // "lock hold by current process" from this one). Retrying will not
      // help, and the operator needs to know what to look for.
      if (absl::StrContains(rocks_message, "lock file") ||
          absl::StrContains(rocks_message, "lock hold")) {
        return absl::FailedPreconditionError(absl::StrCat(
            what,
            ": data directory is locked by another process (or another Log "
            "in this one): ",
            rocks_message));
      }
      if (s.subcode() == rocksdb::Status::kNoSpace ||
          s.subcode() == rocksdb::Status::kSpaceLimit) {
        return absl::ResourceExhaustedError(message);
      }
      // The disk may come back (remount, freed space): callers may retry.
      return absl::UnavailableError(message);
    case rocksdb::Status::kShutdownInProgress:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(message);
    case rocksdb::Status::kTimedOut:
      return absl::DeadlineExceededError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    case rocksdb::Status::kBusy:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

void AppendBigEndian64(uint64_t v, std::string& out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::string BigEndian64(uint64_t v) {
  std::string out;
  AppendBigEndian64(v, out);
  return out;
}

uint64_t DecodeBigEndian64(absl::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  }
  return v;
}

std::string FeedKey(absl::string_view feed_id, uint64_t seq) {
  std::string key(feed_id);
  AppendBigEndian64(seq, key);
  return key;
}

std::string EvidenceKey(absl::string_view feed_id, uint64_t seq,
                        absl::string_view id) {
  std::string key = FeedKey(feed_id, seq);
  key.append(id.data(), id.size());
  return key;
}

std::string ReceiptKey(absl::string_view envelope_id,
                       absl::string_view recipient) {
  return absl::StrCat(envelope_id, recipient);
}

rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

absl::string_view ToView(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

// Records come from our own callers, but a malformed one would corrupt the
// key layout (a short feed id would make its keys a prefix of another feed's),
// so it is refused rather than trusted.
absl::Status ValidateRecord(const EnvelopeRecord& record, size_t index) {
  if (record.id.size() != kIdSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record ", index, ": id is ", record.id.size(), " bytes, want 32"));
  }
  if (record.feed_id.size() != kIdSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("record ", index, ": feed_id is ", record.feed_id.size(),
                     " bytes, want 32"));
  }
  if (record.seq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("record ", index, ": seq is 0, feeds start at 1"));
  }
  for (const ReceiptUpdate& receipt : record.receipts) {
    if (receipt.envelope_id.size() != kIdSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("record ", index, ": receipt envelope_id is ",
                       receipt.envelope_id.size(), " bytes, want 32"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view OutcomeName(AppendOutcome outcome) {
  switch (outcome) {
    case AppendOutcome::kStored:
      return "stored";
    case AppendOutcome::kDuplicate:
      return "duplicate";
    case AppendOutcome::kGap:
      return "gap";
    case AppendOutcome::kPrevMismatch:
      return "prev_mismatch";
    case AppendOutcome::kEquivocation:
      return "equivocation";
  }
  return "unknown";
}

struct Log::Impl {
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    if (db == nullptr) return;
    // Handles must go before the DB that issued them.
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      if (handle != nullptr) {
        db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
      }
    }
    // Close() reports a failed final sync of unsynced data; every Append
    // already returned its own error, so there is nobody left to tell.
    db->Close().PermitUncheckedError();
  }

  rocksdb::ColumnFamilyHandle* cf(Cf which) const { return handles[which]; }

  // Reads `key` from `family`: nullopt if absent.
  absl::StatusOr<std::optional<std::string>> Get(Cf family,
                                                 absl::string_view key) const {
    std::string value;
    rocksdb::Status s =
        db->Get(rocksdb::ReadOptions(), cf(family), ToSlice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    TIDINGS_RETURN_IF_ERROR(
        FromRocksDb(s, absl::StrCat("reading ", kCfNames[family])));
    return value;
  }

  // Whether `family` holds `key`, without copying its value out.
  // Every write: synced unless the log was opened with sync = false.
  rocksdb::WriteOptions SyncedWrite() const {
    rocksdb::WriteOptions write_options;
    write_options.sync = options.sync;
    return write_options;
  }

  absl::StatusOr<bool> Contains(Cf family, absl::string_view key) const {
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        db->Get(rocksdb::ReadOptions(), cf(family), ToSlice(key), &value);
    if (s.IsNotFound()) return false;
    TIDINGS_RETURN_IF_ERROR(
        FromRocksDb(s, absl::StrCat("reading ", kCfNames[family])));
    return true;
  }

  absl::StatusOr<uint64_t> GetMetaCounter(absl::string_view name) const {
    TIDINGS_ASSIGN_OR_RETURN(std::optional<std::string> value,
                             Get(kMeta, name));
    if (!value.has_value()) return 0;
    if (value->size() != 8) {
      return absl::DataLossError(
          absl::StrCat("meta ", name, " is ", value->size(), " bytes, want 8"));
    }
    return DecodeBigEndian64(*value);
  }

  // Constant after construction.
  LogOptions options;
  std::unique_ptr<rocksdb::DB> db;
  // Indexed by Cf; owned (destroyed in ~Impl). The default family, which
  // RocksDB insists on opening, sits after kMeta.
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  // Serialises appends: each decision reads the heads as left by the previous
  // Append's batch, so that batch must be written (and cached) first.
  absl::Mutex append_mu;
  // Key of the next inbox entry.
  uint64_t next_arrival ABSL_GUARDED_BY(append_mu) = 1;

  // Readers take only this one, so they never wait on an Append's fsync.
  // Written only while append_mu is also held.
  mutable absl::Mutex cache_mu ABSL_ACQUIRED_AFTER(append_mu);
  // Ordered so ListHeads comes out by feed id.
  std::map<std::string, proto::FeedHead> heads ABSL_GUARDED_BY(cache_mu);
  uint64_t envelope_count ABSL_GUARDED_BY(cache_mu) = 0;

  class Batch;
};

// One Append call: decides each record's outcome in order and collects what
// the call changes in one rocksdb::WriteBatch, then writes it and publishes
// it to the caches (Commit). What the batch will change is consulted before
// the database and the caches, so that later records see earlier ones of the
// same call. Used only with impl.append_mu held, for one call.
class Log::Impl::Batch {
 public:
  explicit Batch(Impl& impl) : impl_(impl), next_arrival_(impl.next_arrival) {}
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  // Decides `record` (already validated) and adds what it changes.
  absl::StatusOr<AppendResult> Add(const EnvelopeRecord& record);
  // Writes the batch (synced if LogOptions.sync) and only then publishes it
  // to the caches; does nothing when no record changed anything.
  absl::Status Commit();

 private:
  // The feed's head as of the previous record (nullopt if unknown).
  std::optional<proto::FeedHead> HeadOf(const std::string& feed_id) const;
  // Whether the log, or this batch, already holds envelope `id`.
  absl::StatusOr<bool> Holds(const std::string& id) const;
  // Keeps a second envelope for a taken position as evidence.
  absl::Status KeepEvidence(const EnvelopeRecord& record, uint64_t head_seq);
  // Stores `record` as the feed's new head, with its inbox entry, local
  // key and receipt updates.
  absl::Status Store(const EnvelopeRecord& record);
  absl::Status UpdateReceipts(absl::Span<const ReceiptUpdate> updates);
  // The counters and heads the batch changes, as puts; returns the new
  // envelope count.
  uint64_t PutHeadsAndCounters();

  Impl& impl_;
  rocksdb::WriteBatch batch_;
  absl::flat_hash_map<std::string, proto::FeedHead> new_heads_;
  absl::flat_hash_set<std::string> new_ids_;
  absl::flat_hash_map<std::string, std::string> new_positions_;  // FeedKey->id
  absl::flat_hash_map<std::string, proto::ReceiptRecord> new_receipts_;
  uint64_t next_arrival_;
  uint64_t stored_ = 0;
};

absl::StatusOr<AppendResult> Log::Impl::Batch::Add(
    const EnvelopeRecord& record) {
  const std::optional<proto::FeedHead> head = HeadOf(record.feed_id);
  const uint64_t head_seq = head.has_value() ? head->seq() : 0;
  AppendResult result;
  result.head_seq = head_seq;

  TIDINGS_ASSIGN_OR_RETURN(const bool held, Holds(record.id));
  if (held) {
    result.outcome = AppendOutcome::kDuplicate;
    return result;
  }
  if (record.seq <= head_seq) {
    // The position is taken by a different id (ours would have been a
    // duplicate above): two envelopes claim one place in the feed.
    TIDINGS_RETURN_IF_ERROR(KeepEvidence(record, head_seq));
    result.outcome = AppendOutcome::kEquivocation;
    return result;
  }
  // Written as seq - 1 > head_seq so that no sum can overflow.
  if (record.seq - 1 > head_seq) {
    result.outcome = AppendOutcome::kGap;
    return result;
  }
  const absl::string_view head_id = head.has_value()
                                        ? absl::string_view(head->head_id())
                                        : absl::string_view();
  if (record.prev_id != head_id) {
    result.outcome = AppendOutcome::kPrevMismatch;
    return result;
  }
  TIDINGS_RETURN_IF_ERROR(Store(record));
  result.outcome = AppendOutcome::kStored;
  result.head_seq = record.seq;
  return result;
}

std::optional<proto::FeedHead> Log::Impl::Batch::HeadOf(
    const std::string& feed_id) const {
  if (auto it = new_heads_.find(feed_id); it != new_heads_.end()) {
    return it->second;
  }
  absl::ReaderMutexLock cache_lock(&impl_.cache_mu);
  if (auto cached = impl_.heads.find(feed_id); cached != impl_.heads.end()) {
    return cached->second;
  }
  return std::nullopt;
}

absl::StatusOr<bool> Log::Impl::Batch::Holds(const std::string& id) const {
  if (new_ids_.contains(id)) return true;
  return impl_.Contains(kEnvelopes, id);
}

absl::Status Log::Impl::Batch::KeepEvidence(const EnvelopeRecord& record,
                                            uint64_t head_seq) {
  const std::string position = FeedKey(record.feed_id, record.seq);
  std::optional<std::string> holder;
  if (auto it = new_positions_.find(position); it != new_positions_.end()) {
    holder = it->second;
  } else {
    TIDINGS_ASSIGN_OR_RETURN(holder, impl_.Get(kFeeds, position));
  }
  if (!holder.has_value()) {
    return absl::DataLossError(absl::StrCat(
        "feeds: no entry at seq ", record.seq, " below head ", head_seq));
  }
  batch_.Put(impl_.cf(kEvidence),
             EvidenceKey(record.feed_id, record.seq, record.id),
             ToSlice(record.envelope));
  return absl::OkStatus();
}

absl::Status Log::Impl::Batch::Store(const EnvelopeRecord& record) {
  const std::string position = FeedKey(record.feed_id, record.seq);
  batch_.Put(impl_.cf(kEnvelopes), ToSlice(record.id),
             ToSlice(record.envelope));
  batch_.Put(impl_.cf(kFeeds), position, ToSlice(record.id));
  new_ids_.insert(record.id);
  new_positions_[position] = record.id;
  ++stored_;

  proto::FeedHead& new_head = new_heads_[record.feed_id];
  new_head.set_feed_id(record.feed_id);
  new_head.set_origin(record.origin);
  new_head.mutable_audience()->Assign(record.audience.begin(),
                                      record.audience.end());
  new_head.set_seq(record.seq);
  new_head.set_head_id(record.id);

  if (record.inbox == InboxEntry::kYes) {
    proto::InboxRecord inbox;
    inbox.set_envelope_id(record.id);
    inbox.set_stored_unix_us(record.stored_unix_us);
    batch_.Put(impl_.cf(kInbox), BigEndian64(next_arrival_++),
               inbox.SerializeAsString());
  }
  if (!record.local_key.empty()) {
    batch_.Put(impl_.cf(kLocalKeys), ToSlice(record.id),
               ToSlice(record.local_key));
  }
  return UpdateReceipts(record.receipts);
}

absl::Status Log::Impl::Batch::UpdateReceipts(
    absl::Span<const ReceiptUpdate> updates) {
  for (const ReceiptUpdate& update : updates) {
    const std::string key = ReceiptKey(update.envelope_id, update.recipient);
    std::optional<proto::ReceiptRecord> current;
    if (auto it = new_receipts_.find(key); it != new_receipts_.end()) {
      current = it->second;
    } else {
      TIDINGS_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                               impl_.Get(kReceipts, key));
      if (bytes.has_value()) {
        current.emplace();
        if (!current->ParseFromString(*bytes)) {
          return absl::DataLossError("receipts: unreadable receipt record");
        }
      }
    }
    // Receipts arrive out of order over gossip; a late "delivered" must not
    // hide an earlier "read".
    if (current.has_value() && current->status() >= update.status) continue;
    proto::ReceiptRecord receipt;
    receipt.set_status(update.status);
    receipt.set_at_unix_ms(update.at_unix_ms);
    receipt.set_receipt_envelope_id(update.receipt_envelope_id);
    batch_.Put(impl_.cf(kReceipts), key, receipt.SerializeAsString());
    new_receipts_[key] = std::move(receipt);
  }
  return absl::OkStatus();
}

uint64_t Log::Impl::Batch::PutHeadsAndCounters() {
  for (const auto& [feed_id, new_head] : new_heads_) {
    batch_.Put(impl_.cf(kHeads), feed_id, new_head.SerializeAsString());
  }
  uint64_t envelope_count;
  {
    absl::ReaderMutexLock cache_lock(&impl_.cache_mu);
    envelope_count = impl_.envelope_count + stored_;
  }
  if (stored_ > 0) {
    batch_.Put(impl_.cf(kMeta), ToSlice(kMetaEnvelopeCount),
               BigEndian64(envelope_count));
  }
  if (next_arrival_ != impl_.next_arrival) {
    batch_.Put(impl_.cf(kMeta), ToSlice(kMetaNextArrival),
               BigEndian64(next_arrival_));
  }
  return envelope_count;
}

absl::Status Log::Impl::Batch::Commit() {
  if (batch_.Count() == 0) return absl::OkStatus();  // Nothing to sync.
  const uint64_t envelope_count = PutHeadsAndCounters();

  const rocksdb::WriteOptions write_options = impl_.SyncedWrite();
  TIDINGS_RETURN_IF_ERROR(FromRocksDb(impl_.db->Write(write_options, &batch_),
                                      "writing append batch"));

  // Only now is the batch durable: publish it.
  impl_.next_arrival = next_arrival_;
  absl::MutexLock cache_lock(&impl_.cache_mu);
  impl_.envelope_count = envelope_count;
  for (auto& [feed_id, new_head] : new_heads_) {
    impl_.heads[feed_id] = std::move(new_head);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Log>> Log::Open(const LogOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("LogOptions.path is empty");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // A crash can tear the last WAL record; that write was never acknowledged,
  // so recover up to it instead of refusing to open.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // RocksDB's defaults give each of 9 column families two 64 MiB memtables;
  // a node must fit in ~100 MB. One budget for all memtables, shared.
  db_options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(kMemtableBudget);
  if (options.env != nullptr) db_options.env = options.env;

  rocksdb::ColumnFamilyOptions plain;
  plain.write_buffer_size = kMemtableBytes;
  plain.max_write_buffer_number = 2;
  // Every arrival is first checked against envelopes; most new ids are
  // absent, which a Bloom filter answers without reading a block.
  rocksdb::ColumnFamilyOptions envelopes_options = plain;
  rocksdb::BlockBasedTableOptions table_options;
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  envelopes_options.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(table_options));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kCfCount; ++i) {
    descriptors.emplace_back(kCfNames[i],
                             i == kEnvelopes ? envelopes_options : plain);
  }
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, plain);

  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, descriptors,
                                        &impl->handles, &raw_db);
  TIDINGS_RETURN_IF_ERROR(
      FromRocksDb(s, absl::StrCat("opening log at ", options.path)));
  impl->db.reset(raw_db);

  {
    absl::MutexLock append_lock(&impl->append_mu);
    absl::MutexLock cache_lock(&impl->cache_mu);
    TIDINGS_ASSIGN_OR_RETURN(impl->envelope_count,
                             impl->GetMetaCounter(kMetaEnvelopeCount));
    TIDINGS_ASSIGN_OR_RETURN(uint64_t next_arrival,
                             impl->GetMetaCounter(kMetaNextArrival));
    impl->next_arrival = next_arrival == 0 ? 1 : next_arrival;

    std::unique_ptr<rocksdb::Iterator> it(
        impl->db->NewIterator(rocksdb::ReadOptions(), impl->cf(kHeads)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      proto::FeedHead head;
      if (!head.ParseFromArray(it->value().data(),
                               static_cast<int>(it->value().size())) ||
          head.feed_id() != ToView(it->key())) {
        return absl::DataLossError("heads: unreadable feed head");
      }
      impl->heads.emplace(std::string(ToView(it->key())), std::move(head));
    }
    TIDINGS_RETURN_IF_ERROR(FromRocksDb(it->status(), "loading feed heads"));
  }
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

Log::Log(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Log::~Log() = default;

absl::StatusOr<std::vector<AppendResult>> Log::Append(
    absl::Span<const EnvelopeRecord> records) {
  for (size_t i = 0; i < records.size(); ++i) {
    TIDINGS_RETURN_IF_ERROR(ValidateRecord(records[i], i));
  }

  absl::MutexLock append_lock(&impl_->append_mu);
  Impl::Batch batch(*impl_);
  std::vector<AppendResult> results;
  results.reserve(records.size());
  for (const EnvelopeRecord& record : records) {
    TIDINGS_ASSIGN_OR_RETURN(AppendResult result, batch.Add(record));
    results.push_back(result);
  }
  TIDINGS_RETURN_IF_ERROR(batch.Commit());
  return results;
}

absl::StatusOr<std::optional<std::string>> Log::GetEnvelope(
    absl::string_view id) const {
  return impl_->Get(kEnvelopes, id);
}

bool Log::HoldsAt(absl::string_view feed_id, uint64_t seq,
                  absl::string_view id) const {
  if (feed_id.size() != kIdSize || id.size() != kIdSize || seq == 0) {
    return false;
  }
  {
    absl::ReaderMutexLock lock(&impl_->cache_mu);
    auto it = impl_->heads.find(std::string(feed_id));
    if (it == impl_->heads.end() || it->second.seq() < seq) return false;
    if (it->second.seq() == seq) return it->second.head_id() == id;
  }
  absl::StatusOr<std::optional<std::string>> held =
      impl_->Get(kFeeds, FeedKey(feed_id, seq));
  return held.ok() && held->has_value() && **held == id;
}

std::optional<proto::FeedHead> Log::GetHead(absl::string_view feed_id) const {
  absl::ReaderMutexLock lock(&impl_->cache_mu);
  auto it = impl_->heads.find(std::string(feed_id));
  if (it == impl_->heads.end()) return std::nullopt;
  return it->second;
}

std::vector<proto::FeedHead> Log::ListHeads() const {
  absl::ReaderMutexLock lock(&impl_->cache_mu);
  std::vector<proto::FeedHead> heads;
  heads.reserve(impl_->heads.size());
  for (const auto& [feed_id, head] : impl_->heads) heads.push_back(head);
  return heads;
}

absl::StatusOr<std::vector<std::string>> Log::ReadFeed(
    absl::string_view feed_id, uint64_t from_seq, size_t max_count,
    size_t max_bytes) const {
  if (feed_id.size() != kIdSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("feed_id is ", feed_id.size(), " bytes, want 32"));
  }
  std::vector<std::string> envelopes;
  size_t bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kFeeds)));
  for (it->Seek(FeedKey(feed_id, from_seq));
       it->Valid() && envelopes.size() < max_count &&
       it->key().starts_with(ToSlice(feed_id));
       it->Next()) {
    TIDINGS_ASSIGN_OR_RETURN(std::optional<std::string> envelope,
                             impl_->Get(kEnvelopes, ToView(it->value())));
    if (!envelope.has_value()) {
      return absl::DataLossError("feeds: entry names an envelope not held");
    }
    // Stop before exceeding max_bytes, so callers can size messages by it;
    // but always return the first, or an oversized envelope would block the
    // feed forever.
    if (!envelopes.empty() && envelope->size() > max_bytes - bytes) break;
    bytes += envelope->size();
    envelopes.push_back(*std::move(envelope));
    if (bytes >= max_bytes) break;
  }
  TIDINGS_RETURN_IF_ERROR(FromRocksDb(it->status(), "reading feed"));
  return envelopes;
}

absl::StatusOr<std::vector<proto::InboxRecord>> Log::ListInbox(
    size_t limit) const {
  std::vector<proto::InboxRecord> inbox;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kInbox)));
  for (it->SeekToLast(); it->Valid() && inbox.size() < limit; it->Prev()) {
    proto::InboxRecord& record = inbox.emplace_back();
    if (!record.ParseFromArray(it->value().data(),
                               static_cast<int>(it->value().size()))) {
      return absl::DataLossError("inbox: unreadable inbox record");
    }
  }
  TIDINGS_RETURN_IF_ERROR(FromRocksDb(it->status(), "reading inbox"));
  return inbox;
}

absl::StatusOr<std::vector<std::pair<std::string, proto::ReceiptRecord>>>
Log::ListReceipts(absl::string_view envelope_id) const {
  if (envelope_id.size() != kIdSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("envelope_id is ", envelope_id.size(), " bytes, want 32"));
  }
  std::vector<std::pair<std::string, proto::ReceiptRecord>> receipts;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kReceipts)));
  for (it->Seek(ToSlice(envelope_id));
       it->Valid() && it->key().starts_with(ToSlice(envelope_id)); it->Next()) {
    auto& [recipient, record] = receipts.emplace_back();
    recipient = std::string(ToView(it->key()).substr(kIdSize));
    if (!record.ParseFromArray(it->value().data(),
                               static_cast<int>(it->value().size()))) {
      return absl::DataLossError("receipts: unreadable receipt record");
    }
  }
  TIDINGS_RETURN_IF_ERROR(FromRocksDb(it->status(), "reading receipts"));
  return receipts;
}

absl::StatusOr<std::optional<std::string>> Log::GetLocalKey(
    absl::string_view id) const {
  return impl_->Get(kLocalKeys, id);
}

absl::StatusOr<std::vector<std::string>> Log::ListEvidence() const {
  std::vector<std::string> evidence;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kEvidence)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    evidence.emplace_back(ToView(it->value()));
  }
  TIDINGS_RETURN_IF_ERROR(FromRocksDb(it->status(), "reading evidence"));
  return evidence;
}

absl::Status Log::PutLocalKey(absl::string_view id,
                              absl::string_view local_key) {
  TIDINGS_ASSIGN_OR_RETURN(const bool held, impl_->Contains(kEnvelopes, id));
  if (!held) return absl::NotFoundError("no such envelope for a local key");
  const rocksdb::WriteOptions write_options = impl_->SyncedWrite();
  return FromRocksDb(impl_->db->Put(write_options, impl_->cf(kLocalKeys),
                                    ToSlice(id), ToSlice(local_key)),
                     "writing a local key");
}

absl::Status Log::PutState(absl::string_view key, absl::string_view value) {
  const rocksdb::WriteOptions write_options = impl_->SyncedWrite();
  return FromRocksDb(
      impl_->db->Put(write_options, impl_->cf(kMeta),
                     ToSlice(absl::StrCat(kStatePrefix, key)), ToSlice(value)),
      "writing state");
}

absl::Status Log::PutStates(
    const std::vector<std::pair<std::string, std::string>>& records) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, value] : records) {
    batch.Put(impl_->cf(kMeta), ToSlice(absl::StrCat(kStatePrefix, key)),
              ToSlice(value));
  }
  const rocksdb::WriteOptions write_options = impl_->SyncedWrite();
  return FromRocksDb(impl_->db->Write(write_options, &batch), "writing state");
}

absl::Status Log::DeleteState(absl::string_view key) {
  const rocksdb::WriteOptions write_options = impl_->SyncedWrite();
  return FromRocksDb(
      impl_->db->Delete(write_options, impl_->cf(kMeta),
                        ToSlice(absl::StrCat(kStatePrefix, key))),
      "deleting state");
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Log::ScanState(
    absl::string_view prefix) const {
  const std::string full = absl::StrCat(kStatePrefix, prefix);
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kMeta)));
  for (it->Seek(ToSlice(full));
       it->Valid() && absl::StartsWith(ToView(it->key()), full); it->Next()) {
    out.emplace_back(std::string(ToView(it->key()).substr(kStatePrefix.size())),
                     std::string(ToView(it->value())));
  }
  TIDINGS_RETURN_IF_ERROR(FromRocksDb(it->status(), "reading state"));
  return out;
}

uint64_t Log::envelope_count() const {
  absl::ReaderMutexLock lock(&impl_->cache_mu);
  return impl_->envelope_count;
}

}  // namespace tidings::storage

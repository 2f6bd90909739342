// Power loss for storage::Log. RocksDB runs on a file system that remembers
// what was made durable: file bytes by Sync/Fsync, directory entries by a
// fsync of their directory. At a simulated crash everything else is dropped,
// as a lost page cache would be, and the reopened log must still hold every
// Append it acknowledged, and chain. (log_crash_test's kill -9 keeps the page
// cache, so it cannot tell a synced WAL from an unsynced one; this test can,
// and proves it by losing data with LogOptions::sync off.)
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/storage.pb.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/io_status.h"
#include "rocksdb/slice.h"
#include "storage/log.h"
#include "tests/testing/temp_dir.h"

namespace tidings::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// The path as a map key: normalised, no trailing '/'.
std::string Normal(absl::string_view path) {
  std::string normal =
      std::filesystem::path(std::string(path)).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

std::string DirOf(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

rocksdb::IOStatus PowerLost() {
  return rocksdb::IOStatus::IOError("power lost (simulated)");
}

// A file system that loses, at Crash(), what a power cut would.
//
// Tracked: for every file written through it, the bytes appended and the
// bytes durable (only Sync and Fsync make them so: neither Close nor
// RangeSync does); for every name created, renamed onto or renamed away
// since its directory was last fsynced, what the name durably held before
// (nothing, or bytes). Files that existed before are taken as durable.
//
// Crash() cuts the power: from then on every write, sync and change of a
// name fails and leaves the disk as it was (reads still work, as a page cache
// would serve them). After the Log is closed, DropUnsynced() turns the disk
// into what survived: each changed name goes back to what it durably held
// (a file never made durable by a directory fsync is deleted), then each
// tracked file is cut to its durable bytes.
//
// Syncs are counted, not done: durability here is the model's, and the
// machine running the test keeps its power.
//
// The one liberty: a deleted file stays deleted (POSIX could bring it back
// until its directory is synced). RocksDB deletes only files it no longer
// needs and ignores stale ones by number, so this can only hide extra data,
// never a loss.
//
// Thread-safety: safe from any thread (RocksDB's flushes write from its own).
// Every operation that changes the disk runs under one mutex, so none can
// straddle Crash().
class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  PowerLossFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "PowerLossFileSystem"; }

  void Crash() {
    absl::MutexLock lock(&mu_);
    crashed_ = true;
  }

  // Crashes instead of doing the sync (of a file or a directory) that comes
  // after `syncs` more: that sync fails and its data is lost.
  void CrashAtSync(uint64_t syncs) {
    absl::MutexLock lock(&mu_);
    syncs_before_crash_ = syncs;
  }

  bool crashed() const {
    absl::MutexLock lock(&mu_);
    return crashed_;
  }

  // Syncs of files and directories that succeeded.
  uint64_t syncs() const {
    absl::MutexLock lock(&mu_);
    return syncs_;
  }

  // Files created for writing.
  uint64_t files_created() const {
    absl::MutexLock lock(&mu_);
    return files_created_;
  }

  // Requires Crash() and every file closed. Leaves on disk what was durable
  // and forgets everything tracked.
  absl::Status DropUnsynced() {
    absl::MutexLock lock(&mu_);
    if (!crashed_) return absl::FailedPreconditionError("no crash yet");
    std::error_code error;
    for (const auto& [path, durable] : renamed_or_created_) {
      files_.erase(path);
      if (!durable.has_value()) {
        std::filesystem::remove_all(path, error);
        if (error) return absl::InternalError(error.message());
        continue;
      }
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << *durable;
      if (!out.good()) return absl::InternalError("restoring " + path);
    }
    for (const auto& [path, state] : files_) {
      if (!std::filesystem::exists(path)) continue;
      std::filesystem::resize_file(path, state->durable, error);
      if (error) return absl::InternalError(error.message());
    }
    renamed_or_created_.clear();
    files_.clear();
    return absl::OkStatus();
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name,
                                    const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    const std::string path = Normal(name);
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    NoteNameChangeLocked(path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, &file, dbg);
    if (!s.ok()) return s;
    auto state = std::make_shared<FileState>();
    files_[path] = state;
    ++files_created_;
    *r = std::make_unique<File>(*this, std::move(state), std::move(file));
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& name, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* r,
      rocksdb::IODebugContext* dbg) override {
    const std::string path = Normal(name);
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    if (!std::filesystem::exists(path)) NoteNameChangeLocked(path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s =
        target()->ReopenWritableFile(name, options, &file, dbg);
    if (!s.ok()) return s;
    std::shared_ptr<FileState>& state = files_[path];
    if (state == nullptr) {
      // Not written through here: all of it is durable.
      std::error_code error;
      const uint64_t size = std::filesystem::file_size(path, error);
      if (error) return rocksdb::IOStatus::IOError(error.message());
      state = std::make_shared<FileState>(FileState{size, size});
    }
    *r = std::make_unique<File>(*this, state, std::move(file));
    return s;
  }

  // The Log never recycles WAL files; refused rather than left untracked.
  rocksdb::IOStatus ReuseWritableFile(const std::string&, const std::string&,
                                      const rocksdb::FileOptions&,
                                      std::unique_ptr<rocksdb::FSWritableFile>*,
                                      rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerLossFileSystem: reuse");
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string&,
                                    const rocksdb::FileOptions&,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>*,
                                    rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerLossFileSystem: random rw");
  }

  rocksdb::IOStatus NewDirectory(const std::string& name,
                                 const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                 rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSDirectory> dir;
    rocksdb::IOStatus s = target()->NewDirectory(name, options, &dir, dbg);
    if (!s.ok()) return s;
    *r = std::make_unique<Directory>(*this, Normal(name), std::move(dir));
    return s;
  }

  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    const std::string from_path = Normal(from);
    const std::string to_path = Normal(to);
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    NoteNameChangeLocked(from_path);
    NoteNameChangeLocked(to_path);
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    if (!s.ok()) return s;
    auto it = files_.find(from_path);
    if (it == files_.end()) {
      files_.erase(to_path);
    } else {
      files_[to_path] = std::move(it->second);
      files_.erase(from_path);
    }
    return s;
  }

  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    const std::string from_path = Normal(from);
    const std::string to_path = Normal(to);
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    NoteNameChangeLocked(to_path);
    rocksdb::IOStatus s = target()->LinkFile(from, to, options, dbg);
    if (!s.ok()) return s;
    auto it = files_.find(from_path);
    if (it != files_.end()) files_[to_path] = it->second;  // one inode
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& name,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    rocksdb::IOStatus s = target()->DeleteFile(name, options, dbg);
    if (s.ok()) files_.erase(Normal(name));
    return s;
  }

  rocksdb::IOStatus Truncate(const std::string& name, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    rocksdb::IOStatus s = target()->Truncate(name, size, options, dbg);
    auto it = files_.find(Normal(name));
    if (s.ok() && it != files_.end()) it->second->TruncateTo(size);
    return s;
  }

  rocksdb::IOStatus CreateDir(const std::string& name,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    if (!std::filesystem::exists(Normal(name))) {
      NoteNameChangeLocked(Normal(name));
    }
    return target()->CreateDir(name, options, dbg);
  }

  rocksdb::IOStatus CreateDirIfMissing(const std::string& name,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    if (!std::filesystem::exists(Normal(name))) {
      NoteNameChangeLocked(Normal(name));
    }
    return target()->CreateDirIfMissing(name, options, dbg);
  }

  rocksdb::IOStatus DeleteDir(const std::string& name,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&mu_);
    if (crashed_) return PowerLost();
    return target()->DeleteDir(name, options, dbg);
  }

 private:
  // One file's bytes (an inode's: names that are links share it).
  struct FileState {
    uint64_t appended = 0;
    uint64_t durable = 0;

    void TruncateTo(uint64_t size) {
      appended = size;
      if (durable > size) durable = size;
    }
  };

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(PowerLossFileSystem& fs, std::shared_ptr<FileState> state,
         std::unique_ptr<rocksdb::FSWritableFile> file)
        : FSWritableFileOwnerWrapper(std::move(file)),
          fs_(fs),
          state_(std::move(state)) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) state_->appended += data.size();
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      rocksdb::IOStatus s = target()->Append(data, options, info, dbg);
      if (s.ok()) state_->appended += data.size();
      return s;
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                       uint64_t offset,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      rocksdb::IOStatus s =
          target()->PositionedAppend(data, offset, options, dbg);
      if (s.ok()) NoteWrittenTo(offset + data.size());
      return s;
    }
    rocksdb::IOStatus PositionedAppend(
        const rocksdb::Slice& data, uint64_t offset,
        const rocksdb::IOOptions& options,
        const rocksdb::DataVerificationInfo& info,
        rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      rocksdb::IOStatus s =
          target()->PositionedAppend(data, offset, options, info, dbg);
      if (s.ok()) NoteWrittenTo(offset + data.size());
      return s;
    }
    rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      rocksdb::IOStatus s = target()->Truncate(size, options, dbg);
      if (s.ok()) state_->TruncateTo(size);
      return s;
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      return target()->Flush(options, dbg);
    }
    // No real fsync (see the class comment): the bytes reached the kernel
    // in Append, which is all a reader in this process needs.
    rocksdb::IOStatus Sync(const rocksdb::IOOptions&,
                           rocksdb::IODebugContext*) override {
      absl::MutexLock lock(&fs_.mu_);
      if (!fs_.SyncAllowedLocked()) return PowerLost();
      MadeDurableLocked();
      return rocksdb::IOStatus::OK();
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      return Sync(options, dbg);
    }
    // sync_file_range(2) writes pages back but neither flushes the disk's
    // cache nor the metadata: nothing becomes durable.
    rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes,
                                const rocksdb::IOOptions& options,
                                rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      return target()->RangeSync(offset, nbytes, options, dbg);
    }
    rocksdb::IOStatus Allocate(uint64_t offset, uint64_t len,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
      absl::MutexLock lock(&fs_.mu_);
      if (fs_.crashed_) return PowerLost();
      return target()->Allocate(offset, len, options, dbg);
    }
    // Close makes nothing durable; allowed after a crash, so that the Log
    // can release its descriptors.

   private:
    void NoteWrittenTo(uint64_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fs_.mu_) {
      if (state_->appended < end) state_->appended = end;
    }
    void MadeDurableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(fs_.mu_) {
      state_->durable = state_->appended;
      ++fs_.syncs_;
    }

    PowerLossFileSystem& fs_;
    // Guarded by fs_.mu_.
    std::shared_ptr<FileState> state_;
  };

  class Directory : public rocksdb::FSDirectoryWrapper {
   public:
    Directory(PowerLossFileSystem& fs, std::string path,
              std::unique_ptr<rocksdb::FSDirectory> dir)
        : FSDirectoryWrapper(std::move(dir)), fs_(fs), path_(std::move(path)) {}

    // As for files, the real fsync is skipped.
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions&,
                            rocksdb::IODebugContext*) override {
      absl::MutexLock lock(&fs_.mu_);
      if (!fs_.SyncAllowedLocked()) return PowerLost();
      fs_.DirectorySyncedLocked(path_);
      return rocksdb::IOStatus::OK();
    }
    rocksdb::IOStatus FsyncWithDirOptions(
        const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
        const rocksdb::DirFsyncOptions&) override {
      return Fsync(options, dbg);
    }

   private:
    PowerLossFileSystem& fs_;
    const std::string path_;
  };

  // Whether a sync may go ahead; if it is the one CrashAtSync chose, crashes.
  bool SyncAllowedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (crashed_) return false;
    if (syncs_before_crash_.has_value()) {
      if (*syncs_before_crash_ == 0) {
        crashed_ = true;
        return false;
      }
      --*syncs_before_crash_;
    }
    return true;
  }

  void DirectorySyncedLocked(const std::string& dir)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = renamed_or_created_.begin();
         it != renamed_or_created_.end();) {
      if (DirOf(it->first) == dir) {
        it = renamed_or_created_.erase(it);
      } else {
        ++it;
      }
    }
    ++syncs_;
  }

  // Before `path` is created, replaced or renamed away: remembers what it
  // durably holds, unless it has changed already since its directory's last
  // sync (the durable state is the one before the first change).
  void NoteNameChangeLocked(const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (renamed_or_created_.count(path) > 0) return;
    std::optional<std::string> durable;
    if (std::filesystem::is_regular_file(path)) {
      std::ifstream in(path, std::ios::binary);
      durable.emplace(std::istreambuf_iterator<char>(in),
                      std::istreambuf_iterator<char>());
      auto it = files_.find(path);
      if (it != files_.end() && durable->size() > it->second->durable) {
        durable->resize(it->second->durable);
      }
    } else if (std::filesystem::exists(path)) {
      return;  // a directory: RocksDB never renames one
    }
    renamed_or_created_.emplace(path, std::move(durable));
  }

  mutable absl::Mutex mu_;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<uint64_t> syncs_before_crash_ ABSL_GUARDED_BY(mu_);
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t files_created_ ABSL_GUARDED_BY(mu_) = 0;
  // Files written through this file system, by path.
  std::map<std::string, std::shared_ptr<FileState>> files_ ABSL_GUARDED_BY(mu_);
  // Names changed since their directory's last fsync -> what they durably
  // held (nullopt: nothing).
  std::map<std::string, std::optional<std::string>> renamed_or_created_
      ABSL_GUARDED_BY(mu_);
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// The model first: only synced bytes of files whose names were synced
// survive, and an unsynced rename is undone.
TEST(PowerLossFileSystemTest, KeepsOnlyWhatWasMadeDurable) {
  tidings::testing::TempDir root("power_loss_fs_test");
  PowerLossFileSystem fs;
  const rocksdb::IOOptions io;
  auto write = [&](const std::string& name, absl::string_view data,
                   bool sync) -> std::unique_ptr<rocksdb::FSWritableFile> {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    EXPECT_TRUE(
        fs.NewWritableFile(root / name, rocksdb::FileOptions(), &file, nullptr)
            .ok());
    if (file == nullptr) return nullptr;
    EXPECT_TRUE(
        file->Append(rocksdb::Slice(data.data(), data.size()), io, nullptr)
            .ok());
    if (sync) {
      EXPECT_TRUE(file->Sync(io, nullptr).ok());
    }
    return file;
  };
  std::unique_ptr<rocksdb::FSDirectory> dir;
  ASSERT_TRUE(fs.NewDirectory(root.path(), io, &dir, nullptr).ok());

  std::unique_ptr<rocksdb::FSWritableFile> kept =
      write("kept", "durable", true);
  ASSERT_NE(kept, nullptr);
  write("current", "old", true);
  write("never_synced", "lost", false);
  ASSERT_TRUE(dir->Fsync(io, nullptr).ok());
  ASSERT_TRUE(kept->Append(" lost", io, nullptr).ok());
  write("new.tmp", "new", true);
  ASSERT_TRUE(
      fs.RenameFile(root / "new.tmp", root / "current", io, nullptr).ok());
  write("unnamed", "synced, but its name never was", true);

  fs.Crash();
  EXPECT_FALSE(kept->Append("x", io, nullptr).ok());
  EXPECT_FALSE(kept->Sync(io, nullptr).ok());
  EXPECT_FALSE(dir->Fsync(io, nullptr).ok());
  EXPECT_FALSE(fs.DeleteFile(root / "kept", io, nullptr).ok());
  EXPECT_TRUE(kept->Close(io, nullptr).ok());
  kept.reset();
  ASSERT_TRUE(fs.DropUnsynced().ok());

  EXPECT_EQ(ReadFile(root / "kept"), "durable");
  EXPECT_EQ(ReadFile(root / "current"), "old");
  EXPECT_EQ(ReadFile(root / "never_synced"), "");
  EXPECT_FALSE(std::filesystem::exists(root / "new.tmp"));
  EXPECT_FALSE(std::filesystem::exists(root / "unnamed"));
}

TEST(PowerLossFileSystemTest, KeepsARenameOnceItsDirectoryIsSynced) {
  tidings::testing::TempDir root("power_loss_fs_test");
  PowerLossFileSystem fs;
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSDirectory> dir;
  ASSERT_TRUE(fs.NewDirectory(root.path(), io, &dir, nullptr).ok());
  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(fs.NewWritableFile(root / "new.tmp", rocksdb::FileOptions(),
                                 &file, nullptr)
                  .ok());
  ASSERT_TRUE(file->Append("new", io, nullptr).ok());
  ASSERT_TRUE(file->Sync(io, nullptr).ok());
  ASSERT_TRUE(file->Close(io, nullptr).ok());
  ASSERT_TRUE(
      fs.RenameFile(root / "new.tmp", root / "current", io, nullptr).ok());
  ASSERT_TRUE(dir->Fsync(io, nullptr).ok());
  fs.Crash();
  file.reset();
  ASSERT_TRUE(fs.DropUnsynced().ok());
  EXPECT_EQ(ReadFile(root / "current"), "new");
  EXPECT_FALSE(std::filesystem::exists(root / "new.tmp"));
}

// The workload: feeds of chained envelopes, appended one feed per batch.

constexpr uint64_t kFeeds = 3;
// Records per batch, in turn: group commits of varying size.
constexpr size_t kBatchSizes[] = {1, 4, 2, 7, 3, 16, 5};
constexpr size_t kSmallPayload = 100;
// Large enough that a few hundred records fill a memtable (8 MiB), so that
// flushes, a new WAL and MANIFEST edits happen before the crash.
constexpr size_t kLargePayload = 64 * 1024;

// A 32-byte id: tag, session, feed, then seq big-endian. Each session writes
// ids of its own, so a position lost and rewritten later would not match.
std::string Id(char tag, int session, uint64_t feed, uint64_t seq) {
  std::string id(32, '\0');
  id[0] = tag;
  id[1] = static_cast<char>(session);
  id[2] = static_cast<char>(feed);
  for (size_t i = 0; i < 8; ++i) {
    id[31 - i] = static_cast<char>((seq >> (8 * i)) & 0xff);
  }
  return id;
}

std::string FeedId(uint64_t feed) { return Id('F', 0, feed, 0); }

// Says its own position and links, so that ReadFeed's answer can be checked
// for chaining: "feed=F seq=S id=HEX prev=HEX PAYLOAD".
std::string EnvelopeBytes(uint64_t feed, uint64_t seq, absl::string_view id,
                          absl::string_view prev_id, size_t payload_bytes) {
  return absl::StrCat("feed=", feed, " seq=", seq,
                      " id=", absl::BytesToHexString(id),
                      " prev=", absl::BytesToHexString(prev_id), " ",
                      std::string(payload_bytes, 'x'));
}

struct Acked {
  std::string id;
  std::string envelope;
};

// Appends batches and remembers which were acknowledged.
class Writer {
 public:
  explicit Writer(size_t payload_bytes) : payload_bytes_(payload_bytes) {}

  // After a reopen: a new session (fresh ids), chained on from each feed's
  // head as the log holds it.
  void Resume(const Log& log) {
    ++session_;
    for (uint64_t feed = 0; feed < kFeeds; ++feed) {
      std::optional<proto::FeedHead> head = log.GetHead(FeedId(feed));
      heads_[feed] =
          head.has_value() ? Head{head->seq(), head->head_id()} : Head{};
    }
  }

  // Appends the next batch; its records are acknowledged iff this returns OK.
  absl::Status AppendBatch(Log& log) {
    const uint64_t feed = batches_ % kFeeds;
    const size_t size = kBatchSizes[batches_ % std::size(kBatchSizes)];
    ++batches_;
    Head head = heads_[feed];
    std::vector<EnvelopeRecord> records;
    for (size_t i = 0; i < size; ++i) {
      EnvelopeRecord record;
      record.seq = head.seq + 1;
      record.id = Id('E', session_, feed, record.seq);
      record.feed_id = FeedId(feed);
      record.prev_id = head.id;
      record.origin = "MY.NCB";
      record.audience = {"MY.NCB"};
      record.envelope = EnvelopeBytes(feed, record.seq, record.id,
                                      record.prev_id, payload_bytes_);
      record.stored_unix_us = static_cast<int64_t>(record.seq);
      head = Head{record.seq, record.id};
      records.push_back(std::move(record));
    }
    absl::StatusOr<std::vector<AppendResult>> results = log.Append(records);
    if (!results.ok()) return results.status();
    for (const AppendResult& result : *results) {
      if (result.outcome != AppendOutcome::kStored) {
        return absl::InternalError(
            absl::StrCat("append: ", OutcomeName(result.outcome)));
      }
    }
    heads_[feed] = head;
    for (EnvelopeRecord& record : records) {
      acked_[{feed, record.seq}] =
          Acked{std::move(record.id), std::move(record.envelope)};
    }
    return absl::OkStatus();
  }

  // (feed, seq) -> what was acknowledged there, over all sessions.
  const std::map<std::pair<uint64_t, uint64_t>, Acked>& acked() const {
    return acked_;
  }

 private:
  struct Head {
    uint64_t seq = 0;
    std::string id;
  };

  const size_t payload_bytes_;
  int session_ = 0;
  uint64_t batches_ = 0;
  Head heads_[kFeeds];
  std::map<std::pair<uint64_t, uint64_t>, Acked> acked_;
};

// Acknowledged envelopes `log` does not hold (as written, at their place).
size_t CountLost(const Log& log, const Writer& writer) {
  size_t lost = 0;
  for (const auto& [position, acked] : writer.acked()) {
    absl::StatusOr<std::optional<std::string>> envelope =
        log.GetEnvelope(acked.id);
    EXPECT_TRUE(envelope.ok()) << envelope.status();
    if (!envelope.ok() || !envelope->has_value()) {
      ++lost;
      continue;
    }
    EXPECT_EQ(**envelope, acked.envelope);
    EXPECT_TRUE(log.HoldsAt(FeedId(position.first), position.second, acked.id))
        << "feed " << position.first << " seq " << position.second;
  }
  return lost;
}

// Each feed reads back from seq 1 to its head, each envelope naming its
// predecessor, and its head covers every acknowledged seq.
void ExpectFeedsChain(const Log& log, const Writer& writer) {
  for (uint64_t feed = 0; feed < kFeeds; ++feed) {
    SCOPED_TRACE(absl::StrCat("feed ", feed));
    uint64_t last_acked = 0;
    for (const auto& [position, acked] : writer.acked()) {
      if (position.first == feed) last_acked = position.second;
    }
    std::optional<proto::FeedHead> head = log.GetHead(FeedId(feed));
    const uint64_t head_seq = head.has_value() ? head->seq() : 0;
    EXPECT_GE(head_seq, last_acked);
    absl::StatusOr<std::vector<std::string>> envelopes =
        log.ReadFeed(FeedId(feed), 1, std::numeric_limits<size_t>::max(),
                     std::numeric_limits<size_t>::max());
    ASSERT_TRUE(envelopes.ok()) << envelopes.status();
    ASSERT_EQ(envelopes->size(), head_seq);
    std::string prev_hex;
    for (size_t i = 0; i < envelopes->size(); ++i) {
      std::vector<std::string> fields = absl::StrSplit((*envelopes)[i], ' ');
      ASSERT_EQ(fields.size(), 5u);
      EXPECT_EQ(fields[0], absl::StrCat("feed=", feed));
      EXPECT_EQ(fields[1], absl::StrCat("seq=", i + 1));
      EXPECT_EQ(fields[3], absl::StrCat("prev=", prev_hex)) << "seq " << i + 1;
      prev_hex = std::string(absl::StripPrefix(fields[2], "id="));
      EXPECT_TRUE(
          log.HoldsAt(FeedId(feed), i + 1, absl::HexStringToBytes(prev_hex)));
    }
    if (head.has_value()) {
      EXPECT_EQ(absl::BytesToHexString(head->head_id()), prev_hex);
    }
  }
}

// One run of the log on a PowerLossFileSystem. Members are destroyed in
// reverse: the log before the Env it borrows.
struct Session {
  std::shared_ptr<PowerLossFileSystem> fs =
      std::make_shared<PowerLossFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  std::unique_ptr<Log> log;
};

class PowerLossTest : public ::testing::Test {
 protected:
  // A fresh log directory. Made here, so that its own creation (which
  // RocksDB never syncs in the parent directory) is durable.
  std::string NewLogPath() {
    const std::string path = root_ / absl::StrCat("db", ++logs_);
    std::filesystem::create_directory(path);
    return path;
  }

  static std::unique_ptr<Log> OpenLog(const std::string& path,
                                      rocksdb::Env* env, bool sync = true) {
    LogOptions options;
    options.path = path;
    options.sync = sync;
    options.env = env;
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  static std::unique_ptr<Session> StartSession(const std::string& path,
                                               bool sync = true) {
    auto session = std::make_unique<Session>();
    session->log = OpenLog(path, session->env.get(), sync);
    return session;
  }

  // Cuts the power (if CrashAtSync has not already), closes the log and
  // keeps on disk only what was durable.
  static void PowerCut(Session& session, Writer& writer) {
    session.fs->Crash();
    // The log is still up but its disk is gone: nothing more is acknowledged.
    EXPECT_FALSE(writer.AppendBatch(*session.log).ok());
    session.log.reset();
    absl::Status dropped = session.fs->DropUnsynced();
    ASSERT_TRUE(dropped.ok()) << dropped;
  }

  // Reopens what is left and checks every acknowledged append: through a
  // fresh PowerLossFileSystem (the same disk, without real fsyncs to wait
  // for), or RocksDB's default Env.
  enum class Through { kPowerLossFs, kDefaultEnv };
  static void ExpectAllAckedSurvive(const std::string& path,
                                    const Writer& writer,
                                    Through through = Through::kPowerLossFs) {
    Session session;
    session.log = OpenLog(
        path, through == Through::kDefaultEnv ? nullptr : session.env.get());
    ASSERT_NE(session.log, nullptr);
    EXPECT_EQ(CountLost(*session.log, writer), 0u)
        << "of " << writer.acked().size() << " acknowledged";
    ExpectFeedsChain(*session.log, writer);
  }

  tidings::testing::TempDir root_{"power_loss_test"};
  int logs_ = 0;
};

TEST_F(PowerLossTest, AcknowledgedAppendsSurviveAPowerCutBetweenAppends) {
  for (const int batches : {1, 2, 3, 5, 8, 13, 21, 50}) {
    SCOPED_TRACE(absl::StrCat(batches, " batches"));
    const std::string path = NewLogPath();
    Writer writer(kSmallPayload);
    std::unique_ptr<Session> session = StartSession(path);
    ASSERT_NE(session->log, nullptr);
    for (int i = 0; i < batches; ++i) {
      absl::Status appended = writer.AppendBatch(*session->log);
      ASSERT_TRUE(appended.ok()) << appended;
    }
    PowerCut(*session, writer);
    ExpectAllAckedSurvive(path, writer);
  }
}

// The power fails inside an Append: at its WAL sync, or a directory sync.
TEST_F(PowerLossTest, AcknowledgedAppendsSurviveAPowerCutDuringAnAppend) {
  for (const uint64_t syncs : {0, 1, 2, 5, 13, 33}) {
    SCOPED_TRACE(absl::StrCat("power cut at sync ", syncs));
    const std::string path = NewLogPath();
    Writer writer(kSmallPayload);
    std::unique_ptr<Session> session = StartSession(path);
    ASSERT_NE(session->log, nullptr);
    session->fs->CrashAtSync(syncs);
    for (int i = 0; i < 100 && writer.AppendBatch(*session->log).ok(); ++i) {
    }
    ASSERT_TRUE(session->fs->crashed()) << "the power cut never came";
    PowerCut(*session, writer);
    ExpectAllAckedSurvive(path, writer);
  }
}

// Append, cut, reopen, append on, cut again: each session's survivors are
// the next one's base.
TEST_F(PowerLossTest, AcknowledgedAppendsSurviveAPowerCutInEverySession) {
  const std::string path = NewLogPath();
  Writer writer(kSmallPayload);
  for (const int batches : {7, 13, 4, 21}) {
    SCOPED_TRACE(absl::StrCat("session of ", batches, " batches"));
    std::unique_ptr<Session> session = StartSession(path);
    ASSERT_NE(session->log, nullptr);
    writer.Resume(*session->log);
    for (int i = 0; i < batches; ++i) {
      absl::Status appended = writer.AppendBatch(*session->log);
      ASSERT_TRUE(appended.ok()) << appended;
    }
    PowerCut(*session, writer);
    ExpectAllAckedSurvive(path, writer);
  }
  ExpectAllAckedSurvive(path, writer, Through::kDefaultEnv);
}

// Enough data to flush memtables and switch WAL files before the cut, which
// RocksDB must make durable with file and directory syncs of its own.
TEST_F(PowerLossTest, AcknowledgedAppendsSurviveAPowerCutAcrossFlushes) {
  constexpr int kBatches = 40;  // 40 * 38/7 records of 64 KiB: ~14 MiB
  uint64_t total_syncs = 0;
  {
    const std::string path = NewLogPath();
    Writer writer(kLargePayload);
    std::unique_ptr<Session> session = StartSession(path);
    ASSERT_NE(session->log, nullptr);
    const uint64_t syncs_at_open = session->fs->syncs();
    const uint64_t files_at_open = session->fs->files_created();
    for (int i = 0; i < kBatches; ++i) {
      absl::Status appended = writer.AppendBatch(*session->log);
      ASSERT_TRUE(appended.ok()) << appended;
    }
    total_syncs = session->fs->syncs() - syncs_at_open;
    // A full memtable moved the log to a new WAL (and its flush began).
    ASSERT_GT(session->fs->files_created(), files_at_open);
    PowerCut(*session, writer);
    ExpectAllAckedSurvive(path, writer);
  }
  for (uint64_t syncs = 10; syncs < total_syncs; syncs += total_syncs / 4) {
    SCOPED_TRACE(absl::StrCat("power cut at sync ", syncs));
    const std::string path = NewLogPath();
    Writer writer(kLargePayload);
    std::unique_ptr<Session> session = StartSession(path);
    ASSERT_NE(session->log, nullptr);
    session->fs->CrashAtSync(syncs);
    for (int i = 0; i < kBatches && writer.AppendBatch(*session->log).ok();
         ++i) {
    }
    PowerCut(*session, writer);
    ExpectAllAckedSurvive(path, writer);
  }
}

TEST_F(PowerLossTest, SyncedStateSurvivesAPowerCut) {
  const std::string path = NewLogPath();
  Writer writer(kSmallPayload);
  std::unique_ptr<Session> session = StartSession(path);
  ASSERT_NE(session->log, nullptr);
  ASSERT_TRUE(writer.AppendBatch(*session->log).ok());
  ASSERT_TRUE(session->log->PutState("power_loss/one", "1").ok());
  ASSERT_TRUE(
      session->log
          ->PutStates({{"power_loss/two", "2"}, {"power_loss/three", "3"}})
          .ok());
  ASSERT_TRUE(session->log->PutState("power_loss/gone", "x").ok());
  ASSERT_TRUE(session->log->DeleteState("power_loss/gone").ok());
  PowerCut(*session, writer);

  std::unique_ptr<Log> log = OpenLog(path, nullptr);
  ASSERT_NE(log, nullptr);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> state =
      log->ScanState("power_loss/");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_THAT(*state, ElementsAre(Pair("power_loss/one", "1"),
                                  Pair("power_loss/three", "3"),
                                  Pair("power_loss/two", "2")));
}

// The test can fail: without WAL syncs, a power cut loses acknowledged
// appends (few enough that no memtable is flushed before it).
TEST_F(PowerLossTest, UnsyncedAppendsAreLostInAPowerCut) {
  const std::string path = NewLogPath();
  Writer writer(kSmallPayload);
  std::unique_ptr<Session> session = StartSession(path, /*sync=*/false);
  ASSERT_NE(session->log, nullptr);
  for (int i = 0; i < 20; ++i) {
    absl::Status appended = writer.AppendBatch(*session->log);
    ASSERT_TRUE(appended.ok()) << appended;
  }
  PowerCut(*session, writer);

  std::unique_ptr<Log> log = OpenLog(path, nullptr);
  ASSERT_NE(log, nullptr);
  const size_t lost = CountLost(*log, writer);
  std::cout << "sync=false: lost " << lost << " of " << writer.acked().size()
            << " acknowledged envelopes\n";
  EXPECT_GT(lost, 0u);
  // Lost, but whole: the log still opens and what it holds chains.
  for (uint64_t feed = 0; feed < kFeeds; ++feed) {
    absl::StatusOr<std::vector<std::string>> envelopes =
        log->ReadFeed(FeedId(feed), 1, 1000, 1 << 20);
    ASSERT_TRUE(envelopes.ok()) << envelopes.status();
    std::optional<proto::FeedHead> head = log->GetHead(FeedId(feed));
    EXPECT_EQ(envelopes->size(), head.has_value() ? head->seq() : 0u);
  }
}

}  // namespace
}  // namespace tidings::storage

// Small files that must survive a crash whole: key files, TLS keys, rosters,
// public identity files, certificates, the epoch key file. The one place
// that creates, replaces and reads them:
//
//  - WriteNewFile creates a file that was not there (O_EXCL: never replacing
//    anything, never following a symlink), with its final mode from the first
//    instant, and fsyncs it and its directory.
//  - ReplaceFile writes a temporary file next to the target, fsyncs it,
//    renames it over the target and fsyncs the directory: a crash leaves the
//    old contents or the new, never a mix.
//  - FileReader reads through an open descriptor, so that what is checked
//    (type, mode, size) is the file actually read; the caller's buffer caps
//    the size.
//
// Every error is "<verb> <what> <path>: <strerror>" (just "<verb> <path>: ..."
// when `what` is empty), coded by errno: kNotFound (ENOENT, ENOTDIR),
// kAlreadyExists, kPermissionDenied (EACCES, EPERM, EROFS),
// kResourceExhausted (ENOSPC, EDQUOT), kInternal otherwise.
//
// Thread-safety: free functions; safe from any thread. A FileReader is used
// by one thread at a time.
#ifndef TIDINGS_BASE_DURABLE_FILE_H_
#define TIDINGS_BASE_DURABLE_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tidings::base {

// Where ReplaceFile writes the new contents before renaming them into place.
enum class TempFile {
  // "<path>.tmp", a stale one (what a crash leaves) removed first: nothing
  // lingers past the next write, which suits secrets; two writers of one
  // path must be serialised by the caller.
  kFixed,
  // "<path>.tmp-XXXXXX", unique (mkstemp): writers racing on one path each
  // rename a whole file and the last one wins; a crash leaves its temporary
  // file behind.
  kUnique,
};

// Creates `path` with permission bits `mode` (applied with fchmod too, so the
// umask cannot narrow them) and writes `bytes`, durably. kAlreadyExists if
// anything (even a dangling symlink) is at `path`; kNotFound if its directory
// is missing. On failure after creating the file, removes it: a truncated
// file would block the retry and fail to load later.
absl::Status WriteNewFile(const std::string& path, absl::string_view what,
                          absl::string_view bytes, mode_t mode);

// Replaces (or creates) `path` with `bytes` and `mode`, atomically and
// durably, through a temporary file named as `temp` says. A symlink at
// `path` is replaced, not followed. On failure `path` is untouched and the
// temporary file removed.
absl::Status ReplaceFile(const std::string& path, absl::string_view what,
                         absl::string_view bytes, mode_t mode, TempFile temp);

// A file open for reading. Move-only; closes the descriptor when destroyed.
class FileReader {
 public:
  // Opens `path` (O_NONBLOCK, so that a FIFO cannot hang the open; the flag
  // changes nothing for a regular file) and stats the open descriptor.
  // Errors as above ("cannot open", "cannot stat").
  static absl::StatusOr<FileReader> Open(const std::string& path,
                                         absl::string_view what);

  FileReader(FileReader&& other) noexcept;
  FileReader& operator=(FileReader&&) = delete;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader();

  // Of the file opened, whatever `path` names by now.
  bool is_regular() const;
  mode_t permissions() const;   // the 07777 bits
  uint64_t size_bytes() const;  // at Open

  // Reads until `buffer` is full or the file ends; returns the bytes read.
  // A file larger than the buffer is read only that far: give one byte more
  // than the largest acceptable size to tell a file at the cap from a larger
  // one. "cannot read <what> <path>: ..." on error.
  absl::StatusOr<size_t> ReadInto(absl::Span<char> buffer);

 private:
  FileReader(int fd, std::string path, std::string what, mode_t mode,
             uint64_t size_bytes);

  int fd_;
  std::string path_;
  std::string what_;
  mode_t mode_;
  uint64_t size_bytes_;
};

// The contents of `path`, read through a FileReader up to `max_bytes` + 1
// bytes, so that a caller can tell a file at its cap from a larger one (and
// refuse it in its own words). Errors as FileReader's.
absl::StatusOr<std::string> ReadFileUpTo(const std::string& path,
                                         absl::string_view what,
                                         size_t max_bytes);

// "<verb> <what> <path>: <strerror(error_number)>", coded as above.
absl::Status FileError(int error_number, absl::string_view verb,
                       absl::string_view what, absl::string_view path);

}  // namespace tidings::base

#endif  // TIDINGS_BASE_DURABLE_FILE_H_

#include "base/durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/status_macros.h"

namespace tidings::base {
namespace {

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Closes now and reports the result (close can report a deferred write
  // error, which a writer must not ignore).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// The directory holding `path`, for the fsync that makes its entries
// durable.
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what,
                      const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "cannot write", what, path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes `bytes` to the new file open at `fd` (named `path`), gives it `mode`
// and fsyncs it, but not its directory. On failure removes the file.
absl::Status FillAndSync(int fd, const std::string& path,
                         absl::string_view what, absl::string_view bytes,
                         mode_t mode) {
  FdCloser closer(fd);
  absl::Status status = WriteAll(fd, bytes, what, path);
  // The umask could only have cleared bits; public files need them back.
  if (status.ok() && ::fchmod(fd, mode) != 0) {
    status = FileError(errno, "cannot chmod", what, path);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = FileError(errno, "cannot fsync", what, path);
  }
  if (status.ok() && closer.Close() != 0) {
    status = FileError(errno, "cannot close", what, path);
  }
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

// Creates `path` (O_EXCL) with `mode`, writes and fsyncs it.
absl::Status CreateAndSync(const std::string& path, absl::string_view what,
                           absl::string_view bytes, mode_t mode) {
  // O_EXCL: never overwrite (a key may be the only copy of an identity the
  // network knows) and never follow a symlink. The mode applies from the
  // first instant: no window in which a secret is readable by others.
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return FileError(errno, "cannot create", what, path);
  return FillAndSync(fd, path, what, bytes, mode);
}

// Makes the directory entries of `path` durable: without it a crash could
// lose a file (or a rename) whose contents were already relied on.
absl::Status SyncDirectoryOf(const std::string& path, absl::string_view what) {
  const std::string dir = DirectoryOf(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return FileError(errno, "cannot open directory of", what, path);
  }
  FdCloser dir_closer(dir_fd);
  if (::fsync(dir_fd) != 0) {
    return FileError(errno, "cannot fsync directory of", what, path);
  }
  return absl::OkStatus();
}

// Writes `bytes` to a new temporary file next to `path`; returns its name.
absl::StatusOr<std::string> WriteTemporary(const std::string& path,
                                           absl::string_view what,
                                           absl::string_view bytes, mode_t mode,
                                           TempFile temp) {
  if (temp == TempFile::kUnique) {
    std::string name = absl::StrCat(path, ".tmp-XXXXXX");
    // mkostemp creates it 0600 (O_EXCL); FillAndSync then sets `mode`.
    const int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) {
      return FileError(errno, "cannot create a file next to", what, path);
    }
    if (absl::Status s = FillAndSync(fd, name, what, bytes, mode); !s.ok()) {
      return s;
    }
    return name;
  }
  std::string name = path + ".tmp";
  // A stale temporary file holds nothing the real file lacks. unlink
  // removes a symlink itself, never its target.
  if (::unlink(name.c_str()) != 0 && errno != ENOENT) {
    return FileError(errno, "cannot remove stale", what, name);
  }
  if (absl::Status s = CreateAndSync(name, what, bytes, mode); !s.ok()) {
    return s;
  }
  return name;
}

}  // namespace

absl::Status FileError(int error_number, absl::string_view verb,
                       absl::string_view what, absl::string_view path) {
  std::string message = absl::StrCat(verb, " ", what, what.empty() ? "" : " ",
                                     path, ": ", std::strerror(error_number));
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status WriteNewFile(const std::string& path, absl::string_view what,
                          absl::string_view bytes, mode_t mode) {
  if (absl::Status status = CreateAndSync(path, what, bytes, mode);
      !status.ok()) {
    return status;
  }
  // A crash could otherwise lose a file whose contents were handed out.
  return SyncDirectoryOf(path, what);
}

absl::Status ReplaceFile(const std::string& path, absl::string_view what,
                         absl::string_view bytes, mode_t mode, TempFile temp) {
  absl::StatusOr<std::string> written =
      WriteTemporary(path, what, bytes, mode, temp);
  if (!written.ok()) return written.status();
  // rename replaces `path` atomically; a symlink at `path` is replaced, not
  // followed.
  if (::rename(written->c_str(), path.c_str()) != 0) {
    absl::Status status = FileError(errno, "cannot replace", what, path);
    ::unlink(written->c_str());
    return status;
  }
  return SyncDirectoryOf(path, what);
}

absl::StatusOr<FileReader> FileReader::Open(const std::string& path,
                                            absl::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return FileError(errno, "cannot open", what, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    absl::Status status = FileError(errno, "cannot stat", what, path);
    ::close(fd);
    return status;
  }
  return FileReader(fd, path, std::string(what), st.st_mode,
                    st.st_size < 0 ? 0 : static_cast<uint64_t>(st.st_size));
}

FileReader::FileReader(int fd, std::string path, std::string what, mode_t mode,
                       uint64_t size_bytes)
    : fd_(fd),
      path_(std::move(path)),
      what_(std::move(what)),
      mode_(mode),
      size_bytes_(size_bytes) {}

FileReader::FileReader(FileReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      what_(std::move(other.what_)),
      mode_(other.mode_),
      size_bytes_(other.size_bytes_) {}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool FileReader::is_regular() const { return S_ISREG(mode_); }

mode_t FileReader::permissions() const { return mode_ & 07777; }

uint64_t FileReader::size_bytes() const { return size_bytes_; }

absl::StatusOr<size_t> FileReader::ReadInto(absl::Span<char> buffer) {
  size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(fd_, buffer.data() + size, buffer.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "cannot read", what_, path_);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  return size;
}

absl::StatusOr<std::string> ReadFileUpTo(const std::string& path,
                                         absl::string_view what,
                                         size_t max_bytes) {
  TIDINGS_ASSIGN_OR_RETURN(FileReader file, FileReader::Open(path, what));
  std::string bytes(max_bytes + 1, '\0');
  TIDINGS_ASSIGN_OR_RETURN(const size_t read,
                           file.ReadInto(absl::MakeSpan(bytes)));
  bytes.resize(read);
  return bytes;
}

}  // namespace tidings::base

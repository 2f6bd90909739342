#include "crypto/internal/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tidings::crypto::secret_file_internal {
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
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Maps an errno from a syscall on the file to a Status, keeping the meaning
// of the common cases (Abseil codes map one-to-one to gRPC's).
absl::Status ErrnoStatus(int err, absl::string_view verb,
                         absl::string_view what, const std::string& path) {
  std::string message =
      absl::StrCat(verb, " ", what, " ", path, ": ", std::strerror(err));
  switch (err) {
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

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o",
                static_cast<unsigned int>(mode & 07777));
  return buf;
}

// The directory holding `path`, for the fsync that makes its creation
// durable.
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what,
                      const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", what, path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Malformed(absl::string_view what, const std::string& path,
                       absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", path, " is malformed: ", why));
}

absl::StatusOr<FileBytes> ReadFile(const std::string& path,
                                   absl::string_view what, Access access,
                                   std::size_t max_bytes) {
  EnsureSodium();
  // O_NONBLOCK: a FIFO at the path must not hang the open; it is refused
  // below as not a regular file (on which the flag changes nothing).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", what, path);
  FdCloser closer(fd);

  // fstat on the open descriptor, not stat on the path: the mode checked is
  // the mode of the file actually read.
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return ErrnoStatus(errno, "cannot stat", what, path);
  }
  if (!S_ISREG(st.st_mode)) return Malformed(what, path, "not a regular file");
  if (access == Access::kOwnerOnly && (st.st_mode & 077) != 0) {
    std::string mode = OctalMode(st.st_mode);
    return absl::PermissionDeniedError(absl::StrCat(
        what, " ", path, " is accessible by group or others (mode ", mode,
        "); run: chmod 600 ", path));
  }

  // One fixed-size buffer, never grown, so the wipe when it goes covers every
  // copy of the bytes that passed through it. One byte more than allowed
  // tells a file at the cap from a larger one.
  FileBytes buffer = FileBytes::OfSize(max_bytes + 1);
  size_t size = 0;
  while (size < buffer.size()) {
    ssize_t n = ::read(fd, buffer.mutable_data() + size, buffer.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", what, path);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > max_bytes) {
    return Malformed(what, path,
                     absl::StrCat("larger than ", max_bytes, " bytes"));
  }
  buffer.Truncate(size);
  return buffer;
}

namespace {

// Creates `path` (O_EXCL) with `mode`, writes `bytes` and fsyncs the file but
// not its directory. On failure after creating the file, removes it: a
// truncated file left behind would block the retry (O_EXCL) and fail to load
// later.
absl::Status CreateAndSync(const std::string& path, absl::string_view what,
                           absl::string_view bytes, mode_t mode) {
  // O_EXCL: never overwrite (a key may be the only copy of an identity the
  // network knows) and never follow a symlink. The mode applies from the
  // first instant: no window in which a secret is readable by others. The
  // umask could only clear bits, hence the fchmod below for public files.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "cannot create", what, path);
  FdCloser closer(fd);

  absl::Status status = WriteAll(fd, bytes, what, path);
  if (status.ok() && ::fchmod(fd, mode) != 0) {
    status = ErrnoStatus(errno, "cannot chmod", what, path);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot fsync", what, path);
  }
  if (status.ok() && closer.Close() != 0) {
    status = ErrnoStatus(errno, "cannot close", what, path);
  }
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

// Makes the directory entries of `path` durable: without it a crash could
// lose a file (or a rename) whose contents were already relied on.
absl::Status SyncDirectoryOf(const std::string& path, absl::string_view what) {
  std::string dir = DirectoryOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return ErrnoStatus(errno, "cannot open directory of", what, path);
  }
  FdCloser dir_closer(dir_fd);
  if (::fsync(dir_fd) != 0) {
    return ErrnoStatus(errno, "cannot fsync directory of", what, path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteNewFile(const std::string& path, absl::string_view what,
                          absl::string_view bytes, mode_t mode) {
  if (absl::Status status = CreateAndSync(path, what, bytes, mode);
      !status.ok()) {
    return status;
  }
  // A crash could otherwise lose a key whose public half has already been
  // handed out.
  return SyncDirectoryOf(path, what);
}

absl::Status ReplaceFile(const std::string& path, absl::string_view what,
                         absl::string_view bytes, mode_t mode) {
  const std::string temp = path + ".tmp";
  // A stale temporary file is what a crash between create and rename leaves;
  // it holds nothing the real file lacks. unlink removes a symlink itself,
  // never its target.
  if (::unlink(temp.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "cannot remove stale", what, temp);
  }
  if (absl::Status status = CreateAndSync(temp, what, bytes, mode);
      !status.ok()) {
    return status;
  }
  // rename replaces `path` atomically; a symlink at `path` is replaced, not
  // followed.
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status status = ErrnoStatus(errno, "cannot replace", what, path);
    ::unlink(temp.c_str());
    return status;
  }
  return SyncDirectoryOf(path, what);
}

}  // namespace tidings::crypto::secret_file_internal

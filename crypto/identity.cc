#include "crypto/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "proto/keyfile.pb.h"

namespace tidings::crypto {
namespace {

constexpr uint32_t kKeyFileVersion = 1;

// A key file is four short fields; anything much bigger is not one, and the
// cap keeps a wrong path (say, a log file) from being read into memory.
constexpr size_t kMaxKeyFileSize = 4096;

// Wipes a std::string's bytes when it goes out of scope. The string must not
// grow after construction, or its old buffer would escape the wipe.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) : s_(s) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() { sodium_memzero(s_.data(), s_.size()); }

 private:
  std::string& s_;
};

// Wipes the secret fields of a parsed or filled key file; protobuf frees
// them without wiping.
class WipeKeyFileOnExit {
 public:
  explicit WipeKeyFileOnExit(proto::SecretKeyFile& file) : file_(file) {}
  WipeKeyFileOnExit(const WipeKeyFileOnExit&) = delete;
  WipeKeyFileOnExit& operator=(const WipeKeyFileOnExit&) = delete;
  ~WipeKeyFileOnExit() {
    std::string* seed = file_.mutable_sign_seed();
    sodium_memzero(seed->data(), seed->size());
    std::string* box = file_.mutable_box_sk();
    sodium_memzero(box->data(), box->size());
  }

 private:
  proto::SecretKeyFile& file_;
};

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

// Maps an errno from a key file syscall to a Status, keeping the meaning of
// the common cases (Abseil codes map one-to-one to gRPC's).
absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path) {
  std::string message =
      absl::StrCat(what, " key file ", path, ": ", std::strerror(err));
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

absl::Status Malformed(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("key file ", path, " is malformed: ", why));
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

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

Identity Identity::Generate(absl::string_view agency) {
  EnsureSodium();
  Identity identity;
  identity.agency_ = std::string(agency);
  SigningKeyPair signing = GenerateSigningKey();
  identity.signing_key_ = std::move(signing.secret);
  identity.verify_key_ = signing.public_key;
  BoxKeyPair box = GenerateBoxKey();
  identity.box_secret_ = std::move(box.secret);
  identity.box_public_ = box.public_key;
  return identity;
}

absl::StatusOr<Identity> Identity::LoadFile(const std::string& path) {
  EnsureSodium();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  FdCloser closer(fd);

  // fstat on the open descriptor, not stat on the path: the mode checked is
  // the mode of the file actually read.
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) return Malformed(path, "not a regular file");
  if ((st.st_mode & 077) != 0) {
    std::string mode = OctalMode(st.st_mode);
    return absl::PermissionDeniedError(absl::StrCat(
        "key file ", path, " is accessible by group or others (mode ", mode,
        "); run: chmod 600 ", path));
  }

  // One fixed-size buffer, never grown, so the wipe below covers every copy
  // of the secret bytes that passed through it.
  std::string buffer(kMaxKeyFileSize + 1, '\0');
  WipeOnExit wipe_buffer(buffer);
  size_t size = 0;
  while (size < buffer.size()) {
    ssize_t n = ::read(fd, buffer.data() + size, buffer.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", path);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > kMaxKeyFileSize) {
    return Malformed(path,
                     absl::StrCat("larger than ", kMaxKeyFileSize, " bytes"));
  }

  proto::SecretKeyFile file;
  WipeKeyFileOnExit wipe_file(file);
  if (!file.ParseFromArray(buffer.data(), static_cast<int>(size))) {
    return Malformed(path, "not a SecretKeyFile");
  }
  if (file.version() != kKeyFileVersion) {
    return Malformed(path, absl::StrCat("unsupported version ", file.version(),
                                        " (want ", kKeyFileVersion, ")"));
  }
  if (file.agency().empty()) return Malformed(path, "agency is empty");
  std::optional<SigningSeed> seed = SigningSeed::FromBytes(file.sign_seed());
  if (!seed.has_value()) {
    return Malformed(path,
                     absl::StrCat("sign_seed is ", file.sign_seed().size(),
                                  " bytes (want ", SigningSeed::kSize, ")"));
  }
  std::optional<BoxSecretKey> box = BoxSecretKey::FromBytes(file.box_sk());
  if (!box.has_value()) {
    return Malformed(
        path, absl::StrCat("box_sk is ", file.box_sk().size(), " bytes (want ",
                           BoxSecretKey::kSize, ")"));
  }

  Identity identity;
  identity.agency_ = file.agency();
  SigningKeyPair signing = SigningKeyFromSeed(*seed);
  identity.signing_key_ = std::move(signing.secret);
  identity.verify_key_ = signing.public_key;
  identity.box_public_ = PublicKeyOf(*box);
  identity.box_secret_ = std::move(*box);
  return identity;
}

absl::Status Identity::SaveFile(const std::string& path) const {
  EnsureSodium();
  proto::SecretKeyFile file;
  WipeKeyFileOnExit wipe_file(file);
  file.set_version(kKeyFileVersion);
  file.set_agency(agency_);
  SigningSeed seed = SeedOf(signing_key_);
  file.set_sign_seed(reinterpret_cast<const char*>(seed.data()), seed.size());
  file.set_box_sk(reinterpret_cast<const char*>(box_secret_.data()),
                  box_secret_.size());

  // Sized once and serialized in place, so the wipe covers the only copy.
  std::string bytes(file.ByteSizeLong(), '\0');
  WipeOnExit wipe_bytes(bytes);
  if (!file.SerializeToArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError(
        absl::StrCat("cannot serialize key file ", path));
  }

  // O_EXCL: never overwrite a key (it may be the only copy of an identity
  // the network knows). Mode 0600 from the first instant: no window in which
  // the secret is readable by others.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "cannot create", path);
  FdCloser closer(fd);

  absl::Status status = WriteAll(fd, bytes, path);
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoStatus(errno, "cannot fsync", path);
  }
  if (status.ok() && closer.Close() != 0) {
    status = ErrnoStatus(errno, "cannot close", path);
  }
  if (!status.ok()) {
    // We created it, so remove it: a truncated key file left behind would
    // block the retry (O_EXCL) and fail to load later.
    ::unlink(path.c_str());
    return status;
  }

  // Make the new directory entry durable too, or a crash could lose a key
  // whose public half has already been handed out.
  std::string dir = DirectoryOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoStatus(errno, "cannot open directory of", path);
  FdCloser dir_closer(dir_fd);
  if (::fsync(dir_fd) != 0) {
    return ErrnoStatus(errno, "cannot fsync directory of", path);
  }
  return absl::OkStatus();
}

}  // namespace tidings::crypto

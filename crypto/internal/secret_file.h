// Reading and writing the small files that hold secrets (key files, TLS keys,
// passphrase files) and their public companions (TLS certificates), with the
// rules every one of them follows:
//
//  - a secret file is refused unless it is a regular file that neither group
//    nor others can read or write (checked on the open descriptor);
//  - files are read through one fixed-size buffer that is wiped afterwards;
//  - files are created with O_EXCL (never overwriting, never following a
//    symlink), with their final mode from the first instant, fsynced together
//    with their directory; files that change are replaced by rename.
//
// The file mechanics (O_EXCL, fsync, rename, reading through the open
// descriptor) are base/durable_file.h's, and new files are created with
// base::WriteNewFile directly; this layer adds the owner-only check, the
// wiped buffer and ReplaceFile's fixed "<path>.tmp" temporary file.
//
// Private to crypto/. Each message names the file by `what` ("key file", "TLS
// key file", ...) followed by its path.
//
// Thread-safety: free functions; safe from any thread.
#ifndef TIDINGS_CRYPTO_INTERNAL_SECRET_FILE_H_
#define TIDINGS_CRYPTO_INTERNAL_SECRET_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto::secret_file_internal {

// The same type as the public crypto::ReadSecretFile's (secret_file.h).
using FileBytes = SecretFileBytes;

enum class Access {
  // Refuse files that group or others can read or write: kPermissionDenied
  // "<what> <path> is accessible by group or others (mode 0644); run: chmod
  // 600 <path>".
  kOwnerOnly,
  // Any mode (public files such as certificates).
  kAnyone,
};

// The whole file at `path`, at most `max_bytes`. kNotFound if missing,
// kPermissionDenied as above or if unreadable, kInvalidArgument "<what> <path>
// is malformed: ..." if it is not a regular file or is larger than
// `max_bytes`.
absl::StatusOr<FileBytes> ReadFile(const std::string& path,
                                   absl::string_view what, Access access,
                                   std::size_t max_bytes);

// Replaces (or creates) `path` with `bytes` and `mode`, atomically and
// durably: writes "<path>.tmp" (O_EXCL, after removing a stale one), fsyncs
// it, renames it over `path`, fsyncs the directory. On failure `path` is
// untouched and the temporary file removed.
absl::Status ReplaceFile(const std::string& path, absl::string_view what,
                         absl::string_view bytes, mode_t mode);

// "<what> <path> is malformed: <why>" (kInvalidArgument).
absl::Status Malformed(absl::string_view what, const std::string& path,
                       absl::string_view why);

}  // namespace tidings::crypto::secret_file_internal

#endif  // TIDINGS_CRYPTO_INTERNAL_SECRET_FILE_H_

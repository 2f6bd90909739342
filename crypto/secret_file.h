// Files that hold secrets, for modules outside crypto/ (the node's epoch key
// file and storage key): the same rules as key files.
//
//  - A secret file is refused unless it is a regular file that neither group
//    nor others can read or write (checked on the open descriptor), with the
//    message key files use: "<what> <path> is accessible by group or others
//    (mode 0644); run: chmod 600 <path>".
//  - It is read through one fixed-size buffer that is wiped afterwards.
//  - It is written with mode 0600 from the first instant, never through a
//    symlink, and fsynced together with its directory.
//
// Each message names the file by `what` ("epoch key file", ...) followed by
// its path.
//
// Thread-safety: free functions; safe from any thread. Two writers of one
// path (even in one process) must be serialised by the caller.
#ifndef TIDINGS_CRYPTO_SECRET_FILE_H_
#define TIDINGS_CRYPTO_SECRET_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto {

// The whole secret file at `path`, at most `max_bytes`, in a buffer wiped when
// destroyed. Errors:
//  - kNotFound if it is missing;
//  - kPermissionDenied "<what> <path> is accessible by group or others (mode
//    0644); run: chmod 600 <path>", or if it cannot be read;
//  - kInvalidArgument "<what> <path> is malformed: ..." if it is not a
//    regular file or is larger than `max_bytes`.
absl::StatusOr<SecretFileBytes> ReadSecretFile(const std::string& path,
                                               absl::string_view what,
                                               std::size_t max_bytes);

// Creates `path` with mode 0600 and writes `bytes`, durably. Never replaces
// anything: kAlreadyExists if anything (even a dangling symlink) is at `path`,
// so two processes racing to create it cannot both win; kNotFound if its
// directory is missing.
absl::Status WriteNewSecretFile(const std::string& path, absl::string_view what,
                                absl::string_view bytes);

// Replaces (or creates) `path` with `bytes`, mode 0600, atomically: a crash
// leaves either the old contents or the new, never a mix. Writes
// "<path>.tmp" (removing a stale one first), fsyncs it, renames it over
// `path` and fsyncs the directory. kNotFound if the directory is missing;
// other errors keep their errno's meaning (kPermissionDenied,
// kResourceExhausted for a full disk, kInternal). On failure `path` is
// untouched and the temporary file is removed.
absl::Status WriteSecretFileAtomically(const std::string& path,
                                       absl::string_view what,
                                       absl::string_view bytes);

// "<what> <path> is malformed: <why>" (kInvalidArgument), the message readers
// of secret files use for contents they cannot accept.
absl::Status MalformedSecretFile(absl::string_view what,
                                 const std::string& path,
                                 absl::string_view why);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_SECRET_FILE_H_

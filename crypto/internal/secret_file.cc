#include "crypto/internal/secret_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/durable_file.h"
#include "base/status_macros.h"

namespace tidings::crypto::secret_file_internal {
namespace {

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o",
                static_cast<unsigned int>(mode & 07777));
  return buf;
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
  TIDINGS_ASSIGN_OR_RETURN(base::FileReader file,
                           base::FileReader::Open(path, what));
  if (!file.is_regular()) return Malformed(what, path, "not a regular file");
  if (access == Access::kOwnerOnly && (file.permissions() & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " ", path, " is accessible by group or others (mode ",
        OctalMode(file.permissions()), "); run: chmod 600 ", path));
  }
  // One fixed-size buffer, never grown, so the wipe when it goes covers every
  // copy of the bytes that passed through it. One byte more than allowed
  // tells a file at the cap from a larger one.
  FileBytes buffer = FileBytes::OfSize(max_bytes + 1);
  TIDINGS_ASSIGN_OR_RETURN(
      const size_t size,
      file.ReadInto(absl::MakeSpan(buffer.mutable_data(), buffer.size())));
  if (size > max_bytes) {
    return Malformed(what, path,
                     absl::StrCat("larger than ", max_bytes, " bytes"));
  }
  buffer.Truncate(size);
  return buffer;
}

absl::Status ReplaceFile(const std::string& path, absl::string_view what,
                         absl::string_view bytes, mode_t mode) {
  return base::ReplaceFile(path, what, bytes, mode, base::TempFile::kFixed);
}

}  // namespace tidings::crypto::secret_file_internal

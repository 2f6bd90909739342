#include "crypto/secret_file.h"

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/durable_file.h"
#include "crypto/internal/secret_file.h"
#include "crypto/types.h"

namespace tidings::crypto {

absl::StatusOr<SecretFileBytes> ReadSecretFile(const std::string& path,
                                               absl::string_view what,
                                               std::size_t max_bytes) {
  return secret_file_internal::ReadFile(
      path, what, secret_file_internal::Access::kOwnerOnly, max_bytes);
}

absl::Status WriteNewSecretFile(const std::string& path, absl::string_view what,
                                absl::string_view bytes) {
  return base::WriteNewFile(path, what, bytes, 0600);
}

absl::Status WriteSecretFileAtomically(const std::string& path,
                                       absl::string_view what,
                                       absl::string_view bytes) {
  return secret_file_internal::ReplaceFile(path, what, bytes, 0600);
}

absl::Status MalformedSecretFile(absl::string_view what,
                                 const std::string& path,
                                 absl::string_view why) {
  return secret_file_internal::Malformed(what, path, why);
}

}  // namespace tidings::crypto

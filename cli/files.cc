#include "cli/files.h"

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/durable_file.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "node/model/roster.h"

namespace tidings::node::cli_internal {

bool PathExists(const std::string& path) {
  std::error_code error;
  // symlink_status: a dangling symlink still counts as "there".
  return std::filesystem::symlink_status(path, error).type() !=
         std::filesystem::file_type::not_found;
}

absl::Status WriteNewPublicFile(const std::string& path,
                                absl::string_view bytes) {
  absl::Status status = base::WriteNewFile(path, "", bytes, 0644);
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " already exists; refusing to overwrite it"));
  }
  return status;
}

absl::StatusOr<proto::Member> ReadMemberFile(const std::string& path) {
  proto::PublicIdentity pub;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, pub));
  if (!pub.has_member()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " holds no member; is it a .pub file?"));
  }
  return pub.member();
}

absl::StatusOr<crypto::Sha256> ReadCertificateFingerprint(
    const std::string& path) {
  // Far above any certificate: CertificateFingerprint refuses the size.
  constexpr size_t kMaxCertificateFileBytes = 1 << 20;
  TIDINGS_ASSIGN_OR_RETURN(
      const std::string pem,
      base::ReadFileUpTo(path, "TLS certificate", kMaxCertificateFileBytes));
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(pem);
  if (!fingerprint.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a PEM certificate (",
                     fingerprint.status().message(), ")"));
  }
  return fingerprint;
}

RemoveOnFailure::~RemoveOnFailure() {
  for (const std::string& path : paths_) ::unlink(path.c_str());
}

absl::StatusOr<crypto::PassphraseCost> CostFlag(const Args& args) {
  const std::string* cost = args.Find("passphrase-cost");
  if (cost == nullptr || *cost == "moderate") {
    return crypto::PassphraseCost::kModerate;
  }
  if (*cost == "interactive") return crypto::PassphraseCost::kInteractive;
  if (*cost == "sensitive") return crypto::PassphraseCost::kSensitive;
  return UsageError(
      absl::StrCat("--passphrase-cost '", absl::CHexEscape(*cost),
                   "' is not interactive, moderate or sensitive"));
}

std::string CostDescription(crypto::PassphraseCost cost) {
  switch (cost) {
    case crypto::PassphraseCost::kInteractive:
      return "Argon2id, 64 MiB, 2 passes";
    case crypto::PassphraseCost::kSensitive:
      return "Argon2id, 1 GiB, 4 passes";
    case crypto::PassphraseCost::kModerate:
      break;
  }
  return "Argon2id, 256 MiB, 3 passes";
}

absl::StatusOr<std::optional<crypto::Passphrase>> PassphraseFlag(
    const Args& args) {
  const std::string* path = args.Find("passphrase-file");
  if (path == nullptr) return std::optional<crypto::Passphrase>();
  TIDINGS_ASSIGN_OR_RETURN(crypto::Passphrase passphrase,
                           crypto::ReadPassphraseFile(*path));
  return std::optional<crypto::Passphrase>(std::move(passphrase));
}

absl::StatusOr<crypto::Identity> LoadKeyFlag(const Args& args,
                                             const std::string& key_path) {
  TIDINGS_ASSIGN_OR_RETURN(std::optional<crypto::Passphrase> passphrase,
                           PassphraseFlag(args));
  absl::StatusOr<crypto::Identity> identity = crypto::Identity::LoadFile(
      key_path, passphrase.has_value() ? &*passphrase : nullptr);
  if (!identity.ok() && !passphrase.has_value() &&
      identity.status().code() == absl::StatusCode::kFailedPrecondition) {
    return absl::FailedPreconditionError(
        absl::StrCat(identity.status().message(), " (--passphrase-file FILE)"));
  }
  return identity;
}

}  // namespace tidings::node::cli_internal

#include "node/daemon/keys.h"

#include <sodium.h>
#include <stdlib.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace tidings::node {
namespace {

// Wipes the variable's bytes where they are and removes it. glibc keeps the
// environment's strings in writable memory (the initial ones on the stack,
// where /proc/<pid>/environ reads them; later ones on the heap).
void ScrubPassphraseEnv() {
  if (char* value = ::getenv(kKeyPassphraseEnv); value != nullptr) {
    sodium_memzero(value, std::strlen(value));
  }
  ::unsetenv(kKeyPassphraseEnv);
}

}  // namespace

absl::StatusOr<std::optional<crypto::Passphrase>> ReadKeyPassphrase(
    const Config& config) {
  std::optional<crypto::Passphrase> passphrase;
  absl::Status status;
  if (!config.key_passphrase_file.empty()) {
    absl::StatusOr<crypto::Passphrase> from_file =
        crypto::ReadPassphraseFile(config.key_passphrase_file);
    if (from_file.ok()) {
      passphrase.emplace(*std::move(from_file));
    } else {
      status = from_file.status();
    }
  } else if (const char* value = ::getenv(kKeyPassphraseEnv);
             value != nullptr) {
    if (*value == '\0') {
      status = absl::InvalidArgumentError(
          absl::StrCat(kKeyPassphraseEnv, " is set but empty"));
    } else {
      passphrase.emplace(crypto::Passphrase(value));
    }
  }
  ScrubPassphraseEnv();
  if (!status.ok()) return status;
  return passphrase;
}

absl::StatusOr<crypto::Identity> LoadNodeIdentity(const Config& config) {
  TIDINGS_ASSIGN_OR_RETURN(std::optional<crypto::Passphrase> passphrase,
                           ReadKeyPassphrase(config));
  absl::StatusOr<crypto::Identity> identity = crypto::Identity::LoadFile(
      config.key_file, passphrase.has_value() ? &*passphrase : nullptr);
  if (!identity.ok()) {
    if (!passphrase.has_value() &&
        identity.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(
          absl::StrCat(identity.status().message(), " (key_passphrase_file or ",
                       kKeyPassphraseEnv, ")"));
    }
    return identity.status();
  }
  if (identity->principal() != config.principal) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", config.key_file, " is for ",
                     identity->principal(), ", not ", config.principal));
  }
  return identity;
}

absl::StatusOr<crypto::TlsCredentials> LoadNodeTlsCredentials(
    const Config& config, const Roster& roster, const proto::NodeCert* cert,
    const proto::MemberContact* contact) {
  TIDINGS_ASSIGN_OR_RETURN(
      crypto::TlsCredentials credentials,
      crypto::LoadTlsCredentials(config.tls_key_file, config.tls_cert_file));
  std::optional<crypto::Sha256> pinned =
      cert != nullptr ? crypto::Sha256::FromBytes(cert->tls_cert_sha256())
      : contact != nullptr
          ? crypto::Sha256::FromBytes(contact->tls_cert_sha256())
          : roster.TlsFingerprintOf(config.principal);
  if (!pinned.has_value()) {
    // Not admitted yet: the admitting update pins the certificate, and
    // peers check it against that.
    return credentials;
  }
  TIDINGS_ASSIGN_OR_RETURN(
      crypto::Sha256 fingerprint,
      crypto::CertificateFingerprint(credentials.cert_pem));
  if (!(fingerprint == *pinned)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TLS certificate ", config.tls_cert_file, " has fingerprint ",
        crypto::ToHex(fingerprint.view()), ", but ",
        cert != nullptr      ? "the node certificate"
        : contact != nullptr ? "its contact"
                             : "the roster",
        " pins ", crypto::ToHex(pinned->view()), " for ", config.principal));
  }
  return credentials;
}

absl::StatusOr<proto::SignedNodeCert> LoadNodeCert(
    const Config& config, const crypto::Identity& identity) {
  proto::SignedNodeCert signed_cert;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(config.node_cert_file, signed_cert));
  proto::NodeCert cert;
  if (!cert.ParseFromString(signed_cert.cert())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node certificate ", config.node_cert_file, " does not parse"));
  }
  if (cert.node() != identity.principal()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node certificate ", config.node_cert_file, " is for ",
                     cert.node(), ", not ", identity.principal()));
  }
  if (cert.sign_pk() != identity.verify_key().view() ||
      cert.box_pk() != identity.box_public().view()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node certificate ", config.node_cert_file,
        " certifies other keys than those of key file ", config.key_file));
  }
  return signed_cert;
}

}  // namespace tidings::node

// keygen, key seal, key unseal: an agency's (or field node's) key files.
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/address.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "node/model/field_nodes.h"
#include "node/model/roster.h"

namespace tidings::node::cli_internal {
namespace {

using base::JsonObject;

constexpr size_t kMaxNameBytes = 256;  // agency names

// ---------------------------------------------------------------------------
// keygen

// What keygen was asked for, checked before anything is made.
struct KeygenRequest {
  // An agency id, or a field node's "AGENCY/NAME" (node/field_nodes.h).
  std::string principal;  // from --agency
  bool field_node = false;
  std::string dir;
  std::string name;
  std::vector<std::string> endpoints;
  std::vector<std::string> hosts;  // of the endpoints, for the certificate
  crypto::PassphraseCost cost = crypto::PassphraseCost::kModerate;
  std::optional<crypto::Passphrase> passphrase;
};

// The files keygen makes.
struct KeygenFiles {
  std::string stem;  // '/' in a field node's id would name a directory
  std::string key;
  std::string pub;
  std::string tls_key;
  std::string tls_cert;
};

// The host part of a validated "host:port" or "[v6]:port".
std::string HostOf(absl::string_view endpoint) {
  if (absl::ConsumePrefix(&endpoint, "[")) {
    return std::string(endpoint.substr(0, endpoint.find(']')));
  }
  return std::string(endpoint.substr(0, endpoint.rfind(':')));
}

absl::StatusOr<KeygenRequest> ParseKeygen(const Args& args) {
  KeygenRequest request;
  TIDINGS_ASSIGN_OR_RETURN(request.principal, args.Required("agency"));
  if (absl::Status s = ValidatePrincipal(request.principal); !s.ok()) {
    return UsageError(absl::StrCat("--agency: ", s.message()));
  }
  request.field_node = IsFieldNode(request.principal);
  TIDINGS_ASSIGN_OR_RETURN(request.dir, args.Required("out"));
  request.name = args.Find("name") ? *args.Find("name") : "";
  TIDINGS_RETURN_IF_ERROR(ValidateText("name", request.name, kMaxNameBytes));
  TIDINGS_ASSIGN_OR_RETURN(request.endpoints, ListFlag(args, "endpoint"));
  for (const std::string& endpoint : request.endpoints) {
    if (absl::Status s = address_internal::ValidateAddress(endpoint); !s.ok()) {
      return UsageError(absl::StrCat("--endpoint: ", s.message()));
    }
    request.hosts.push_back(HostOf(endpoint));
  }
  TIDINGS_ASSIGN_OR_RETURN(request.cost, CostFlag(args));
  if (args.Has("passphrase-cost") && !args.Has("passphrase-file")) {
    return UsageError("--passphrase-cost needs --passphrase-file");
  }
  TIDINGS_ASSIGN_OR_RETURN(request.passphrase, PassphraseFlag(args));
  return request;
}

// The files of `request`, none of which may exist yet: a half-made set is
// worse than none.
absl::StatusOr<KeygenFiles> PlanFiles(const KeygenRequest& request) {
  const std::filesystem::path base(request.dir);
  KeygenFiles files;
  files.stem = FileStemOf(request.principal);
  files.key = (base / absl::StrCat(files.stem, ".key")).string();
  files.pub = (base / absl::StrCat(files.stem, ".pub")).string();
  files.tls_key = (base / absl::StrCat(files.stem, ".tls.key")).string();
  files.tls_cert = (base / absl::StrCat(files.stem, ".tls.crt")).string();
  for (const std::string& path :
       {files.key, files.pub, files.tls_key, files.tls_cert}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path,
          " already exists; refusing to overwrite it (keys are never "
          "replaced silently)"));
    }
  }
  return files;
}

absl::StatusOr<crypto::TlsCredentials> MakeTls(const KeygenRequest& request) {
  absl::StatusOr<crypto::TlsCredentials> tls =
      crypto::GenerateTlsCertificate(request.principal, request.hosts);
  // The principal and its length are checked by now, so only a host can be
  // wrong.
  if (!tls.ok() && tls.status().code() == absl::StatusCode::kInvalidArgument) {
    return UsageError(absl::StrCat("--endpoint: ", tls.status().message()));
  }
  return tls;
}

// A new directory holding a secret key: private to the node's user.
absl::Status EnsureDirectory(const std::string& dir) {
  const std::filesystem::path base(dir);
  std::error_code error;
  if (std::filesystem::is_directory(base, error)) return absl::OkStatus();
  if (!std::filesystem::create_directories(base, error) || error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", dir, ": ", error.message()));
  }
  std::filesystem::permissions(base, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, error);
  return absl::OkStatus();
}

absl::Status WriteKeygenFiles(const KeygenRequest& request,
                              const KeygenFiles& files,
                              const crypto::Identity& identity,
                              const crypto::TlsCredentials& tls,
                              const crypto::Sha256& fingerprint) {
  RemoveOnFailure written;
  TIDINGS_RETURN_IF_ERROR(
      request.passphrase.has_value()
          ? identity.SaveFile(files.key, *request.passphrase,
                              crypto::SealOptions{request.cost})
          : identity.SaveFile(files.key));
  written.Add(files.key);
  TIDINGS_RETURN_IF_ERROR(
      crypto::SaveTlsCredentials(tls, files.tls_key, files.tls_cert));
  written.Add(files.tls_key);
  written.Add(files.tls_cert);
  TIDINGS_RETURN_IF_ERROR(WriteProtoFile(
      files.pub, PublicIdentityOf(identity, request.name, request.endpoints,
                                  fingerprint)));
  written.Dismiss();
  return absl::OkStatus();
}

void PrintKeygen(const Args& args, const KeygenRequest& request,
                 const KeygenFiles& files, const crypto::Identity& identity,
                 const crypto::Sha256& fingerprint, std::ostream& out) {
  const std::string sign_hex = crypto::ToHex(identity.verify_key().view());
  const std::string box_hex = crypto::ToHex(identity.box_public().view());
  const std::string tls_hex = crypto::ToHex(fingerprint.view());
  const bool sealed = request.passphrase.has_value();
  if (args.Bool("json")) {
    out << JsonObject()
               .String("agency", request.principal)
               .Bool("field_node", request.field_node)
               .String("key_file", files.key)
               .Bool("sealed", sealed)
               .String("pub_file", files.pub)
               .String("tls_key_file", files.tls_key)
               .String("tls_cert_file", files.tls_cert)
               .String("sign_pk", sign_hex)
               .String("box_pk", box_hex)
               .String("tls_cert_sha256", tls_hex)
               .Build()
        << "\n";
    return;
  }
  out << (request.field_node ? "field node   " : "agency       ")
      << request.principal << "\n"
      << "secret key   " << files.key << " (mode 0600; "
      << (sealed ? absl::StrCat("sealed with the passphrase, ",
                                CostDescription(request.cost), "; ")
                 : "")
      << "never share it)\n"
      << "TLS key      " << files.tls_key << " (mode 0600; never share it)\n"
      << "TLS cert     " << files.tls_cert << "\n"
      << "public file  " << files.pub << "\n"
      << "sign key     " << sign_hex << "\n"
      << "box key      " << box_hex << "\n"
      << "tls cert     sha256 " << tls_hex << "\n";
  if (request.field_node) {
    out << "\nNext, " << AgencyOf(request.principal)
        << "'s node certifies it (compare the keys above first):\n"
        << "  tidings node certify --pub " << files.pub << " --out "
        << files.stem << ".cert\n";
  }
}

absl::Status RunKeygen(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const KeygenRequest request, ParseKeygen(args));
  TIDINGS_ASSIGN_OR_RETURN(const KeygenFiles files, PlanFiles(request));
  // Everything is made in memory first, so that a bad --endpoint host fails
  // before any file exists.
  TIDINGS_ASSIGN_OR_RETURN(const crypto::TlsCredentials tls, MakeTls(request));
  TIDINGS_ASSIGN_OR_RETURN(const crypto::Sha256 fingerprint,
                           crypto::CertificateFingerprint(tls.cert_pem));
  const crypto::Identity identity =
      crypto::Identity::Generate(request.principal);
  TIDINGS_RETURN_IF_ERROR(EnsureDirectory(request.dir));
  TIDINGS_RETURN_IF_ERROR(
      WriteKeygenFiles(request, files, identity, tls, fingerprint));
  PrintKeygen(args, request, files, identity, fingerprint, out);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// key seal / unseal

// Replaces the key file at `path` with `identity` sealed under `passphrase`
// (or plain if null), atomically: a crash leaves the old file or the new one.
absl::Status ReplaceKeyFile(const std::string& path,
                            const crypto::Identity& identity,
                            const crypto::Passphrase* passphrase,
                            crypto::PassphraseCost cost) {
  return passphrase != nullptr ? identity.ReplaceFile(path, *passphrase,
                                                      crypto::SealOptions{cost})
                               : identity.ReplaceFile(path);
}

void PrintSealedJson(const std::string& key_path, absl::string_view principal,
                     bool sealed, std::ostream& out) {
  out << JsonObject()
             .String("key_file", key_path)
             .String("agency", principal)
             .Bool("sealed", sealed)
             .Build()
      << "\n";
}

absl::Status RunKeySeal(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string key_path, args.Required("key"));
  TIDINGS_ASSIGN_OR_RETURN(const std::string passphrase_path,
                           args.Required("passphrase-file"));
  TIDINGS_ASSIGN_OR_RETURN(const crypto::PassphraseCost cost, CostFlag(args));
  TIDINGS_ASSIGN_OR_RETURN(crypto::Passphrase passphrase,
                           crypto::ReadPassphraseFile(passphrase_path));
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(key_path);
  if (!identity.ok()) {
    if (identity.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key file ", key_path,
          " is already sealed; to change its passphrase, unseal it first"));
    }
    return identity.status();
  }
  TIDINGS_RETURN_IF_ERROR(
      ReplaceKeyFile(key_path, *identity, &passphrase, cost));
  if (args.Bool("json")) {
    PrintSealedJson(key_path, identity->principal(), true, out);
    return absl::OkStatus();
  }
  out << "sealed " << key_path << " (" << identity->principal() << ") with the "
      << "passphrase in " << passphrase_path << " (" << CostDescription(cost)
      << ")\n";
  return absl::OkStatus();
}

absl::Status RunKeyUnseal(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string key_path, args.Required("key"));
  if (!args.Has("passphrase-file")) {
    return UsageError("missing required flag --passphrase-file");
  }
  TIDINGS_ASSIGN_OR_RETURN(crypto::Identity identity,
                           LoadKeyFlag(args, key_path));
  TIDINGS_RETURN_IF_ERROR(ReplaceKeyFile(key_path, identity, nullptr,
                                         crypto::PassphraseCost::kModerate));
  if (args.Bool("json")) {
    PrintSealedJson(key_path, identity.principal(), false, out);
    return absl::OkStatus();
  }
  out << "unsealed " << key_path << " (" << identity.principal()
      << "); it is now protected by its file mode alone\n";
  return absl::OkStatus();
}

}  // namespace

Command KeygenCommand() {
  return {
      "keygen",
      "--agency ID --out DIR [--name NAME] [--endpoint HOST:PORT]... "
      "[--passphrase-file FILE [--passphrase-cost COST]] [--json]",
      "create an agency's keys, TLS certificate and public identity file",
      "Creates in DIR: ID.key, the agency's secret key file (mode 0600,\n"
      "sealed with a passphrase if --passphrase-file is given); ID.tls.key\n"
      "(mode 0600) and ID.tls.crt, the node's TLS key and self-signed\n"
      "certificate (for 127.0.0.1 and each --endpoint host); and ID.pub,\n"
      "its public identity for `tidings roster init`, which pins the\n"
      "certificate by its SHA-256. Never overwrites any of them.\n"
      "For a field node of an agency, ID is AGENCY/NAME (MY.NCB/SHIP1) and\n"
      "the files are named AGENCY+NAME.key and so on; its .pub goes to the\n"
      "agency's node for `tidings node certify`.",
      {{"agency", "ID",
        "the agency id, e.g. MY.NCB, or a field node's AGENCY/NAME "
        "(required)"},
       {"out", "DIR",
        "directory for the files; created 0700 if missing (required)"},
       {"name", "NAME", "human-readable agency name"},
       {"endpoint", "HOST:PORT",
        "where peers reach this node; repeatable or comma-separated", true},
       {"passphrase-file", "FILE",
        "seal the key file with the passphrase in FILE (mode 0600; one "
        "trailing newline ignored); passphrases are never taken from the "
        "command line"},
       kPassphraseCostFlag,
       kJsonFlag},
      0,
      0,
      "",
      &RunKeygen};
}

Command KeySealCommand() {
  return {
      "key seal",
      "--key FILE --passphrase-file FILE [--passphrase-cost COST] [--json]",
      "seal a plain secret key file with a passphrase",
      "Replaces the key file with one sealed with the passphrase in the\n"
      "passphrase file (Argon2id + XChaCha20-Poly1305). The node then needs\n"
      "the passphrase at start: key_passphrase_file in its config, or\n"
      "TIDINGS_KEY_PASSPHRASE in its environment. Atomic: a crash leaves the\n"
      "old file or the new one.",
      {{"key", "FILE", "the secret key file (required)"},
       {"passphrase-file", "FILE",
        "the passphrase (mode 0600; one trailing newline ignored; "
        "required)"},
       kPassphraseCostFlag,
       kJsonFlag},
      0,
      0,
      "",
      &RunKeySeal};
}

Command KeyUnsealCommand() {
  return {"key unseal",
          "--key FILE --passphrase-file FILE [--json]",
          "remove the passphrase from a sealed secret key file",
          "Replaces the sealed key file with a plain one (mode 0600), for\n"
          "example before sealing it again under a new passphrase. Atomic.",
          {{"key", "FILE", "the sealed secret key file (required)"},
           {"passphrase-file", "FILE", "its passphrase (required)"},
           kJsonFlag},
          0,
          0,
          "",
          &RunKeyUnseal};
}

}  // namespace tidings::node::cli_internal

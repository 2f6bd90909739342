#include "node/config/config.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/address.h"
#include "base/durable_file.h"
#include "base/status_macros.h"
#include "node/model/field_nodes.h"
#include "node/model/roster.h"

namespace tidings::node {
namespace {

using address_internal::ValidateAddress;

// sockaddr_un::sun_path is 108 bytes including the terminating NUL; a longer
// path fails later in gRPC with a far less helpful message.
constexpr size_t kMaxSocketPath = 107;
constexpr int64_t kMaxAntiEntropyMs = 24LL * 60 * 60 * 1000;
constexpr size_t kMaxConfigBytes = 1 << 20;

absl::Status LineError(int line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", message));
}

std::string ResolvePath(absl::string_view base_dir, absl::string_view value) {
  std::filesystem::path path{std::string(value)};
  if (path.is_relative())
    path = std::filesystem::path(std::string(base_dir)) / path;
  return path.lexically_normal().string();
}

enum class Key {
  kAgency,  // the `agency` key: sets Config::principal
  kKeyFile,
  kKeyPassphraseFile,
  kTlsKeyFile,
  kTlsCertFile,
  kRoster,
  kDataDir,
  kListen,
  kClientSocket,
  kPeer,
  kAntiEntropyMs,
  kReceiptIntervalMs,
  kLogLevel,
  kEpochSeconds,
  kEpochGraceSeconds,
  kNodeCert,
};

struct KeySpec {
  absl::string_view name;
  Key key;
  bool required;
};

// Every key of the file. The required ones come first, in the order in which
// a missing one is reported.
constexpr KeySpec kKeys[] = {
    {"agency", Key::kAgency, true},
    {"key_file", Key::kKeyFile, true},
    {"roster", Key::kRoster, true},
    {"data_dir", Key::kDataDir, true},
    {"listen", Key::kListen, true},
    {"client_socket", Key::kClientSocket, true},
    {"peer", Key::kPeer, false},
    {"anti_entropy_ms", Key::kAntiEntropyMs, false},
    {"receipt_interval_ms", Key::kReceiptIntervalMs, false},
    {"log_level", Key::kLogLevel, false},
    {"epoch_seconds", Key::kEpochSeconds, false},
    {"epoch_grace_seconds", Key::kEpochGraceSeconds, false},
    {"key_passphrase_file", Key::kKeyPassphraseFile, false},
    {"tls_key_file", Key::kTlsKeyFile, false},
    {"tls_cert_file", Key::kTlsCertFile, false},
    {"node_cert", Key::kNodeCert, false},
};

std::optional<Key> KeyOf(absl::string_view name) {
  for (const KeySpec& spec : kKeys) {
    if (spec.name == name) return spec.key;
  }
  return std::nullopt;
}

bool IsLogLevel(absl::string_view level) {
  return level == "trace" || level == "debug" || level == "info" ||
         level == "warn" || level == "error" || level == "critical";
}

// One `key = value` line, comment and surrounding blanks removed.
struct Setting {
  int line;
  Key key;
  absl::string_view name;
  absl::string_view value;
};

// The setting on `line` (number `line_number`), nullopt for a blank or
// comment-only line, or the error for a malformed line, an unknown key or an
// empty value.
absl::StatusOr<std::optional<Setting>> ParseLine(absl::string_view line,
                                                 int line_number) {
  if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
    line = line.substr(0, hash);
  }
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return std::nullopt;

  std::pair<absl::string_view, absl::string_view> kv =
      absl::StrSplit(line, absl::MaxSplits('=', 1));
  if (line.find('=') == absl::string_view::npos) {
    return LineError(line_number, absl::StrCat("expected 'key = value', got '",
                                               absl::CHexEscape(line), "'"));
  }
  const absl::string_view name = absl::StripAsciiWhitespace(kv.first);
  const absl::string_view value = absl::StripAsciiWhitespace(kv.second);
  if (name.empty()) return LineError(line_number, "missing key before '='");
  std::optional<Key> key = KeyOf(name);
  if (!key.has_value()) {
    return LineError(line_number, absl::StrCat("unknown key '",
                                               absl::CHexEscape(name), "'"));
  }
  if (value.empty()) {
    return LineError(line_number,
                     absl::StrCat("missing value for '", name, "'"));
  }
  return Setting{line_number, *key, name, value};
}

// Reads the lines of a config file into a Config, one Setting at a time, then
// checks the whole and derives the defaults (Finish).
class ConfigParser {
 public:
  explicit ConfigParser(absl::string_view base_dir) : base_dir_(base_dir) {}

  absl::Status Add(const Setting& setting);
  absl::StatusOr<Config> Finish() &&;

 private:
  absl::Status Apply(const Setting& setting);
  absl::Status AddPeer(const Setting& setting);
  absl::Status SetEpoch(const Setting& setting);
  absl::Status CheckRequiredKeys() const;
  absl::Status CheckNodeCert() const;
  void DeriveTlsPaths();
  absl::Status CheckDistinctFiles() const;

  const absl::string_view base_dir_;
  Config config_;
  // Line where each single-valued key was set: duplicates are refused, since
  // "the last one wins" hides typos in a file operators edit by hand.
  absl::flat_hash_map<Key, int> seen_;
  // Line of each `peer`, by its principal.
  absl::flat_hash_map<std::string, int> peer_lines_;
};

absl::Status ConfigParser::Add(const Setting& setting) {
  if (setting.key != Key::kPeer) {
    auto [it, inserted] = seen_.emplace(setting.key, setting.line);
    if (!inserted) {
      return LineError(setting.line,
                       absl::StrCat("'", setting.name,
                                    "' is already set on line ", it->second));
    }
  }
  return Apply(setting);
}

absl::Status ConfigParser::Apply(const Setting& setting) {
  const absl::string_view value = setting.value;
  switch (setting.key) {
    case Key::kAgency:
      if (absl::Status s = ValidatePrincipal(value); !s.ok()) {
        return LineError(setting.line, s.message());
      }
      config_.principal = std::string(value);
      break;
    case Key::kKeyFile:
      config_.key_file = ResolvePath(base_dir_, value);
      break;
    case Key::kNodeCert:
      config_.node_cert_file = ResolvePath(base_dir_, value);
      break;
    case Key::kKeyPassphraseFile:
      config_.key_passphrase_file = ResolvePath(base_dir_, value);
      break;
    case Key::kTlsKeyFile:
      config_.tls_key_file = ResolvePath(base_dir_, value);
      break;
    case Key::kTlsCertFile:
      config_.tls_cert_file = ResolvePath(base_dir_, value);
      break;
    case Key::kRoster:
      config_.roster_file = ResolvePath(base_dir_, value);
      break;
    case Key::kDataDir:
      config_.data_dir = ResolvePath(base_dir_, value);
      break;
    case Key::kListen:
      if (absl::Status s = ValidateAddress(value); !s.ok()) {
        return LineError(setting.line, absl::StrCat("listen: ", s.message()));
      }
      config_.listen = std::string(value);
      break;
    case Key::kClientSocket:
      config_.client_socket = ResolvePath(base_dir_, value);
      if (config_.client_socket.size() > kMaxSocketPath) {
        return LineError(
            setting.line,
            absl::StrCat("client_socket path is ", config_.client_socket.size(),
                         " bytes; unix sockets allow at most ",
                         kMaxSocketPath));
      }
      break;
    case Key::kPeer:
      return AddPeer(setting);
    case Key::kAntiEntropyMs:
    case Key::kReceiptIntervalMs: {
      const bool anti_entropy = setting.key == Key::kAntiEntropyMs;
      int64_t ms = 0;
      if (!absl::SimpleAtoi(value, &ms) || ms < 1 || ms > kMaxAntiEntropyMs) {
        return LineError(
            setting.line,
            absl::StrCat(
                anti_entropy ? "anti_entropy_ms" : "receipt_interval_ms", ": '",
                absl::CHexEscape(value),
                "' is not a number of milliseconds in 1..", kMaxAntiEntropyMs));
      }
      (anti_entropy ? config_.anti_entropy_interval
                    : config_.receipt_interval) = absl::Milliseconds(ms);
      break;
    }
    case Key::kEpochSeconds:
    case Key::kEpochGraceSeconds:
      return SetEpoch(setting);
    case Key::kLogLevel:
      if (!IsLogLevel(value)) {
        return LineError(setting.line,
                         absl::StrCat("log_level '", absl::CHexEscape(value),
                                      "' is not one of trace, debug, info, "
                                      "warn, error, critical"));
      }
      config_.log_level = std::string(value);
      break;
  }
  return absl::OkStatus();
}

// `peer = AGENCY host:port` (AGENCY is a principal); each principal at most
// once.
absl::Status ConfigParser::AddPeer(const Setting& setting) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(setting.value, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (parts.size() != 2) {
    return LineError(setting.line,
                     absl::StrCat("peer wants 'AGENCY host:port', got '",
                                  absl::CHexEscape(setting.value), "'"));
  }
  if (absl::Status s = ValidatePrincipal(parts[0]); !s.ok()) {
    return LineError(setting.line, absl::StrCat("peer: ", s.message()));
  }
  if (absl::Status s = ValidateAddress(parts[1]); !s.ok()) {
    return LineError(setting.line, absl::StrCat("peer: ", s.message()));
  }
  auto [it, inserted] = peer_lines_.emplace(parts[0], setting.line);
  if (!inserted) {
    return LineError(setting.line,
                     absl::StrCat("peer ", parts[0],
                                  " is already listed on line ", it->second));
  }
  config_.peers.push_back(
      PeerAddress{std::string(parts[0]), std::string(parts[1])});
  return absl::OkStatus();
}

// epoch_seconds (1 s to a year) or epoch_grace_seconds (0 s to a year).
absl::Status ConfigParser::SetEpoch(const Setting& setting) {
  const bool grace = setting.key == Key::kEpochGraceSeconds;
  int64_t seconds = 0;
  constexpr int64_t kMaxSeconds = 366 * 24 * 3600;
  if (!absl::SimpleAtoi(setting.value, &seconds) || seconds < (grace ? 0 : 1) ||
      seconds > kMaxSeconds) {
    return LineError(
        setting.line,
        absl::StrCat(grace ? "epoch_grace_seconds" : "epoch_seconds", ": '",
                     absl::CHexEscape(setting.value),
                     "' is not a number of seconds in ", grace ? 0 : 1, "..",
                     kMaxSeconds));
  }
  (grace ? config_.epoch_grace : config_.epoch) = absl::Seconds(seconds);
  return absl::OkStatus();
}

absl::Status ConfigParser::CheckRequiredKeys() const {
  for (const KeySpec& spec : kKeys) {
    if (spec.required && !seen_.contains(spec.key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required key '", spec.name, "'"));
    }
  }
  return absl::OkStatus();
}

// A field node (AGENCY/NAME) needs its certificate; nothing else has one.
absl::Status ConfigParser::CheckNodeCert() const {
  if (IsFieldNode(config_.principal) == !config_.node_cert_file.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      IsFieldNode(config_.principal)
          ? absl::StrCat("field node ", config_.principal,
                         " needs 'node_cert' (the certificate its agency "
                         "made with `tidings node certify`)")
          : absl::StrCat("'node_cert' is only for a field node "
                         "(agency = AGENCY/NAME), not ",
                         config_.principal));
}

// Where `tidings keygen` writes them: next to the key file.
void ConfigParser::DeriveTlsPaths() {
  const std::filesystem::path key_dir =
      std::filesystem::path(config_.key_file).parent_path();
  if (config_.tls_key_file.empty()) {
    config_.tls_key_file = ResolvePath(
        base_dir_,
        (key_dir / absl::StrCat(FileStemOf(config_.principal), ".tls.key"))
            .string());
  }
  if (config_.tls_cert_file.empty()) {
    config_.tls_cert_file = ResolvePath(
        base_dir_,
        (key_dir / absl::StrCat(FileStemOf(config_.principal), ".tls.crt"))
            .string());
  }
}

absl::Status ConfigParser::CheckDistinctFiles() const {
  for (const auto& [path, name] :
       {std::pair<const std::string&, absl::string_view>{config_.tls_key_file,
                                                         "tls_key_file"},
        {config_.tls_cert_file, "tls_cert_file"},
        {config_.key_passphrase_file, "key_passphrase_file"}}) {
    if (!path.empty() && path == config_.key_file) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is the same file as key_file"));
    }
  }
  if (config_.tls_key_file == config_.tls_cert_file) {
    return absl::InvalidArgumentError(
        "tls_key_file and tls_cert_file are the same file");
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ConfigParser::Finish() && {
  TIDINGS_RETURN_IF_ERROR(CheckRequiredKeys());
  TIDINGS_RETURN_IF_ERROR(CheckNodeCert());
  if (auto it = peer_lines_.find(config_.principal); it != peer_lines_.end()) {
    return LineError(it->second, absl::StrCat("peer ", config_.principal,
                                              " is this node's own agency"));
  }
  DeriveTlsPaths();
  TIDINGS_RETURN_IF_ERROR(CheckDistinctFiles());
  return std::move(config_);
}

}  // namespace

absl::StatusOr<Config> ParseConfig(absl::string_view text,
                                   absl::string_view base_dir) {
  ConfigParser parser(base_dir);
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    TIDINGS_ASSIGN_OR_RETURN(std::optional<Setting> setting,
                             ParseLine(line, line_number));
    if (setting.has_value()) TIDINGS_RETURN_IF_ERROR(parser.Add(*setting));
  }
  return std::move(parser).Finish();
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string text,
                           base::ReadFileUpTo(path, "config", kMaxConfigBytes));
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is larger than ", kMaxConfigBytes, " bytes"));
  }
  // Absolute, so that the config's paths stay right whatever the daemon's
  // working directory later becomes.
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) absolute = path;
  absl::StatusOr<Config> config =
      ParseConfig(text, absolute.parent_path().string());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

std::string FormatConfig(const Config& config) {
  std::string out;
  absl::StrAppend(&out, "agency = ", config.principal, "\n");
  absl::StrAppend(&out, "key_file = ", config.key_file, "\n");
  if (!config.key_passphrase_file.empty()) {
    absl::StrAppend(&out, "key_passphrase_file = ", config.key_passphrase_file,
                    "\n");
  }
  // Empty only in a Config not made by ParseConfig; the parser then derives
  // them again.
  if (!config.tls_key_file.empty()) {
    absl::StrAppend(&out, "tls_key_file = ", config.tls_key_file, "\n");
  }
  if (!config.tls_cert_file.empty()) {
    absl::StrAppend(&out, "tls_cert_file = ", config.tls_cert_file, "\n");
  }
  if (!config.node_cert_file.empty()) {
    absl::StrAppend(&out, "node_cert = ", config.node_cert_file, "\n");
  }
  absl::StrAppend(&out, "roster = ", config.roster_file, "\n");
  absl::StrAppend(&out, "data_dir = ", config.data_dir, "\n");
  absl::StrAppend(&out, "listen = ", config.listen, "\n");
  absl::StrAppend(&out, "client_socket = ", config.client_socket, "\n");
  for (const PeerAddress& peer : config.peers) {
    absl::StrAppend(&out, "peer = ", peer.principal, " ", peer.address, "\n");
  }
  absl::StrAppend(&out, "anti_entropy_ms = ",
                  absl::ToInt64Milliseconds(config.anti_entropy_interval),
                  "\n");
  absl::StrAppend(&out, "receipt_interval_ms = ",
                  absl::ToInt64Milliseconds(config.receipt_interval), "\n");
  absl::StrAppend(&out, "log_level = ", config.log_level, "\n");
  absl::StrAppend(&out, "epoch_seconds = ", absl::ToInt64Seconds(config.epoch),
                  "\n");
  absl::StrAppend(&out, "epoch_grace_seconds = ",
                  absl::ToInt64Seconds(config.epoch_grace), "\n");
  return out;
}

}  // namespace tidings::node

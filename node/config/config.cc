#include "node/config/config.h"

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
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
  kAgency,
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
  kLogLevel,
  kEpochSeconds,
  kEpochGraceSeconds,
  kNodeCert,
};

std::optional<Key> KeyOf(absl::string_view name) {
  static const auto* const kKeys = new absl::flat_hash_map<std::string, Key>{
      {"agency", Key::kAgency},
      {"key_file", Key::kKeyFile},
      {"roster", Key::kRoster},
      {"data_dir", Key::kDataDir},
      {"listen", Key::kListen},
      {"client_socket", Key::kClientSocket},
      {"peer", Key::kPeer},
      {"anti_entropy_ms", Key::kAntiEntropyMs},
      {"log_level", Key::kLogLevel},
      {"epoch_seconds", Key::kEpochSeconds},
      {"epoch_grace_seconds", Key::kEpochGraceSeconds},
      {"key_passphrase_file", Key::kKeyPassphraseFile},
      {"tls_key_file", Key::kTlsKeyFile},
      {"tls_cert_file", Key::kTlsCertFile},
      {"node_cert", Key::kNodeCert},
  };
  auto it = kKeys->find(name);
  if (it == kKeys->end()) return std::nullopt;
  return it->second;
}

bool IsLogLevel(absl::string_view level) {
  return level == "trace" || level == "debug" || level == "info" ||
         level == "warn" || level == "error" || level == "critical";
}

}  // namespace

absl::StatusOr<Config> ParseConfig(absl::string_view text,
                                   absl::string_view base_dir) {
  Config config;
  // Line where each single-valued key was set: duplicates are refused, since
  // "the last one wins" hides typos in a file operators edit by hand.
  absl::flat_hash_map<Key, int> seen;
  absl::flat_hash_map<std::string, int> peer_lines;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;

    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (line.find('=') == absl::string_view::npos) {
      return LineError(line_number,
                       absl::StrCat("expected 'key = value', got '",
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
    if (*key != Key::kPeer) {
      auto [it, inserted] = seen.emplace(*key, line_number);
      if (!inserted) {
        return LineError(
            line_number,
            absl::StrCat("'", name, "' is already set on line ", it->second));
      }
    }

    switch (*key) {
      case Key::kAgency:
        if (absl::Status s = ValidatePrincipal(value); !s.ok()) {
          return LineError(line_number, s.message());
        }
        config.agency = std::string(value);
        break;
      case Key::kKeyFile:
        config.key_file = ResolvePath(base_dir, value);
        break;
      case Key::kNodeCert:
        config.node_cert_file = ResolvePath(base_dir, value);
        break;
      case Key::kKeyPassphraseFile:
        config.key_passphrase_file = ResolvePath(base_dir, value);
        break;
      case Key::kTlsKeyFile:
        config.tls_key_file = ResolvePath(base_dir, value);
        break;
      case Key::kTlsCertFile:
        config.tls_cert_file = ResolvePath(base_dir, value);
        break;
      case Key::kRoster:
        config.roster_file = ResolvePath(base_dir, value);
        break;
      case Key::kDataDir:
        config.data_dir = ResolvePath(base_dir, value);
        break;
      case Key::kListen:
        if (absl::Status s = ValidateAddress(value); !s.ok()) {
          return LineError(line_number, absl::StrCat("listen: ", s.message()));
        }
        config.listen = std::string(value);
        break;
      case Key::kClientSocket:
        config.client_socket = ResolvePath(base_dir, value);
        if (config.client_socket.size() > kMaxSocketPath) {
          return LineError(line_number,
                           absl::StrCat("client_socket path is ",
                                        config.client_socket.size(),
                                        " bytes; unix sockets allow at most ",
                                        kMaxSocketPath));
        }
        break;
      case Key::kPeer: {
        std::vector<absl::string_view> parts =
            absl::StrSplit(value, absl::ByAnyChar(" \t"), absl::SkipEmpty());
        if (parts.size() != 2) {
          return LineError(line_number,
                           absl::StrCat("peer wants 'AGENCY host:port', got '",
                                        absl::CHexEscape(value), "'"));
        }
        if (absl::Status s = ValidatePrincipal(parts[0]); !s.ok()) {
          return LineError(line_number, absl::StrCat("peer: ", s.message()));
        }
        if (absl::Status s = ValidateAddress(parts[1]); !s.ok()) {
          return LineError(line_number, absl::StrCat("peer: ", s.message()));
        }
        auto [it, inserted] = peer_lines.emplace(parts[0], line_number);
        if (!inserted) {
          return LineError(
              line_number,
              absl::StrCat("peer ", parts[0], " is already listed on line ",
                           it->second));
        }
        config.peers.push_back(
            PeerAddress{std::string(parts[0]), std::string(parts[1])});
        break;
      }
      case Key::kAntiEntropyMs: {
        int64_t ms = 0;
        if (!absl::SimpleAtoi(value, &ms) || ms < 1 || ms > kMaxAntiEntropyMs) {
          return LineError(
              line_number,
              absl::StrCat("anti_entropy_ms: '", absl::CHexEscape(value),
                           "' is not a number of milliseconds in 1..",
                           kMaxAntiEntropyMs));
        }
        config.anti_entropy_interval = absl::Milliseconds(ms);
        break;
      }
      case Key::kEpochSeconds:
      case Key::kEpochGraceSeconds: {
        const bool grace = *key == Key::kEpochGraceSeconds;
        int64_t seconds = 0;
        constexpr int64_t kMaxSeconds = 366 * 24 * 3600;
        if (!absl::SimpleAtoi(value, &seconds) || seconds < (grace ? 0 : 1) ||
            seconds > kMaxSeconds) {
          return LineError(
              line_number,
              absl::StrCat(grace ? "epoch_grace_seconds" : "epoch_seconds",
                           ": '", absl::CHexEscape(value),
                           "' is not a number of seconds in ", grace ? 0 : 1,
                           "..", kMaxSeconds));
        }
        (grace ? config.epoch_grace : config.epoch) = absl::Seconds(seconds);
        break;
      }
      case Key::kLogLevel:
        if (!IsLogLevel(value)) {
          return LineError(line_number,
                           absl::StrCat("log_level '", absl::CHexEscape(value),
                                        "' is not one of trace, debug, info, "
                                        "warn, error, critical"));
        }
        config.log_level = std::string(value);
        break;
    }
  }

  constexpr std::pair<Key, absl::string_view> kRequired[] = {
      {Key::kAgency, "agency"}, {Key::kKeyFile, "key_file"},
      {Key::kRoster, "roster"}, {Key::kDataDir, "data_dir"},
      {Key::kListen, "listen"}, {Key::kClientSocket, "client_socket"},
  };
  for (const auto& [key, name] : kRequired) {
    if (!seen.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required key '", name, "'"));
    }
  }
  if (IsFieldNode(config.agency) != !config.node_cert_file.empty()) {
    return absl::InvalidArgumentError(
        IsFieldNode(config.agency)
            ? absl::StrCat("field node ", config.agency,
                           " needs 'node_cert' (the certificate its agency "
                           "made with `tidings node certify`)")
            : absl::StrCat("'node_cert' is only for a field node "
                           "(agency = AGENCY/NAME), not ",
                           config.agency));
  }
  if (auto it = peer_lines.find(config.agency); it != peer_lines.end()) {
    return LineError(it->second, absl::StrCat("peer ", config.agency,
                                              " is this node's own agency"));
  }
  // Where `tidings keygen` writes them: next to the key file.
  const std::filesystem::path key_dir =
      std::filesystem::path(config.key_file).parent_path();
  if (config.tls_key_file.empty()) {
    config.tls_key_file =
        (key_dir / absl::StrCat(FileStemOf(config.agency), ".tls.key"))
            .string();
  }
  if (config.tls_cert_file.empty()) {
    config.tls_cert_file =
        (key_dir / absl::StrCat(FileStemOf(config.agency), ".tls.crt"))
            .string();
  }
  for (const auto& [path, name] :
       {std::pair<const std::string&, absl::string_view>{config.tls_key_file,
                                                         "tls_key_file"},
        {config.tls_cert_file, "tls_cert_file"},
        {config.key_passphrase_file, "key_passphrase_file"}}) {
    if (!path.empty() && path == config.key_file) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is the same file as key_file"));
    }
  }
  if (config.tls_key_file == config.tls_cert_file) {
    return absl::InvalidArgumentError(
        "tls_key_file and tls_cert_file are the same file");
  }
  return config;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error_number = errno;
    return absl::ErrnoToStatus(error_number,
                               absl::StrCat("cannot open config ", path));
  }
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  text.resize(static_cast<size_t>(in.gcount()));
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
  absl::StrAppend(&out, "agency = ", config.agency, "\n");
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
    absl::StrAppend(&out, "peer = ", peer.agency, " ", peer.address, "\n");
  }
  absl::StrAppend(&out, "anti_entropy_ms = ",
                  absl::ToInt64Milliseconds(config.anti_entropy_interval),
                  "\n");
  absl::StrAppend(&out, "log_level = ", config.log_level, "\n");
  absl::StrAppend(&out, "epoch_seconds = ", absl::ToInt64Seconds(config.epoch),
                  "\n");
  absl::StrAppend(&out, "epoch_grace_seconds = ",
                  absl::ToInt64Seconds(config.epoch_grace), "\n");
  return out;
}

}  // namespace tidings::node

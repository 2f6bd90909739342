// The `tidings` CLI.
//
// Flags are parsed per call with absl's flag marshalling (absl::ParseFlag:
// the same syntax for numbers, booleans and durations as ABSL_FLAG), not with
// absl::ParseCommandLine: that one exits the process on a bad flag (exit 1,
// several lines), works on a process-global registry, and so could neither
// give "one line, exit 2" nor run in-process in tests.
#include "cli/cli.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/address.h"
#include "base/durable_file.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "node/config/config.h"
#include "node/model/envelope.h"
#include "node/model/field_nodes.h"
#include "node/model/roster.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "proto/grpc_status.h"
#include "proto/roster.pb.h"

namespace tidings::node {
namespace {

constexpr size_t kMaxFieldBytes = 64 * 1024;  // title, text
constexpr size_t kMaxNameBytes = 256;         // agency / network names
constexpr auto kRpcDeadline = std::chrono::seconds(10);
// Inbox entries searched when an id is given as a prefix.
constexpr uint32_t kPrefixSearchLimit = 1000;
constexpr size_t kMinIdPrefix = 8;
constexpr int kMaxResponseBytes = 256 << 20;
constexpr size_t kTitleColumn = 60;  // code points shown in the inbox table

// ---------------------------------------------------------------------------
// Errors: a usage error is an absl::Status carrying this payload.

constexpr absl::string_view kUsagePayload = "tidings/cli/usage";

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

// ---------------------------------------------------------------------------
// UTF-8: input validation, terminal-safe output, JSON strings. Titles and
// texts come from other agencies; printing their bytes raw would let a peer
// drive the officer's terminal with escape sequences.

// Length of the valid UTF-8 sequence at s[i] and its code point, or 0.
size_t DecodeUtf8(absl::string_view s, size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t len = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1Fu;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0Fu;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool IsValidUtf8(absl::string_view s) {
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = DecodeUtf8(s, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// Code points that reorder or hide text on a terminal.
bool IsBidiControl(char32_t cp) {
  return cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

enum class Lines { kEscape, kKeep };

// `s` with control characters, C1 controls, bidi overrides and invalid bytes
// shown as escapes, so that what the officer sees is what was sent.
std::string Printable(absl::string_view s, Lines lines) {
  std::string out;
  out.reserve(s.size());
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = DecodeUtf8(s, i, cp);
    if (len == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    if (len == 1) {
      const char c = s[i];
      if ((c == '\n' || c == '\t') && lines == Lines::kKeep) {
        out.push_back(c);
      } else if (cp < 0x20 || cp == 0x7F) {
        absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned>(cp));
      } else {
        out.push_back(c);
      }
    } else if ((cp >= 0x80 && cp <= 0x9F) || IsBidiControl(cp)) {
      absl::StrAppendFormat(&out, "\\u{%04x}", static_cast<unsigned>(cp));
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  return out;
}

// The first `max` code points of `s` (an invalid byte counts as one), with
// "..." when something was cut.
std::string Truncate(absl::string_view s, size_t max) {
  char32_t cp = 0;
  size_t i = 0;
  for (size_t n = 0; i < s.size() && n < max; ++n) {
    const size_t len = DecodeUtf8(s, i, cp);
    i += len == 0 ? 1 : len;
  }
  if (i >= s.size()) return std::string(s);
  return absl::StrCat(s.substr(0, i), "...");
}

size_t DisplayWidth(absl::string_view s) {
  char32_t cp = 0;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    const size_t len = DecodeUtf8(s, i, cp);
    i += len == 0 ? 1 : len;
  }
  return n;
}

std::string PadRight(absl::string_view s, size_t width) {
  std::string out(s);
  const size_t shown = DisplayWidth(s);
  if (shown < width) out.append(width - shown, ' ');
  return out;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  char32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = DecodeUtf8(s, i, cp);
    if (len == 0) {
      out.append("\\ufffd");
      ++i;
      continue;
    }
    if (len == 1) {
      const char c = s[i];
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\r':
          out.append("\\r");
          break;
        default:
          if (cp < 0x20) {
            absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned>(cp));
          } else {
            out.push_back(c);
          }
      }
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  out.push_back('"');
  return out;
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  quoted.reserve(values.size());
  for (const std::string& v : values) quoted.push_back(JsonString(v));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

std::string JsonArray(const std::vector<std::string>& raw_values) {
  return absl::StrCat("[", absl::StrJoin(raw_values, ","), "]");
}

std::string JsonDouble(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.17g", value);
}

// A JSON object built from raw JSON values, in insertion order.
class JsonObject {
 public:
  JsonObject& Raw(absl::string_view key, absl::string_view raw_json) {
    fields_.push_back(absl::StrCat(JsonString(key), ":", raw_json));
    return *this;
  }
  JsonObject& String(absl::string_view key, absl::string_view value) {
    return Raw(key, JsonString(value));
  }
  template <typename Number>
  JsonObject& Int(absl::string_view key, Number value) {
    return Raw(key, absl::StrCat(value));
  }
  JsonObject& Bool(absl::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  std::string Build() const {
    return absl::StrCat("{", absl::StrJoin(fields_, ","), "}");
  }

 private:
  std::vector<std::string> fields_;
};

std::string ReceiptStatusName(proto::ReceiptStatus status) {
  switch (status) {
    case proto::RECEIPT_STATUS_UNSPECIFIED:
      return "pending";
    case proto::RECEIPT_DELIVERED:
      return "delivered";
    case proto::RECEIPT_READ:
      return "read";
    case proto::RECEIPT_ACKNOWLEDGED:
      return "acknowledged";
    default:
      return absl::StrCat("status-", static_cast<int>(status));
  }
}

std::string IsoTime(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

// ---------------------------------------------------------------------------
// Command-line parsing.

struct FlagSpec {
  absl::string_view name;
  // Empty for a boolean flag ("--json", "--json=false").
  absl::string_view value_name;
  absl::string_view help;
  bool repeatable = false;
};

class Args {
 public:
  bool Has(absl::string_view name) const {
    return values_.contains(std::string(name));
  }
  // The value of a flag given once, or nullptr.
  const std::string* Find(absl::string_view name) const {
    auto it = values_.find(std::string(name));
    return it == values_.end() ? nullptr : &it->second.back();
  }
  std::vector<std::string> All(absl::string_view name) const {
    auto it = values_.find(std::string(name));
    return it == values_.end() ? std::vector<std::string>() : it->second;
  }
  absl::StatusOr<std::string> Required(absl::string_view name) const {
    const std::string* value = Find(name);
    if (value == nullptr) {
      return UsageError(absl::StrCat("missing required flag --", name));
    }
    return *value;
  }
  // The flag parsed as T with absl's flag syntax; nullopt if absent.
  // `what` describes a valid value for the error message.
  template <typename T>
  absl::StatusOr<std::optional<T>> Get(absl::string_view name,
                                       absl::string_view what) const {
    const std::string* raw = Find(name);
    if (raw == nullptr) return std::optional<T>();
    T value{};
    std::string error;
    // Explicit <T>: Debian's Abseil also has a deprecated non-template
    // ParseFlag(std::string, Duration*) that would win otherwise.
    if (!absl::ParseFlag<T>(*raw, &value, &error)) {
      return UsageError(absl::StrCat("--", name, " '", absl::CHexEscape(*raw),
                                     "' is not ", what));
    }
    return std::optional<T>(std::move(value));
  }
  bool Bool(absl::string_view name) const {
    const std::string* raw = Find(name);
    return raw != nullptr && *raw == "true";
  }
  const std::vector<std::string>& positional() const { return positional_; }

  void Add(absl::string_view name, std::string value) {
    values_[std::string(name)].push_back(std::move(value));
  }
  void AddPositional(std::string value) {
    positional_.push_back(std::move(value));
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

using Handler = absl::Status (*)(const Args& args, std::ostream& out);

struct Command {
  absl::string_view name;      // "keygen", "roster init"
  absl::string_view synopsis;  // what follows the name in the usage line
  absl::string_view summary;   // one line for `tidings --help`
  absl::string_view description;
  std::vector<FlagSpec> flags;
  size_t min_positional = 0;
  size_t max_positional = 0;
  absl::string_view positional_name;  // "an envelope ID", for errors
  Handler handler = nullptr;
};

const FlagSpec kJsonFlag{"json", "", "print JSON instead of text"};
const FlagSpec kSocketFlag{"socket", "PATH",
                           "the node's client socket (or give --config)"};
const FlagSpec kConfigFlag{"config", "FILE",
                           "the node's config file; its client_socket is used"};
const FlagSpec kPassphraseCostFlag{
    "passphrase-cost", "COST",
    "what one passphrase try costs (Argon2id): interactive (64 MiB), "
    "moderate (256 MiB, default) or sensitive (1 GiB)"};

bool IsHelpArg(absl::string_view arg) {
  return arg == "--help" || arg == "-h" || arg == "-help";
}

absl::StatusOr<Args> ParseArgs(const Command& command,
                               const std::vector<std::string>& argv) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (flags_done || arg == "-" || !absl::StartsWith(arg, "-")) {
      args.AddPositional(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    absl::string_view body = arg;
    if (!absl::ConsumePrefix(&body, "--")) absl::ConsumePrefix(&body, "-");
    std::optional<std::string> inline_value;
    absl::string_view name = body;
    if (const size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      inline_value = std::string(body.substr(eq + 1));
    }
    auto spec = std::find_if(command.flags.begin(), command.flags.end(),
                             [&](const FlagSpec& f) { return f.name == name; });
    if (spec == command.flags.end()) {
      return UsageError(absl::StrCat("unknown flag '", absl::CHexEscape(arg),
                                     "' for '", command.name, "'"));
    }
    if (!spec->repeatable && args.Has(spec->name)) {
      return UsageError(absl::StrCat("--", spec->name, " is given twice"));
    }
    if (spec->value_name.empty()) {
      bool value = true;
      std::string error;
      if (inline_value.has_value() &&
          !absl::ParseFlag(*inline_value, &value, &error)) {
        return UsageError(absl::StrCat("--", spec->name, " '",
                                       absl::CHexEscape(*inline_value),
                                       "' is not true or false"));
      }
      args.Add(spec->name, value ? "true" : "false");
      continue;
    }
    if (inline_value.has_value()) {
      args.Add(spec->name, *std::move(inline_value));
    } else if (i + 1 < argv.size()) {
      args.Add(spec->name, argv[++i]);
    } else {
      return UsageError(absl::StrCat("--", spec->name, " needs a value (",
                                     spec->value_name, ")"));
    }
  }
  const size_t n = args.positional().size();
  if (n < command.min_positional || n > command.max_positional) {
    if (n > command.max_positional) {
      return UsageError(absl::StrCat(
          "unexpected argument '",
          absl::CHexEscape(args.positional()[command.max_positional]), "'"));
    }
    return UsageError(
        absl::StrCat("'", command.name, "' needs ", command.positional_name));
  }
  return args;
}

void PrintCommandHelp(const Command& command, std::ostream& out) {
  out << "usage: tidings " << command.name << " " << command.synopsis << "\n\n"
      << command.description << "\n";
  if (command.flags.empty()) return;
  out << "\nflags:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const FlagSpec& flag : command.flags) {
    std::string left = absl::StrCat("--", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, " ", flag.value_name);
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), std::string(flag.help));
  }
  for (const auto& [left, help] : rows) {
    out << "  " << PadRight(left, width + 2) << help << "\n";
  }
}

// ---------------------------------------------------------------------------
// Shared validation.

absl::Status ValidateText(absl::string_view flag, absl::string_view value,
                          size_t max_bytes) {
  if (value.size() > max_bytes) {
    return UsageError(absl::StrCat("--", flag, " is ", value.size(),
                                   " bytes; the limit is ", max_bytes));
  }
  if (!IsValidUtf8(value)) {
    return UsageError(absl::StrCat("--", flag, " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAgencyFlag(absl::string_view flag,
                                absl::string_view agency) {
  if (absl::Status s = ValidateAgencyId(agency); !s.ok()) {
    return UsageError(absl::StrCat("--", flag, ": ", s.message()));
  }
  return absl::OkStatus();
}

// Comma-separated values of a repeatable flag, whitespace stripped, empty
// items refused.
absl::StatusOr<std::vector<std::string>> ListFlag(const Args& args,
                                                  absl::string_view name) {
  std::vector<std::string> out;
  for (const std::string& value : args.All(name)) {
    for (absl::string_view item : absl::StrSplit(value, ',')) {
      item = absl::StripAsciiWhitespace(item);
      if (item.empty()) {
        return UsageError(absl::StrCat(
            "--", name, " '", absl::CHexEscape(value), "' has an empty item"));
      }
      out.emplace_back(item);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Files.

bool PathExists(const std::string& path) {
  std::error_code error;
  // symlink_status: a dangling symlink still counts as "there".
  return std::filesystem::symlink_status(path, error).type() !=
         std::filesystem::file_type::not_found;
}

JsonObject MemberJson(const proto::Member& member) {
  JsonObject json;
  json.String("agency", member.agency())
      .String("name", member.name())
      .Raw("endpoints", JsonStringArray({member.endpoints().begin(),
                                         member.endpoints().end()}))
      .String("sign_pk", crypto::ToHex(member.sign_pk()))
      .String("box_pk", crypto::ToHex(member.box_pk()))
      .String("tls_cert_sha256", crypto::ToHex(member.tls_cert_sha256()));
  return json;
}

void PrintMember(const proto::Member& member, std::ostream& out,
                 absl::string_view state) {
  out << "  " << Printable(member.agency(), Lines::kEscape);
  if (!state.empty()) out << "  [" << state << "]";
  out << "\n";
  if (!member.name().empty()) {
    out << "    name       " << Printable(member.name(), Lines::kEscape)
        << "\n";
  }
  std::vector<std::string> endpoints;
  for (const std::string& e : member.endpoints()) {
    endpoints.push_back(Printable(e, Lines::kEscape));
  }
  out << "    endpoints  "
      << (endpoints.empty() ? "-" : absl::StrJoin(endpoints, ", ")) << "\n"
      << "    sign key   " << crypto::ToHex(member.sign_pk()) << "\n"
      << "    box key    " << crypto::ToHex(member.box_pk()) << "\n"
      << "    tls cert   "
      << (member.tls_cert_sha256().empty()
              ? "-"
              : absl::StrCat("sha256 ",
                             crypto::ToHex(member.tls_cert_sha256())))
      << "\n";
}

// ---------------------------------------------------------------------------
// Passphrases: from a file only, never from argv (which every user of the
// machine can read through ps).

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

// The passphrase in --passphrase-file, or nullopt without the flag.
absl::StatusOr<std::optional<crypto::Passphrase>> PassphraseFlag(
    const Args& args) {
  const std::string* path = args.Find("passphrase-file");
  if (path == nullptr) return std::optional<crypto::Passphrase>();
  TIDINGS_ASSIGN_OR_RETURN(crypto::Passphrase passphrase,
                           crypto::ReadPassphraseFile(*path));
  return std::optional<crypto::Passphrase>(std::move(passphrase));
}

// Loads a key file, sealed or not, with --passphrase-file if given.
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

// The host part of a validated "host:port" or "[v6]:port".
std::string HostOf(absl::string_view endpoint) {
  if (absl::ConsumePrefix(&endpoint, "[")) {
    return std::string(endpoint.substr(0, endpoint.find(']')));
  }
  return std::string(endpoint.substr(0, endpoint.rfind(':')));
}

// Removes the files it was given unless dismissed: a half-made set of key
// files is worse than none (and would block the retry).
class RemoveOnFailure {
 public:
  RemoveOnFailure() = default;
  RemoveOnFailure(const RemoveOnFailure&) = delete;
  RemoveOnFailure& operator=(const RemoveOnFailure&) = delete;
  ~RemoveOnFailure() {
    for (const std::string& path : paths_) ::unlink(path.c_str());
  }
  void Add(std::string path) { paths_.push_back(std::move(path)); }
  void Dismiss() { paths_.clear(); }

 private:
  std::vector<std::string> paths_;
};

// ---------------------------------------------------------------------------
// keygen

absl::Status RunKeygen(const Args& args, std::ostream& out) {
  // An agency id, or a field node's "AGENCY/NAME" (node/field_nodes.h).
  TIDINGS_ASSIGN_OR_RETURN(const std::string agency, args.Required("agency"));
  if (absl::Status s = ValidatePrincipal(agency); !s.ok()) {
    return UsageError(absl::StrCat("--agency: ", s.message()));
  }
  const bool field_node = IsFieldNode(agency);
  TIDINGS_ASSIGN_OR_RETURN(const std::string dir, args.Required("out"));
  const std::string name = args.Find("name") ? *args.Find("name") : "";
  TIDINGS_RETURN_IF_ERROR(ValidateText("name", name, kMaxNameBytes));
  TIDINGS_ASSIGN_OR_RETURN(std::vector<std::string> endpoints,
                           ListFlag(args, "endpoint"));
  std::vector<std::string> hosts;
  for (const std::string& endpoint : endpoints) {
    if (absl::Status s = address_internal::ValidateAddress(endpoint); !s.ok()) {
      return UsageError(absl::StrCat("--endpoint: ", s.message()));
    }
    hosts.push_back(HostOf(endpoint));
  }
  TIDINGS_ASSIGN_OR_RETURN(const crypto::PassphraseCost cost, CostFlag(args));
  if (args.Has("passphrase-cost") && !args.Has("passphrase-file")) {
    return UsageError("--passphrase-cost needs --passphrase-file");
  }
  TIDINGS_ASSIGN_OR_RETURN(std::optional<crypto::Passphrase> passphrase,
                           PassphraseFlag(args));

  const std::filesystem::path base(dir);
  // '/' in a field node's id would name a directory.
  const std::string stem = FileStemOf(agency);
  const std::string key_path = (base / absl::StrCat(stem, ".key")).string();
  const std::string pub_path = (base / absl::StrCat(stem, ".pub")).string();
  const std::string tls_key_path =
      (base / absl::StrCat(stem, ".tls.key")).string();
  const std::string tls_cert_path =
      (base / absl::StrCat(stem, ".tls.crt")).string();
  // Check all before writing any: a half-made set is worse than none.
  for (const std::string& path :
       {key_path, pub_path, tls_key_path, tls_cert_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path,
          " already exists; refusing to overwrite it (keys are never "
          "replaced silently)"));
    }
  }
  // Everything is made in memory first, so that a bad --endpoint host fails
  // before any file exists.
  absl::StatusOr<crypto::TlsCredentials> tls =
      crypto::GenerateTlsCertificate(agency, hosts);
  if (!tls.ok()) {
    // The agency id and its length are checked by now, so only a host can
    // be wrong.
    if (tls.status().code() == absl::StatusCode::kInvalidArgument) {
      return UsageError(absl::StrCat("--endpoint: ", tls.status().message()));
    }
    return tls.status();
  }
  TIDINGS_ASSIGN_OR_RETURN(const crypto::Sha256 fingerprint,
                           crypto::CertificateFingerprint(tls->cert_pem));
  const crypto::Identity identity = crypto::Identity::Generate(agency);

  std::error_code error;
  if (!std::filesystem::is_directory(base, error)) {
    if (!std::filesystem::create_directories(base, error) || error) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create directory ", dir, ": ", error.message()));
    }
    // A new directory holding a secret key: private to the node's user.
    std::filesystem::permissions(base, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
  }

  RemoveOnFailure written;
  TIDINGS_RETURN_IF_ERROR(
      passphrase.has_value()
          ? identity.SaveFile(key_path, *passphrase, crypto::SealOptions{cost})
          : identity.SaveFile(key_path));
  written.Add(key_path);
  TIDINGS_RETURN_IF_ERROR(
      crypto::SaveTlsCredentials(*tls, tls_key_path, tls_cert_path));
  written.Add(tls_key_path);
  written.Add(tls_cert_path);
  TIDINGS_RETURN_IF_ERROR(WriteProtoFile(
      pub_path, PublicIdentityOf(identity, name, endpoints, fingerprint)));
  written.Dismiss();

  const std::string sign_hex = crypto::ToHex(identity.verify_key().view());
  const std::string box_hex = crypto::ToHex(identity.box_public().view());
  const std::string tls_hex = crypto::ToHex(fingerprint.view());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("agency", agency)
               .Bool("field_node", field_node)
               .String("key_file", key_path)
               .Bool("sealed", passphrase.has_value())
               .String("pub_file", pub_path)
               .String("tls_key_file", tls_key_path)
               .String("tls_cert_file", tls_cert_path)
               .String("sign_pk", sign_hex)
               .String("box_pk", box_hex)
               .String("tls_cert_sha256", tls_hex)
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << (field_node ? "field node   " : "agency       ") << agency << "\n"
      << "secret key   " << key_path << " (mode 0600; "
      << (passphrase.has_value() ? absl::StrCat("sealed with the passphrase, ",
                                                CostDescription(cost), "; ")
                                 : "")
      << "never share it)\n"
      << "TLS key      " << tls_key_path << " (mode 0600; never share it)\n"
      << "TLS cert     " << tls_cert_path << "\n"
      << "public file  " << pub_path << "\n"
      << "sign key     " << sign_hex << "\n"
      << "box key      " << box_hex << "\n"
      << "tls cert     sha256 " << tls_hex << "\n";
  if (field_node) {
    out << "\nNext, " << AgencyOf(agency)
        << "'s node certifies it (compare the keys above first):\n"
        << "  tidings node certify --pub " << pub_path << " --out " << stem
        << ".cert\n";
  }
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
    out << JsonObject()
               .String("key_file", key_path)
               .String("agency", identity->agency())
               .Bool("sealed", true)
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "sealed " << key_path << " (" << identity->agency() << ") with the "
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
    out << JsonObject()
               .String("key_file", key_path)
               .String("agency", identity.agency())
               .Bool("sealed", false)
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "unsealed " << key_path << " (" << identity.agency()
      << "); it is now protected by its file mode alone\n";
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// roster

absl::StatusOr<proto::Roster> ParseRosterBytes(
    const proto::SignedRoster& signed_roster, absl::string_view path) {
  proto::Roster roster;
  if (!roster.ParseFromString(signed_roster.roster())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": roster bytes do not parse as a Roster"));
  }
  return roster;
}

absl::Status RunRosterInit(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string network_name,
                           args.Required("name"));
  if (network_name.empty()) return UsageError("--name is empty");
  TIDINGS_RETURN_IF_ERROR(ValidateText("name", network_name, kMaxNameBytes));
  TIDINGS_ASSIGN_OR_RETURN(const std::string out_path, args.Required("out"));
  TIDINGS_ASSIGN_OR_RETURN(std::optional<uint32_t> threshold,
                           args.Get<uint32_t>("threshold", "a whole number"));
  if (!threshold.has_value())
    return UsageError("missing required flag --threshold");
  const auto n = static_cast<uint32_t>(args.positional().size());
  if (*threshold < 1 || *threshold > n || 2 * uint64_t{*threshold} <= n) {
    return UsageError(
        absl::StrCat("--threshold ", *threshold, " must be a majority of the ",
                     n, " founders: more than ", n / 2, " and at most ", n));
  }
  if (PathExists(out_path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        out_path, " already exists; refusing to overwrite a roster"));
  }

  std::vector<proto::Member> members;
  for (const std::string& path : args.positional()) {
    proto::PublicIdentity pub;
    TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, pub));
    if (!pub.has_member()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " holds no member; is it a .pub file?"));
    }
    members.push_back(pub.member());
  }
  absl::StatusOr<proto::SignedRoster> genesis =
      MakeGenesis(network_name, *threshold, std::move(members),
                  absl::ToUnixMillis(absl::Now()));
  if (!genesis.ok()) return genesis.status();
  TIDINGS_RETURN_IF_ERROR(WriteProtoFile(out_path, *genesis));

  TIDINGS_ASSIGN_OR_RETURN(proto::Roster roster,
                           ParseRosterBytes(*genesis, out_path));
  std::vector<std::string> agencies;
  for (const proto::Member& m : roster.members())
    agencies.push_back(m.agency());
  const std::string network_id =
      crypto::ToHex(crypto::Hash(genesis->roster()).view());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("roster_file", out_path)
               .String("network_name", network_name)
               .String("network_id", network_id)
               .Int("threshold", *threshold)
               .Raw("members", JsonStringArray(agencies))
               .Raw("missing", JsonStringArray(agencies))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "roster      " << out_path << "\n"
      << "network     " << Printable(network_name, Lines::kEscape) << "\n"
      << "network id  " << network_id << " (valid once every founder signs)\n"
      << "threshold   " << *threshold << " of " << n << "\n"
      << "founders    " << absl::StrJoin(agencies, ", ") << "\n\n"
      << "Next, each founder signs in turn:\n"
      << "  tidings roster sign --roster " << out_path
      << " --key <AGENCY>.key\n";
  return absl::OkStatus();
}

absl::Status RunRosterSignProposal(const Args& args, std::ostream& out);
absl::Status RunRosterShowNode(const Args& args, std::ostream& out);

absl::Status RunRosterSign(const Args& args, std::ostream& out) {
  if (args.Find("proposal") != nullptr) {
    return RunRosterSignProposal(args, out);
  }
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, args.Required("roster"));
  TIDINGS_ASSIGN_OR_RETURN(const std::string key_path, args.Required("key"));
  TIDINGS_ASSIGN_OR_RETURN(crypto::Identity identity,
                           LoadKeyFlag(args, key_path));
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  if (absl::Status s = SignGenesis(signed_roster, identity); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  // Atomic replace: a crash leaves the old file or the new one.
  TIDINGS_RETURN_IF_ERROR(WriteProtoFile(path, signed_roster));

  const std::vector<std::string> missing = MissingSignatures(signed_roster);
  absl::StatusOr<Roster> verified = Roster::FromSigned(signed_roster);
  if (args.Bool("json")) {
    JsonObject json;
    json.String("roster_file", path)
        .String("signed_by", identity.agency())
        .Raw("missing", JsonStringArray(missing))
        .Bool("verified", verified.ok());
    if (verified.ok()) {
      json.String("network_id", crypto::ToHex(verified->network_id().view()));
    }
    out << json.Build() << "\n";
    return absl::OkStatus();
  }
  out << "signed " << path << " as " << identity.agency() << "\n";
  if (verified.ok()) {
    out << "every founder has signed; network id "
        << crypto::ToHex(verified->network_id().view()) << "\n";
  } else if (!missing.empty()) {
    out << "still to sign: " << absl::StrJoin(missing, ", ") << "\n";
  } else {
    out << "the roster does not verify: "
        << Printable(verified.status().message(), Lines::kEscape) << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunRosterVerify(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, args.Required("roster"));
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  if (!roster.ok()) {
    const std::vector<std::string> missing = MissingSignatures(signed_roster);
    if (args.Bool("json")) {
      out << JsonObject()
                 .String("roster_file", path)
                 .Bool("verified", false)
                 .String("error", roster.status().message())
                 .Raw("missing", JsonStringArray(missing))
                 .Build()
          << "\n";
    }
    std::string message = absl::StrCat(path, ": ", roster.status().message());
    // FromSigned stops at the first failing check; the officer also needs to
    // know whom to chase for a signature.
    if (!missing.empty() && !IsMissingFounderSignatures(roster.status())) {
      absl::StrAppend(&message, "; no valid signature yet from ",
                      absl::StrJoin(missing, ", "));
    }
    return absl::Status(roster.status().code(), message);
  }

  const proto::Roster& r = roster->roster();
  const std::string network_id = crypto::ToHex(roster->network_id().view());
  if (args.Bool("json")) {
    std::vector<std::string> members;
    for (const proto::Member& m : r.members()) {
      members.push_back(MemberJson(m).Build());
    }
    out << JsonObject()
               .String("roster_file", path)
               .Bool("verified", true)
               .String("network_name", r.network_name())
               .String("network_id", network_id)
               .Int("threshold", r.threshold())
               .Raw("members", JsonArray(members))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << path << ": verified, signed by all " << r.members_size()
      << " founders\n"
      << "network     " << Printable(r.network_name(), Lines::kEscape) << "\n"
      << "network id  " << network_id << "\n"
      << "threshold   " << r.threshold() << " of " << r.members_size() << "\n"
      << "members\n";
  for (const proto::Member& m : r.members()) PrintMember(m, out, "");
  return absl::OkStatus();
}

absl::Status RunRosterShow(const Args& args, std::ostream& out) {
  if (args.Find("roster") == nullptr) return RunRosterShowNode(args, out);
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, args.Required("roster"));
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  TIDINGS_ASSIGN_OR_RETURN(proto::Roster r,
                           ParseRosterBytes(signed_roster, path));

  const std::vector<std::string> missing = MissingSignatures(signed_roster);
  const std::set<std::string> missing_set(missing.begin(), missing.end());
  std::set<std::string> members;
  for (const proto::Member& m : r.members()) members.insert(m.agency());
  std::set<std::string> present;  // any signature entry, valid or not
  std::vector<std::string> strangers;
  for (const proto::RosterSignature& sig : signed_roster.signatures()) {
    present.insert(sig.agency());
    if (!members.contains(sig.agency())) strangers.push_back(sig.agency());
  }
  auto state = [&](const std::string& agency) -> std::string {
    if (!missing_set.contains(agency)) return "signed";
    return present.contains(agency) ? "INVALID signature" : "not signed";
  };
  const absl::Status verified = Roster::FromSigned(signed_roster).status();
  const std::string network_id =
      crypto::ToHex(crypto::Hash(signed_roster.roster()).view());

  if (args.Bool("json")) {
    std::vector<std::string> member_json;
    for (const proto::Member& m : r.members()) {
      member_json.push_back(
          MemberJson(m).String("signature", state(m.agency())).Build());
    }
    JsonObject json;
    json.String("roster_file", path)
        .Int("version", r.version())
        .String("network_name", r.network_name())
        .String("network_id", network_id)
        .Int("threshold", r.threshold())
        .Int("created_unix_ms", r.created_unix_ms())
        .Raw("members", JsonArray(member_json))
        .Raw("missing", JsonStringArray(missing))
        .Raw("non_member_signatures", JsonStringArray(strangers))
        .Bool("verified", verified.ok());
    if (!verified.ok()) json.String("error", verified.message());
    out << json.Build() << "\n";
    return absl::OkStatus();
  }
  out << "roster      " << path << "\n"
      << "network     " << Printable(r.network_name(), Lines::kEscape) << "\n"
      << "network id  " << network_id << "\n"
      << "version     " << r.version() << "\n"
      << "created     " << IsoTime(r.created_unix_ms()) << "\n"
      << "threshold   " << r.threshold() << " of " << r.members_size() << "\n"
      << "signatures  " << (r.members_size() - static_cast<int>(missing.size()))
      << " of " << r.members_size() << " founders";
  if (!missing.empty()) out << "; missing " << absl::StrJoin(missing, ", ");
  out << "\n";
  for (const std::string& stranger : strangers) {
    out << "            signature by non-member "
        << Printable(stranger, Lines::kEscape) << "\n";
  }
  out << "verified    "
      << (verified.ok() ? "yes"
                        : absl::StrCat("no: ", Printable(verified.message(),
                                                         Lines::kEscape)))
      << "\nmembers\n";
  for (const proto::Member& m : r.members())
    PrintMember(m, out, state(m.agency()));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Client commands: gRPC to the node's client service.

// The status of one client RPC, converted at the one boundary
// (proto/grpc_status.h), with what an officer needs to act on it.
absl::Status FromClientRpc(const grpc::Status& status, absl::string_view rpc,
                           absl::string_view target) {
  absl::Status converted = grpc_status::FromGrpc(status);
  switch (converted.code()) {
    case absl::StatusCode::kOk:
      return converted;
    case absl::StatusCode::kUnavailable:
      return absl::UnavailableError(absl::StrCat(
          "cannot reach node at ", target, ": ", converted.message()));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(
          absl::StrCat("node at ", target, " did not answer ", rpc, " within ",
                       std::chrono::seconds(kRpcDeadline).count(), "s"));
    default:
      return absl::Status(converted.code(),
                          absl::StrCat(rpc, " failed: ", converted.message()));
  }
}

class NodeClient {
 public:
  static absl::StatusOr<NodeClient> Connect(const Args& args) {
    const std::string* socket = args.Find("socket");
    const std::string* config_path = args.Find("config");
    if (socket != nullptr && config_path != nullptr) {
      return UsageError("give --socket or --config, not both");
    }
    std::string path;
    if (socket != nullptr) {
      if (socket->empty()) return UsageError("--socket is empty");
      path = *socket;
    } else if (config_path != nullptr) {
      TIDINGS_ASSIGN_OR_RETURN(const Config config, LoadConfig(*config_path));
      path = config.client_socket;
    } else {
      return UsageError("need --socket PATH or --config FILE to find the node");
    }
    const std::string target = absl::StrCat("unix:", path);
    grpc::ChannelArguments channel_args;
    // Our own node on a local socket: an inbox of long titles may exceed
    // gRPC's 4 MiB default, and failing to list it would help nobody.
    channel_args.SetMaxReceiveMessageSize(kMaxResponseBytes);
    return NodeClient(
        target, proto::Client::NewStub(grpc::CreateCustomChannel(
                    target, grpc::InsecureChannelCredentials(), channel_args)));
  }

  template <typename Request, typename Response>
  absl::Status Call(absl::string_view rpc,
                    grpc::Status (proto::Client::Stub::*method)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response& response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
    return FromClientRpc(((*stub_).*method)(&context, request, &response), rpc,
                         target_);
  }

  const std::string& target() const { return target_; }

 private:
  NodeClient(std::string target, std::unique_ptr<proto::Client::Stub> stub)
      : target_(std::move(target)), stub_(std::move(stub)) {}

  std::string target_;
  std::unique_ptr<proto::Client::Stub> stub_;
};

std::string ShortId(absl::string_view id) {
  return crypto::ToHex(id).substr(0, 16);
}

JsonObject SummaryJson(const proto::EnvelopeSummary& s) {
  JsonObject json;
  json.String("envelope_id", crypto::ToHex(s.envelope_id()))
      .String("origin", s.origin())
      .Raw("audience",
           JsonStringArray({s.audience().begin(), s.audience().end()}))
      .Int("seq", s.seq())
      .String("kind", KindName(s.kind()))
      .String("precedence", PrecedenceName(s.precedence()))
      .Int("created_unix_ms", s.created_unix_ms())
      .String("created", IsoTime(s.created_unix_ms()))
      .String("title", s.title())
      .String("feed_id", crypto::ToHex(s.feed_id()));
  return json;
}

// The raw 32-byte id named by `arg`: 64 hex digits, or a prefix of at least
// kMinIdPrefix digits matching exactly one envelope in the inbox.
absl::StatusOr<std::string> ResolveId(NodeClient& client,
                                      absl::string_view arg) {
  const std::string hex = absl::AsciiStrToLower(arg);
  const bool all_hex = std::all_of(hex.begin(), hex.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
  if (hex.empty() || !all_hex) {
    return UsageError(
        absl::StrCat("'", absl::CHexEscape(arg), "' is not a hex envelope id"));
  }
  const size_t full = 2 * crypto::Hash256::kSize;
  if (hex.size() > full) {
    return UsageError(absl::StrCat("envelope id '", hex, "' is longer than ",
                                   full, " hex digits"));
  }
  if (hex.size() == full) {
    std::optional<std::string> raw = crypto::FromHex(hex);
    if (!raw.has_value()) {
      return UsageError(absl::StrCat("'", hex, "' is not a hex envelope id"));
    }
    return *std::move(raw);
  }
  if (hex.size() < kMinIdPrefix) {
    return UsageError(absl::StrCat("id prefix '", hex,
                                   "' is too short; give at least ",
                                   kMinIdPrefix, " hex digits"));
  }
  proto::InboxRequest request;
  request.set_limit(kPrefixSearchLimit);
  request.set_include_receipts(true);
  proto::InboxResponse response;
  TIDINGS_RETURN_IF_ERROR(
      client.Call("Inbox", &proto::Client::Stub::Inbox, request, response));
  std::vector<std::string> matches;
  for (const proto::EnvelopeSummary& s : response.envelopes()) {
    if (absl::StartsWith(crypto::ToHex(s.envelope_id()), hex) &&
        std::find(matches.begin(), matches.end(), s.envelope_id()) ==
            matches.end()) {
      matches.push_back(s.envelope_id());
    }
  }
  if (matches.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no envelope among the latest ", response.envelopes_size(),
                     " in the inbox starts with ", hex, "; give the full id"));
  }
  if (matches.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("id prefix ", hex, " matches ", matches.size(),
                     " envelopes; give more digits"));
  }
  return matches.front();
}

// ---------------------------------------------------------------------------
// Roster changes through the node: propose, sign, show the chain.

absl::StatusOr<proto::Member> ReadMemberFile(const std::string& path) {
  proto::PublicIdentity pub;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, pub));
  if (!pub.has_member()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " holds no member; is it a .pub file?"));
  }
  return pub.member();
}

absl::Status PrintProposal(const Args& args,
                           const proto::RosterProposalStatus& status,
                           std::ostream& out) {
  const std::vector<std::string> signers(status.signers().begin(),
                                         status.signers().end());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("hash", crypto::ToHex(status.hash()))
               .Int("version", status.version())
               .String("change", status.change())
               .Raw("signers", JsonStringArray(signers))
               .Int("needed", status.needed())
               .Bool("applied", status.applied())
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "proposal  " << crypto::ToHex(status.hash()) << "\n"
      << "version   " << status.version() << "\n"
      << "change    " << Printable(status.change(), Lines::kEscape) << "\n"
      << "signed    " << signers.size() << " of " << status.needed()
      << " needed (" << absl::StrJoin(signers, ", ") << ")\n"
      << "state     "
      << (status.applied() ? "applied"
                           : "pending: other members sign it with\n"
                             "          tidings roster sign --proposal " +
                                 crypto::ToHex(status.hash()))
      << "\n";
  return absl::OkStatus();
}

absl::Status RunRosterPropose(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::RosterProposeRequest request;
  const std::string& op = args.positional().front();
  request.set_op(op);
  if (const std::string* agency = args.Find("agency")) {
    // Members only: a field node is revoked with `tidings node revoke`.
    TIDINGS_RETURN_IF_ERROR(ValidateAgencyFlag("agency", *agency));
    request.set_agency(*agency);
  }
  if (const std::string* pub = args.Find("pub")) {
    TIDINGS_ASSIGN_OR_RETURN(*request.mutable_member(), ReadMemberFile(*pub));
  }
  TIDINGS_ASSIGN_OR_RETURN(std::optional<uint32_t> threshold,
                           args.Get<uint32_t>("threshold", "a count"));
  if (threshold.has_value()) request.set_threshold(*threshold);
  for (const std::string& endpoints : args.All("endpoint")) {
    for (absl::string_view e : absl::StrSplit(endpoints, ',')) {
      if (!e.empty()) request.add_endpoints(std::string(e));
    }
  }
  if (const std::string* cert = args.Find("tls-cert")) {
    std::ifstream in(*cert);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot read ", *cert));
    }
    absl::StatusOr<crypto::Sha256> fingerprint =
        crypto::CertificateFingerprint(pem.str());
    if (!fingerprint.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(*cert, ": not a PEM certificate (",
                       fingerprint.status().message(), ")"));
    }
    request.set_tls_cert_sha256(fingerprint->str());
  }
  auto needs = [&](bool ok, absl::string_view what) -> absl::Status {
    return ok ? absl::OkStatus()
              : UsageError(
                    absl::StrCat("'roster propose ", op, "' needs ", what));
  };
  if (op == "admit") {
    TIDINGS_RETURN_IF_ERROR(needs(request.has_member(), "--pub NEW.pub"));
  } else if (op == "remove") {
    TIDINGS_RETURN_IF_ERROR(needs(!request.agency().empty(), "--agency ID"));
  } else if (op == "rotate" || op == "revoke") {
    TIDINGS_RETURN_IF_ERROR(
        needs(!request.agency().empty() && request.has_member(),
              "--agency ID and --pub NEW.pub"));
  } else if (op == "threshold") {
    TIDINGS_RETURN_IF_ERROR(needs(threshold.has_value(), "--threshold K"));
  } else if (op == "endpoints") {
    TIDINGS_RETURN_IF_ERROR(needs(
        request.endpoints_size() > 0 || !request.tls_cert_sha256().empty(),
        "--endpoint HOST:PORT or --tls-cert FILE"));
  } else {
    return UsageError(absl::StrCat(
        "unknown change '", absl::CHexEscape(op),
        "'; one of admit, remove, rotate, revoke, threshold, endpoints"));
  }
  proto::RosterProposalStatus status;
  TIDINGS_RETURN_IF_ERROR(client.Call(
      "ProposeRoster", &proto::Client::Stub::ProposeRoster, request, status));
  return PrintProposal(args, status, out);
}

absl::Status RunRosterSignProposal(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  const std::string& hex = *args.Find("proposal");
  std::optional<std::string> hash = crypto::FromHex(hex);
  if (hex.size() != 64 || !hash.has_value()) {
    return UsageError(
        "--proposal needs the 64 hex digits of a proposal hash (see "
        "`tidings roster show`)");
  }
  proto::RosterSignRequest request;
  request.set_hash(*hash);
  proto::RosterProposalStatus status;
  TIDINGS_RETURN_IF_ERROR(client.Call(
      "SignRoster", &proto::Client::Stub::SignRoster, request, status));
  return PrintProposal(args, status, out);
}

absl::Status RunRosterShowNode(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::RosterInfoResponse info;
  TIDINGS_RETURN_IF_ERROR(client.Call("RosterInfo",
                                      &proto::Client::Stub::RosterInfo,
                                      proto::RosterInfoRequest(), info));
  std::vector<proto::Roster> versions;
  std::vector<proto::SignedRoster> signed_versions;
  for (const std::string& bytes : info.versions()) {
    proto::SignedRoster signed_roster;
    proto::Roster roster;
    if (!signed_roster.ParseFromString(bytes) ||
        !roster.ParseFromString(signed_roster.roster())) {
      return absl::DataLossError("the node sent a roster that does not parse");
    }
    versions.push_back(std::move(roster));
    signed_versions.push_back(std::move(signed_roster));
  }
  if (versions.empty()) return absl::DataLossError("the node sent no roster");
  const bool history = args.Bool("history");
  const size_t first = history ? 0 : versions.size() - 1;
  auto signers_of = [&](size_t i) {
    std::vector<std::string> signers;
    for (const auto& sig : signed_versions[i].signatures()) {
      signers.push_back(sig.agency());
    }
    return signers;
  };
  if (args.Bool("json")) {
    std::vector<std::string> rosters;
    for (size_t i = first; i < versions.size(); ++i) {
      std::vector<std::string> members;
      for (const proto::Member& m : versions[i].members()) {
        members.push_back(MemberJson(m).Build());
      }
      std::vector<std::string> revocations;
      for (const proto::Revocation& r : versions[i].revocations()) {
        revocations.push_back(JsonObject()
                                  .String("agency", r.agency())
                                  .Int("at_version", r.at_version())
                                  .Bool("removed", r.removed())
                                  .Int("cuts", r.cuts_size())
                                  .Build());
      }
      rosters.push_back(
          JsonObject()
              .Int("version", versions[i].version())
              .String("hash",
                      crypto::ToHex(
                          crypto::Hash(signed_versions[i].roster()).view()))
              .String("change", versions[i].change())
              .Int("threshold", versions[i].threshold())
              .Raw("signed_by", JsonStringArray(signers_of(i)))
              .Raw("members", JsonArray(members))
              .Raw("revocations", JsonArray(revocations))
              .Build());
    }
    std::vector<std::string> pending;
    for (const auto& p : info.pending()) {
      pending.push_back(
          JsonObject()
              .String("hash", crypto::ToHex(p.hash()))
              .Int("version", p.version())
              .String("change", p.change())
              .Raw("signers", JsonStringArray(std::vector<std::string>(
                                  p.signers().begin(), p.signers().end())))
              .Int("needed", p.needed())
              .Build());
    }
    std::vector<std::string> forks;
    for (const auto& f : info.forks()) {
      forks.push_back(JsonObject()
                          .Int("version", f.version())
                          .String("applied", crypto::ToHex(f.applied_hash()))
                          .String("other", crypto::ToHex(f.other_hash()))
                          .Build());
    }
    out << JsonObject()
               .Int("version", versions.back().version())
               .Raw("rosters", JsonArray(rosters))
               .Raw("pending", JsonArray(pending))
               .Raw("forks", JsonArray(forks))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  for (size_t i = first; i < versions.size(); ++i) {
    const proto::Roster& r = versions[i];
    out << "v" << r.version() << "  "
        << (r.version() == 0 ? std::string("genesis")
                             : Printable(r.change(), Lines::kEscape))
        << "  (" << IsoTime(r.created_unix_ms()) << "; signed by "
        << absl::StrJoin(signers_of(i), ", ") << ")\n";
  }
  const proto::Roster& now = versions.back();
  out << "\ncurrent     v" << now.version() << ", threshold " << now.threshold()
      << " of " << now.members_size() << "\nmembers\n";
  for (const proto::Member& m : now.members()) PrintMember(m, out, "");
  for (const proto::Revocation& r : now.revocations()) {
    out << "revoked     " << r.agency() << " at v" << r.at_version()
        << (r.removed() ? " (removed)" : " (key compromised)") << ", "
        << r.cuts_size() << " feed cut(s)\n";
  }
  for (const auto& p : info.pending()) {
    out << "pending     " << crypto::ToHex(p.hash()) << " v" << p.version()
        << " " << Printable(p.change(), Lines::kEscape) << ": "
        << p.signers_size() << " of " << p.needed() << " signatures\n";
  }
  for (const auto& f : info.forks()) {
    out << "EQUIVOCATION at v" << f.version() << ": applied "
        << crypto::ToHex(f.applied_hash()) << ", conflicting "
        << crypto::ToHex(f.other_hash()) << " also has a quorum\n";
  }
  return absl::OkStatus();
}

absl::Status RunSend(const Args& args, std::ostream& out) {
  // Everything is checked here, before any connection: a typo never reaches
  // the node, let alone the network.
  TIDINGS_ASSIGN_OR_RETURN(const std::string kind_name, args.Required("kind"));
  const std::optional<proto::Kind> kind = KindFromName(kind_name);
  if (!kind.has_value()) {
    return UsageError(absl::StrCat("--kind '", absl::CHexEscape(kind_name),
                                   "' is not alert or notice"));
  }
  TIDINGS_ASSIGN_OR_RETURN(const std::string precedence_name,
                           args.Required("precedence"));
  const std::optional<proto::Precedence> precedence =
      PrecedenceFromName(precedence_name);
  if (!precedence.has_value()) {
    return UsageError(
        absl::StrCat("--precedence '", absl::CHexEscape(precedence_name),
                     "' is not flash, immediate, priority or routine"));
  }
  TIDINGS_ASSIGN_OR_RETURN(std::vector<std::string> audience,
                           ListFlag(args, "audience"));
  if (audience.empty()) return UsageError("missing required flag --audience");
  for (const std::string& agency : audience) {
    TIDINGS_RETURN_IF_ERROR(ValidateAgencyFlag("audience", agency));
  }
  {
    std::vector<std::string> sorted = audience;
    std::sort(sorted.begin(), sorted.end());
    if (auto dup = std::adjacent_find(sorted.begin(), sorted.end());
        dup != sorted.end()) {
      return UsageError(absl::StrCat("--audience lists ", *dup, " twice"));
    }
  }
  if (audience.size() > kMaxAudience) {
    return UsageError(absl::StrCat("--audience has ", audience.size(),
                                   " agencies; the limit is ", kMaxAudience));
  }
  TIDINGS_ASSIGN_OR_RETURN(const std::string text, args.Required("text"));
  if (absl::StripAsciiWhitespace(text).empty()) {
    return UsageError("--text is empty");
  }
  TIDINGS_RETURN_IF_ERROR(ValidateText("text", text, kMaxFieldBytes));
  const std::string title = args.Find("title") ? *args.Find("title") : "";
  TIDINGS_RETURN_IF_ERROR(ValidateText("title", title, kMaxFieldBytes));

  TIDINGS_ASSIGN_OR_RETURN(std::optional<double> lat,
                           args.Get<double>("lat", "a number"));
  TIDINGS_ASSIGN_OR_RETURN(std::optional<double> lon,
                           args.Get<double>("lon", "a number"));
  if (lat.has_value() != lon.has_value()) {
    return UsageError("give both --lat and --lon, or neither");
  }
  // Written as negations so that NaN fails too.
  if (lat.has_value() && !(*lat >= -90.0 && *lat <= 90.0)) {
    return UsageError(
        absl::StrCat("--lat ", *args.Find("lat"), " is outside -90..90"));
  }
  if (lon.has_value() && !(*lon >= -180.0 && *lon <= 180.0)) {
    return UsageError(
        absl::StrCat("--lon ", *args.Find("lon"), " is outside -180..180"));
  }
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<absl::Duration> expires_in,
      args.Get<absl::Duration>("expires-in", "a duration such as 90m or 24h"));
  if (expires_in.has_value() && (*expires_in <= absl::ZeroDuration() ||
                                 *expires_in == absl::InfiniteDuration())) {
    return UsageError(absl::StrCat("--expires-in ", *args.Find("expires-in"),
                                   " must be a positive, finite duration"));
  }

  proto::SendRequest request;
  request.set_kind(*kind);
  request.set_precedence(*precedence);
  for (const std::string& agency : audience) request.add_audience(agency);
  proto::Body* body = request.mutable_body();
  body->set_title(title);
  body->set_text(text);
  if (lat.has_value()) {
    body->mutable_position()->set_lat(*lat);
    body->mutable_position()->set_lon(*lon);
  }
  if (body->ByteSizeLong() > kMaxBodyBytes) {
    return UsageError(
        absl::StrCat("title and text together are ", body->ByteSizeLong(),
                     " bytes; a body may have at most ", kMaxBodyBytes));
  }
  if (expires_in.has_value()) {
    request.set_expires_unix_ms(absl::ToUnixMillis(absl::Now() + *expires_in));
  }

  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::SendResponse response;
  TIDINGS_RETURN_IF_ERROR(
      client.Call("Send", &proto::Client::Stub::Send, request, response));
  const std::string id = crypto::ToHex(response.envelope_id());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("envelope_id", id)
               .Int("seq", response.seq())
               .String("feed_id", crypto::ToHex(response.feed_id()))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "sent " << KindName(*kind) << " " << id << "\n"
      << "feed seq " << response.seq() << "\n";
  return absl::OkStatus();
}

// Columns padded to their widest cell (cells already Printable), the last
// one unpadded.
void PrintTable(const std::vector<std::vector<std::string>>& rows,
                std::ostream& out) {
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c + 1 < row.size(); ++c) {
      absl::StrAppend(&line, PadRight(row[c], widths[c] + 2));
    }
    absl::StrAppend(&line, row.back());
    out << absl::StripTrailingAsciiWhitespace(line) << "\n";
  }
}

absl::Status RunInbox(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(std::optional<uint32_t> limit,
                           args.Get<uint32_t>("limit", "a whole number"));
  if (limit.has_value() && *limit == 0) {
    return UsageError("--limit must be at least 1");
  }
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::InboxRequest request;
  request.set_limit(limit.value_or(0));
  request.set_include_receipts(args.Bool("receipts"));
  proto::InboxResponse response;
  TIDINGS_RETURN_IF_ERROR(
      client.Call("Inbox", &proto::Client::Stub::Inbox, request, response));

  if (args.Bool("json")) {
    std::vector<std::string> items;
    for (const proto::EnvelopeSummary& s : response.envelopes()) {
      items.push_back(SummaryJson(s).Build());
    }
    out << JsonObject().Raw("envelopes", JsonArray(items)).Build() << "\n";
    return absl::OkStatus();
  }
  if (response.envelopes().empty()) {
    out << "inbox is empty\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"TIME (UTC)", "KIND", "PRECEDENCE", "ORIGIN", "ID", "TITLE"}};
  for (const proto::EnvelopeSummary& s : response.envelopes()) {
    rows.push_back(
        {IsoTime(s.created_unix_ms()), KindName(s.kind()),
         PrecedenceName(s.precedence()), Printable(s.origin(), Lines::kEscape),
         ShortId(s.envelope_id()),
         Printable(Truncate(s.title(), kTitleColumn), Lines::kEscape)});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

absl::Status RunShow(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  TIDINGS_ASSIGN_OR_RETURN(const std::string id,
                           ResolveId(client, args.positional().front()));
  proto::ShowRequest request;
  request.set_envelope_id(id);
  proto::ShowResponse response;
  absl::Status status =
      client.Call("Show", &proto::Client::Stub::Show, request, response);
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(
        absl::StrCat("this node holds no envelope ", crypto::ToHex(id)));
  }
  TIDINGS_RETURN_IF_ERROR(status);

  const proto::EnvelopeSummary& s = response.summary();
  const proto::Body& body = response.body();
  if (args.Bool("json")) {
    JsonObject json_body;
    json_body.String("title", body.title()).String("text", body.text());
    if (body.has_position()) {
      json_body.Raw("position",
                    JsonObject()
                        .Raw("lat", JsonDouble(body.position().lat()))
                        .Raw("lon", JsonDouble(body.position().lon()))
                        .Build());
    } else {
      json_body.Raw("position", "null");
    }
    out << SummaryJson(s)
               .Raw("body", json_body.Build())
               .Int("expires_unix_ms", response.expires_unix_ms())
               .String("expires", IsoTime(response.expires_unix_ms()))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  std::vector<std::string> audience;
  for (const std::string& a : s.audience()) {
    audience.push_back(Printable(a, Lines::kEscape));
  }
  out << "envelope    " << crypto::ToHex(s.envelope_id()) << "\n"
      << "kind        " << KindName(s.kind()) << "\n"
      << "precedence  " << PrecedenceName(s.precedence()) << "\n"
      << "origin      " << Printable(s.origin(), Lines::kEscape) << "\n"
      << "audience    " << absl::StrJoin(audience, ", ") << "\n"
      << "seq         " << s.seq() << "\n"
      << "created     " << IsoTime(s.created_unix_ms()) << "\n"
      << "expires     "
      << (response.expires_unix_ms() == 0 ? "never"
                                          : IsoTime(response.expires_unix_ms()))
      << "\n";
  if (body.has_position()) {
    out << "position    "
        << absl::StrFormat("%.6f, %.6f", body.position().lat(),
                           body.position().lon())
        << "\n";
  }
  out << "title       " << Printable(body.title(), Lines::kEscape) << "\n\n"
      << Printable(body.text(), Lines::kKeep) << "\n";
  return absl::OkStatus();
}

absl::Status RunStatus(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  TIDINGS_ASSIGN_OR_RETURN(const std::string id,
                           ResolveId(client, args.positional().front()));
  proto::StatusRequest request;
  request.set_envelope_id(id);
  proto::StatusResponse response;
  absl::Status status =
      client.Call("Status", &proto::Client::Stub::Status, request, response);
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(
        absl::StrCat("this node holds no envelope ", crypto::ToHex(id)));
  }
  TIDINGS_RETURN_IF_ERROR(status);

  if (args.Bool("json")) {
    std::vector<std::string> recipients;
    for (const proto::RecipientStatus& r : response.recipients()) {
      recipients.push_back(JsonObject()
                               .String("agency", r.agency())
                               .String("status", ReceiptStatusName(r.status()))
                               .Int("at_unix_ms", r.at_unix_ms())
                               .Build());
    }
    out << SummaryJson(response.summary())
               .Raw("recipients", JsonArray(recipients))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  const proto::EnvelopeSummary& s = response.summary();
  out << KindName(s.kind()) << " " << crypto::ToHex(s.envelope_id()) << "\n"
      << "title  " << Printable(s.title(), Lines::kEscape) << "\n\n";
  if (response.recipients().empty()) {
    out << "no recipients besides the origin\n";
    return absl::OkStatus();
  }
  size_t width = absl::string_view("AGENCY").size();
  for (const proto::RecipientStatus& r : response.recipients()) {
    width =
        std::max(width, DisplayWidth(Printable(r.agency(), Lines::kEscape)));
  }
  out << PadRight("AGENCY", width + 2) << PadRight("STATUS", 14)
      << "TIME (UTC)\n";
  for (const proto::RecipientStatus& r : response.recipients()) {
    out << PadRight(Printable(r.agency(), Lines::kEscape), width + 2)
        << PadRight(ReceiptStatusName(r.status()), 14)
        << IsoTime(r.at_unix_ms()) << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunStats(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::StatsRequest request;
  proto::StatsResponse response;
  TIDINGS_RETURN_IF_ERROR(
      client.Call("Stats", &proto::Client::Stub::Stats, request, response));
  // Sorted, so that the output is stable and diffable.
  const std::map<std::string, uint64_t> counters(response.counters().begin(),
                                                 response.counters().end());
  std::vector<std::string> peers(response.connected_peers().begin(),
                                 response.connected_peers().end());
  std::sort(peers.begin(), peers.end());
  if (args.Bool("json")) {
    JsonObject json_counters;
    for (const auto& [name, value] : counters) json_counters.Int(name, value);
    out << JsonObject()
               .String("agency", response.agency())
               .Int("envelopes_stored", response.envelopes_stored())
               .Raw("connected_peers", JsonStringArray(peers))
               .Raw("counters", json_counters.Build())
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  for (std::string& peer : peers) peer = Printable(peer, Lines::kEscape);
  out << "agency            " << Printable(response.agency(), Lines::kEscape)
      << "\n"
      << "envelopes stored  " << response.envelopes_stored() << "\n"
      << "connected peers   "
      << (peers.empty() ? "none" : absl::StrJoin(peers, ", ")) << "\n";
  if (counters.empty()) return absl::OkStatus();
  size_t width = 0;
  for (const auto& [name, value] : counters) {
    width = std::max(width, DisplayWidth(Printable(name, Lines::kEscape)));
  }
  out << "counters\n";
  for (const auto& [name, value] : counters) {
    out << "  " << PadRight(Printable(name, Lines::kEscape), width + 2) << value
        << "\n";
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Field nodes: certified and revoked by the agency's own node.

// Writes `bytes` to a new file at `path` (mode 0644: public material),
// refusing to replace anything there (O_EXCL), synced before it returns.
absl::Status WriteNewPublicFile(const std::string& path,
                                absl::string_view bytes) {
  absl::Status status = base::WriteNewFile(path, "", bytes, 0644);
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " already exists; refusing to overwrite it"));
  }
  return status;
}

// One word per state for --json, and the words the table shows.
struct NodeState {
  absl::string_view token;
  absl::string_view text;
};

NodeState StateOf(const proto::NodeInfo& node) {
  if (!node.has_cert()) return {"revocation_only", "revocation only"};
  if (node.revoked()) return {"revoked", "revoked"};
  if (node.active()) return {"active", "active"};
  return {"not_valid", "not valid (agency removed or key revoked)"};
}

JsonObject NodeInfoJson(const proto::NodeInfo& node) {
  JsonObject json;
  json.String("node", node.node())
      .String("name", node.name())
      .String("state", StateOf(node).token)
      .Bool("has_cert", node.has_cert())
      .Bool("active", node.active())
      .Bool("revoked", node.revoked())
      .String("sign_pk", crypto::ToHex(node.sign_pk()))
      .String("tls_cert_sha256", crypto::ToHex(node.tls_cert_sha256()))
      .Int("issued_unix_ms", node.issued_unix_ms())
      .String("issued", IsoTime(node.issued_unix_ms()))
      .Int("revoked_unix_ms", node.revoked_unix_ms())
      .String("revoked_at", IsoTime(node.revoked_unix_ms()));
  return json;
}

void PrintNodeInfo(const proto::NodeInfo& node, std::ostream& out) {
  out << "node         " << Printable(node.node(), Lines::kEscape) << "\n";
  if (!node.name().empty()) {
    out << "name         " << Printable(node.name(), Lines::kEscape) << "\n";
  }
  out << "state        " << StateOf(node).text << "\n";
  if (node.has_cert()) {
    out << "sign key     " << crypto::ToHex(node.sign_pk()) << "\n"
        << "tls cert     sha256 " << crypto::ToHex(node.tls_cert_sha256())
        << "\n"
        << "issued       " << IsoTime(node.issued_unix_ms()) << "\n";
  }
  if (node.revoked()) {
    out << "revoked      " << IsoTime(node.revoked_unix_ms()) << "\n";
  }
}

// The certificate in `info`, checked to be of `member`'s id and keys: the
// file is handed on as this node's word for them.
absl::Status CheckCertifies(const proto::NodeInfo& info,
                            const proto::Member& member) {
  proto::SignedNodeCert signed_cert;
  proto::NodeCert cert;
  if (!info.has_cert() || !signed_cert.ParseFromString(info.signed_cert()) ||
      !cert.ParseFromString(signed_cert.cert())) {
    return absl::DataLossError(
        "the node sent no certificate that parses as a NodeCert");
  }
  if (cert.node() != member.agency() || cert.sign_pk() != member.sign_pk() ||
      cert.box_pk() != member.box_pk() ||
      cert.tls_cert_sha256() != member.tls_cert_sha256()) {
    return absl::DataLossError(
        absl::StrCat("the node sent a certificate of other keys than those of ",
                     Printable(member.agency(), Lines::kEscape)));
  }
  return absl::OkStatus();
}

absl::Status RunNodeCertify(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string pub_path, args.Required("pub"));
  TIDINGS_ASSIGN_OR_RETURN(const std::string out_path, args.Required("out"));
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  TIDINGS_ASSIGN_OR_RETURN(const proto::Member member,
                           ReadMemberFile(pub_path));
  if (absl::Status s = ValidateFieldNodeId(member.agency()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        pub_path, ": ", s.message(),
        "; a field node's .pub comes from `tidings keygen --agency "
        "AGENCY/NAME`"));
  }
  // Before the node signs anything: a node id is certified once.
  if (PathExists(out_path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        out_path, " already exists; refusing to overwrite a certificate"));
  }
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<absl::Duration> backlog,
      args.Get<absl::Duration>("backlog", "a duration such as 72h or 720h"));
  if (backlog.has_value() &&
      (*backlog < absl::ZeroDuration() || *backlog > absl::Hours(24 * 3660))) {
    return UsageError(absl::StrCat("--backlog ", *args.Find("backlog"),
                                   " must be between 0 and 10 years"));
  }
  proto::NodeCertifyRequest request;
  *request.mutable_node()->mutable_member() = member;
  if (backlog.has_value()) {
    request.set_backlog_seconds(
        static_cast<uint64_t>(absl::ToInt64Seconds(*backlog)));
  }
  proto::NodeInfo info;
  absl::Status status = client.Call(
      "CertifyNode", &proto::Client::Stub::CertifyNode, request, info);
  bool again = false;
  if (absl::IsAlreadyExists(status)) {
    // A retry after the file could not be written: if the node holds a
    // certificate of exactly these keys that still holds, it is written out
    // again.
    proto::NodeListResponse list;
    TIDINGS_RETURN_IF_ERROR(client.Call("ListNodes",
                                        &proto::Client::Stub::ListNodes,
                                        proto::NodeListRequest(), list));
    auto known = std::find_if(
        list.nodes().begin(), list.nodes().end(),
        [&](const proto::NodeInfo& n) { return n.node() == member.agency(); });
    if (known == list.nodes().end() || !known->active() ||
        !CheckCertifies(*known, member).ok()) {
      return status;
    }
    info = *known;
    again = true;
  } else {
    TIDINGS_RETURN_IF_ERROR(status);
  }
  TIDINGS_RETURN_IF_ERROR(CheckCertifies(info, member));
  if (absl::Status written = WriteNewPublicFile(out_path, info.signed_cert());
      !written.ok()) {
    return absl::Status(
        written.code(),
        absl::StrCat(written.message(), "; the node has certified ",
                     member.agency(),
                     ": run this again with a writable --out to get the file"));
  }
  if (args.Bool("json")) {
    out << NodeInfoJson(info)
               .String("cert_file", out_path)
               .Bool("certified_before", again)
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << (again ? "already certified " : "certified ") << member.agency()
      << "\n\n";
  PrintNodeInfo(info, out);
  out << "certificate  " << out_path << " (public)\n\n"
      << "Give this file to the field node's operator as its node_cert;\n"
      << "they check that the keys above are the ones keygen printed.\n";
  return absl::OkStatus();
}

absl::Status RunNodeRevoke(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string node, args.Required("node"));
  if (absl::Status s = ValidateFieldNodeId(node); !s.ok()) {
    return UsageError(absl::StrCat("--node: ", s.message()));
  }
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::NodeRevokeRequest request;
  request.set_node(node);
  proto::NodeInfo info;
  TIDINGS_RETURN_IF_ERROR(client.Call(
      "RevokeNode", &proto::Client::Stub::RevokeNode, request, info));
  if (args.Bool("json")) {
    out << NodeInfoJson(info).Build() << "\n";
    return absl::OkStatus();
  }
  out << "revoked " << node << "\n\n";
  PrintNodeInfo(info, out);
  out << "\nIts links close; what it signed past the heads of its feeds this\n"
      << "node holds is refused. The id is never certified again.\n";
  return absl::OkStatus();
}

absl::Status RunNodeList(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::NodeListResponse response;
  TIDINGS_RETURN_IF_ERROR(client.Call("ListNodes",
                                      &proto::Client::Stub::ListNodes,
                                      proto::NodeListRequest(), response));
  if (args.Bool("json")) {
    std::vector<std::string> nodes;
    for (const proto::NodeInfo& node : response.nodes()) {
      nodes.push_back(NodeInfoJson(node).Build());
    }
    out << JsonObject().Raw("nodes", JsonArray(nodes)).Build() << "\n";
    return absl::OkStatus();
  }
  if (response.nodes().empty()) {
    out << "no field nodes known\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "NAME", "STATE", "ISSUED (UTC)"}};
  for (const proto::NodeInfo& node : response.nodes()) {
    rows.push_back(
        {Printable(node.node(), Lines::kEscape),
         node.name().empty()
             ? "-"
             : Printable(Truncate(node.name(), kTitleColumn), Lines::kEscape),
         std::string(StateOf(node).text), IsoTime(node.issued_unix_ms())});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The command table.

const std::vector<Command>& Commands() {
  static const auto* const kCommands = new std::vector<Command>{
      {"keygen",
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
       &RunKeygen},
      {"roster init",
       "--name NETWORK --threshold K --out FILE A.pub B.pub ... [--json]",
       "create an unsigned genesis roster from founders' .pub files",
       "Creates the genesis roster of a new network from the founders' public\n"
       "identity files. Every founder must then sign it with `tidings roster\n"
       "sign`. K, the number of signatures later roster changes need, must be\n"
       "a majority of the founders.",
       {{"name", "NETWORK", "the network's name (required)"},
        {"threshold", "K", "signatures needed for a change, > n/2 (required)"},
        {"out", "FILE", "the roster file to create (required)"},
        kJsonFlag},
       1,
       SIZE_MAX,
       "the founders' .pub files",
       &RunRosterInit},
      {"roster sign",
       "(--roster FILE --key ID.key | --proposal HASH (--socket PATH | "
       "--config FILE)) [--json]",
       "sign a genesis roster file, or a pending proposal on the node",
       "With --roster: signs the genesis roster in FILE with the key file's\n"
       "identity, which must be a founder whose keys match the roster, and\n"
       "rewrites FILE atomically.\n"
       "With --proposal: the node signs the pending roster proposal HASH with\n"
       "its own key and gossips it; it applies once it has enough signatures.\n"
       "A node signs at most one proposal per roster version.",
       {{"roster", "FILE", "the genesis roster file"},
        {"key", "FILE", "this agency's secret key file (with --roster)"},
        {"passphrase-file", "FILE", "the key file's passphrase, if sealed"},
        {"proposal", "HASH", "a pending proposal's hash (64 hex digits)"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunRosterSign},
      {"roster propose",
       "<admit|remove|rotate|revoke|threshold|endpoints> [--pub NEW.pub] "
       "[--agency ID] [--threshold K] [--endpoint HOST:PORT] [--tls-cert "
       "FILE] (--socket PATH | --config FILE) [--json]",
       "propose a membership change; this node signs it and gossips it",
       "Proposes the successor of the node's current roster and signs it with\n"
       "the node's key. It takes effect once K members of the current roster\n"
       "have signed (`tidings roster sign --proposal HASH` on their nodes); "
       "the\n"
       "proposal travels between nodes by gossip. Changes:\n"
       "  admit --pub NEW.pub           admit the agency of NEW.pub\n"
       "  remove --agency ID            remove ID; its feeds end where this\n"
       "                                node holds them\n"
       "  rotate --agency ID --pub P    give ID the new keys of P\n"
       "  revoke --agency ID --pub P    as rotate, for a compromised key:\n"
       "                                what the old key signed past this\n"
       "                                node's view of its feeds is refused\n"
       "  threshold --threshold K       change K (a majority)\n"
       "  endpoints [--endpoint E] [--tls-cert FILE]\n"
       "                                this agency's own endpoints or TLS\n"
       "                                certificate: needs only its signature",
       {{"pub", "FILE", "the new member's or new keys' .pub file"},
        {"agency", "ID", "the agency removed, rotated or revoked"},
        {"threshold", "K", "the new threshold"},
        {"endpoint", "HOST:PORT", "new endpoints; repeatable", true},
        {"tls-cert", "FILE", "this node's new TLS certificate (PEM)"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       1,
       1,
       "a change: admit, remove, rotate, revoke, threshold or endpoints",
       &RunRosterPropose},
      {"roster verify",
       "--roster FILE [--json]",
       "check a roster completely; exit 1 unless it is valid",
       "Runs every check a node runs on the roster. Prints the network id and\n"
       "the members; or the failing check and the founders whose valid\n"
       "signature is still missing, with exit status 1.",
       {{"roster", "FILE", "the roster file (required)"}, kJsonFlag},
       0,
       0,
       "",
       &RunRosterVerify},
      {"roster show",
       "(--roster FILE | (--socket PATH | --config FILE) [--history]) "
       "[--json]",
       "print a roster file, or the node's roster chain",
       "With --roster: prints the roster's members, keys, endpoints,\n"
       "threshold, which founders have signed and whether it verifies. Exit 0\n"
       "whenever the file can be read.\n"
       "With --socket or --config: prints the node's current roster, its\n"
       "revocations, pending proposals and any equivocation (two conflicting\n"
       "updates with a quorum each); --history lists every version from the\n"
       "genesis, with who signed it.",
       {{"roster", "FILE", "a roster file"},
        {"history", "", "every version, not only the current one"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunRosterShow},
      {"key seal",
       "--key FILE --passphrase-file FILE [--passphrase-cost COST] [--json]",
       "seal a plain secret key file with a passphrase",
       "Replaces the key file with one sealed with the passphrase in the\n"
       "passphrase file (Argon2id + XChaCha20-Poly1305). The node then needs\n"
       "the passphrase at start: key_passphrase_file in its config, or\n"
       "TIDINGS_KEY_PASSPHRASE in its environment. Atomic: a crash leaves the\n"
       "old file or the new one.",
       {{"key", "FILE", "the secret key file (required)"},
        {"passphrase-file", "FILE",
         "the passphrase (mode 0600; one trailing newline ignored; required)"},
        kPassphraseCostFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunKeySeal},
      {"key unseal",
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
       &RunKeyUnseal},
      {"send",
       "--kind alert|notice --precedence flash|immediate|priority|routine "
       "--audience ID,... --text TEXT [--title TITLE] [--lat X --lon Y] "
       "[--expires-in DURATION] (--socket PATH | --config FILE) [--json]",
       "sign, encrypt and send a notice or an alert",
       "Sends a notice or an alert from this node to the agencies in the\n"
       "audience (this agency is added by the node). Everything is checked\n"
       "before the node is contacted.",
       {{"kind", "KIND", "alert or notice (required)"},
        {"precedence", "PRECEDENCE",
         "flash, immediate, priority or routine (required)"},
        {"audience", "ID,...",
         "agencies allowed to read it; repeatable or comma-separated "
         "(required)",
         true},
        {"title", "TITLE", "a short title, at most 64 KiB"},
        {"text", "TEXT", "the text, at most 64 KiB (required)"},
        {"lat", "X", "latitude in degrees, -90..90 (with --lon)"},
        {"lon", "Y", "longitude in degrees, -180..180 (with --lat)"},
        {"expires-in", "DURATION", "e.g. 90m, 24h; default: never expires"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunSend},
      {"inbox",
       "[--limit N] [--receipts] (--socket PATH | --config FILE) [--json]",
       "list envelopes held by this node, newest first",
       "Lists the notices and alerts this node holds, newest first: time,\n"
       "kind, precedence, origin, the first 16 hex digits of the id, title.",
       {{"limit", "N", "at most N envelopes (node default: 100)"},
        {"receipts", "", "include receipts"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunInbox},
      {"show",
       "ID (--socket PATH | --config FILE) [--json]",
       "print one envelope, decrypted",
       "Prints an envelope's header and decrypted body. ID is the hex id or a\n"
       "unique prefix of at least 8 hex digits of an envelope in the inbox.",
       {kSocketFlag, kConfigFlag, kJsonFlag},
       1,
       1,
       "an envelope ID",
       &RunShow},
      {"status",
       "ID (--socket PATH | --config FILE) [--json]",
       "who has received, read and acknowledged an envelope",
       "Prints, for each recipient of an envelope, the last receipt heard:\n"
       "pending, delivered, read or acknowledged. ID as for `tidings show`.",
       {kSocketFlag, kConfigFlag, kJsonFlag},
       1,
       1,
       "an envelope ID",
       &RunStatus},
      {"stats",
       "(--socket PATH | --config FILE) [--json]",
       "the node's counters and connected peers",
       "Prints the node's agency, stored envelope count, connected peers and\n"
       "counters (rejections by reason, and so on).",
       {kSocketFlag, kConfigFlag, kJsonFlag},
       0,
       0,
       "",
       &RunStats},
      {"node certify",
       "--pub FIELD.pub --out FILE [--backlog DURATION] (--socket PATH | "
       "--config FILE) [--json]",
       "certify a field node of this agency; write its certificate",
       "The node signs, with this agency's identity key, a certificate of the\n"
       "field node whose public identity is in FIELD.pub (made by `tidings\n"
       "keygen --agency AGENCY/NAME`), gossips it, and the certificate is\n"
       "written to FILE (mode 0644; it is public). Give FILE to the field\n"
       "node's operator: its config names it as node_cert. Compare the keys\n"
       "printed with those keygen printed on the field node. A node id is\n"
       "certified once: if FILE could not be written, run the command again\n"
       "and the node's certificate of the same keys is written. Never\n"
       "overwrites FILE. With --backlog, this node gives the field node the\n"
       "content keys of envelopes created that far back that were not\n"
       "wrapped for it (sealed before its certificate reached their origin);\n"
       "without, only of those created from now on. Only this node does,\n"
       "and only for field nodes it certified itself.",
       {{"pub", "FILE", "the field node's .pub file (required)"},
        {"out", "FILE",
         "the certificate file to create, e.g. MY.NCB+SHIP1.cert (required)"},
        {"backlog", "DURATION",
         "e.g. 72h, 720h: how far back it may read; default: none"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunNodeCertify},
      {"node revoke",
       "--node AGENCY/NAME (--socket PATH | --config FILE) [--json]",
       "revoke a field node of this agency",
       "The node signs and gossips the revocation of a field node it\n"
       "certified: links to it close, nothing is encrypted to it any more,\n"
       "and what it signed past the heads of its feeds this node holds is\n"
       "refused. Final: the id is never certified again.",
       {{"node", "AGENCY/NAME", "the field node, e.g. MY.NCB/SHIP1 (required)"},
        kSocketFlag,
        kConfigFlag,
        kJsonFlag},
       0,
       0,
       "",
       &RunNodeRevoke},
      {"node list",
       "(--socket PATH | --config FILE) [--json]",
       "the field nodes this node knows of, any agency's",
       "Lists every field node certificate and revocation this node holds:\n"
       "id, name, state and when it was certified. States: active; revoked;\n"
       "not valid (its agency was removed or the agency key that certified\n"
       "it revoked); revocation only (no certificate seen).",
       {kSocketFlag, kConfigFlag, kJsonFlag},
       0,
       0,
       "",
       &RunNodeList},
  };
  return *kCommands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

void PrintGeneralHelp(std::ostream& out) {
  out << "usage: tidings <command> [flags]\n\n"
         "The officer's and operator's tool for a Tidings node.\n\n"
         "commands:\n";
  size_t width = 0;
  for (const Command& command : Commands()) {
    width = std::max(width, command.name.size());
  }
  for (const Command& command : Commands()) {
    out << "  " << PadRight(command.name, width + 2) << command.summary << "\n";
  }
  out << "\n`tidings <command> --help` explains a command.\n";
}

// Commands of two words: the first word and its subcommands.
struct CommandGroup {
  absl::string_view name;
  absl::string_view subcommands;  // "init, sign, verify or show"
  absl::string_view synopsis;     // "<init|sign|verify|show>"
};
constexpr CommandGroup kGroups[] = {
    {"roster", "init, sign, propose, verify or show",
     "<init|sign|propose|verify|show>"},
    {"key", "seal or unseal", "<seal|unseal>"},
    {"node", "certify, revoke or list", "<certify|revoke|list>"},
};

const CommandGroup* FindGroup(absl::string_view name) {
  for (const CommandGroup& group : kGroups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

absl::Status GroupNeedsSubcommand(const CommandGroup& group) {
  return UsageError(absl::StrCat("'", group.name,
                                 "' needs a subcommand: ", group.subcommands));
}

void PrintGroupHelp(const CommandGroup& group, std::ostream& out) {
  out << "usage: tidings " << group.name << " " << group.synopsis
      << " [flags]\n\n";
  for (const Command& command : Commands()) {
    if (absl::StartsWith(command.name, absl::StrCat(group.name, " "))) {
      out << "  " << PadRight(command.name, 15) << command.summary << "\n";
    }
  }
  out << "\n`tidings " << group.name << " <subcommand> --help` explains one.\n";
}

// Which command argv names, consuming its one or two words.
absl::StatusOr<const Command*> SelectCommand(std::vector<std::string>& words) {
  std::string name = words.front();
  words.erase(words.begin());
  if (const CommandGroup* group = FindGroup(name); group != nullptr) {
    if (words.empty() || absl::StartsWith(words.front(), "-")) {
      return GroupNeedsSubcommand(*group);
    }
    name = absl::StrCat(name, " ", words.front());
    words.erase(words.begin());
  }
  const Command* command = FindCommand(name);
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command '", absl::CHexEscape(name),
                                   "'; `tidings --help` lists them"));
  }
  return command;
}

int Fail(const absl::Status& status, std::ostream& err,
         absl::string_view help_hint) {
  // One line, always: scripts and log collectors read errors line by line.
  std::string message = absl::StrReplaceAll(
      status.message(), {{"\r\n", "; "}, {"\n", "; "}, {"\r", "; "}});
  if (IsUsageError(status) && !help_hint.empty()) {
    absl::StrAppend(&message, " (see `", help_hint, "`)");
  }
  err << "tidings: " << Printable(message, Lines::kEscape) << std::endl;
  return IsUsageError(status) ? kCliUsage : kCliFailure;
}

bool HelpRequested(const std::vector<std::string>& words) {
  for (const std::string& word : words) {
    if (word == "--") return false;
    if (IsHelpArg(word)) return true;
  }
  return false;
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);

  if (words.empty()) {
    return Fail(UsageError("no command given"), err, "tidings --help");
  }
  if (IsHelpArg(words.front()) || words.front() == "help") {
    // `tidings help roster sign` as well as `tidings --help`.
    if (words.size() > 1) {
      std::vector<std::string> rest(words.begin() + 1, words.end());
      if (const CommandGroup* group = FindGroup(rest.front());
          group != nullptr && rest.size() == 1) {
        PrintGroupHelp(*group, out);
        return kCliOk;
      }
      absl::StatusOr<const Command*> command = SelectCommand(rest);
      if (!command.ok()) return Fail(command.status(), err, "tidings --help");
      PrintCommandHelp(**command, out);
      return kCliOk;
    }
    PrintGeneralHelp(out);
    return kCliOk;
  }
  if (const CommandGroup* group = FindGroup(words.front());
      group != nullptr && (words.size() == 1 || IsHelpArg(words[1]))) {
    if (words.size() > 1) {
      PrintGroupHelp(*group, out);
      return kCliOk;
    }
    return Fail(GroupNeedsSubcommand(*group), err,
                absl::StrCat("tidings ", group->name, " --help"));
  }

  absl::StatusOr<const Command*> selected = SelectCommand(words);
  if (!selected.ok()) return Fail(selected.status(), err, "tidings --help");
  const Command& command = **selected;
  const std::string hint = absl::StrCat("tidings ", command.name, " --help");
  if (HelpRequested(words)) {
    PrintCommandHelp(command, out);
    return kCliOk;
  }
  absl::StatusOr<Args> args = ParseArgs(command, words);
  if (!args.ok()) return Fail(args.status(), err, hint);
  const absl::Status status = command.handler(*args, out);
  if (!status.ok()) return Fail(status, err, hint);
  return kCliOk;
}

}  // namespace tidings::node

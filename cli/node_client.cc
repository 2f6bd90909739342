#include "cli/node_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "crypto/types.h"
#include "node/config/config.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"
#include "proto/grpc_status.h"

namespace tidings::node::cli_internal {
namespace {

// Inbox entries searched when an id is given as a prefix.
constexpr uint32_t kPrefixSearchLimit = 1000;
constexpr size_t kMinIdPrefix = 8;
constexpr int kMaxResponseBytes = 256 << 20;

// The socket path named by --socket or by --config's client_socket.
absl::StatusOr<std::string> SocketPath(const Args& args) {
  const std::string* socket = args.Find("socket");
  const std::string* config_path = args.Find("config");
  if (socket != nullptr && config_path != nullptr) {
    return UsageError("give --socket or --config, not both");
  }
  if (socket != nullptr) {
    if (socket->empty()) return UsageError("--socket is empty");
    return *socket;
  }
  if (config_path != nullptr) {
    TIDINGS_ASSIGN_OR_RETURN(const Config config, LoadConfig(*config_path));
    return config.client_socket;
  }
  return UsageError("need --socket PATH or --config FILE to find the node");
}

// `arg` as a full id, or as a prefix to search for (lower-case hex).
absl::StatusOr<std::string> CheckIdArg(absl::string_view arg) {
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
  if (hex.size() < full && hex.size() < kMinIdPrefix) {
    return UsageError(absl::StrCat("id prefix '", hex,
                                   "' is too short; give at least ",
                                   kMinIdPrefix, " hex digits"));
  }
  return hex;
}

}  // namespace

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

absl::StatusOr<NodeClient> NodeClient::Connect(const Args& args) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, SocketPath(args));
  const std::string target = absl::StrCat("unix:", path);
  grpc::ChannelArguments channel_args;
  // Our own node on a local socket: an inbox of long titles may exceed
  // gRPC's 4 MiB default, and failing to list it would help nobody.
  channel_args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  return NodeClient(
      target, proto::Client::NewStub(grpc::CreateCustomChannel(
                  target, grpc::InsecureChannelCredentials(), channel_args)));
}

absl::StatusOr<std::string> ResolveId(NodeClient& client,
                                      absl::string_view arg) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string hex, CheckIdArg(arg));
  if (hex.size() == 2 * crypto::Hash256::kSize) {
    std::optional<std::string> raw = crypto::FromHex(hex);
    if (!raw.has_value()) {
      return UsageError(absl::StrCat("'", hex, "' is not a hex envelope id"));
    }
    return *std::move(raw);
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

}  // namespace tidings::node::cli_internal

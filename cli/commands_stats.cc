// stats: the node's counters and connected peers.
#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/node_client.h"
#include "cli/text.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"

namespace tidings::node::cli_internal {
namespace {

using base::JsonObject;
using base::JsonStringArray;

void PrintStats(const proto::StatsResponse& response,
                const std::map<std::string, uint64_t>& counters,
                std::vector<std::string> peers, std::ostream& out) {
  for (std::string& peer : peers) peer = Printable(peer, Lines::kEscape);
  out << "agency            " << Printable(response.agency(), Lines::kEscape)
      << "\n"
      << "envelopes stored  " << response.envelopes_stored() << "\n"
      << "connected peers   "
      << (peers.empty() ? "none" : absl::StrJoin(peers, ", ")) << "\n";
  if (counters.empty()) return;
  size_t width = 0;
  for (const auto& [name, value] : counters) {
    width = std::max(width, DisplayWidth(Printable(name, Lines::kEscape)));
  }
  out << "counters\n";
  for (const auto& [name, value] : counters) {
    out << "  " << PadRight(Printable(name, Lines::kEscape), width + 2) << value
        << "\n";
  }
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
  PrintStats(response, counters, std::move(peers), out);
  return absl::OkStatus();
}

}  // namespace

Command StatsCommand() {
  return {
      "stats",
      "(--socket PATH | --config FILE) [--json]",
      "the node's counters and connected peers",
      "Prints the node's agency, stored envelope count, connected peers and\n"
      "counters (rejections by reason, and so on).",
      {kSocketFlag, kConfigFlag, kJsonFlag},
      0,
      0,
      "",
      &RunStats};
}

}  // namespace tidings::node::cli_internal

// The CLI's connection to its own node: the client service (proto/client.proto)
// over the node's unix socket, found with --socket or --config. Every RPC
// has a deadline, and its status is converted at the one gRPC boundary
// (proto/grpc_status.h) with what an officer needs to act on it.
//
// Private to cli/. Thread-safety: a NodeClient is used by one thread.
#ifndef TIDINGS_CLI_NODE_CLIENT_H_
#define TIDINGS_CLI_NODE_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/args.h"
#include "proto/client.grpc.pb.h"

namespace tidings::node::cli_internal {

inline constexpr auto kRpcDeadline = std::chrono::seconds(10);

// The status of one client RPC `rpc` to `target`, converted at the one
// boundary, with the officer's context: "cannot reach node at ...", "node at
// ... did not answer ... within 10s", "<rpc> failed: ...".
absl::Status FromClientRpc(const grpc::Status& status, absl::string_view rpc,
                           absl::string_view target);

class NodeClient {
 public:
  // The node named by --socket or --config (a usage error for neither or
  // both). Connects lazily: an unreachable node fails the first Call.
  static absl::StatusOr<NodeClient> Connect(const Args& args);

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

// The raw 32-byte envelope id named by `arg`: 64 hex digits, or a prefix of
// at least 8 digits matching exactly one envelope among the latest 1000 in
// the inbox.
absl::StatusOr<std::string> ResolveId(NodeClient& client,
                                      absl::string_view arg);

}  // namespace tidings::node::cli_internal

#endif  // TIDINGS_CLI_NODE_CLIENT_H_

// The one boundary between absl::Status and grpc::Status. Abseil's codes map
// one to one onto gRPC's, so the meaning survives the crossing.
#ifndef TIDINGS_NODE_INTERNAL_GRPC_STATUS_H_
#define TIDINGS_NODE_INTERNAL_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tidings::node::grpc_internal {

inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

inline absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace tidings::node::grpc_internal

#endif  // TIDINGS_NODE_INTERNAL_GRPC_STATUS_H_

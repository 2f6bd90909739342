// Part of tidings_proto_grpc. The one boundary between absl::Status and
// grpc::Status. Abseil's codes map one to one onto gRPC's, so the meaning
// survives the crossing.
#ifndef TIDINGS_PROTO_GRPC_STATUS_H_
#define TIDINGS_PROTO_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tidings::grpc_status {

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

}  // namespace tidings::grpc_status

#endif  // TIDINGS_PROTO_GRPC_STATUS_H_

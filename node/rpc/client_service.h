// The client service: what an officer's CLI calls on its own node, over a
// local socket (see proto/client.proto).
//
// Thread-safety: the service is called from gRPC's threads; everything it
// borrows is thread-safe.
#ifndef TIDINGS_NODE_RPC_CLIENT_SERVICE_H_
#define TIDINGS_NODE_RPC_CLIENT_SERVICE_H_

#include <memory>

#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/gossip/engine.h"
#include "node/model/membership.h"
#include "node/model/roster.h"
#include "storage/log.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace tidings::node {

struct ClientServiceDeps {
  // All borrowed; must outlive the service.
  Engine* engine = nullptr;
  storage::Log* log = nullptr;
  Membership* membership = nullptr;
  const crypto::Identity* identity = nullptr;
  crypto::Keyring* keyring = nullptr;
  const EpochKeys* epochs = nullptr;                  // optional
  const crypto::SymmetricKey* storage_key = nullptr;  // optional
  Counters* counters = nullptr;
};

std::unique_ptr<grpc::Service> MakeClientService(const ClientServiceDeps& deps);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_RPC_CLIENT_SERVICE_H_

// The daemon: wires keys, roster, log, engine, transport and the two gRPC
// servers together for one node. `tidingsd_main.cc` only parses flags and
// waits for a signal; everything a test may want to reach is here.
//
// Thread-safety: Start and Shutdown from one thread.
#ifndef TIDINGS_NODE_DAEMON_DAEMON_H_
#define TIDINGS_NODE_DAEMON_DAEMON_H_

#include <memory>

#include "absl/status/statusor.h"
#include "node/config/config.h"

namespace tidings::node {

class Daemon {
 public:
  // Loads the key file (refusing one readable by others), the roster
  // (verifying every founder's signature), checks that this node's keys are
  // the roster's entry for its agency, opens the log, and starts serving the
  // peer service on `config.listen` and the client service on
  // `config.client_socket` (mode 0600). Each failure names its cause.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const Config& config);

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  // Shuts down if still running.
  ~Daemon();

  // Closes links, stops the servers, commits what is queued. Idempotent.
  void Shutdown();

 private:
  struct Parts;
  explicit Daemon(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace tidings::node

#endif  // TIDINGS_NODE_DAEMON_DAEMON_H_

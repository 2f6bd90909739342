// The daemon's configuration file.
//
// One `key = value` per line, '#' starts a comment. Keys:
//   agency          = MY.NCB                  (required; a field node's is
//                     AGENCY/NAME, e.g. MY.NCB/SHIP1)
//   node_cert       = keys/MY.NCB+SHIP1.cert  (a field node's, required
//                     there: its certificate from `tidings node certify`)
//   key_file        = keys/MY.NCB.key         (required; secret key file)
//   key_passphrase_file = secret/passphrase   (optional; if key_file is
//                     sealed; mode 0600 or 0400; one trailing newline is
//                     not part of the passphrase. Without it, the
//                     passphrase comes from $TIDINGS_KEY_PASSPHRASE.)
//   tls_key_file    = keys/MY.NCB.tls.key     (optional; default
//                     <key_file's dir>/<principal>.tls.key, '/' in a field
//                     node's id written '+'; mode 0600)
//   tls_cert_file   = keys/MY.NCB.tls.crt     (optional; default
//                     <key_file's dir>/<principal>.tls.crt)
//   roster          = roster.bin              (required; signed roster file)
//   data_dir        = data/MY.NCB             (required; RocksDB lives here)
//   listen          = 127.0.0.1:7101          (required; peer service)
//   client_socket   = run/MY.NCB.sock         (required; client service)
//   peer            = ID.NCB 127.0.0.1:7102   (repeatable; peers to dial,
//                     members or field nodes)
//   anti_entropy_ms = 2000                    (optional; default 2000)
//   receipt_interval_ms = 1000                (optional; default 1000: a
//                     changed holdings record is re-signed at most this
//                     often)
//   log_level       = info                    (optional; trace..critical)
//   epoch_seconds   = 86400                   (optional; default one day:
//                     a fresh epoch encryption key this often)
//   epoch_grace_seconds = 172800              (optional; default two days:
//                     epoch secrets are erased this long after their epoch)
// Relative paths are relative to the config file's directory.
//
// Thread-safety: plain values.
#ifndef TIDINGS_NODE_CONFIG_CONFIG_H_
#define TIDINGS_NODE_CONFIG_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tidings::node {

struct PeerAddress {
  std::string principal;  // a member agency or a field node id
  std::string address;    // host:port
};

// `principal` is this node's id: a member agency (MY.NCB) or a field node
// (MY.NCB/SHIP1). The file still spells its key `agency` (and a peer line
// `peer = AGENCY host:port`): the file format is what every operator has
// written, so only the names in code say `principal`.
struct Config {
  std::string principal;  // key `agency`
  std::string key_file;
  std::string node_cert_file;  // a field node's; empty for a member's node
  // Empty: none configured (node/keys.h then tries the environment).
  std::string key_passphrase_file;
  // Always set after ParseConfig (defaults next to key_file).
  std::string tls_key_file;
  std::string tls_cert_file;
  std::string roster_file;
  std::string data_dir;
  std::string listen;
  std::string client_socket;
  std::vector<PeerAddress> peers;
  absl::Duration anti_entropy_interval = absl::Milliseconds(2000);
  absl::Duration receipt_interval = absl::Milliseconds(1000);
  std::string log_level = "info";
  absl::Duration epoch = absl::Hours(24);
  absl::Duration epoch_grace = absl::Hours(48);
};

// Parses config text. `base_dir` resolves relative paths. kInvalidArgument
// with "line N: ..." for unknown keys, missing values, bad numbers, malformed
// agency ids or addresses, and missing required keys.
absl::StatusOr<Config> ParseConfig(absl::string_view text,
                                   absl::string_view base_dir);

// Reads and parses a config file.
absl::StatusOr<Config> LoadConfig(const std::string& path);

// Renders a config that ParseConfig reads back identically (absolute paths).
std::string FormatConfig(const Config& config);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_CONFIG_CONFIG_H_

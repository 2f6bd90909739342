// The files the CLI reads and writes besides what crypto/ and node/model
// write for it: .pub files, certificates, and key files with their
// passphrases. Durable writes go through base/durable_file.h.
//
// Private to cli/. Thread-safety: free functions; safe from any thread.
#ifndef TIDINGS_CLI_FILES_H_
#define TIDINGS_CLI_FILES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/args.h"
#include "crypto/identity.h"
#include "crypto/types.h"
#include "proto/roster.pb.h"

namespace tidings::node::cli_internal {

// True if anything is at `path`, even a dangling symlink.
bool PathExists(const std::string& path);

// Writes `bytes` to a new file at `path` (mode 0644: public material),
// refusing to replace anything there (kAlreadyExists "<path> already
// exists; refusing to overwrite it"), synced before it returns.
absl::Status WriteNewPublicFile(const std::string& path,
                                absl::string_view bytes);

// The member in a .pub file (proto::PublicIdentity). kInvalidArgument if it
// holds none.
absl::StatusOr<proto::Member> ReadMemberFile(const std::string& path);

// The SHA-256 fingerprint of the PEM certificate in `path`.
absl::StatusOr<crypto::Sha256> ReadCertificateFingerprint(
    const std::string& path);

// Removes the files it was given unless dismissed: a half-made set of key
// files is worse than none (and would block the retry).
class RemoveOnFailure {
 public:
  RemoveOnFailure() = default;
  RemoveOnFailure(const RemoveOnFailure&) = delete;
  RemoveOnFailure& operator=(const RemoveOnFailure&) = delete;
  ~RemoveOnFailure();
  void Add(std::string path) { paths_.push_back(std::move(path)); }
  void Dismiss() { paths_.clear(); }

 private:
  std::vector<std::string> paths_;
};

// Passphrases come from a file only, never from argv (which every user of
// the machine can read through ps).
//
// --passphrase-cost; moderate without the flag.
absl::StatusOr<crypto::PassphraseCost> CostFlag(const Args& args);
// "Argon2id, 256 MiB, 3 passes".
std::string CostDescription(crypto::PassphraseCost cost);
// The passphrase in --passphrase-file, or nullopt without the flag.
absl::StatusOr<std::optional<crypto::Passphrase>> PassphraseFlag(
    const Args& args);
// Loads a key file, sealed or not, with --passphrase-file if given.
absl::StatusOr<crypto::Identity> LoadKeyFlag(const Args& args,
                                             const std::string& key_path);

}  // namespace tidings::node::cli_internal

#endif  // TIDINGS_CLI_FILES_H_

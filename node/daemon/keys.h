// The node's secrets, loaded as the daemon needs them: its identity key file
// (sealed with a passphrase or not) and its TLS key and certificate, checked
// against its config and the roster.
//
// A passphrase never comes from the command line (argv is visible to every
// user through ps and /proc): it comes from the file named by
// `key_passphrase_file` (e.g. one readable only by the node's user), or from
// the environment variable TIDINGS_KEY_PASSPHRASE (e.g. set by systemd from
// an EnvironmentFile= readable only by root).
//
// Thread-safety: ReadKeyPassphrase and LoadNodeIdentity change the process
// environment; call them at start, before other threads run.
// LoadNodeTlsCredentials is safe from any thread.
#ifndef TIDINGS_NODE_DAEMON_KEYS_H_
#define TIDINGS_NODE_DAEMON_KEYS_H_

#include <optional>

#include "absl/status/statusor.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "node/config/config.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"

namespace tidings::node {

// Read when the config names no key_passphrase_file.
inline constexpr char kKeyPassphraseEnv[] = "TIDINGS_KEY_PASSPHRASE";

// The passphrase of the node's key file:
//  - the contents of `config.key_passphrase_file` if set (mode 0600 or 0400,
//    one trailing newline stripped; errors as crypto::ReadPassphraseFile);
//  - else the value of $TIDINGS_KEY_PASSPHRASE if set (kInvalidArgument if
//    it is set but empty);
//  - else nullopt.
// In every case TIDINGS_KEY_PASSPHRASE is then wiped in place and removed
// from the environment, so that no child process inherits it and
// /proc/<pid>/environ no longer shows it.
absl::StatusOr<std::optional<crypto::Passphrase>> ReadKeyPassphrase(
    const Config& config);

// Loads `config.key_file` with ReadKeyPassphrase's passphrase and checks that
// it is `config.principal`'s key. Errors: those of ReadKeyPassphrase and of
// crypto::Identity::LoadFile, where a sealed file without a passphrase reads
// "key file <path> is sealed; give its passphrase (key_passphrase_file or
// TIDINGS_KEY_PASSPHRASE)" (kFailedPrecondition) and a wrong one "wrong
// passphrase for key file <path>" (kPermissionDenied); kFailedPrecondition
// "key file <path> is for <A>, not <B>" if the principal differs.
absl::StatusOr<crypto::Identity> LoadNodeIdentity(const Config& config);

// Loads `config.tls_key_file` and `config.tls_cert_file` (errors as
// crypto::LoadTlsCredentials) and checks that the certificate is the one the
// roster pins for `config.principal`: kFailedPrecondition "TLS certificate
// <path> has fingerprint <hex>, but the roster pins <hex> for <principal>". An
// agency not (yet) in the roster is not checked here: peers check its
// certificate against the update that admits it.
// For a field node, `cert` is its certificate, and the TLS certificate must
// be the one it pins. For a member with a contact that holds
// (RosterChain::ContactOf), `contact` is it, and it pins instead.
absl::StatusOr<crypto::TlsCredentials> LoadNodeTlsCredentials(
    const Config& config, const Roster& roster,
    const proto::NodeCert* cert = nullptr,
    const proto::MemberContact* contact = nullptr);

// A field node's certificate (`config.node_cert_file`, a serialized
// proto::SignedNodeCert), checked to be `identity`'s: the same node id and
// keys. kInvalidArgument if it does not parse; kFailedPrecondition naming
// the mismatch otherwise. Whether its agency's signature holds is the
// membership's to check (node/membership.h, OfferNodeCert).
absl::StatusOr<proto::SignedNodeCert> LoadNodeCert(
    const Config& config, const crypto::Identity& identity);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_DAEMON_KEYS_H_

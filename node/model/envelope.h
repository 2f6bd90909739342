// Composing and verifying envelopes: the policy between crypto/ and storage/.
//
// `Compose` builds, seals and signs one envelope at a given feed position.
// `Verify` runs every check a received envelope must pass before it may touch
// storage, in a fixed order, and says exactly which one failed.
//
// Thread-safety: free functions; the Keyring is internally synchronised.
#ifndef TIDINGS_NODE_MODEL_ENVELOPE_H_
#define TIDINGS_NODE_MODEL_ENVELOPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/model/epochs.h"
#include "node/model/membership.h"
#include "node/model/reject.h"
#include "node/model/roster.h"
#include "proto/envelope.pb.h"

namespace tidings::node {

// Bounds on what a peer may send us.
inline constexpr size_t kMaxEnvelopeBytes = 256 * 1024;
// Title and text may be 64 KiB each; the rest of a Body is a few bytes.
inline constexpr size_t kMaxBodyBytes = 132 * 1024;
// Agencies in one audience (an INTERPOL-wide diffusion has 196). An
// envelope to 256 with a 64 KiB text fits kMaxEnvelopeBytes (envelope_test);
// a full body and kMaxFieldNodeWraps field-node wraps (~131 B each) come to
// about 203 KB by arithmetic, within it too.
inline constexpr size_t kMaxAudience = 256;
// Wrapped keys for field nodes of the audience's agencies, at most.
inline constexpr size_t kMaxFieldNodeWraps = 256;

// Names of kinds and precedences as officers type and see them ("alert",
// "flash"). The *FromName functions accept only kinds and precedences an
// officer may choose (not "receipt"); the *Name functions name any value.
std::optional<proto::Kind> KindFromName(absl::string_view name);
std::string KindName(proto::Kind kind);
std::optional<proto::Precedence> PrecedenceFromName(absl::string_view name);
std::string PrecedenceName(proto::Precedence precedence);

// The feed id: BLAKE2b-256 over the network id, origin and sorted audience.
std::string FeedIdOf(absl::string_view network_id, absl::string_view origin,
                     const std::vector<std::string>& audience);

// Associated data binding a body to its place: network id, origin, feed
// position. Computed from fields, never from re-serialized bytes.
std::string BodyAadOf(absl::string_view network_id, absl::string_view origin,
                      uint64_t seq);

// Sorts, de-duplicates and adds the origin's agency. kInvalidArgument if a
// member is not in the roster, an id is malformed, or the audience is too
// large.
absl::StatusOr<std::vector<std::string>> NormalizeAudience(
    const Roster& roster, absl::string_view origin,
    std::vector<std::string> audience);

struct ComposeInput {
  proto::Kind kind = proto::KIND_NOTICE;
  proto::Precedence precedence = proto::PRECEDENCE_ROUTINE;
  std::vector<std::string> audience;  // normalized
  std::string plaintext;              // serialized Body or ReceiptBody
  int64_t created_unix_ms = 0;
  int64_t expires_unix_ms = 0;
  uint64_t seq = 1;
  std::string prev_id;  // empty iff seq == 1
};

struct Composed {
  proto::Envelope envelope;
  std::string serialized;  // serialized proto::Envelope
  std::string id;          // BLAKE2b-256 of envelope.header()
  std::string feed_id;
  crypto::SymmetricKey content_key;  // to keep under the storage key
};

// The keys a node seals with: its long-term box key, and (when set) its own
// current epoch key as the sender key, wrapping to each recipient's newest
// valid epoch key in `directory` (its own for itself) and to the roster box
// key of recipients with none (WrappedKey.epoch 0). With `nodes`, the
// content key is also wrapped to every active field node of each audience
// agency (to its epoch key, or its certificate's box key); a field node
// sender needs its own certificate there.
struct SealKeys {
  crypto::Keyring& keyring;
  const EpochKeys* epochs = nullptr;
  const EpochDirectory* directory = nullptr;
  absl::Time now;
  const FieldNodes* nodes = nullptr;
};

// The keys a node opens with: its long-term box key (epoch 0) and its epoch
// keys (null: epoch 0 only).
struct OpenKeys {
  crypto::Keyring& keyring;
  const EpochKeys* epochs = nullptr;
};

// Seals and signs under `roster` (its version goes in the header).
// kInvalidArgument for an unusable audience key; kFailedPrecondition if
// `identity`'s key is not its agency's key in `roster` (rotated or removed).
absl::StatusOr<Composed> Compose(const crypto::Identity& identity,
                                 const SealKeys& keys, const Roster& roster,
                                 const ComposeInput& input);
// With the long-term box keys only (no epochs).
absl::StatusOr<Composed> Compose(const crypto::Identity& identity,
                                 crypto::Keyring& keyring, const Roster& roster,
                                 const ComposeInput& input);

// The content key of an envelope sealed under a node's storage key, bound to
// the envelope id (what storage::EnvelopeRecord::local_key holds).
std::string LocalKeyOf(const crypto::SymmetricKey& storage_key,
                       absl::string_view envelope_id,
                       const crypto::SymmetricKey& content_key);
// The inverse of LocalKeyOf: the content key sealed in `local_key`.
// kDataLoss if it opens but is not a key; the crypto error if it does not
// open (another storage key, another envelope id, tampered).
absl::StatusOr<crypto::SymmetricKey> OpenLocalKey(
    const crypto::SymmetricKey& storage_key, absl::string_view envelope_id,
    absl::string_view local_key);
// Opens `header`'s body with a local key made by LocalKeyOf.
absl::StatusOr<std::string> OpenWithLocalKey(
    const crypto::SymmetricKey& storage_key, absl::string_view envelope_id,
    absl::string_view local_key, const proto::Header& header);

// A received envelope that passed every check.
struct Verified {
  proto::Envelope envelope;
  proto::Header header;
  std::string serialized;
  std::string id;
  std::string feed_id;
  std::string plaintext;  // the opened body
  crypto::SymmetricKey content_key;
  bool readable = true;  // false: nothing was wrapped for this field node
};

struct VerifyContext {
  const RosterChain& chain;
  absl::string_view self;             // this node's principal
  crypto::Keyring& keyring;           // this node's X25519 key
  absl::string_view sender;           // the authenticated peer it came from
  const EpochKeys* epochs = nullptr;  // this node's epoch keys, if any
};

// Checks, in order: size, parse, version and field bounds, network id, this
// node's agency in the audience, the sender's agency in the audience (before
// any key: a forgery for another audience costs no signature check), the
// origin's key at the roster version it signed under (and not revoked for
// this feed position; a field node's from its certificate), signature,
// audience well-formed and members at that version, the origin's agency in
// it, wrapped keys (one per audience member in order, then field nodes of
// audience agencies, sorted), body opens for this node. A field node
// with no wrapped key of its own (its certificate had not reached the
// origin) accepts the envelope unread: `readable` is false, the plaintext
// empty. Feed position is checked by the log on append.
// Every failure is a Reject() status.
absl::StatusOr<Verified> Verify(const VerifyContext& context,
                                absl::string_view serialized);

// Opens the body of an envelope this node holds (for `show`).
absl::StatusOr<std::string> OpenBody(const RosterChain& chain,
                                     absl::string_view self,
                                     const OpenKeys& keys,
                                     const proto::Header& header);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_MODEL_ENVELOPE_H_

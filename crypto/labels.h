// Every domain-separation label of Tidings, in one place.
//
// Each label is hashed, signed or authenticated together with what it
// labels, so that bytes made for one purpose can never be taken for another.
// The strings are part of the wire and disk formats: changing one breaks
// every signature, wrap key, local blob or id made with it. A new purpose
// gets a new label here, never a reused one.
//
// Thread-safety: constants.
#ifndef TIDINGS_CRYPTO_LABELS_H_
#define TIDINGS_CRYPTO_LABELS_H_

#include "absl/strings/string_view.h"

namespace tidings::crypto::labels {

// Signature domains (crypto/sign.h `Domain`): a signature covers
// label || 0x00 || message.
inline constexpr absl::string_view kEnvelopeSignature = "tidings/v1/envelope";
inline constexpr absl::string_view kRosterSignature = "tidings/v1/roster";
inline constexpr absl::string_view kLinkSignature = "tidings/v1/link";
inline constexpr absl::string_view kEpochSignature = "tidings/v1/epoch";
inline constexpr absl::string_view kNodeCertSignature = "tidings/v1/node";
inline constexpr absl::string_view kNodeRevocationSignature =
    "tidings/v1/node-revocation";
inline constexpr absl::string_view kHoldingsSignature = "tidings/v1/holdings";
inline constexpr absl::string_view kContactSignature = "tidings/v1/contact";

// Key derivation and associated data (crypto/seal.h, crypto/identity.h).
// BLAKE2b(key = X25519 pair key, message = kWrap) is the wrap key.
inline constexpr absl::string_view kWrap = "tidings/v1/wrap";
// Prefix of SealLocal's associated data: kLocal || 0x00 || aad.
inline constexpr absl::string_view kLocal = "tidings/v1/local";
// Associated data of a passphrase-sealed key file.
inline constexpr absl::string_view kKeyFile = "tidings/v1/keyfile";

// First field of a crypto::Hasher (field-framed BLAKE2b-256), except
// kLocalKey, a prefix of SealLocal's associated data.
// Feed id: network id, origin, sorted audience (node/model/envelope.h).
inline constexpr absl::string_view kFeedId = "tidings/v1/feed";
// A body's associated data: network id, origin, seq.
inline constexpr absl::string_view kBodyAad = "tidings/v1/body";
// A content key sealed under the storage key (SealLocal), associated data
// kLocalKey || envelope id.
inline constexpr absl::string_view kLocalKey = "tidings/v1/local-key";
// Stand-in TLS pin of a member with no certificate: hash of it and the sign
// key (node/model/roster.h).
inline constexpr absl::string_view kNoTlsCert = "tidings/v1/no-tls-cert";
// The id of the storage key the log's content keys are sealed under
// (node/daemon), a hash of the key, never the key.
inline constexpr absl::string_view kStorageKeyId = "tidings/v1/storage-key-id";
// Digest of a node's feed heads in anti-entropy (node/gossip).
inline constexpr absl::string_view kHeads = "tidings/v1/heads";
// Id of an audience (sorted principals) in holdings refs (node/gossip).
inline constexpr absl::string_view kAudienceId = "tidings/v1/audience";
// Digest of the holdings records two nodes share, folded into kHeads.
inline constexpr absl::string_view kHoldingsDigest =
    "tidings/v1/holdings-digest";

}  // namespace tidings::crypto::labels

#endif  // TIDINGS_CRYPTO_LABELS_H_

// The names of every state record (storage::Log::PutState, ScanState), in
// one place.
//
// State records are small named values in the `meta` column family, each
// key stored as kStatePrefix + name; Log adds and strips the prefix, callers
// pass the name only. Names are part of the disk format: a node restarted
// on an existing log finds its roster chain, proposals and marks by them.
// Versions are ten-digit, zero-padded decimals, so that a prefix scan
// returns them in order; hashes and ids are lowercase hex.
//
//   state/ + name                          value                      written
//   by roster/<version>                       an applied update node/model
//   Membership
//                                          (serialized SignedRoster)
//   proposal/<roster hash>                 a pending proposal, with node/model
//   Membership
//                                          the signatures so far
//   roster_fork/<version>/<roster hash>    the conflicting update of node/model
//   Membership
//                                          a fork, kept as evidence
//   signed/<version>/<predecessor hash>    the 32-byte roster hash of
//   node/model Membership
//                                          the one proposal this node
//                                          signed for that version
//   node_cert/<node id>                    an accepted field-node node/model
//   Membership
//                                          certificate (SignedNodeCert)
//   node_revocation/<node id>              an accepted revocation node/model
//   Membership
//                                          (SignedNodeRevocation)
//   node_issued/<node id>                  for a field node this node
//   node/model Membership
//                                          certified: the first
//                                          creation time (Unix ms,
//                                          decimal) whose content
//                                          keys it may hand out
//   unread/<envelope id>                   on a field node: the node/gossip
//   Engine
//                                          envelope id (raw) of one it
//                                          holds unread until its
//                                          agency's node sends the key
//   storage_key_id                         BLAKE2b-256 id of the node/daemon
//                                          storage key (never the key)
//
// Thread-safety: constants.
#ifndef TIDINGS_STORAGE_STATE_KEYS_H_
#define TIDINGS_STORAGE_STATE_KEYS_H_

#include "absl/strings/string_view.h"

namespace tidings::storage::state_keys {

// Prepended by Log to every state record name (apart from the log's own
// counters in the same column family).
inline constexpr absl::string_view kStatePrefix = "state/";

// Record names (and name prefixes) under kStatePrefix; see the table above.
inline constexpr absl::string_view kRoster = "roster/";
inline constexpr absl::string_view kProposal = "proposal/";
inline constexpr absl::string_view kRosterFork = "roster_fork/";
inline constexpr absl::string_view kSigned = "signed/";
inline constexpr absl::string_view kNodeCert = "node_cert/";
inline constexpr absl::string_view kNodeRevocation = "node_revocation/";
inline constexpr absl::string_view kNodeIssued = "node_issued/";
inline constexpr absl::string_view kUnread = "unread/";
inline constexpr absl::string_view kStorageKeyId = "storage_key_id";

}  // namespace tidings::storage::state_keys

#endif  // TIDINGS_STORAGE_STATE_KEYS_H_

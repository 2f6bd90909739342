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
// clang-format off
//   state/ + name                          value                                    written by
//   roster/<version>                       an applied update (SignedRoster)         model Membership
//   proposal/<roster hash>                 a pending proposal, signatures so far    model Membership
//   roster_fork/<version>/<roster hash>    the conflicting update of a fork         model Membership
//   signed/<version>/<predecessor hash>    the 32-byte roster hash of the one       model Membership
//                                          proposal this node signed for that
//                                          version
//   node_cert/<node id>                    an accepted SignedNodeCert               model Membership
//   node_revocation/<node id>              an accepted SignedNodeRevocation         model Membership
//   contact/<agency>                       a member's newest SignedMemberContact    model Membership
//   node_issued/<node id>                  for a field node this node certified:    model Membership
//                                          the first creation time (Unix ms,
//                                          decimal) whose content keys it may
//                                          hand out
//   unread/<envelope id>                   on a field node: the raw id of an        gossip ContentKeyClient
//                                          envelope held unread until its
//                                          agency's node sends the key
//   holdings/<audience id>/<holder>        the newest holdings record of that     gossip HoldingsGossip
//                                          holder and audience, and when it
//                                          advanced (StoredHoldings)
//   storage_key_id                         BLAKE2b-256 id of the storage key        daemon
//                                          (never the key)
// clang-format on
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
inline constexpr absl::string_view kContact = "contact/";
inline constexpr absl::string_view kUnread = "unread/";
inline constexpr absl::string_view kHoldings = "holdings/";
inline constexpr absl::string_view kStorageKeyId = "storage_key_id";

}  // namespace tidings::storage::state_keys

#endif  // TIDINGS_STORAGE_STATE_KEYS_H_

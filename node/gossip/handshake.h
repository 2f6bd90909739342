// The peer-link handshake, run by both ends of a link over a MessageStream
// (message_stream.h), before any other message. The wire messages are in
// proto/peer.proto, the transcript and its constants in link.h; the wire
// description is docs/protocol.md, "Handshake".
//
// The sequence, the same on both sides (neither waits for the other to
// start):
//
//  1. Hello. Each side sends Hello {network_id, principal,
//     nonce (kLinkNonceBytes random bytes), roster_version, roster_hash}
//     and reads the other's. It checks the network id; that the claimed
//     principal is well formed, not itself, and the one it dialled (if it
//     dialled); and the nonce's size.
//  2. Roster split check. If this side holds the peer's roster version, the
//     peer's hash must be this side's hash of that version; otherwise the
//     histories differ, which is logged as a ROSTER SPLIT, counted
//     ("links_refused.roster_split"), and the link refused.
//  3. Roster catch-up, between Hello and Proof. The side whose roster is
//     newer sends one RosterUpdates with the updates the other lacks, from
//     the peer's version + 1 on (at most kMaxUpdatesPerHandshake of them and
//     about kMaxUpdateBytesPerHandshake; a peer further behind gets closer
//     on each link), and only if the peer is an active principal of its
//     roster. The side that is behind reads that message next and offers
//     each update to its Membership, which checks and applies it (counted
//     "roster.<offered>"; a refused one is counted "rejected.roster" and
//     ends the handshake); then step 2 runs again on the new chain. So a
//     node back from a long absence first learns the membership it is about
//     to trust.
//  4. Claim check, against the roster as it now stands: the claimed
//     principal must have a verify key (a member, or a field node with a
//     valid certificate), and the TLS certificate under the stream must be
//     the one its entry pins. Nothing is proved to a peer that fails these.
//  5. Proof. Each side sends Proof {signature} where
//       signature = Sign(own key, Domain::kLink,
//                        LinkTranscript(network_id, their_nonce, own_nonce,
//                                       own_principal, their_principal))
//     and verifies the other's against the claimed principal's key.
//
// The link is up once each side has verified the other's Proof. Any other
// message before that, or any failed check, ends the handshake (the caller
// cancels the stream, which ends it on the other side too).
//
// Thread-safety: Handshake runs on the calling thread and may run for many
// links at once; Membership and Counters are thread-safe.
#ifndef TIDINGS_NODE_GOSSIP_HANDSHAKE_H_
#define TIDINGS_NODE_GOSSIP_HANDSHAKE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/identity.h"
#include "node/gossip/message_stream.h"
#include "node/model/membership.h"

namespace tidings::node {

class Counters;

// At most this many roster updates are sent in one handshake message; a
// peer further behind catches up over several links (each one brings it
// closer).
inline constexpr uint32_t kMaxUpdatesPerHandshake = 256;
// ... and at most about this many bytes (well under kMaxPeerMessageBytes).
inline constexpr size_t kMaxUpdateBytesPerHandshake = 4 * 1024 * 1024;

// Runs the handshake above over `stream` as `identity`, judged against
// `membership` (which the catch-up may move forward). `expected_principal`
// is the principal this side dialled, empty for a link it accepted.
// Returns the peer's authenticated principal. Errors: kUnavailable if the
// stream ended before the handshake did; kInvalidArgument for a message out
// of sequence or malformed; kPermissionDenied for a peer on another network,
// not the one dialled, not a member or valid field node, with another's TLS
// certificate, or sending a roster update that is refused;
// kFailedPrecondition for a roster split; kUnauthenticated for a Proof that
// does not verify.
absl::StatusOr<std::string> Handshake(MessageStream& stream,
                                      absl::string_view expected_principal,
                                      Membership& membership,
                                      const crypto::Identity& identity,
                                      Counters& counters);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_HANDSHAKE_H_

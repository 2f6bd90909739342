// The peer-link handshake, shared by both ends of a link (and by tests that
// speak the peer protocol).
//
// Each side sends Hello {network_id, agency, nonce(32 random bytes)} first.
// On the other's Hello, it checks the network id and that the claimed agency
// is a roster member other than itself, then sends Proof {signature} where
//   signature = Sign(own key, Domain::kLink,
//                    LinkTranscript(network_id, their_nonce, own_nonce,
//                                   own_agency, their_agency))
// The link is up once each side has verified the other's Proof. Anything else
// before that ends the stream.
//
// Thread-safety: free functions.
#ifndef TIDINGS_NODE_GOSSIP_LINK_H_
#define TIDINGS_NODE_GOSSIP_LINK_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tidings::node {

// gRPC's cap on one peer message; larger messages end the link. Envelopes
// are capped much lower (kMaxEnvelopeBytes) so that an oversized envelope is
// refused on its own and the link goes on.
inline constexpr int kMaxPeerMessageBytes = 8 * 1024 * 1024;
inline constexpr size_t kLinkNonceBytes = 32;
// A peer that has not completed the handshake by then is dropped.
inline constexpr absl::Duration kHandshakeTimeout = absl::Seconds(10);

// network_id || their_nonce || own_nonce || own_agency || 0x00 || their_agency
std::string LinkTranscript(absl::string_view network_id,
                           absl::string_view their_nonce,
                           absl::string_view own_nonce,
                           absl::string_view own_agency,
                           absl::string_view their_agency);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_LINK_H_

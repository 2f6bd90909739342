// Wire constants of a peer link and the handshake transcript, shared by both
// ends (and by tests that speak the peer protocol).
//
// The handshake itself, and its full sequence (Hello, the roster catch-up
// between Hello and Proof, Proof), is node/gossip/handshake.h. Each side's
// Proof signs, with Domain::kLink, the transcript
//   LinkTranscript(network_id, their_nonce, own_nonce, own_principal,
//                  their_principal)
// so it binds both nonces and both names of this one link.
//
// Thread-safety: constants and a free function.
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

// network_id || their_nonce || own_nonce || own_principal || 0x00 ||
// their_principal (each an agency or a field node id).
std::string LinkTranscript(absl::string_view network_id,
                           absl::string_view their_nonce,
                           absl::string_view own_nonce,
                           absl::string_view own_principal,
                           absl::string_view their_principal);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_LINK_H_

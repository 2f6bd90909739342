#include "node/gossip/link.h"

#include "absl/strings/str_cat.h"

namespace tidings::node {

std::string LinkTranscript(absl::string_view network_id,
                           absl::string_view their_nonce,
                           absl::string_view own_nonce,
                           absl::string_view own_principal,
                           absl::string_view their_principal) {
  return absl::StrCat(network_id, their_nonce, own_nonce, own_principal,
                      absl::string_view("\0", 1), their_principal);
}

}  // namespace tidings::node

#include "node/gossip/link.h"

#include "absl/strings/str_cat.h"

namespace tidings::node {

std::string LinkTranscript(absl::string_view network_id,
                           absl::string_view their_nonce,
                           absl::string_view own_nonce,
                           absl::string_view own_agency,
                           absl::string_view their_agency) {
  return absl::StrCat(network_id, their_nonce, own_nonce, own_agency,
                      absl::string_view("\0", 1), their_agency);
}

}  // namespace tidings::node

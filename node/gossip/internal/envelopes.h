// What the gossip sub-protocols read of envelopes: the header of one this
// node holds, whether a principal may hold what an audience list names, and
// the short id that log lines print.
//
// Thread-safety: free functions.
#ifndef TIDINGS_NODE_GOSSIP_INTERNAL_ENVELOPES_H_
#define TIDINGS_NODE_GOSSIP_INTERNAL_ENVELOPES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "proto/envelope.pb.h"
#include "storage/log.h"

namespace tidings::node::gossip_internal {

// The first 8 bytes of an id, in hex (for log lines).
std::string Short(absl::string_view id);

std::vector<std::string> AudienceOf(const proto::Header& header);

// Whether `principal` (an agency, or a field node of one) may hold what is
// addressed to `list`.
bool InAudience(const google::protobuf::RepeatedPtrField<std::string>& list,
                absl::string_view principal);

// The header of envelope `id` as this node holds it; nullopt if it holds
// none (or it does not parse).
std::optional<proto::Header> HeldHeader(const storage::Log& log,
                                        absl::string_view id);

}  // namespace tidings::node::gossip_internal

#endif  // TIDINGS_NODE_GOSSIP_INTERNAL_ENVELOPES_H_

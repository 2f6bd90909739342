#include "node/gossip/internal/envelopes.h"

#include <algorithm>

#include "crypto/hash.h"
#include "node/model/field_nodes.h"

namespace tidings::node::gossip_internal {

std::string Short(absl::string_view id) {
  return crypto::ToHex(id.substr(0, std::min<size_t>(id.size(), 8)));
}

std::vector<std::string> AudienceOf(const proto::Header& header) {
  return std::vector<std::string>(header.audience().begin(),
                                  header.audience().end());
}

bool InAudience(const google::protobuf::RepeatedPtrField<std::string>& list,
                absl::string_view principal) {
  return std::find(list.begin(), list.end(), AgencyOf(principal)) != list.end();
}

std::optional<proto::Header> HeldHeader(const storage::Log& log,
                                        absl::string_view id) {
  absl::StatusOr<std::optional<std::string>> bytes = log.GetEnvelope(id);
  proto::Envelope envelope;
  proto::Header header;
  if (!bytes.ok() || !bytes->has_value() ||
      !envelope.ParseFromString(**bytes) ||
      !header.ParseFromString(envelope.header())) {
    return std::nullopt;
  }
  return header;
}

}  // namespace tidings::node::gossip_internal

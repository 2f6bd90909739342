// Helpers for unit tests of rosters, membership and field nodes: member
// entries and keyrings made from identities, a genesis signed by its
// founders, feed ids and cuts. Header-only; no network, no files.
#ifndef TIDINGS_TESTS_TESTING_ROSTERS_H_
#define TIDINGS_TESTS_TESTING_ROSTERS_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"

namespace tidings::node::test_rosters {

inline constexpr int64_t kCreated = 1700000000000;

// `identity`'s roster entry, with a made-up name and endpoint.
inline proto::Member MemberOf(const crypto::Identity& identity) {
  return PublicIdentityOf(identity, absl::StrCat(identity.principal(), " name"),
                          {absl::StrCat(identity.principal(), ".example:7101")})
      .member();
}

// A Keyring over a copy of `identity`'s box secret (the identity keeps its
// own).
inline std::unique_ptr<crypto::Keyring> KeyringOf(
    const crypto::Identity& identity) {
  const crypto::BoxSecretKey& secret = identity.box_secret();
  std::optional<crypto::BoxSecretKey> copy =
      crypto::BoxSecretKey::FromBytes(absl::string_view(
          reinterpret_cast<const char*>(secret.data()), secret.size()));
  if (!copy.has_value()) std::abort();  // a box secret is always 32 bytes
  return std::make_unique<crypto::Keyring>(*std::move(copy));
}

// A feed id made of one repeated byte.
inline std::string Feed(char c) {
  return std::string(crypto::Hash256::kSize, c);
}

inline proto::FeedCut Cut(const std::string& feed_id, uint64_t last_seq) {
  proto::FeedCut cut;
  cut.set_feed_id(feed_id);
  cut.set_last_seq(last_seq);
  return cut;
}

// The genesis of `members` (network "seas", created kCreated) with
// threshold `threshold`, signed by every one of `founders` (the identities
// of `members`; borrowed).
inline absl::StatusOr<Roster> SignedGenesisOf(
    std::vector<proto::Member> members,
    const std::vector<const crypto::Identity*>& founders, uint32_t threshold) {
  TIDINGS_ASSIGN_OR_RETURN(
      proto::SignedRoster signed_genesis,
      MakeGenesis("seas", threshold, std::move(members), kCreated));
  for (const crypto::Identity* founder : founders) {
    TIDINGS_RETURN_IF_ERROR(SignGenesis(signed_genesis, *founder));
  }
  return Roster::FromSigned(signed_genesis);
}

// As SignedGenesisOf, with each founder's MemberOf entry.
inline absl::StatusOr<Roster> SignedGenesis(
    const std::vector<crypto::Identity>& founders, uint32_t threshold) {
  std::vector<proto::Member> members;
  std::vector<const crypto::Identity*> signers;
  for (const crypto::Identity& founder : founders) {
    members.push_back(MemberOf(founder));
    signers.push_back(&founder);
  }
  return SignedGenesisOf(std::move(members), signers, threshold);
}

}  // namespace tidings::node::test_rosters

#endif  // TIDINGS_TESTS_TESTING_ROSTERS_H_

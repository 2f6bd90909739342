// Writes the valid seed inputs of the fuzz targets that the world's keys
// make (world.h) under DIR/<target>/: envelopes, peer messages and roster
// updates. fuzz_config's seeds are written by hand.
//
// Usage: fuzz_make_corpus DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/string_view.h"
#include "crypto/hash.h"
#include "proto/peer.pb.h"
#include "tests/fuzz/world.h"

namespace tidings::fuzz {
namespace {

void Write(const std::filesystem::path& dir, absl::string_view target,
           absl::string_view name, const std::string& bytes) {
  std::filesystem::create_directories(dir / std::string(target));
  const std::filesystem::path path =
      dir / std::string(target) / std::string(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) MustBeOk(absl::InternalError("write failed"), path.string());
}

void WriteEnvelopes(const std::filesystem::path& dir,
                    const node::Composed& to_pair,
                    const node::Composed& to_all) {
  constexpr absl::string_view kTarget = "fuzz_envelope_verify";
  Write(dir, kTarget, "peer_to_pair", to_pair.serialized);
  Write(dir, kTarget, "peer_to_all", to_all.serialized);
  Write(
      dir, kTarget, "third_to_all",
      ComposeFirst(kThird, {std::string(kSelf), std::string(kPeer)}, "relayed")
          .serialized);
}

void WritePeerMessages(const std::filesystem::path& dir,
                       const node::Composed& sent) {
  constexpr absl::string_view kTarget = "fuzz_peer_message";
  proto::PeerMessage push;
  push.mutable_push()->add_envelopes(sent.serialized);
  Write(dir, kTarget, "push", push.SerializeAsString());

  proto::PeerMessage heads;
  proto::FeedPosition* head = heads.mutable_heads()->add_heads();
  head->set_feed_id(sent.feed_id);
  head->set_seq(2);
  Write(dir, kTarget, "heads", heads.SerializeAsString());

  proto::PeerMessage want;
  want.mutable_want()->set_feed_id(sent.feed_id);
  want.mutable_want()->set_from_seq(1);
  want.mutable_want()->set_max(16);
  Write(dir, kTarget, "want", want.SerializeAsString());

  proto::PeerMessage digest;
  digest.mutable_heads_digest()->set_digest(std::string(32, 'd'));
  Write(dir, kTarget, "heads_digest", digest.SerializeAsString());

  proto::PeerMessage announce;
  announce.mutable_announce()->set_feed_id(sent.feed_id);
  announce.mutable_announce()->set_seq(2);
  announce.mutable_announce()->set_envelope_id(std::string(32, 'e'));
  announce.mutable_announce()->set_origin(std::string(kPeer));
  Write(dir, kTarget, "announce", announce.SerializeAsString());

  proto::PeerMessage rejection;
  rejection.mutable_rejection()->set_envelope_id(sent.id);
  rejection.mutable_rejection()->set_reason("gap");
  Write(dir, kTarget, "rejection", rejection.SerializeAsString());

  proto::PeerMessage updates;
  updates.mutable_roster_updates()->add_updates(
      Rename(kPeer, {kPeer}).SerializeAsString());
  Write(dir, kTarget, "roster_updates", updates.SerializeAsString());

  proto::PeerMessage proposal;
  proposal.mutable_roster_proposal()->set_proposal(
      RaiseThreshold({kPeer}).SerializeAsString());
  Write(dir, kTarget, "roster_proposal", proposal.SerializeAsString());

  proto::PeerMessage key_request;
  key_request.mutable_key_request()->add_envelope_ids(sent.id);
  Write(dir, kTarget, "key_request", key_request.SerializeAsString());
}

void WriteRosterUpdates(const std::filesystem::path& dir) {
  constexpr absl::string_view kTarget = "fuzz_roster_update";
  Write(dir, kTarget, "rename_self_signed",
        Rename(kPeer, {kPeer}).SerializeAsString());
  Write(dir, kTarget, "threshold_proposal",
        RaiseThreshold({kSelf}).SerializeAsString());
  Write(dir, kTarget, "threshold_complete",
        RaiseThreshold({kSelf, kThird}).SerializeAsString());
  Write(dir, kTarget, "genesis",
        World::Get().genesis().signed_roster().SerializeAsString());
}

}  // namespace
}  // namespace tidings::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  using tidings::fuzz::kPeer;
  using tidings::fuzz::kSelf;
  using tidings::fuzz::kThird;
  const std::filesystem::path dir = argv[1];
  const tidings::node::Composed to_pair =
      tidings::fuzz::ComposeFirst(kPeer, {std::string(kSelf)}, "to A");
  const tidings::node::Composed to_all = tidings::fuzz::ComposeFirst(
      kPeer, {std::string(kSelf), std::string(kThird)}, "to all");
  tidings::fuzz::WriteEnvelopes(dir, to_pair, to_all);
  tidings::fuzz::WritePeerMessages(dir, to_pair);
  tidings::fuzz::WriteRosterUpdates(dir);
  return 0;
}

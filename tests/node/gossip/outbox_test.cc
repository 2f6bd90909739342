// Tests for a link's precedence lanes (node/gossip/outbox.h).
#include "node/gossip/outbox.h"

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/gossip/engine.h"
#include "node/gossip/message_stream.h"
#include "proto/peer.pb.h"

namespace tidings::node {
namespace {

using ::testing::ElementsAre;

proto::PeerMessage PushOf(const std::string& envelope) {
  proto::PeerMessage message;
  message.mutable_push()->add_envelopes(envelope);
  return message;
}

proto::PeerMessage Control() {
  proto::PeerMessage message;
  message.mutable_want();
  return message;
}

std::vector<std::string> EnvelopesOf(const proto::PeerMessage& message) {
  return {message.push().envelopes().begin(), message.push().envelopes().end()};
}

TEST(OutboxTest, MostUrgentLaneFirstAndPushesInALaneMerge) {
  Outbox outbox(1024 * 1024);
  ASSERT_TRUE(outbox.Enqueue(PushOf("r1"), proto::PRECEDENCE_ROUTINE));
  ASSERT_TRUE(outbox.Enqueue(PushOf("r2"), proto::PRECEDENCE_ROUTINE));
  ASSERT_TRUE(outbox.Enqueue(PushOf("f1"), proto::PRECEDENCE_FLASH));
  ASSERT_TRUE(outbox.Enqueue(Control(), proto::PRECEDENCE_UNSPECIFIED));

  std::optional<proto::PeerMessage> first = outbox.Pop();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->has_want());
  std::optional<proto::PeerMessage> second = outbox.Pop();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(EnvelopesOf(*second), ElementsAre("f1"));
  std::optional<proto::PeerMessage> third = outbox.Pop();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(EnvelopesOf(*third), ElementsAre("r1", "r2"));
}

TEST(OutboxTest, PushesPastTheCapAreDroppedControlIsNot) {
  const proto::PeerMessage push = PushOf(std::string(100, 'x'));
  Outbox outbox(push.ByteSizeLong());
  EXPECT_TRUE(outbox.Enqueue(push, proto::PRECEDENCE_ROUTINE));
  EXPECT_FALSE(outbox.Enqueue(push, proto::PRECEDENCE_FLASH));
  EXPECT_TRUE(outbox.Enqueue(Control(), proto::PRECEDENCE_UNSPECIFIED));
}

// Issue 11: a peer that sends digests but never reads made its victim
// queue control messages without bound.
TEST(OutboxTest, AControlBacklogPastItsCapClosesTheOutbox) {
  Outbox outbox(1024);
  proto::PeerMessage heads;
  heads.mutable_heads()->add_heads()->set_feed_id(std::string(1 << 20, 'h'));
  const size_t bytes = heads.ByteSizeLong();
  size_t queued = 0;
  while (queued + bytes <= Outbox::kMaxControlBytes) {
    ASSERT_TRUE(outbox.Enqueue(heads, proto::PRECEDENCE_UNSPECIFIED));
    queued += bytes;
  }
  EXPECT_FALSE(outbox.overflowed());
  EXPECT_FALSE(outbox.Enqueue(heads, proto::PRECEDENCE_UNSPECIFIED));
  EXPECT_TRUE(outbox.overflowed());
  EXPECT_FALSE(outbox.Pop().has_value());  // dropped and closed
  EXPECT_FALSE(outbox.Enqueue(Control(), proto::PRECEDENCE_UNSPECIFIED));
}

TEST(OutboxTest, ControlThatIsReadNeverOverflows) {
  Outbox outbox(1024);
  proto::PeerMessage heads;
  heads.mutable_heads()->add_heads()->set_feed_id(std::string(1 << 20, 'h'));
  for (int i = 0; i < 64; ++i) {  // four times the cap, read as it comes
    ASSERT_TRUE(outbox.Enqueue(heads, proto::PRECEDENCE_UNSPECIFIED));
    ASSERT_TRUE(outbox.Pop().has_value());
  }
  EXPECT_FALSE(outbox.overflowed());
}

TEST(OutboxTest, CloseWakesPopAndRefusesMore) {
  Outbox outbox(1024);
  std::optional<proto::PeerMessage> popped = Control();
  std::thread waiter([&] { popped = outbox.Pop(); });
  outbox.Close();
  waiter.join();
  EXPECT_FALSE(popped.has_value());
  EXPECT_FALSE(outbox.Enqueue(Control(), proto::PRECEDENCE_UNSPECIFIED));
}

// Records what is written; fails writes after `accept` of them.
class RecordingStream final : public MessageStream {
 public:
  explicit RecordingStream(size_t accept) : accept_(accept) {}
  std::optional<proto::PeerMessage> Read() override { return std::nullopt; }
  bool Write(const proto::PeerMessage& message) override {
    if (written.size() == accept_) return false;
    written.push_back(message);
    return true;
  }
  void Cancel() override { cancelled = true; }
  std::string PeerCertificate() override { return ""; }

  std::vector<proto::PeerMessage> written;
  bool cancelled = false;

 private:
  const size_t accept_;
};

TEST(OutboxTest, DrainWritesUntilAWriteFailsThenCancels) {
  Outbox outbox(1024);
  ASSERT_TRUE(outbox.Enqueue(Control(), proto::PRECEDENCE_UNSPECIFIED));
  ASSERT_TRUE(outbox.Enqueue(PushOf("f1"), proto::PRECEDENCE_FLASH));
  ASSERT_TRUE(outbox.Enqueue(PushOf("r1"), proto::PRECEDENCE_ROUTINE));
  RecordingStream stream(/*accept=*/2);
  Counters counters;
  outbox.DrainTo(stream, counters);  // returns once the third write fails
  EXPECT_EQ(stream.written.size(), 2u);
  EXPECT_TRUE(stream.cancelled);
  EXPECT_EQ(
      counters.Snapshot()["wire_bytes_out"],
      stream.written[0].ByteSizeLong() + stream.written[1].ByteSizeLong());
}

}  // namespace
}  // namespace tidings::node

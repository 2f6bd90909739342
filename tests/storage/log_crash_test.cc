// Kill -9 a process in the middle of appending: every Append it had
// acknowledged must be in the log when it is reopened, and the feed must still
// chain. The writer is a fork()ed child, so this binary must not start RocksDB
// (or any thread) in the parent before its last fork: keep it to this test.
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/log.h"
#include "tests/testing/temp_dir.h"

namespace tidings::storage {
namespace {

using ::testing::HasSubstr;

constexpr int kRounds = 3;
constexpr int kAcksPerRound = 50;

std::string FeedId() { return std::string(32, 'F'); }

// Each round writes ids of its own, so that if a round lost acknowledged
// records and the next rewrote those positions, the ids would not match.
std::string EnvelopeId(int round, uint64_t seq) {
  std::string id(32, '\0');
  id[0] = 'E';
  id[1] = static_cast<char>(round);
  for (size_t i = 0; i < 8; ++i) {
    id[31 - i] = static_cast<char>((seq >> (8 * i)) & 0xff);
  }
  return id;
}

std::string EnvelopeBytes(int round, uint64_t seq, int prev_round) {
  return absl::StrCat("round=", round, " seq=", seq, " prev_round=", prev_round,
                      " ", std::string(200, 'x'));
}

struct Parsed {
  int round = -1;
  uint64_t seq = 0;
  int prev_round = -1;
};

std::optional<Parsed> Parse(absl::string_view envelope) {
  std::vector<absl::string_view> fields = absl::StrSplit(envelope, ' ');
  Parsed parsed;
  if (fields.size() != 4 ||
      !absl::SimpleAtoi(absl::StripPrefix(fields[0], "round="),
                        &parsed.round) ||
      !absl::SimpleAtoi(absl::StripPrefix(fields[1], "seq="), &parsed.seq) ||
      !absl::SimpleAtoi(absl::StripPrefix(fields[2], "prev_round="),
                        &parsed.prev_round)) {
    return std::nullopt;
  }
  return parsed;
}

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    int threads = 0;
    if (absl::StartsWith(line, "Threads:") &&
        absl::SimpleAtoi(absl::StripPrefix(line, "Threads:"), &threads)) {
      return threads;
    }
  }
  return -1;
}

// The child: continues the feed from wherever the log says it is, one record
// per Append, and writes each seq to `ack_fd` once Append has returned.
// Runs until killed. Returns an exit code for each way it can fail.
int RunWriter(const std::string& path, int round, int ack_fd) {
  LogOptions options;
  options.path = path;
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(options);
  if (!log.ok()) return 10;
  std::optional<proto::FeedHead> head = (*log)->GetHead(FeedId());
  uint64_t seq = head.has_value() ? head->seq() : 0;
  std::string prev_id = head.has_value() ? head->head_id() : "";
  int prev_round = -1;
  if (head.has_value()) {
    absl::StatusOr<std::optional<std::string>> prev =
        (*log)->GetEnvelope(prev_id);
    if (!prev.ok() || !prev->has_value()) return 11;
    std::optional<Parsed> parsed = Parse(**prev);
    if (!parsed.has_value()) return 12;
    prev_round = parsed->round;
  }
  for (++seq; seq < 1'000'000; ++seq) {
    EnvelopeRecord record;
    record.id = EnvelopeId(round, seq);
    record.feed_id = FeedId();
    record.seq = seq;
    record.prev_id = prev_id;
    record.origin = "MY.NCB";
    record.envelope = EnvelopeBytes(round, seq, prev_round);
    absl::StatusOr<std::vector<AppendResult>> results =
        (*log)->Append({record});
    if (!results.ok()) return 13;
    if ((*results)[0].outcome != AppendOutcome::kStored) return 14;
    if (write(ack_fd, &seq, sizeof(seq)) != sizeof(seq)) return 15;
    prev_id = record.id;
    prev_round = round;
  }
  return 16;
}

// Reads one 8-byte ack. nullopt at end of file; fails the test on error or
// after `deadline` (a writer that stopped acknowledging).
std::optional<uint64_t> ReadAck(
    int fd, std::chrono::steady_clock::time_point deadline) {
  uint64_t seq = 0;
  size_t got = 0;
  while (got < sizeof(seq)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready =
        poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      ADD_FAILURE() << "no ack before the deadline";
      return std::nullopt;
    }
    const ssize_t n =
        read(fd, reinterpret_cast<char*>(&seq) + got, sizeof(seq) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ADD_FAILURE() << "read: " << std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) {
      // A pipe write of 8 bytes is atomic, so a torn ack is a bug.
      EXPECT_EQ(got, 0u) << "torn ack";
      return std::nullopt;
    }
    got += static_cast<size_t>(n);
  }
  return seq;
}

TEST(LogCrashTest, AcknowledgedAppendsSurviveSigkill) {
  // Removed on every way out, failed assertions included. (The child leaves by
  // _exit, which runs no destructors.)
  tidings::testing::TempDir root("log_crash_test");
  const std::string path = root / "db";

  // seq -> round that acknowledged it.
  std::map<uint64_t, int> acked;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    // fork() copies only the calling thread; a RocksDB thread pool or a lock
    // held by another thread would be broken in the child.
    ASSERT_EQ(ThreadCount(), 1) << "fork() needs a single-threaded parent";
    int fds[2];
    ASSERT_EQ(pipe(fds), 0) << std::strerror(errno);
    const pid_t child = fork();
    ASSERT_GE(child, 0) << std::strerror(errno);
    if (child == 0) {
      close(fds[0]);
      _exit(RunWriter(path, round, fds[1]));
    }
    close(fds[1]);

    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::vector<uint64_t> acks;
    while (acks.size() < kAcksPerRound) {
      std::optional<uint64_t> seq = ReadAck(fds[0], deadline);
      if (!seq.has_value()) break;
      acks.push_back(*seq);
    }

    if (round == kRounds - 1) {
      // While the writer holds the log, nobody else may open it. (The first
      // use of RocksDB in this process: there is no fork after it.)
      LogOptions options;
      options.path = path;
      absl::StatusOr<std::unique_ptr<Log>> second = Log::Open(options);
      EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_THAT(second.status().message(), HasSubstr("locked"));
    }

    ASSERT_EQ(kill(child, SIGKILL), 0) << std::strerror(errno);
    int wait_status = 0;
    ASSERT_EQ(waitpid(child, &wait_status, 0), child);
    // Acks the child wrote between our last read and its death count too.
    while (std::optional<uint64_t> seq = ReadAck(fds[0], deadline)) {
      acks.push_back(*seq);
    }
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
        << "writer exited by itself, code "
        << (WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
    ASSERT_GE(acks.size(), kAcksPerRound);

    for (uint64_t seq : acks) {
      // A seq acknowledged twice means the log lost it after the first.
      EXPECT_TRUE(acked.emplace(seq, round).second)
          << "seq " << seq << " acknowledged in round " << acked[seq]
          << " was rewritten in round " << round;
    }
  }
  ASSERT_FALSE(acked.empty());
  const uint64_t last_acked = acked.rbegin()->first;

  LogOptions options;
  options.path = path;
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  std::optional<proto::FeedHead> head = (*log)->GetHead(FeedId());
  ASSERT_TRUE(head.has_value());
  EXPECT_GE(head->seq(), last_acked);

  absl::StatusOr<std::vector<std::string>> feed =
      (*log)->ReadFeed(FeedId(), 1, 1'000'000, 1 << 30);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->size(), head->seq());
  int prev_round = -1;
  for (size_t i = 0; i < feed->size(); ++i) {
    std::optional<Parsed> parsed = Parse((*feed)[i]);
    ASSERT_TRUE(parsed.has_value()) << "seq " << i + 1;
    EXPECT_EQ(parsed->seq, i + 1);
    EXPECT_EQ(parsed->prev_round, prev_round) << "seq " << i + 1;
    if (auto it = acked.find(parsed->seq); it != acked.end()) {
      EXPECT_EQ(parsed->round, it->second) << "seq " << parsed->seq;
    }
    absl::StatusOr<std::optional<std::string>> by_id =
        (*log)->GetEnvelope(EnvelopeId(parsed->round, parsed->seq));
    ASSERT_TRUE(by_id.ok()) << by_id.status();
    EXPECT_EQ(*by_id, (*feed)[i]);
    prev_round = parsed->round;
  }
  EXPECT_EQ(head->head_id(), EnvelopeId(prev_round, head->seq()));
  EXPECT_EQ((*log)->envelope_count(), head->seq());

  // The log's idea of the head is the chain's: the next record links on.
  EnvelopeRecord next;
  next.id = EnvelopeId(kRounds, head->seq() + 1);
  next.feed_id = FeedId();
  next.seq = head->seq() + 1;
  next.prev_id = head->head_id();
  next.envelope = EnvelopeBytes(kRounds, next.seq, prev_round);
  absl::StatusOr<std::vector<AppendResult>> results = (*log)->Append({next});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].outcome, AppendOutcome::kStored);

  log->reset();
}

}  // namespace
}  // namespace tidings::storage

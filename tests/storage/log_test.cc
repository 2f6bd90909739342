#include "storage/log.h"

#include <stdlib.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/storage.pb.h"
#include "tests/testing/temp_dir.h"

namespace tidings::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A 32-byte id that shows its origin in a hex dump: tag, then `n` big-endian.
std::string Id(char tag, uint64_t n) {
  std::string id(32, '\0');
  id[0] = tag;
  for (size_t i = 0; i < 8; ++i) {
    id[31 - i] = static_cast<char>((n >> (8 * i)) & 0xff);
  }
  return id;
}

std::string FeedId(uint64_t n) { return Id('F', n); }

// The id of the envelope at `seq` of feed `feed`, version `variant` (variant
// 0 is the honest one; others are equivocations).
std::string EnvelopeId(uint64_t feed, uint64_t seq, uint64_t variant = 0) {
  return Id('E', (feed << 40) | (variant << 32) | seq);
}

std::string EnvelopeBytes(uint64_t feed, uint64_t seq, uint64_t variant = 0) {
  return absl::StrCat("envelope feed=", feed, " seq=", seq,
                      " variant=", variant);
}

// The honest record at `seq` of feed `feed`, chained to its predecessor.
EnvelopeRecord Record(uint64_t feed, uint64_t seq, uint64_t variant = 0) {
  EnvelopeRecord record;
  record.id = EnvelopeId(feed, seq, variant);
  record.feed_id = FeedId(feed);
  record.seq = seq;
  if (seq > 1) record.prev_id = EnvelopeId(feed, seq - 1);
  record.origin = "MY.NCB";
  record.audience = {"MY.NCB", "PH.CG"};
  record.envelope = EnvelopeBytes(feed, seq, variant);
  record.stored_unix_us = static_cast<int64_t>(1000 * seq);
  return record;
}

std::vector<AppendOutcome> Outcomes(const std::vector<AppendResult>& results) {
  std::vector<AppendOutcome> outcomes;
  for (const AppendResult& result : results) outcomes.push_back(result.outcome);
  return outcomes;
}

std::vector<uint64_t> HeadSeqs(const std::vector<AppendResult>& results) {
  std::vector<uint64_t> seqs;
  for (const AppendResult& result : results) seqs.push_back(result.head_seq);
  return seqs;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.path = root_ / "db";
    OpenLog();
  }

  void TearDown() override { log_.reset(); }

  void OpenLog() {
    log_.reset();
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(options_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
  }

  std::vector<AppendResult> MustAppend(std::vector<EnvelopeRecord> records) {
    absl::StatusOr<std::vector<AppendResult>> results = log_->Append(records);
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok()) return {};
    EXPECT_THAT(*results, SizeIs(records.size()));
    return *std::move(results);
  }

  AppendOutcome MustAppendOne(EnvelopeRecord record) {
    std::vector<AppendResult> results = MustAppend({std::move(record)});
    return results.empty() ? AppendOutcome::kStored : results[0].outcome;
  }

  std::optional<std::string> MustGetEnvelope(absl::string_view id) {
    absl::StatusOr<std::optional<std::string>> envelope = log_->GetEnvelope(id);
    EXPECT_TRUE(envelope.ok()) << envelope.status();
    return envelope.ok() ? *envelope : std::nullopt;
  }

  std::vector<std::string> MustReadFeed(uint64_t feed, uint64_t from_seq,
                                        size_t max_count = 1000,
                                        size_t max_bytes = 1 << 20) {
    absl::StatusOr<std::vector<std::string>> envelopes =
        log_->ReadFeed(FeedId(feed), from_seq, max_count, max_bytes);
    EXPECT_TRUE(envelopes.ok()) << envelopes.status();
    return envelopes.ok() ? *envelopes : std::vector<std::string>();
  }

  std::vector<std::string> MustListInboxIds(size_t limit = 1000) {
    absl::StatusOr<std::vector<proto::InboxRecord>> inbox =
        log_->ListInbox(limit);
    EXPECT_TRUE(inbox.ok()) << inbox.status();
    std::vector<std::string> ids;
    if (inbox.ok()) {
      for (const proto::InboxRecord& record : *inbox) {
        ids.push_back(record.envelope_id());
      }
    }
    return ids;
  }

  std::vector<std::string> MustListEvidence() {
    absl::StatusOr<std::vector<std::string>> evidence = log_->ListEvidence();
    EXPECT_TRUE(evidence.ok()) << evidence.status();
    return evidence.ok() ? *evidence : std::vector<std::string>();
  }

  uint64_t HeadSeq(uint64_t feed) {
    std::optional<proto::FeedHead> head = log_->GetHead(FeedId(feed));
    return head.has_value() ? head->seq() : 0;
  }

  tidings::testing::TempDir root_{"log_test"};
  LogOptions options_;
  std::unique_ptr<Log> log_;
};

TEST(OutcomeNameTest, NamesEveryOutcome) {
  EXPECT_EQ(OutcomeName(AppendOutcome::kStored), "stored");
  EXPECT_EQ(OutcomeName(AppendOutcome::kDuplicate), "duplicate");
  EXPECT_EQ(OutcomeName(AppendOutcome::kGap), "gap");
  EXPECT_EQ(OutcomeName(AppendOutcome::kPrevMismatch), "prev_mismatch");
  EXPECT_EQ(OutcomeName(AppendOutcome::kEquivocation), "equivocation");
}

TEST_F(LogTest, EmptyLogHoldsNothing) {
  EXPECT_EQ(log_->envelope_count(), 0u);
  EXPECT_THAT(log_->ListHeads(), IsEmpty());
  EXPECT_EQ(log_->GetHead(FeedId(1)), std::nullopt);
  EXPECT_EQ(MustGetEnvelope(EnvelopeId(1, 1)), std::nullopt);
  EXPECT_THAT(MustReadFeed(1, 1), IsEmpty());
  EXPECT_THAT(MustListInboxIds(), IsEmpty());
  EXPECT_THAT(MustListEvidence(), IsEmpty());
}

TEST_F(LogTest, AppendsAndReadsBack) {
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    std::vector<AppendResult> results = MustAppend({Record(1, seq)});
    ASSERT_THAT(results, SizeIs(1));
    EXPECT_EQ(results[0].outcome, AppendOutcome::kStored);
    EXPECT_EQ(results[0].head_seq, seq);
  }

  EXPECT_EQ(log_->envelope_count(), 3u);
  EXPECT_EQ(MustGetEnvelope(EnvelopeId(1, 2)), EnvelopeBytes(1, 2));

  std::optional<proto::FeedHead> head = log_->GetHead(FeedId(1));
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->feed_id(), FeedId(1));
  EXPECT_EQ(head->origin(), "MY.NCB");
  EXPECT_THAT(head->audience(), ElementsAre("MY.NCB", "PH.CG"));
  EXPECT_EQ(head->seq(), 3u);
  EXPECT_EQ(head->head_id(), EnvelopeId(1, 3));

  EXPECT_THAT(MustReadFeed(1, 1),
              ElementsAre(EnvelopeBytes(1, 1), EnvelopeBytes(1, 2),
                          EnvelopeBytes(1, 3)));
  EXPECT_THAT(
      MustListInboxIds(),
      ElementsAre(EnvelopeId(1, 3), EnvelopeId(1, 2), EnvelopeId(1, 1)));
  absl::StatusOr<std::vector<proto::InboxRecord>> inbox = log_->ListInbox(1);
  ASSERT_TRUE(inbox.ok()) << inbox.status();
  ASSERT_THAT(*inbox, SizeIs(1));
  EXPECT_EQ((*inbox)[0].stored_unix_us(), 3000);
}

TEST_F(LogTest, ReapplyingARecordIsANoOp) {
  ASSERT_EQ(MustAppendOne(Record(1, 1)), AppendOutcome::kStored);
  ASSERT_EQ(MustAppendOne(Record(1, 2)), AppendOutcome::kStored);

  // Again, both the head and an older record, alone and in one batch.
  std::vector<AppendResult> results =
      MustAppend({Record(1, 2), Record(1, 1), Record(1, 2)});
  EXPECT_THAT(Outcomes(results),
              ElementsAre(AppendOutcome::kDuplicate, AppendOutcome::kDuplicate,
                          AppendOutcome::kDuplicate));
  EXPECT_THAT(HeadSeqs(results), ElementsAre(2, 2, 2));
  EXPECT_EQ(MustAppendOne(Record(1, 1)), AppendOutcome::kDuplicate);

  EXPECT_EQ(log_->envelope_count(), 2u);
  EXPECT_EQ(HeadSeq(1), 2u);
  EXPECT_THAT(MustListInboxIds(), SizeIs(2));
  EXPECT_THAT(MustReadFeed(1, 1), SizeIs(2));
  EXPECT_THAT(MustListEvidence(), IsEmpty());
}

TEST_F(LogTest, DuplicateWithinOneCallIsStoredOnce) {
  std::vector<AppendResult> results = MustAppend({Record(1, 1), Record(1, 1)});
  EXPECT_THAT(Outcomes(results),
              ElementsAre(AppendOutcome::kStored, AppendOutcome::kDuplicate));
  EXPECT_EQ(log_->envelope_count(), 1u);
  EXPECT_THAT(MustListInboxIds(), SizeIs(1));
}

TEST_F(LogTest, GapIsRefusedAndWritesNothing) {
  // Unknown feed: only seq 1 may start it.
  std::vector<AppendResult> results = MustAppend({Record(1, 2)});
  EXPECT_THAT(Outcomes(results), ElementsAre(AppendOutcome::kGap));
  EXPECT_THAT(HeadSeqs(results), ElementsAre(0));
  EXPECT_EQ(log_->GetHead(FeedId(1)), std::nullopt);

  ASSERT_EQ(MustAppendOne(Record(1, 1)), AppendOutcome::kStored);
  results = MustAppend({Record(1, 3)});
  EXPECT_THAT(Outcomes(results), ElementsAre(AppendOutcome::kGap));
  EXPECT_THAT(HeadSeqs(results), ElementsAre(1));

  EXPECT_EQ(HeadSeq(1), 1u);
  EXPECT_EQ(MustGetEnvelope(EnvelopeId(1, 3)), std::nullopt);
  EXPECT_EQ(log_->envelope_count(), 1u);
  EXPECT_THAT(MustListInboxIds(), ElementsAre(EnvelopeId(1, 1)));

  // The gap filled, the same record now chains.
  EXPECT_EQ(MustAppendOne(Record(1, 2)), AppendOutcome::kStored);
  EXPECT_EQ(MustAppendOne(Record(1, 3)), AppendOutcome::kStored);
}

TEST_F(LogTest, PrevMismatchIsRefusedAndWritesNothing) {
  EnvelopeRecord first_with_prev = Record(1, 1);
  first_with_prev.prev_id = EnvelopeId(9, 9);
  EXPECT_EQ(MustAppendOne(first_with_prev), AppendOutcome::kPrevMismatch);
  EXPECT_EQ(log_->GetHead(FeedId(1)), std::nullopt);

  ASSERT_EQ(MustAppendOne(Record(1, 1)), AppendOutcome::kStored);
  EnvelopeRecord wrong_prev = Record(1, 2);
  wrong_prev.prev_id = EnvelopeId(1, 1, /*variant=*/7);
  EXPECT_EQ(MustAppendOne(wrong_prev), AppendOutcome::kPrevMismatch);
  EnvelopeRecord no_prev = Record(1, 2);
  no_prev.prev_id.clear();
  EXPECT_EQ(MustAppendOne(no_prev), AppendOutcome::kPrevMismatch);

  EXPECT_EQ(HeadSeq(1), 1u);
  EXPECT_EQ(MustGetEnvelope(EnvelopeId(1, 2)), std::nullopt);
  EXPECT_EQ(log_->envelope_count(), 1u);
  EXPECT_THAT(MustListEvidence(), IsEmpty());
}

TEST_F(LogTest, EquivocationIsKeptAsEvidenceAndHeadIsUnchanged) {
  ASSERT_THAT(Outcomes(MustAppend({Record(1, 1), Record(1, 2)})),
              ElementsAre(AppendOutcome::kStored, AppendOutcome::kStored));

  // A different envelope at seq 2 (the head) and at seq 1 (below it).
  std::vector<AppendResult> results =
      MustAppend({Record(1, 2, /*variant=*/1), Record(1, 1, /*variant=*/2)});
  EXPECT_THAT(Outcomes(results), ElementsAre(AppendOutcome::kEquivocation,
                                             AppendOutcome::kEquivocation));
  EXPECT_THAT(HeadSeqs(results), ElementsAre(2, 2));

  std::optional<proto::FeedHead> head = log_->GetHead(FeedId(1));
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->seq(), 2u);
  EXPECT_EQ(head->head_id(), EnvelopeId(1, 2));
  EXPECT_EQ(MustGetEnvelope(EnvelopeId(1, 2, 1)), std::nullopt);
  EXPECT_EQ(log_->envelope_count(), 2u);
  EXPECT_THAT(MustReadFeed(1, 1),
              ElementsAre(EnvelopeBytes(1, 1), EnvelopeBytes(1, 2)));
  EXPECT_THAT(MustListInboxIds(), SizeIs(2));
  EXPECT_THAT(MustListEvidence(),
              ::testing::UnorderedElementsAre(EnvelopeBytes(1, 2, 1),
                                              EnvelopeBytes(1, 1, 2)));

  // Seeing the same equivocation again reports it again but keeps one copy.
  EXPECT_EQ(MustAppendOne(Record(1, 2, 1)), AppendOutcome::kEquivocation);
  EXPECT_THAT(MustListEvidence(), SizeIs(2));

  // Evidence survives a restart.
  OpenLog();
  EXPECT_THAT(MustListEvidence(), SizeIs(2));
}

TEST_F(LogTest, OneCallChainsSeveralRecordsOfAFeed) {
  std::vector<EnvelopeRecord> records;
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    records.push_back(Record(1, seq));
    records.push_back(Record(2, seq));  // Interleaved with a second feed.
  }
  std::vector<AppendResult> results = MustAppend(records);
  ASSERT_THAT(results, SizeIs(10));
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].outcome, AppendOutcome::kStored) << i;
    EXPECT_EQ(results[i].head_seq, i / 2 + 1) << i;
  }
  EXPECT_EQ(HeadSeq(1), 5u);
  EXPECT_EQ(HeadSeq(2), 5u);
  EXPECT_EQ(log_->GetHead(FeedId(2))->head_id(), EnvelopeId(2, 5));
  EXPECT_EQ(log_->envelope_count(), 10u);
  EXPECT_THAT(MustReadFeed(2, 1), SizeIs(5));
  // Inbox order within one batch is record order.
  std::vector<std::string> inbox = MustListInboxIds();
  ASSERT_THAT(inbox, SizeIs(10));
  EXPECT_EQ(inbox.front(), EnvelopeId(2, 5));
  EXPECT_EQ(inbox.back(), EnvelopeId(1, 1));
}

TEST_F(LogTest, MixedOutcomesInOneBatch) {
  ASSERT_THAT(Outcomes(MustAppend({Record(1, 1), Record(1, 2)})),
              ElementsAre(AppendOutcome::kStored, AppendOutcome::kStored));

  EnvelopeRecord bad_prev = Record(2, 2);
  bad_prev.prev_id = EnvelopeId(2, 1, /*variant=*/5);
  std::vector<AppendResult> results = MustAppend({
      Record(1, 3),                 // stored: extends feed 1
      Record(1, 2),                 // duplicate of an earlier call
      Record(1, 5),                 // gap: head is 3 now
      Record(2, 1),                 // stored: starts feed 2
      bad_prev,                     // prev mismatch on feed 2
      Record(1, 3, /*variant=*/1),  // equivocates with the 1st of this call
      Record(1, 4),                 // stored: chains on the 1st of this call
      Record(2, 1),                 // duplicate of the 4th of this call
      Record(3, 2),                 // gap on an unknown feed
  });
  EXPECT_THAT(Outcomes(results),
              ElementsAre(AppendOutcome::kStored, AppendOutcome::kDuplicate,
                          AppendOutcome::kGap, AppendOutcome::kStored,
                          AppendOutcome::kPrevMismatch,
                          AppendOutcome::kEquivocation, AppendOutcome::kStored,
                          AppendOutcome::kDuplicate, AppendOutcome::kGap));
  EXPECT_THAT(HeadSeqs(results), ElementsAre(3, 3, 3, 1, 1, 3, 4, 1, 0));

  EXPECT_EQ(HeadSeq(1), 4u);
  EXPECT_EQ(HeadSeq(2), 1u);
  EXPECT_EQ(log_->GetHead(FeedId(3)), std::nullopt);
  EXPECT_EQ(log_->envelope_count(), 5u);
  EXPECT_THAT(MustListEvidence(), ElementsAre(EnvelopeBytes(1, 3, 1)));
  EXPECT_THAT(MustListInboxIds(),
              ElementsAre(EnvelopeId(1, 4), EnvelopeId(2, 1), EnvelopeId(1, 3),
                          EnvelopeId(1, 2), EnvelopeId(1, 1)));
}

TEST_F(LogTest, MalformedRecordRefusesTheWholeCall) {
  EnvelopeRecord short_id = Record(1, 2);
  short_id.id = "short";
  EnvelopeRecord short_feed = Record(2, 1);
  short_feed.feed_id = "short";
  EnvelopeRecord seq_zero = Record(3, 1);
  seq_zero.seq = 0;
  EnvelopeRecord bad_receipt = Record(4, 1);
  ReceiptUpdate short_envelope_id;
  short_envelope_id.envelope_id = "short";
  short_envelope_id.recipient = "PH.CG";
  bad_receipt.receipts.push_back(short_envelope_id);

  for (const EnvelopeRecord& bad :
       {short_id, short_feed, seq_zero, bad_receipt}) {
    absl::StatusOr<std::vector<AppendResult>> results =
        log_->Append({Record(1, 1), bad});
    EXPECT_EQ(results.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(results.status().message(), HasSubstr("record 1"));
  }
  EXPECT_EQ(log_->envelope_count(), 0u);
  EXPECT_THAT(log_->ListHeads(), IsEmpty());
  EXPECT_THAT(MustListInboxIds(), IsEmpty());
}

TEST_F(LogTest, InboxHoldsOnlyRecordsThatAskForIt) {
  EnvelopeRecord own = Record(1, 1);
  own.inbox = InboxEntry::kNo;  // e.g. our own sends
  ASSERT_THAT(Outcomes(MustAppend({own, Record(1, 2), Record(2, 1)})),
              ElementsAre(AppendOutcome::kStored, AppendOutcome::kStored,
                          AppendOutcome::kStored));
  EXPECT_THAT(MustListInboxIds(),
              ElementsAre(EnvelopeId(2, 1), EnvelopeId(1, 2)));
  EXPECT_THAT(MustListInboxIds(1), ElementsAre(EnvelopeId(2, 1)));
  EXPECT_THAT(MustListInboxIds(0), IsEmpty());
  EXPECT_EQ(log_->envelope_count(), 3u);
}

TEST_F(LogTest, ReceiptsOnlyGoUp) {
  const std::string target = EnvelopeId(9, 1);
  auto with_receipts = [](EnvelopeRecord record,
                          std::vector<ReceiptUpdate> receipts) {
    record.receipts = std::move(receipts);
    return record;
  };
  auto update = [&](absl::string_view recipient, int32_t status, int64_t at) {
    return ReceiptUpdate{
        .envelope_id = target,
        .recipient = std::string(recipient),
        .status = status,
        .at_unix_ms = at,
        .receipt_envelope_id = Id('R', static_cast<uint64_t>(at))};
  };
  auto receipts = [&]() {
    absl::StatusOr<std::vector<std::pair<std::string, proto::ReceiptRecord>>>
        list = log_->ListReceipts(target);
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<std::pair<std::string, std::pair<int32_t, int64_t>>> out;
    if (list.ok()) {
      for (const auto& [recipient, record] : *list) {
        out.push_back({recipient, {record.status(), record.at_unix_ms()}});
      }
    }
    return out;
  };
  using Entry = std::pair<std::string, std::pair<int32_t, int64_t>>;

  // Within one batch: 2 then 1 keeps 2; two recipients kept apart.
  ASSERT_EQ(MustAppendOne(with_receipts(
                Record(1, 1), {update("PH.CG", 2, 10), update("PH.CG", 1, 11),
                               update("ID.BAKAMLA", 1, 12)})),
            AppendOutcome::kStored);
  EXPECT_THAT(receipts(), ElementsAre(Entry{"ID.BAKAMLA", {1, 12}},
                                      Entry{"PH.CG", {2, 10}}));

  // Across batches: lower and equal are ignored, higher replaces.
  ASSERT_EQ(
      MustAppendOne(with_receipts(Record(1, 2), {update("PH.CG", 1, 20)})),
      AppendOutcome::kStored);
  ASSERT_EQ(
      MustAppendOne(with_receipts(Record(1, 3), {update("PH.CG", 2, 30)})),
      AppendOutcome::kStored);
  EXPECT_THAT(receipts(), ElementsAre(Entry{"ID.BAKAMLA", {1, 12}},
                                      Entry{"PH.CG", {2, 10}}));
  ASSERT_EQ(
      MustAppendOne(with_receipts(Record(1, 4), {update("PH.CG", 3, 40)})),
      AppendOutcome::kStored);

  // A record that is not stored applies none of its receipts.
  EXPECT_EQ(
      MustAppendOne(with_receipts(Record(1, 4), {update("PH.CG", 9, 50)})),
      AppendOutcome::kDuplicate);
  EXPECT_EQ(
      MustAppendOne(with_receipts(Record(1, 9), {update("PH.CG", 9, 60)})),
      AppendOutcome::kGap);
  EXPECT_EQ(MustAppendOne(
                with_receipts(Record(1, 4, 1), {update("ID.BAKAMLA", 9, 70)})),
            AppendOutcome::kEquivocation);

  EXPECT_THAT(receipts(), ElementsAre(Entry{"ID.BAKAMLA", {1, 12}},
                                      Entry{"PH.CG", {3, 40}}));
  absl::StatusOr<std::vector<std::pair<std::string, proto::ReceiptRecord>>>
      list = log_->ListReceipts(target);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)[1].second.receipt_envelope_id(), Id('R', 40));

  // Receipts of another envelope are not mixed in, and keep after reopening.
  absl::StatusOr<std::vector<std::pair<std::string, proto::ReceiptRecord>>>
      other = log_->ListReceipts(EnvelopeId(9, 2));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_THAT(*other, IsEmpty());
  OpenLog();
  EXPECT_THAT(receipts(), ElementsAre(Entry{"ID.BAKAMLA", {1, 12}},
                                      Entry{"PH.CG", {3, 40}}));
  ASSERT_EQ(
      MustAppendOne(with_receipts(Record(1, 5), {update("PH.CG", 2, 80)})),
      AppendOutcome::kStored);
  EXPECT_THAT(receipts(), ElementsAre(Entry{"ID.BAKAMLA", {1, 12}},
                                      Entry{"PH.CG", {3, 40}}));

  EXPECT_EQ(log_->ListReceipts("short").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LogTest, ReopeningRestoresEverything) {
  EnvelopeRecord own = Record(2, 1);
  own.inbox = InboxEntry::kNo;
  own.origin = "PH.CG";
  own.audience = {"PH.CG"};
  EnvelopeRecord with_receipt = Record(1, 3);
  with_receipt.receipts.push_back({.envelope_id = EnvelopeId(2, 1),
                                   .recipient = "MY.NCB",
                                   .status = 2,
                                   .at_unix_ms = 77,
                                   .receipt_envelope_id = EnvelopeId(1, 3)});
  ASSERT_THAT(MustAppend({Record(1, 1), own, Record(1, 2)}), SizeIs(3));
  ASSERT_EQ(MustAppendOne(with_receipt), AppendOutcome::kStored);
  ASSERT_EQ(MustAppendOne(Record(1, 3, /*variant=*/1)),
            AppendOutcome::kEquivocation);
  const std::vector<proto::FeedHead> heads_before = log_->ListHeads();
  const std::vector<std::string> inbox_before = MustListInboxIds();
  ASSERT_THAT(inbox_before, SizeIs(3));

  OpenLog();

  EXPECT_EQ(log_->envelope_count(), 4u);
  std::vector<proto::FeedHead> heads = log_->ListHeads();
  ASSERT_THAT(heads, SizeIs(2));
  for (size_t i = 0; i < heads.size(); ++i) {
    EXPECT_EQ(heads[i].SerializeAsString(),
              heads_before[i].SerializeAsString());
  }
  // Ordered by feed id.
  EXPECT_EQ(heads[0].feed_id(), FeedId(1));
  EXPECT_EQ(heads[0].seq(), 3u);
  EXPECT_EQ(heads[1].feed_id(), FeedId(2));
  EXPECT_EQ(heads[1].origin(), "PH.CG");
  EXPECT_THAT(heads[1].audience(), ElementsAre("PH.CG"));

  EXPECT_EQ(MustGetEnvelope(EnvelopeId(2, 1)), EnvelopeBytes(2, 1));
  EXPECT_THAT(MustReadFeed(1, 1),
              ElementsAre(EnvelopeBytes(1, 1), EnvelopeBytes(1, 2),
                          EnvelopeBytes(1, 3)));
  EXPECT_EQ(MustListInboxIds(), inbox_before);
  absl::StatusOr<std::vector<std::pair<std::string, proto::ReceiptRecord>>>
      receipts = log_->ListReceipts(EnvelopeId(2, 1));
  ASSERT_TRUE(receipts.ok()) << receipts.status();
  ASSERT_THAT(*receipts, SizeIs(1));
  EXPECT_EQ((*receipts)[0].first, "MY.NCB");
  EXPECT_EQ((*receipts)[0].second.status(), 2);
  EXPECT_THAT(MustListEvidence(), ElementsAre(EnvelopeBytes(1, 3, 1)));

  // The reloaded heads and counters carry on where they stopped: duplicates
  // are still duplicates, chains continue, new inbox entries come first.
  EXPECT_EQ(MustAppendOne(Record(1, 3)), AppendOutcome::kDuplicate);
  EXPECT_EQ(MustAppendOne(Record(1, 5)), AppendOutcome::kGap);
  EXPECT_EQ(MustAppendOne(Record(1, 4)), AppendOutcome::kStored);
  EXPECT_EQ(log_->envelope_count(), 5u);
  std::vector<std::string> inbox = MustListInboxIds();
  ASSERT_THAT(inbox, SizeIs(4));
  EXPECT_EQ(inbox[0], EnvelopeId(1, 4));

  OpenLog();
  EXPECT_EQ(log_->envelope_count(), 5u);
  EXPECT_EQ(MustListInboxIds(), inbox);
}

TEST_F(LogTest, ReadFeedRespectsItsBounds) {
  // Feeds 1 and 2 have adjacent ids, so a scan that overran feed 1's prefix
  // would read feed 2.
  std::vector<EnvelopeRecord> records;
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    EnvelopeRecord record = Record(1, seq);
    record.envelope = std::string(100, static_cast<char>('a' + seq));
    records.push_back(std::move(record));
  }
  records.push_back(Record(2, 1));
  ASSERT_THAT(MustAppend(records), SizeIs(6));
  const std::string env1(100, 'b');

  EXPECT_THAT(MustReadFeed(1, 1), SizeIs(5));
  EXPECT_THAT(MustReadFeed(1, 1, /*max_count=*/2), SizeIs(2));
  EXPECT_THAT(MustReadFeed(1, 1, /*max_count=*/0), IsEmpty());
  // Bytes: never over the bound, except that the first always comes.
  EXPECT_THAT(MustReadFeed(1, 1, 100, /*max_bytes=*/250), SizeIs(2));
  EXPECT_THAT(MustReadFeed(1, 1, 100, /*max_bytes=*/300), SizeIs(3));
  EXPECT_THAT(MustReadFeed(1, 1, 100, /*max_bytes=*/1), ElementsAre(env1));
  EXPECT_THAT(MustReadFeed(1, 1, 100, /*max_bytes=*/0), ElementsAre(env1));
  // From a position.
  EXPECT_THAT(MustReadFeed(1, 4),
              ElementsAre(std::string(100, 'e'), std::string(100, 'f')));
  EXPECT_THAT(MustReadFeed(1, 0), SizeIs(5));
  EXPECT_THAT(MustReadFeed(1, 5), SizeIs(1));
  EXPECT_THAT(MustReadFeed(1, 6), IsEmpty());
  EXPECT_THAT(MustReadFeed(1, UINT64_MAX), IsEmpty());
  EXPECT_THAT(MustReadFeed(2, 1), ElementsAre(EnvelopeBytes(2, 1)));
  EXPECT_THAT(MustReadFeed(3, 1), IsEmpty());

  EXPECT_EQ(log_->ReadFeed("short", 1, 10, 1000).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LogTest, OpeningTheSameDirectoryTwiceFails) {
  absl::StatusOr<std::unique_ptr<Log>> second = Log::Open(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("locked"));
  EXPECT_THAT(second.status().message(), HasSubstr(options_.path));

  // The first Log is unaffected, and once closed the directory opens again.
  EXPECT_EQ(MustAppendOne(Record(1, 1)), AppendOutcome::kStored);
  log_.reset();
  OpenLog();
  EXPECT_EQ(log_->envelope_count(), 1u);
}

TEST_F(LogTest, OpenReportsAnUnusablePath) {
  // A regular file where the directory should be.
  const std::string file = root_ / "file";
  { std::ofstream(file) << "not a database"; }
  LogOptions options;
  options.path = file;
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(options);
  EXPECT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr(file));

  EXPECT_EQ(Log::Open(LogOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LogTest, ConcurrentAppendsAndReadsAgree) {
  static constexpr uint64_t kFeeds = 4;
  static constexpr uint64_t kPerFeed = 50;
  options_.sync = false;  // Threads, not fsyncs, are under test here.
  OpenLog();
  std::vector<std::thread> threads;
  for (uint64_t feed = 1; feed <= kFeeds; ++feed) {
    threads.emplace_back([this, feed] {
      for (uint64_t seq = 1; seq <= kPerFeed; ++seq) {
        // Each thread also races its neighbour to store that feed's first
        // record: exactly one of them may win.
        absl::StatusOr<std::vector<AppendResult>> results =
            log_->Append({Record(feed, seq), Record(feed % kFeeds + 1, 1)});
        ASSERT_TRUE(results.ok()) << results.status();
        if (seq > 1) {
          ASSERT_EQ((*results)[0].outcome, AppendOutcome::kStored);
        }
        ASSERT_EQ((*results)[0].head_seq, seq);
        ASSERT_EQ(log_->GetHead(FeedId(feed))->seq(), seq);
      }
    });
  }
  threads.emplace_back([this] {
    for (int i = 0; i < 200; ++i) {
      EXPECT_LE(log_->ListHeads().size(), kFeeds);
      EXPECT_TRUE(log_->ListInbox(10).ok());
    }
  });
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(log_->envelope_count(), kFeeds * kPerFeed);
  EXPECT_THAT(MustListInboxIds(10000), SizeIs(kFeeds * kPerFeed));
  for (uint64_t feed = 1; feed <= kFeeds; ++feed) {
    EXPECT_THAT(MustReadFeed(feed, 1), SizeIs(kPerFeed));
  }
}

TEST_F(LogTest, HoldsAtKnowsEachPositionsEnvelopeWithoutReadingIt) {
  MustAppend({Record(1, 1), Record(1, 2), Record(1, 3)});
  EXPECT_TRUE(log_->HoldsAt(FeedId(1), 1, EnvelopeId(1, 1)));  // from disk
  EXPECT_TRUE(log_->HoldsAt(FeedId(1), 3, EnvelopeId(1, 3)));  // the head
  EXPECT_FALSE(log_->HoldsAt(FeedId(1), 2, EnvelopeId(1, 1)));
  EXPECT_FALSE(log_->HoldsAt(FeedId(1), 3, EnvelopeId(1, 3, 1)));
  EXPECT_FALSE(log_->HoldsAt(FeedId(1), 4, EnvelopeId(1, 4)));
  EXPECT_FALSE(log_->HoldsAt(FeedId(2), 1, EnvelopeId(2, 1)));
  EXPECT_FALSE(log_->HoldsAt("short", 1, EnvelopeId(1, 1)));
  EXPECT_FALSE(log_->HoldsAt(FeedId(1), 0, EnvelopeId(1, 1)));
  OpenLog();  // and after a restart
  EXPECT_TRUE(log_->HoldsAt(FeedId(1), 2, EnvelopeId(1, 2)));
}

}  // namespace
}  // namespace tidings::storage

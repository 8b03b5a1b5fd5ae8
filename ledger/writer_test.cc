#include "ledger/writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <latch>
#include <mutex>
#include <semaphore>
#include <thread>

#include "ledger/reader.h"
#include "ledger/segment.h"
#include "ledger/testing/fault_fs.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::EventFor;
using testing::Fault;
using testing::FaultFileSystem;
using testing::TempDir;

// Events of the largest size: one batch of 8 makes a block of 524544 bytes,
// so that a 16 MiB segment holds exactly 31 of them.
constexpr size_t kBigEventBytes = kEventBytesMax;
constexpr uint32_t kBigBatchEvents = 8;
constexpr uint64_t kBigBlockBytes =
    kBlockHeaderBytes + kBigBatchEvents * (kEventFrameBytes + kBigEventBytes) + kBlockTrailerBytes;
constexpr uint64_t kBigBlocksPerSegment = kSegmentBytesMin / kBigBlockBytes;
static_assert(kBigBlocksPerSegment == 31);

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger")); }

  std::unique_ptr<Writer> Open(WriterOptions options = testing::SmallSegmentOptions()) {
    auto w = testing::OpenTestWriter(ledger_, std::move(options));
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w.value()) : nullptr;
  }

  // Appends `count` events of `bytes` each as one batch; records them when acknowledged.
  AppendOutcome AppendEvents(Writer& w, uint32_t count, size_t bytes) {
    std::vector<std::string> events;
    for (uint32_t i = 0; i < count; ++i) events.push_back(EventFor(next_id_++, bytes));
    AppendOutcome out = w.AppendAndWait(BatchOf(events));
    if (out.status.ok()) {
      for (uint32_t i = 0; i < count; ++i) acked_[out.first_seq.value + i] = events[i];
    }
    return out;
  }

  // Every acknowledged event is in the log at its seq, and every byte of the shard checks out.
  void ExpectAckedEventsDurable() {
    auto scan = testing::VerifyShardFully(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
    ASSERT_TRUE(scan.ok()) << scan.status().ToString();
    auto events = testing::ReadAllEvents(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    EXPECT_EQ(events->size() + 1, scan->next_seq.value);
    for (const auto& [seq, bytes] : acked_) {
      ASSERT_LE(seq, events->size()) << "acknowledged seq " << seq << " is gone";
      EXPECT_TRUE((*events)[seq - 1] == bytes) << "seq " << seq << " holds other bytes";
    }
  }

  TempDir tmp_;
  testing::TestLedger ledger_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::string> acked_;  // seq -> event bytes
};

TEST_F(WriterTest, AppendsGetConsecutiveSeqsAndDurableNextSeqAdvances) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->durable_next_seq(), Seq{1});
  uint64_t expect = 1;
  for (uint32_t n : {1u, 2u, 5u, 1u, 17u}) {
    AppendOutcome out = AppendEvents(*w, n, 40);
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    EXPECT_EQ(out.first_seq.value, expect);
    expect += n;
    EXPECT_EQ(w->durable_next_seq().value, expect);
  }
  EXPECT_TRUE(w->health().ok());
  WriterStats stats = w->stats();
  EXPECT_EQ(stats.events, expect - 1);
  EXPECT_GE(stats.fsyncs, 1u);
  ASSERT_TRUE(w->Close().ok());
  ExpectAckedEventsDurable();
}

TEST_F(WriterTest, ConcurrentAppendsTileTheSeqsWithoutGapsAndAckOnlyDurableEvents) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  constexpr int kThreads = 4, kPerThread = 60;
  std::mutex mu;
  std::latch done(kThreads * kPerThread);
  std::atomic<int> acked_before_durable{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        uint32_t n = 1 + uint32_t((t * 7 + i) % 5);
        std::vector<std::string> events;
        for (uint32_t k = 0; k < n; ++k) {
          events.push_back(EventFor(uint64_t(t) << 32 | uint64_t(i) << 8 | k, 24 + k));
        }
        w->Append(BatchOf(events), [&, events](const AppendOutcome& out) {
          if (out.status.ok()) {
            if (w->durable_next_seq().value < out.first_seq.value + events.size()) {
              acked_before_durable++;
            }
            std::lock_guard<std::mutex> lock(mu);
            for (size_t k = 0; k < events.size(); ++k) {
              EXPECT_TRUE(acked_.emplace(out.first_seq.value + k, events[k]).second)
                  << "seq " << out.first_seq.value + k << " given twice";
            }
          } else {
            ADD_FAILURE() << out.status.ToString();
          }
          done.count_down();
        });
      }
    });
  }
  for (auto& p : producers) p.join();
  done.wait();
  EXPECT_EQ(acked_before_durable.load(), 0);
  // Seqs 1..N, no gap, no overlap.
  ASSERT_FALSE(acked_.empty());
  EXPECT_EQ(acked_.begin()->first, 1u);
  EXPECT_EQ(acked_.rbegin()->first, acked_.size());
  EXPECT_EQ(w->durable_next_seq().value, acked_.size() + 1);
  ASSERT_TRUE(w->Close().ok());
  ExpectAckedEventsDurable();
}

TEST_F(WriterTest, EmptyBatchIsInvalidArgument) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  AppendOutcome out = w->AppendAndWait(EventBatch());
  EXPECT_EQ(out.status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(w->health().ok());
  EXPECT_TRUE(AppendEvents(*w, 1, 10).status.ok());
}

TEST_F(WriterTest, AppendAfterCloseIsRefused) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(AppendEvents(*w, 1, 10).status.ok());
  ASSERT_TRUE(w->Close().ok());
  AppendOutcome out = w->AppendAndWait(BatchOf({EventFor(99, 10)}));
  EXPECT_FALSE(out.status.ok());
  EXPECT_EQ(out.first_seq, Seq{});
}

TEST_F(WriterTest, SegmentBytesOutOfRangeIsInvalidArgument) {
  WriterOptions o = testing::SmallSegmentOptions();
  o.segment_bytes = kSegmentBytesMin - 1;
  auto w = testing::OpenTestWriter(ledger_, o);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kInvalidArgument);
}

TEST_F(WriterTest, FirstSegmentIsPreallocatedAndNamedSeqOne) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0], JoinPath(ledger_.shard_dir, SegmentFileName(Seq{1})));
  EXPECT_EQ(testing::FileSize(paths[0]), kSegmentBytesMin);
}

TEST_F(WriterTest, FullSegmentRollsOverToOneNamedByItsFirstSeqAndIsTruncatedToItsData) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  for (uint64_t b = 0; b < kBigBlocksPerSegment + 2; ++b) {
    AppendOutcome out = AppendEvents(*w, kBigBatchEvents, kBigEventBytes);
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  }
  EXPECT_EQ(w->stats().segments_rolled, 1u);
  uint64_t second_first_seq = kBigBlocksPerSegment * kBigBatchEvents + 1;
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[1], JoinPath(ledger_.shard_dir, SegmentFileName(Seq{second_first_seq})));
  // The sealed segment ends exactly at its last block; the new one is preallocated.
  EXPECT_EQ(testing::FileSize(paths[0]), kBigBlocksPerSegment * kBigBlockBytes);
  EXPECT_EQ(testing::FileSize(paths[1]), kSegmentBytesMin);
  auto blocks = testing::ListBlocks(paths[0]);
  ASSERT_EQ(blocks.size(), kBigBlocksPerSegment);
  EXPECT_EQ(blocks.back().offset + blocks.back().size_bytes, testing::FileSize(paths[0]));
  auto second = testing::ListBlocks(paths[1]);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].first_seq.value, second_first_seq);
  ASSERT_TRUE(w->Close().ok());
  ExpectAckedEventsDurable();
}

TEST_F(WriterTest, ReopenContinuesSeqsAndTheChain) {
  for (int round = 0; round < 3; ++round) {
    auto w = Open();
    ASSERT_NE(w, nullptr);
    uint64_t next = acked_.size() + 1;
    EXPECT_EQ(w->recovered().next_seq.value, next);
    EXPECT_EQ(w->durable_next_seq().value, next);
    EXPECT_FALSE(w->recovered().torn_tail);
    for (uint32_t n : {3u, 1u, 4u}) {
      AppendOutcome out = AppendEvents(*w, n, 100);
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      EXPECT_EQ(out.first_seq.value, next);
      next += n;
    }
    ASSERT_TRUE(w->Close().ok());
    ExpectAckedEventsDurable();
  }
  // The chain links across reopens: every block names the hash of the one before.
  auto reader = LogReader::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
  ASSERT_TRUE(reader.ok());
  Hash32 prev{};
  int blocks = 0;
  ASSERT_TRUE(reader.value()
                  ->ReadFrom(Seq{1},
                             [&](const BlockView& b) {
                               EXPECT_EQ(b.header.prev_block_hash, prev) << "block " << blocks;
                               prev = b.stored_hash;
                               ++blocks;
                               return true;
                             })
                  .ok());
  EXPECT_EQ(blocks, 9);
}

TEST_F(WriterTest, ReopenAfterRolloverContinuesInTheLastSegment) {
  {
    auto w = Open();
    ASSERT_NE(w, nullptr);
    for (uint64_t b = 0; b < kBigBlocksPerSegment + 1; ++b) {
      ASSERT_TRUE(AppendEvents(*w, kBigBatchEvents, kBigEventBytes).status.ok());
    }
    ASSERT_TRUE(w->Close().ok());
  }
  auto w = Open();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->recovered().segments.size(), 2u);
  AppendOutcome out = AppendEvents(*w, 2, 50);
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.first_seq.value, (kBigBlocksPerSegment + 1) * kBigBatchEvents + 1);
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(testing::SegmentPaths(ledger_.shard_dir).size(), 2u);
  ExpectAckedEventsDurable();
}

TEST_F(WriterTest, LedgerTimeNeverGoesBackWhenTheClockDoes) {
  std::vector<int64_t> clock = {1000, 2000, 1500, 2000, 500, 3000};
  std::vector<int64_t> want = {1000, 2000, 2000, 2000, 2000, 3000};
  std::atomic<size_t> tick{0};
  WriterOptions o = testing::SmallSegmentOptions();
  o.clock_us = [&] { return clock[std::min(tick++, clock.size() - 1)]; };
  {
    auto w = Open(o);
    ASSERT_NE(w, nullptr);
    for (size_t i = 0; i < clock.size(); ++i) {
      AppendOutcome out = AppendEvents(*w, 1, 16);
      ASSERT_TRUE(out.status.ok());
      EXPECT_EQ(out.ledger_time_us, want[i]) << "append " << i;
    }
    ASSERT_TRUE(w->Close().ok());
  }
  // After a restart the clock is far behind; the last block's time carries over.
  o.clock_us = [] { return int64_t{10}; };
  {
    auto w = Open(o);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->recovered().last_ledger_time_us, 3000);
    AppendOutcome out = AppendEvents(*w, 1, 16);
    ASSERT_TRUE(out.status.ok());
    EXPECT_EQ(out.ledger_time_us, 3000);
    ASSERT_TRUE(w->Close().ok());
  }
  want.push_back(3000);
  auto reader = LogReader::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
  ASSERT_TRUE(reader.ok());
  std::vector<int64_t> got;
  ASSERT_TRUE(reader.value()
                  ->ReadFrom(Seq{1},
                             [&](const BlockView& b) {
                               got.push_back(b.header.ledger_time_us);
                               return true;
                             })
                  .ok());
  EXPECT_EQ(got, want);
  ExpectAckedEventsDurable();
}

// ---------------------------------------------------------------------------
// Fault injection: the writer fails closed.

struct FaultCase {
  Fault fault;
  const char* name;
};
void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

class WriterFaultTest : public WriterTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(WriterFaultTest, FailingAppendAndEveryLaterAppendAreUnavailable) {
  FaultFileSystem fs;
  auto w = Open(testing::SmallSegmentOptions(&fs));
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(AppendEvents(*w, 3, 64).status.ok());
  Seq durable = w->durable_next_seq();
  int syncs_before = fs.syncs();

  fs.Arm(GetParam().fault, 1);
  AppendOutcome failed = AppendEvents(*w, 2, 64);
  EXPECT_EQ(failed.status.code(), Code::kUnavailable) << failed.status.ToString();
  EXPECT_EQ(failed.first_seq, Seq{});
  Status health = w->health();
  EXPECT_EQ(health.code(), Code::kUnavailable) << health.ToString();
  int syncs_at_failure = fs.syncs();
  EXPECT_EQ(syncs_at_failure, syncs_before + (GetParam().fault == Fault::kSyncEio ? 1 : 0));

  // Later appends, waited for one by one and queued together, all fail.
  fs.Disarm();  // even a healed disk must not be written again
  for (int i = 0; i < 5; ++i) {
    AppendOutcome out = AppendEvents(*w, 1, 64);
    EXPECT_EQ(out.status.code(), Code::kUnavailable) << out.status.ToString();
  }
  std::latch done(20);
  std::atomic<int> ok_after_fault{0};
  for (int i = 0; i < 20; ++i) {
    w->Append(BatchOf({EventFor(1000 + i, 64)}), [&](const AppendOutcome& out) {
      if (out.status.code() != Code::kUnavailable) ok_after_fault++;
      done.count_down();
    });
  }
  done.wait();
  EXPECT_EQ(ok_after_fault.load(), 0);
  EXPECT_EQ(w->durable_next_seq(), durable);
  EXPECT_FALSE(w->Close().ok());
  EXPECT_EQ(fs.syncs(), syncs_at_failure) << "fdatasync was called again after the failure";

  // A restart with a healthy file system recovers what is on disk.
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_GE(again->recovered().next_seq, durable);
  AppendOutcome out = AppendEvents(*again, 2, 64);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.first_seq, again->recovered().next_seq);
  ASSERT_TRUE(again->Close().ok());
  ExpectAckedEventsDurable();
}

TEST_P(WriterFaultTest, FaultUnderConcurrentLoadAcknowledgesNothingAfterIt) {
  FaultFileSystem fs;
  auto w = Open(testing::SmallSegmentOptions(&fs));
  ASSERT_NE(w, nullptr);
  // Let a few groups succeed, then fail in the middle of the stream. A small
  // window of appends in flight per producer keeps the groups small and many.
  fs.Arm(GetParam().fault, 4);
  constexpr int kThreads = 3, kPerThread = 150, kWindow = 4;
  std::mutex mu;
  std::vector<bool> completions;  // ok or not, in the order reported
  int syncs_at_first_failure = -1;
  std::latch done(kThreads * kPerThread);
  // Outlive the producers: the writer's thread releases them.
  std::vector<std::unique_ptr<std::counting_semaphore<kWindow>>> windows;
  for (int t = 0; t < kThreads; ++t) {
    windows.push_back(std::make_unique<std::counting_semaphore<kWindow>>(kWindow));
  }
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      std::counting_semaphore<kWindow>& window = *windows[t];
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<std::string> events = {EventFor(uint64_t(t) << 32 | uint64_t(i), 48),
                                           EventFor(uint64_t(t) << 32 | uint64_t(i) | 1 << 20, 8)};
        window.acquire();
        w->Append(BatchOf(events), [&, events](const AppendOutcome& out) {
          window.release();
          std::lock_guard<std::mutex> lock(mu);
          completions.push_back(out.status.ok());
          if (out.status.ok()) {
            for (size_t k = 0; k < events.size(); ++k) acked_[out.first_seq.value + k] = events[k];
          } else {
            EXPECT_EQ(out.status.code(), Code::kUnavailable) << out.status.ToString();
            if (syncs_at_first_failure < 0) syncs_at_first_failure = fs.syncs();
          }
          done.count_down();
        });
      }
      for (int k = 0; k < kWindow; ++k) window.acquire();
    });
  }
  for (auto& p : producers) p.join();
  done.wait();
  ASSERT_EQ(completions.size(), size_t(kThreads * kPerThread));
  auto first_failure = std::find(completions.begin(), completions.end(), false);
  ASSERT_NE(first_failure, completions.end()) << "the fault never fired";
  EXPECT_EQ(std::count(first_failure, completions.end(), true), 0)
      << "an append was acknowledged after the writer failed";
  EXPECT_FALSE(w->health().ok());
  EXPECT_FALSE(w->Close().ok());
  EXPECT_EQ(fs.syncs(), syncs_at_first_failure) << "fdatasync was called again after the failure";

  auto again = Open();
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(AppendEvents(*again, 1, 32).status.ok());
  ASSERT_TRUE(again->Close().ok());
  ExpectAckedEventsDurable();
}

INSTANTIATE_TEST_SUITE_P(Faults, WriterFaultTest,
                         ::testing::Values(FaultCase{Fault::kSyncEio, "SyncEio"},
                                           FaultCase{Fault::kWriteEio, "WriteEio"},
                                           FaultCase{Fault::kWriteEnospc, "WriteEnospc"},
                                           FaultCase{Fault::kShortWrite, "ShortWrite"}),
                         [](const ::testing::TestParamInfo<FaultCase>& info) {
                           return info.param.name;
                         });

// Rolling a segment takes three fdatasyncs (seal the old segment, the new
// segment's allocation, the group); a failure at any of them fails closed.
class WriterRolloverFaultTest : public WriterTest, public ::testing::WithParamInterface<int> {};

TEST_P(WriterRolloverFaultTest, SyncFailureWhileRollingASegmentFailsClosed) {
  FaultFileSystem fs;
  auto w = Open(testing::SmallSegmentOptions(&fs));
  ASSERT_NE(w, nullptr);
  for (uint64_t b = 0; b < kBigBlocksPerSegment; ++b) {
    ASSERT_TRUE(AppendEvents(*w, kBigBatchEvents, kBigEventBytes).status.ok());
  }
  fs.Arm(Fault::kSyncEio, GetParam());
  int syncs_before = fs.syncs();
  AppendOutcome out = AppendEvents(*w, kBigBatchEvents, kBigEventBytes);
  EXPECT_EQ(out.status.code(), Code::kUnavailable) << out.status.ToString();
  EXPECT_EQ(fs.syncs(), syncs_before + GetParam());
  EXPECT_EQ(AppendEvents(*w, 1, 10).status.code(), Code::kUnavailable);
  EXPECT_FALSE(w->Close().ok());
  EXPECT_EQ(fs.syncs(), syncs_before + GetParam());

  auto again = Open();
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(AppendEvents(*again, 3, 10).status.ok());
  ASSERT_TRUE(again->Close().ok());
  ExpectAckedEventsDurable();
}

INSTANTIATE_TEST_SUITE_P(SyncNumber, WriterRolloverFaultTest, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace giftledger

namespace giftledger {
namespace {

TEST(WriterLock, SecondWriterOnTheSameShardIsRefusedUntilTheFirstCloses) {
  testing::TempDir tmp;
  testing::TestLedger l = testing::FormatTestLedger(tmp.Sub("ledger"));
  auto first = testing::OpenTestWriter(l);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = testing::OpenTestWriter(l);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("another process"), std::string::npos);
  ASSERT_TRUE(first.value()->AppendAndWait(testing::BatchOf({"e1"})).status.ok());
  ASSERT_TRUE(first.value()->Close().ok());
  auto third = testing::OpenTestWriter(l);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third.value()->durable_next_seq().value, 2u);
}

// ---- Replication: blocks sealed elsewhere, the durable-block hook ----

// The raw bytes of every block of the shard, in log order.
std::vector<std::string> RawBlocks(const testing::TestLedger& l) {
  std::vector<std::string> out;
  auto reader = LogReader::Open(l.shard_dir, ShardId{0}, l.public_key());
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  Status st = reader.value()->ReadFrom(Seq{1}, [&](const BlockView& b) {
    out.emplace_back(reinterpret_cast<const char*>(b.begin), b.size_bytes());
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

AppendOutcome AppendVerified(Writer& w, const testing::TestLedger& l, const std::string& block) {
  BlockView view;
  std::vector<Hash32> leaves;
  Status st = CheckWholeBlock(block, l.public_key(), &view, &leaves);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::promise<AppendOutcome> p;
  auto f = p.get_future();
  w.AppendVerifiedBlock(block, view.header, view.stored_hash, std::move(leaves),
                        [&p](const AppendOutcome& o) { p.set_value(o); });
  return f.get();
}

class WriterCopyTest : public WriterTest {
 protected:
  void SetUp() override {
    WriterTest::SetUp();
    // A second machine's copy of the freshly formatted ledger: same key.
    std::filesystem::copy(ledger_.dir, tmp_.Sub("copy"), std::filesystem::copy_options::recursive);
    copy_ = ledger_;
    copy_.dir = tmp_.Sub("copy");
    copy_.shard_dir = copy_.dir + ledger_.shard_dir.substr(ledger_.dir.size());
  }
  testing::TestLedger copy_;
};

TEST_F(WriterCopyTest, CopiedBlocksMakeAByteIdenticalLogAcrossSegmentRolls) {
  {
    auto w = Open();
    ASSERT_NE(w, nullptr);
    for (uint64_t i = 0; i < kBigBlocksPerSegment + 3; ++i) {
      ASSERT_TRUE(AppendEvents(*w, kBigBatchEvents, kBigEventBytes).status.ok());
    }
    ASSERT_TRUE(AppendEvents(*w, 3, 100).status.ok());
    ASSERT_TRUE(w->Close().ok());
  }
  const std::vector<std::string> blocks = RawBlocks(ledger_);
  ASSERT_EQ(blocks.size(), kBigBlocksPerSegment + 4);
  {
    auto c = testing::OpenTestWriter(copy_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (const std::string& b : blocks) {
      AppendOutcome o = AppendVerified(*c.value(), copy_, b);
      ASSERT_TRUE(o.status.ok()) << o.status.ToString();
    }
    ASSERT_TRUE(c.value()->Close().ok());
  }
  const auto a = testing::SegmentPaths(ledger_.shard_dir);
  const auto b = testing::SegmentPaths(copy_.shard_dir);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const uint64_t n = testing::FileSize(a[i]);
    ASSERT_EQ(testing::FileSize(b[i]), n);
    EXPECT_TRUE(testing::ReadRange(a[i], 0, n) == testing::ReadRange(b[i], 0, n)) << b[i];
  }
  auto scan = testing::VerifyShardFully(copy_.shard_dir, ShardId{0}, copy_.public_key());
  EXPECT_TRUE(scan.ok()) << scan.status().ToString();
}

TEST_F(WriterCopyTest, CopiedBlockThatDoesNotContinueTheChainIsDataLossAndNotWritten) {
  {
    auto w = Open();
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(AppendEvents(*w, 2, 100).status.ok());
    ASSERT_TRUE(AppendEvents(*w, 2, 100).status.ok());
    ASSERT_TRUE(w->Close().ok());
  }
  const std::vector<std::string> blocks = RawBlocks(ledger_);
  ASSERT_EQ(blocks.size(), 2u);
  auto c = testing::OpenTestWriter(copy_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  AppendOutcome gap = AppendVerified(*c.value(), copy_, blocks[1]);  // seq 3 first
  EXPECT_EQ(gap.status.code(), Code::kDataLoss) << gap.status.ToString();
  EXPECT_EQ(c.value()->durable_next_seq(), Seq{1});
  // The writer is still healthy: the right block is taken after the refusal.
  EXPECT_TRUE(AppendVerified(*c.value(), copy_, blocks[0]).status.ok());
  EXPECT_TRUE(AppendVerified(*c.value(), copy_, blocks[1]).status.ok());
  EXPECT_EQ(c.value()->durable_next_seq(), Seq{5});
}

TEST_F(WriterTest, DurableBlockHookSeesEveryBlockBeforeItsAppendCompletes) {
  std::vector<uint64_t> seen;  // first seqs, in order
  std::atomic<bool> refuse{false};
  WriterOptions o = testing::SmallSegmentOptions();
  o.on_durable_block = [&](const std::string& block, const BlockHeader& h) {
    EXPECT_EQ(block.size(), h.block_bytes());
    if (refuse.load()) return Unavailable("not replicated");
    seen.push_back(h.first_seq.value);
    return Status::Ok();
  };
  auto w = Open(o);
  ASSERT_NE(w, nullptr);
  AppendOutcome first = AppendEvents(*w, 3, 100);
  ASSERT_TRUE(first.status.ok());
  ASSERT_EQ(seen, std::vector<uint64_t>{1});
  refuse = true;
  // A block that cannot be replicated is never acknowledged; the writer fails closed.
  AppendOutcome second = AppendEvents(*w, 1, 100);
  EXPECT_EQ(second.status.code(), Code::kUnavailable);
  EXPECT_EQ(AppendEvents(*w, 1, 100).status.code(), Code::kUnavailable);
  EXPECT_EQ(seen.size(), 1u);
}

}  // namespace
}  // namespace giftledger

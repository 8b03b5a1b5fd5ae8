#include "ledger/tailer.h"

#include <gtest/gtest.h>

#include <thread>

#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::EventFor;

class TailerTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger")); }

  // Every event from `from` to the durable end, polled in small steps.
  std::vector<std::pair<uint64_t, std::string>> Drain(LogTailer& t, Seq durable_next) {
    std::vector<std::pair<uint64_t, std::string>> out;
    for (;;) {
      auto n = t.Poll(durable_next, 5, [&](Seq s, std::string_view ev) {
        out.emplace_back(s.value, std::string(ev));
      });
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok() || n.value() == 0) return out;
    }
  }

  testing::TempDir tmp_;
  testing::TestLedger ledger_;
};

TEST_F(TailerTest, FollowsALiveWriterAcrossSegmentRollover) {
  auto w = testing::OpenTestWriter(ledger_);
  ASSERT_TRUE(w.ok());
  auto t = LogTailer::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key(), Seq{1});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  uint64_t id = 0;
  std::vector<std::pair<uint64_t, std::string>> seen;
  // Large events so that the 16 MiB segments roll a few times.
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string> events;
    for (int i = 0; i < 100; ++i) events.push_back(EventFor(++id, 60 * 1024));
    auto out = w.value()->AppendAndWait(BatchOf(events));
    ASSERT_TRUE(out.status.ok());
    auto got = Drain(*t.value(), w.value()->durable_next_seq());
    seen.insert(seen.end(), got.begin(), got.end());
  }
  EXPECT_GE(testing::SegmentPaths(ledger_.shard_dir).size(), 3u);
  ASSERT_EQ(seen.size(), id);
  for (uint64_t i = 0; i < id; ++i) {
    EXPECT_EQ(seen[i].first, i + 1);
    EXPECT_EQ(seen[i].second, EventFor(i + 1, 60 * 1024));
  }
  ASSERT_TRUE(w.value()->Close().ok());
}

TEST_F(TailerTest, StartsInTheMiddleOfABlockAndNeverPassesTheDurableBound) {
  auto w = testing::OpenTestWriter(ledger_);
  ASSERT_TRUE(w.ok());
  std::vector<std::string> events;
  for (uint64_t i = 1; i <= 10; ++i) events.push_back(EventFor(i, 200));
  ASSERT_TRUE(w.value()->AppendAndWait(BatchOf(events)).status.ok());
  auto t = LogTailer::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key(), Seq{4});
  ASSERT_TRUE(t.ok());
  // The caller's bound stops delivery even though the block is complete.
  auto none = Drain(*t.value(), Seq{1});
  EXPECT_TRUE(none.empty());
  auto got = Drain(*t.value(), w.value()->durable_next_seq());
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got.front().first, 4u);
  EXPECT_EQ(got.back().second, EventFor(10, 200));
  EXPECT_EQ(t.value()->next_seq().value, 11u);
  ASSERT_TRUE(w.value()->Close().ok());
}

TEST_F(TailerTest, EmptyShardWaitsForTheFirstSegment) {
  auto t = LogTailer::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key(), Seq{1});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto w = testing::OpenTestWriter(ledger_);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.value()->AppendAndWait(BatchOf({EventFor(1, 50)})).status.ok());
  auto got = Drain(*t.value(), w.value()->durable_next_seq());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, EventFor(1, 50));
  ASSERT_TRUE(w.value()->Close().ok());
}

TEST_F(TailerTest, FlippedEventBitInANewBlockIsDataLoss) {
  auto w = testing::OpenTestWriter(ledger_);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.value()->AppendAndWait(BatchOf({EventFor(1, 50)})).status.ok());
  auto t = LogTailer::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key(), Seq{1});
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(Drain(*t.value(), w.value()->durable_next_seq()).size(), 1u);
  ASSERT_TRUE(w.value()->AppendAndWait(BatchOf({EventFor(2, 50)})).status.ok());
  std::string seg = testing::SegmentPaths(ledger_.shard_dir).back();
  auto blocks = testing::ListBlocks(seg);
  ASSERT_EQ(blocks.size(), 2u);
  testing::FlipBit(seg, blocks[1].offset + kBlockHeaderBytes + 20, 0);
  auto n = t.value()->Poll(w.value()->durable_next_seq(), 100, [](Seq, std::string_view) {});
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Code::kDataLoss);
  ASSERT_TRUE(w.value()->Close().ok());
}

}  // namespace
}  // namespace giftledger

#include "ledger/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "ledger/merkle.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "ledger/writer.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::EventFor;
using testing::TempDir;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger")); }

  WriterOptions Options(uint64_t every_blocks) {
    WriterOptions o = testing::SmallSegmentOptions();
    o.checkpoints.every_blocks = every_blocks;
    o.checkpoints.every_ms = 3'600'000;  // only the block rule and Close in these tests
    return o;
  }

  void AppendBlocks(Writer& w, int blocks, uint32_t events_per_block) {
    for (int b = 0; b < blocks; ++b) {
      std::vector<std::string> events;
      for (uint32_t i = 0; i < events_per_block; ++i) events.push_back(EventFor(next_id_++, 40));
      ASSERT_TRUE(w.AppendAndWait(BatchOf(events)).status.ok());
    }
  }

  // Root of the leaves of events 1..n as read back from the log.
  Hash32 LogRoot(uint64_t n) {
    auto events = testing::ReadAllEvents(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
    EXPECT_TRUE(events.ok());
    std::vector<Hash32> leaves;
    for (uint64_t i = 0; i < n; ++i) leaves.push_back(LeafHash(events.value()[i]));
    return MerkleRoot(leaves);
  }

  CheckpointFile Newest() {
    auto list = ListCheckpoints(ledger_.shard_dir);
    EXPECT_TRUE(list.ok() && !list->empty());
    auto f = ReadCheckpointFile(list->back().path);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.value();
  }

  TempDir tmp_;
  testing::TestLedger ledger_;
  uint64_t next_id_ = 1;
};

TEST_F(CheckpointTest, EncodeDecodeRoundTripAndSignatureChecks) {
  Checkpoint c;
  c.shard = ShardId{0};
  c.tree_size = 77;
  c.ledger_time_us = 123456789;
  c.event_root[3] = 9;
  c.last_block_hash[5] = 7;
  SignCheckpoint(ledger_.key, &c);
  std::string bytes = EncodeCheckpoint(c);
  ASSERT_EQ(bytes.size(), kCheckpointBytes);
  auto d = DecodeCheckpoint(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(CheckCheckpoint(d.value(), ShardId{0}, ledger_.public_key()).ok());
  EXPECT_FALSE(CheckCheckpoint(d.value(), ShardId{1}, ledger_.public_key()).ok());
  EXPECT_FALSE(CheckCheckpoint(d.value(), ShardId{0}, SigningKey::Generate().public_key()).ok());
  // Every single byte matters: layout checks or the signature catch it.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = char(bad[i] ^ 0x20);
    auto b = DecodeCheckpoint(bad);
    EXPECT_TRUE(!b.ok() || !CheckCheckpoint(b.value(), ShardId{0}, ledger_.public_key()).ok())
        << "byte " << i;
  }
}

TEST_F(CheckpointTest, SignatureIsNotABlockSignature) {
  Checkpoint c;
  c.tree_size = 1;
  SignCheckpoint(ledger_.key, &c);
  // The body hashed alone (as a block header would be) is not what was signed.
  std::string bytes = EncodeCheckpoint(c);
  Hash32 plain = Blake2b256(reinterpret_cast<const uint8_t*>(bytes.data()), kCheckpointBodyBytes);
  EXPECT_FALSE(VerifySignature(ledger_.public_key(), plain, c.signature));
}

TEST_F(CheckpointTest, WriterWritesCheckpointsEveryNBlocksAndOnClose) {
  auto w = testing::OpenTestWriter(ledger_, Options(4));
  ASSERT_TRUE(w.ok());
  AppendBlocks(*w.value(), 10, 3);
  ASSERT_TRUE(w.value()->Close().ok());
  auto list = ListCheckpoints(ledger_.shard_dir);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);  // after blocks 4 and 8, and at close (block 10)
  EXPECT_EQ(list->at(0).tree_size, 12u);
  EXPECT_EQ(list->at(1).tree_size, 24u);
  EXPECT_EQ(list->at(2).tree_size, 30u);
  for (const auto& e : list.value()) {
    auto f = ReadCheckpointFile(e.path);
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(CheckCheckpoint(f->checkpoint, ShardId{0}, ledger_.public_key()).ok());
    EXPECT_EQ(f->checkpoint.event_root, LogRoot(e.tree_size));
    EXPECT_EQ(f->checkpoint.flags, 0u);
  }
}

TEST_F(CheckpointTest, ReopenContinuesTheTreeFromTheNewestCheckpoint) {
  {
    auto w = testing::OpenTestWriter(ledger_, Options(1000));
    ASSERT_TRUE(w.ok());
    AppendBlocks(*w.value(), 5, 7);
  }
  {
    auto w = testing::OpenTestWriter(ledger_, Options(1000));
    ASSERT_TRUE(w.ok());
    AppendBlocks(*w.value(), 3, 5);
  }
  CheckpointFile f = Newest();
  EXPECT_EQ(f.checkpoint.tree_size, 50u);
  EXPECT_EQ(f.checkpoint.event_root, LogRoot(50));
}

TEST_F(CheckpointTest, OpenRehashesTheLogWhenCheckpointsAreMissing) {
  {
    WriterOptions o = Options(1000);
    o.checkpoints.enabled = false;
    auto w = testing::OpenTestWriter(ledger_, o);
    ASSERT_TRUE(w.ok());
    AppendBlocks(*w.value(), 4, 9);
  }
  EXPECT_TRUE(ListCheckpoints(ledger_.shard_dir)->empty());
  auto w = testing::OpenTestWriter(ledger_, Options(1000));
  ASSERT_TRUE(w.ok());
  CheckpointFile f = Newest();  // written at open for the log found
  EXPECT_EQ(f.checkpoint.tree_size, 36u);
  EXPECT_EQ(f.checkpoint.event_root, LogRoot(36));
}

TEST_F(CheckpointTest, CorruptNewestCheckpointFallsBackToAnOlderOne) {
  {
    auto w = testing::OpenTestWriter(ledger_, Options(2));
    ASSERT_TRUE(w.ok());
    AppendBlocks(*w.value(), 4, 2);
  }
  auto list = ListCheckpoints(ledger_.shard_dir);
  ASSERT_EQ(list->size(), 2u);
  testing::FlipBit(list->back().path, 50, 1);  // event root of the newest
  auto w = testing::OpenTestWriter(ledger_, Options(2));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  AppendBlocks(*w.value(), 2, 2);
  ASSERT_TRUE(w.value()->Close().ok());
  CheckpointFile f = Newest();
  EXPECT_EQ(f.checkpoint.tree_size, 12u);
  EXPECT_EQ(f.checkpoint.event_root, LogRoot(12));
}

TEST_F(CheckpointTest, CheckpointPastTheEndOfTheLogIsSetAsideNotOverwritten) {
  {
    auto w = testing::OpenTestWriter(ledger_, Options(1000));
    ASSERT_TRUE(w.ok());
    // 35 blocks of 8 x 64 KiB: the second segment starts at block 32.
    for (int b = 0; b < 35; ++b) {
      std::vector<std::string> events;
      for (int i = 0; i < 8; ++i) events.push_back(EventFor(next_id_++, kEventBytesMax));
      ASSERT_TRUE(w.value()->AppendAndWait(BatchOf(events)).status.ok());
    }
  }
  auto segs = testing::SegmentPaths(ledger_.shard_dir);
  ASSERT_EQ(segs.size(), 2u);
  ASSERT_EQ(::unlink(segs[1].c_str()), 0);  // the log now ends at seq 248; signed up to 280
  auto w = testing::OpenTestWriter(ledger_, Options(1000));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  AppendBlocks(*w.value(), 5, 8);  // seqs 249..288 again, with other events
  ASSERT_TRUE(w.value()->Close().ok());
  auto lost = ListLostCheckpoints(ledger_.shard_dir);
  ASSERT_TRUE(lost.ok());
  ASSERT_EQ(lost->size(), 1u);
  auto f = ReadCheckpointFile(lost->at(0));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->checkpoint.tree_size, 280u);  // the evidence, intact
  EXPECT_EQ(Newest().checkpoint.tree_size, 288u);
  EXPECT_EQ(Newest().checkpoint.event_root, LogRoot(288));
}

TEST_F(CheckpointTest, StateRootHookIsSignedIntoTheCheckpoint) {
  WriterOptions o = Options(1000);
  Hash32 state{};
  state[0] = 0xAB;
  o.checkpoints.state_root = [state](Seq seq) -> std::optional<Hash32> {
    Hash32 s = state;
    s[1] = uint8_t(seq.value);
    return s;
  };
  {
    auto w = testing::OpenTestWriter(ledger_, o);
    ASSERT_TRUE(w.ok());
    AppendBlocks(*w.value(), 2, 3);
  }
  CheckpointFile f = Newest();
  EXPECT_EQ(f.checkpoint.flags, kCheckpointFlagStateRoot);
  EXPECT_EQ(f.checkpoint.state_root[0], 0xAB);
  EXPECT_EQ(f.checkpoint.state_root[1], 6);
  EXPECT_TRUE(CheckCheckpoint(f.checkpoint, ShardId{0}, ledger_.public_key()).ok());
}

}  // namespace
}  // namespace giftledger

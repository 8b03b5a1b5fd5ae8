// Backup and restore: incremental verified copies of sealed segments and the
// checkpoints they cover; a restored ledger verifies, holds the same events
// and can be written again. A damaged backup is refused; nothing is
// overwritten.
#include "replay/backup.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "ledger/checkpoint.h"
#include "ledger/manifest.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::EventFor;

// 8 events of 64 KiB a block; 31 blocks fill a 16 MiB segment.
constexpr uint32_t kEventsPerBlock = 8;
constexpr uint64_t kBlocksPerSegment = 31;

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger")); }

  void AppendBlocks(int blocks) {
    WriterOptions o = testing::SmallSegmentOptions();
    o.checkpoints.every_blocks = 8;
    auto w = testing::OpenTestWriter(ledger_, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int b = 0; b < blocks; ++b) {
      std::vector<std::string> events;
      for (uint32_t i = 0; i < kEventsPerBlock; ++i) {
        events.push_back(EventFor(next_id_++, kEventBytesMax));
      }
      ASSERT_TRUE(w.value()->AppendAndWait(BatchOf(events)).status.ok());
    }
    ASSERT_TRUE(w.value()->Close().ok());
  }

  BackupReport Backup() {
    auto r = BackupLedger({ledger_.dir, backup_, /*with_keys=*/true});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : BackupReport{};
  }

  testing::TempDir tmp_;
  testing::TestLedger ledger_;
  std::string backup_ = tmp_.Sub("backup");
  uint64_t next_id_ = 1;
};

TEST_F(BackupTest, IncrementalBackupCopiesOnlySealedSegmentsAndNewFiles) {
  AppendBlocks(40);  // segment 1 sealed (31 blocks), segment 2 active
  BackupReport first = Backup();
  EXPECT_EQ(first.verify.events, kBlocksPerSegment * kEventsPerBlock);
  // segment 1, checkpoints at 64/128/192 events, signing.key, manifest
  EXPECT_EQ(first.files_copied, 6u);
  EXPECT_EQ(first.verify.checkpoints, 3u);

  AppendBlocks(40);  // segment 2 sealed, segment 3 active
  BackupReport second = Backup();
  EXPECT_EQ(second.verify.events, 2 * kBlocksPerSegment * kEventsPerBlock);
  EXPECT_EQ(second.files_present, 6u);  // nothing copied twice
  EXPECT_GE(second.files_copied, 2u);   // segment 2 and its checkpoints

  BackupReport third = Backup();
  EXPECT_EQ(third.files_copied, 0u);
}

TEST_F(BackupTest, RestoredLedgerHasTheSameEventsAndCanBeWrittenAgain) {
  AppendBlocks(70);
  Backup();
  std::string restored = tmp_.Sub("restored");
  auto r = RestoreLedger(backup_, restored);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->verify.events, 2 * kBlocksPerSegment * kEventsPerBlock);

  auto original = testing::ReadAllEvents(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
  auto copy =
      testing::ReadAllEvents(ShardDir(restored, ShardId{0}), ShardId{0}, ledger_.public_key());
  ASSERT_TRUE(original.ok() && copy.ok());
  ASSERT_EQ(copy->size(), r->verify.events);
  EXPECT_TRUE(std::equal(copy->begin(), copy->end(), original->begin()));

  // The restored shard continues: same key, chain and shard tree.
  auto m = LoadManifest(restored);
  ASSERT_TRUE(m.ok());
  auto key = LoadShardSigningKey(restored, m.value(), ShardId{0});
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto w = Writer::Open(ShardDir(restored, ShardId{0}), ShardId{0}, key.value(),
                        testing::SmallSegmentOptions());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto out = w.value()->AppendAndWait(BatchOf({EventFor(999999, 100)}));
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.first_seq.value, r->verify.events + 1);
  ASSERT_TRUE(w.value()->Close().ok());
  auto scan =
      testing::VerifyShardFully(ShardDir(restored, ShardId{0}), ShardId{0}, ledger_.public_key());
  EXPECT_TRUE(scan.ok()) << scan.status().ToString();
}

TEST_F(BackupTest, DamagedBackupIsRefusedAndNothingIsRestored) {
  AppendBlocks(40);
  Backup();
  auto segs = testing::SegmentPaths(ShardDir(backup_, ShardId{0}));
  ASSERT_EQ(segs.size(), 1u);
  testing::FlipBit(segs[0], 5000, 4);
  std::string restored = tmp_.Sub("restored");
  auto r = RestoreLedger(backup_, restored);
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(restored));
  // The next backup notices too: its verify of the whole backup fails.
  EXPECT_EQ(BackupLedger({ledger_.dir, backup_, true}).status().code(), Code::kDataLoss);
}

TEST_F(BackupTest, RefusesAnotherLedgersBackupAndANonEmptyRestoreTarget) {
  AppendBlocks(35);
  Backup();
  testing::TempDir other_dir;
  testing::TestLedger other = testing::FormatTestLedger(other_dir.Sub("ledger"));
  EXPECT_EQ(BackupLedger({other.dir, backup_, false}).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(RestoreLedger(backup_, ledger_.dir).status().code(), Code::kAlreadyExists);
}

TEST_F(BackupTest, KeysStayOutOfTheBackupUnlessAskedFor) {
  AppendBlocks(35);
  auto r = BackupLedger({ledger_.dir, backup_, /*with_keys=*/false});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(SigningKeyPath(backup_, ShardId{0})));
  ASSERT_TRUE(BackupLedger({ledger_.dir, backup_, /*with_keys=*/true}).ok());
  auto perms = std::filesystem::status(SigningKeyPath(backup_, ShardId{0})).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::group_all, std::filesystem::perms::none);
  EXPECT_EQ(perms & std::filesystem::perms::others_all, std::filesystem::perms::none);
}

}  // namespace
}  // namespace giftledger

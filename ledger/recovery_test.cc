#include "ledger/recovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "ledger/reader.h"
#include "ledger/segment.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "ledger/writer.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::BlockExtent;
using testing::EventFor;
using testing::TempDir;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger")); }

  // Appends one block per entry of `batches` (events of `bytes` each).
  void WriteBlocks(const std::vector<uint32_t>& batches, size_t bytes) {
    auto w = testing::OpenTestWriter(ledger_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (uint32_t n : batches) {
      std::vector<std::string> events;
      for (uint32_t i = 0; i < n; ++i) events.push_back(EventFor(events_.size() + i + 1, bytes));
      AppendOutcome out = w.value()->AppendAndWait(BatchOf(events));
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      ASSERT_EQ(out.first_seq.value, events_.size() + 1);
      events_.insert(events_.end(), events.begin(), events.end());
    }
    ASSERT_TRUE(w.value()->Close().ok());
  }

  // Enough blocks of the largest events for `segments` segment files.
  void WriteSegments(int segments) {
    // Two blocks of 127 maximum-size events fill a 16 MiB segment.
    std::vector<uint32_t> batches(size_t(2 * (segments - 1) + 1), 127);
    WriteBlocks(batches, kEventBytesMax);
    ASSERT_EQ(testing::SegmentPaths(ledger_.shard_dir).size(), size_t(segments));
  }

  Result<ShardScan> Recover(RecoveryMode mode) {
    return RecoverShard(FileSystem::Default(), ledger_.shard_dir, ShardId{0}, ledger_.public_key(),
                        mode, kSegmentBytesMin);
  }

  Result<ShardScan> Scan(ScanFailure* failure, bool all_bodies = true) {
    ScanOptions opt;
    opt.check_all_bodies = all_bodies;
    opt.failure = failure;
    return ScanShard(ledger_.shard_dir, ShardId{0}, ledger_.public_key(), opt);
  }

  // The shard verifies in full and holds exactly `want` (element i = seq i+1).
  void ExpectShardHolds(const std::vector<std::string>& want) {
    auto scan = testing::VerifyShardFully(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
    ASSERT_TRUE(scan.ok()) << scan.status().ToString();
    auto events = testing::ReadAllEvents(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    ASSERT_EQ(events->size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE((*events)[i] == want[i]) << "seq " << i + 1;
  }

  std::string LastSegment() { return testing::SegmentPaths(ledger_.shard_dir).back(); }

  TempDir tmp_;
  testing::TestLedger ledger_;
  std::vector<std::string> events_;  // element i holds seq i+1
};

// ---------------------------------------------------------------------------
// Torn tail: a crash can only damage the last block.

enum class Tear {
  kCut,      // the file ends inside the block (the rest of the preallocation lost too)
  kZeros,    // the bytes from the tear on read as zeros
  kGarbage,  // the bytes from the tear on (and a little beyond) are random
};

void PrintTo(Tear t, std::ostream* os) {
  *os << (t == Tear::kCut ? "Cut" : t == Tear::kZeros ? "Zeros" : "Garbage");
}

class TornTailTest : public RecoveryTest, public ::testing::WithParamInterface<Tear> {
 protected:
  // Damages the segment from byte k of `last` onwards.
  void Tear(const std::string& path, const BlockExtent& last, uint64_t k, std::mt19937_64& rng) {
    uint64_t from = last.offset + k;
    uint64_t end = last.offset + last.size_bytes;
    switch (GetParam()) {
      case Tear::kCut:
        testing::TruncateFile(path, from);
        break;
      case Tear::kZeros:
        testing::WriteRange(path, from, std::string(end - from, '\0'));
        break;
      case Tear::kGarbage: {
        std::string bytes = testing::ReadRange(path, from, end - from + 64);
        for (char& c : bytes) c = char(uint8_t(c) ^ uint8_t(1 + rng() % 255));
        testing::WriteRange(path, from, bytes);
        break;
      }
    }
  }
};

TEST_P(TornTailTest, TornLastBlockIsTruncatedAtEveryByteOffsetAndAppendsContinue) {
  // Small blocks keep one recovery per byte cheap.
  WriteBlocks({2, 1, 3, 1}, 9);
  const std::string path = LastSegment();
  const uint64_t file_bytes = testing::FileSize(path);
  auto blocks = testing::ListBlocks(path);
  ASSERT_EQ(blocks.size(), 4u);
  const BlockExtent last = blocks.back();
  const std::string pristine = testing::ReadRange(path, last.offset, last.size_bytes + 4096);
  const std::vector<std::string> kept(events_.begin(), events_.end() - 1);
  std::mt19937_64 rng(42);

  for (uint64_t k = 0; k < last.size_bytes; ++k) {
    SCOPED_TRACE("tear at byte " + std::to_string(k) + " of the last block");
    Tear(path, last, k, rng);
    // Cutting or zeroing the whole block leaves a log that simply ends earlier.
    const bool clean_end = k == 0 && GetParam() != Tear::kGarbage;

    // Absolute consistency refuses and changes nothing.
    const uint64_t damaged_bytes = testing::FileSize(path);
    auto strict = Recover(RecoveryMode::kAbsoluteConsistency);
    if (clean_end) {
      ASSERT_TRUE(strict.ok()) << strict.status().ToString();
      EXPECT_FALSE(strict->torn_tail);
      EXPECT_EQ(strict->next_seq, last.first_seq);
    } else {
      ASSERT_FALSE(strict.ok());
      EXPECT_EQ(strict.status().code(), Code::kDataLoss);
      EXPECT_TRUE(Contains(strict.status().message(), "torn tail")) << strict.status().ToString();
      EXPECT_EQ(testing::FileSize(path), damaged_bytes);
      ScanFailure unused;
      auto scan = Scan(&unused);
      ASSERT_TRUE(scan.ok()) << scan.status().ToString();
      EXPECT_TRUE(scan->torn_tail);
      EXPECT_EQ(scan->torn_offset, last.offset);
    }

    // The default mode truncates the torn block, and the writer carries on.
    {
      auto w = testing::OpenTestWriter(ledger_);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      EXPECT_EQ(w.value()->recovered().torn_tail, !clean_end);
      if (!clean_end) {
        EXPECT_EQ(w.value()->recovered().torn_offset, last.offset);
      }
      EXPECT_EQ(w.value()->recovered().next_seq, last.first_seq);
      AppendOutcome out = w.value()->AppendAndWait(BatchOf({EventFor(1000 + k, 33)}));
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      EXPECT_EQ(out.first_seq, last.first_seq);
      ASSERT_TRUE(w.value()->Close().ok());
    }
    std::vector<std::string> want = kept;
    want.push_back(EventFor(1000 + k, 33));
    ExpectShardHolds(want);
    if (::testing::Test::HasFailure()) return;  // one broken offset is enough output

    // Back to the pristine four blocks for the next offset.
    testing::TruncateFile(path, last.offset);
    testing::TruncateFile(path, file_bytes);
    testing::WriteRange(path, last.offset, pristine);
  }
}

INSTANTIATE_TEST_SUITE_P(Tears, TornTailTest,
                         ::testing::Values(Tear::kCut, Tear::kZeros, Tear::kGarbage),
                         [](const ::testing::TestParamInfo<Tear>& info) {
                           switch (info.param) {
                             case Tear::kCut:
                               return "Cut";
                             case Tear::kZeros:
                               return "Zeros";
                             case Tear::kGarbage:
                               return "Garbage";
                           }
                           return "Unknown";
                         });

TEST_F(RecoveryTest, CleanShardNeedsNoRecovery) {
  WriteBlocks({1, 2, 3}, 20);
  for (RecoveryMode mode : {RecoveryMode::kTruncateTornTail, RecoveryMode::kAbsoluteConsistency}) {
    auto scan = Recover(mode);
    ASSERT_TRUE(scan.ok()) << scan.status().ToString();
    EXPECT_FALSE(scan->torn_tail);
    EXPECT_EQ(scan->next_seq.value, 7u);
    EXPECT_EQ(scan->blocks, 3u);
    EXPECT_EQ(scan->events, 6u);
  }
}

TEST_F(RecoveryTest, EmptyShardStartsAtSeqOne) {
  auto scan = Recover(RecoveryMode::kAbsoluteConsistency);
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(scan->next_seq, Seq{1});
  EXPECT_TRUE(scan->segments.empty());
}

// ---------------------------------------------------------------------------
// Corruption: damage followed by valid data is never truncated away.

TEST_F(RecoveryTest, FlippedBitBeforeValidBlocksIsDataLossNamingShardSegmentAndOffset) {
  WriteBlocks({1, 2, 2, 1, 3, 1}, 12);
  const std::string path = LastSegment();
  auto blocks = testing::ListBlocks(path);
  ASSERT_EQ(blocks.size(), 6u);
  const BlockExtent bad = blocks[2];
  const uint64_t file_bytes = testing::FileSize(path);
  for (uint64_t i = 0; i < bad.size_bytes; ++i) {
    SCOPED_TRACE("flipped byte " + std::to_string(i) + " of block 2");
    testing::FlipBit(path, bad.offset + i, int(i % 8));
    for (RecoveryMode mode :
         {RecoveryMode::kTruncateTornTail, RecoveryMode::kAbsoluteConsistency}) {
      auto r = Recover(mode);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kDataLoss);
      const std::string& msg = r.status().message();
      EXPECT_TRUE(Contains(msg, "shard 0")) << msg;
      EXPECT_TRUE(Contains(msg, SegmentFileName(Seq{1}))) << msg;
      EXPECT_TRUE(Contains(msg, "offset " + std::to_string(bad.offset) + ",")) << msg;
    }
    ScanFailure failure;
    auto scan = Scan(&failure);
    ASSERT_FALSE(scan.ok());
    EXPECT_EQ(scan.status().code(), Code::kDataLoss);
    EXPECT_EQ(failure.segment, path);
    EXPECT_EQ(failure.offset, bad.offset);
    EXPECT_EQ(failure.seq, bad.first_seq);
    EXPECT_FALSE(failure.reason.empty());
    // Nothing was truncated: once repaired, the valid blocks after the damage are all there.
    EXPECT_EQ(testing::FileSize(path), file_bytes);
    testing::FlipBit(path, bad.offset + i, int(i % 8));
    EXPECT_EQ(testing::ListBlocks(path).size(), blocks.size());
    if (::testing::Test::HasFailure()) return;
  }
  ExpectShardHolds(events_);
}

TEST_F(RecoveryTest, WriterRefusesToOpenACorruptShard) {
  WriteBlocks({1, 1, 1}, 12);
  auto blocks = testing::ListBlocks(LastSegment());
  testing::FlipBit(LastSegment(), blocks[0].offset + kBlockHeaderBytes + 6, 3);  // event byte
  auto w = testing::OpenTestWriter(ledger_);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kDataLoss) << w.status().ToString();
  auto reader = LogReader::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Code::kDataLoss);
}

TEST_F(RecoveryTest, MissingMiddleSegmentIsRefused) {
  WriteSegments(3);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  ASSERT_EQ(::unlink(paths[1].c_str()), 0);
  for (RecoveryMode mode : {RecoveryMode::kTruncateTornTail, RecoveryMode::kAbsoluteConsistency}) {
    auto r = Recover(mode);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), "missing segment")) << r.status().ToString();
  }
  ScanFailure failure;
  auto scan = Scan(&failure, false);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(failure.reason, "missing segment");
  EXPECT_EQ(failure.segment, paths[2]);
  EXPECT_FALSE(testing::OpenTestWriter(ledger_).ok());
  // Refusing touched nothing.
  EXPECT_EQ(testing::SegmentPaths(ledger_.shard_dir).size(), 2u);
  EXPECT_EQ(testing::FileSize(paths[0]), testing::ListBlocks(paths[0]).back().offset +
                                             testing::ListBlocks(paths[0]).back().size_bytes);
}

TEST_F(RecoveryTest, MissingFirstSegmentIsRefused) {
  WriteSegments(2);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  ASSERT_EQ(::unlink(paths[0].c_str()), 0);
  auto r = Recover(RecoveryMode::kTruncateTornTail);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), "missing segment")) << r.status().ToString();
}

TEST_F(RecoveryTest, WrongPublicKeyIsRefusedAndTruncatesNothing) {
  WriteBlocks({1, 2, 1}, 12);
  const std::string path = LastSegment();
  const auto blocks = testing::ListBlocks(path);
  SigningKey other = SigningKey::Generate();
  for (RecoveryMode mode : {RecoveryMode::kTruncateTornTail, RecoveryMode::kAbsoluteConsistency}) {
    auto r = RecoverShard(FileSystem::Default(), ledger_.shard_dir, ShardId{0}, other.public_key(),
                          mode, kSegmentBytesMin);
    ASSERT_FALSE(r.ok()) << "opened with the wrong key";
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  }
  auto w = Writer::Open(ledger_.shard_dir, ShardId{0}, other, testing::SmallSegmentOptions());
  EXPECT_FALSE(w.ok());
  auto reader = LogReader::Open(ledger_.shard_dir, ShardId{0}, other.public_key());
  EXPECT_FALSE(reader.ok());
  EXPECT_EQ(testing::ListBlocks(path).size(), blocks.size());
  ExpectShardHolds(events_);
}

TEST_F(RecoveryTest, BlockOfAnotherShardIsRefused) {
  WriteBlocks({1, 1}, 12);
  auto r = RecoverShard(FileSystem::Default(), ledger_.shard_dir, ShardId{1}, ledger_.public_key(),
                        RecoveryMode::kTruncateTornTail, kSegmentBytesMin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  ExpectShardHolds(events_);
}

TEST_F(RecoveryTest, OneBlockOfAnotherShardIsRefusedNotTruncated) {
  WriteBlocks({2}, 12);
  const std::string path = LastSegment();
  auto r = RecoverShard(FileSystem::Default(), ledger_.shard_dir, ShardId{3}, ledger_.public_key(),
                        RecoveryMode::kTruncateTornTail, kSegmentBytesMin);
  ASSERT_FALSE(r.ok()) << "an intact block of shard 0 was taken for a torn tail of shard 3";
  EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
  EXPECT_EQ(testing::ListBlocks(path).size(), 1u);
  ExpectShardHolds(events_);
}

TEST_F(RecoveryTest, BadLastBlockOfASealedSegmentIsCorruption) {
  WriteSegments(2);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  auto sealed = testing::ListBlocks(paths[0]);
  ASSERT_EQ(sealed.size(), 2u);
  // Looks like a torn tail, but the segment was sealed: the log continues after it.
  const BlockExtent& last = sealed.back();
  testing::WriteRange(paths[0], last.offset + last.size_bytes - 40, std::string(40, '\0'));
  for (RecoveryMode mode : {RecoveryMode::kTruncateTornTail, RecoveryMode::kAbsoluteConsistency}) {
    auto r = Recover(mode);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), "sealed segment")) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), SegmentFileName(Seq{1}))) << r.status().ToString();
  }
  ScanFailure failure;
  ASSERT_FALSE(Scan(&failure).ok());
  EXPECT_EQ(failure.segment, paths[0]);
  EXPECT_EQ(failure.offset, last.offset);
  EXPECT_EQ(testing::FileSize(paths[0]), last.offset + last.size_bytes);
}

TEST_F(RecoveryTest, FlippedHeaderBitInASealedSegmentIsCorruption) {
  WriteSegments(2);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  auto sealed = testing::ListBlocks(paths[0]);
  testing::FlipBit(paths[0], sealed[0].offset + 20, 1);  // first_seq
  auto r = Recover(RecoveryMode::kTruncateTornTail);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), "offset 0,")) << r.status().ToString();
}

TEST_F(RecoveryTest, FlippedEventBitInASealedSegmentIsFoundByFullVerification) {
  WriteSegments(2);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  auto sealed = testing::ListBlocks(paths[0]);
  testing::FlipBit(paths[0], sealed[1].offset + kBlockHeaderBytes + 1000, 5);
  // Opening checks headers only in sealed segments (docs/log-format.md) ...
  ScanFailure failure;
  EXPECT_TRUE(Scan(&failure, /*all_bodies=*/false).ok());
  // ... the full check finds the changed event byte.
  auto full = Scan(&failure, /*all_bodies=*/true);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), Code::kDataLoss);
  EXPECT_EQ(failure.segment, paths[0]);
  EXPECT_EQ(failure.offset, sealed[1].offset);
  EXPECT_EQ(failure.seq, sealed[1].first_seq);
}

TEST_F(RecoveryTest, StrayBytesAfterTheLastBlockAreATornTail) {
  WriteBlocks({1, 1}, 12);
  const std::string path = LastSegment();
  auto blocks = testing::ListBlocks(path);
  uint64_t end = blocks.back().offset + blocks.back().size_bytes;
  testing::WriteRange(path, end + 1000, "stray");
  auto strict = Recover(RecoveryMode::kAbsoluteConsistency);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), Code::kDataLoss);
  auto scan = Recover(RecoveryMode::kTruncateTornTail);
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_TRUE(scan->torn_tail);
  EXPECT_EQ(scan->torn_offset, end);
  EXPECT_EQ(testing::ReadRange(path, end + 1000, 5), std::string(5, '\0'));
  EXPECT_EQ(testing::FileSize(path), kSegmentBytesMin);
  ExpectShardHolds(events_);
}

}  // namespace
}  // namespace giftledger

namespace giftledger {
namespace {

// Two blocks sealed into one write group: both name the same durable_seq,
// which is before the first of them. Written by hand after the clean log.
class WriteGroupTest : public RecoveryTest {
 protected:
  // Appends blocks with the given durable_seq values (0 = "sealed before the
  // first of these blocks was durable") and returns their offsets.
  std::vector<uint64_t> AppendHandMadeBlocks(const std::vector<bool>& sealed_after_previous) {
    auto scan = ScanShard(ledger_.shard_dir, ShardId{0}, ledger_.public_key(), ScanOptions{});
    EXPECT_TRUE(scan.ok());
    std::string seg = scan->segments.back().path;
    uint64_t offset = scan->segments.back().data_bytes;
    Seq next = scan->next_seq;
    Hash32 prev = scan->last_block_hash;
    Seq group_durable{next.value - 1};
    std::vector<uint64_t> offsets;
    for (bool after : sealed_after_previous) {
      BlockEncoder enc;
      enc.Add(BatchOf({EventFor(next.value, 100), EventFor(next.value + 1, 100)}));
      BlockHeader h;
      h.shard = ShardId{0};
      h.first_seq = next;
      h.ledger_time_us = scan->last_ledger_time_us + 1;
      h.prev_block_hash = prev;
      h.durable_seq = after ? Seq{next.value - 1} : group_durable;
      Hash32 hash;
      BlockHeader out;
      std::string bytes = enc.Finish(h, ledger_.key, &hash, &out);
      testing::WriteRange(seg, offset, bytes);
      offsets.push_back(offset);
      offset += bytes.size();
      next = Seq{out.last_seq().value + 1};
      prev = hash;
    }
    return offsets;
  }
};

TEST_F(WriteGroupTest, DamagedBlockFollowedByItsOwnUnsyncedGroupIsATornTail) {
  WriteBlocks({3, 3}, 100);
  auto offsets = AppendHandMadeBlocks({false, false});
  std::string seg = testing::SegmentPaths(ledger_.shard_dir).back();
  // Power loss: the first block of the group never fully reached the disk,
  // the second did. Neither was acknowledged.
  testing::FlipBit(seg, offsets[0] + kBlockHeaderBytes + 10, 3);
  auto r = Recover(RecoveryMode::kTruncateTornTail);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->torn_tail);
  EXPECT_EQ(r->next_seq.value, 7u);
  ASSERT_TRUE(testing::VerifyShardFully(ledger_.shard_dir, ShardId{0}, ledger_.public_key()).ok());
}

TEST_F(WriteGroupTest, DamagedBlockFollowedByABlockSealedAfterItWasDurableIsCorruption) {
  WriteBlocks({3, 3}, 100);
  auto offsets = AppendHandMadeBlocks({false, true});
  std::string seg = testing::SegmentPaths(ledger_.shard_dir).back();
  testing::FlipBit(seg, offsets[0] + kBlockHeaderBytes + 10, 3);
  auto r = Recover(RecoveryMode::kTruncateTornTail);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), "offset " + std::to_string(offsets[0])))
      << r.status().ToString();
}

}  // namespace
}  // namespace giftledger

#include "ledger/snapshot.h"

#include <gtest/gtest.h>

#include <fstream>

#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger {
namespace {

void FlipByte(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(std::streamoff(offset));
  char c;
  f.get(c);
  f.seekp(std::streamoff(offset));
  f.put(char(c ^ 0x40));
}

TEST(Snapshot, RoundTripKeepsPayloadAndSeq) {
  CryptoInit();
  testing::TempDir dir;
  ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{3}, Seq{42}, "state bytes").ok());
  auto s = LoadNewestSnapshot(dir.path(), ShardId{3}, Seq{100});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->last_seq.value, 42u);
  EXPECT_EQ((*s)->payload, "state bytes");
}

TEST(Snapshot, CorruptNewestFallsBackToOlder) {
  CryptoInit();
  testing::TempDir dir;
  ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{0}, Seq{10}, "old").ok());
  ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{0}, Seq{20}, "new state").ok());
  FlipByte(JoinPath(SnapshotDir(dir.path()), SnapshotFileName(Seq{20})), kSnapshotHeaderBytes + 2);
  auto s = LoadNewestSnapshot(dir.path(), ShardId{0}, Seq{100});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->last_seq.value, 10u);
  EXPECT_EQ((*s)->payload, "old");
}

TEST(Snapshot, TruncatedSnapshotIsChecksumOrSizeMismatch) {
  CryptoInit();
  testing::TempDir dir;
  ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{0}, Seq{5}, std::string(1000, 'x')).ok());
  std::string path = JoinPath(SnapshotDir(dir.path()), SnapshotFileName(Seq{5}));
  ASSERT_EQ(::truncate(path.c_str(), 500), 0);
  auto r = ReadSnapshot(path, ShardId{0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  auto s = LoadNewestSnapshot(dir.path(), ShardId{0}, Seq{100});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->has_value());
}

TEST(Snapshot, SnapshotPastTheEndOfTheLogIsSkipped) {
  CryptoInit();
  testing::TempDir dir;
  ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{0}, Seq{50}, "ahead").ok());
  auto s = LoadNewestSnapshot(dir.path(), ShardId{0}, Seq{49});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->has_value());
}

TEST(Snapshot, SnapshotOfAnotherShardIsRefused) {
  CryptoInit();
  testing::TempDir dir;
  ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{1}, Seq{7}, "s1").ok());
  auto r = ReadSnapshot(JoinPath(SnapshotDir(dir.path()), SnapshotFileName(Seq{7})), ShardId{2});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
}

TEST(Snapshot, OnlyTheNewestTwoAreKept) {
  CryptoInit();
  testing::TempDir dir;
  for (uint64_t s = 1; s <= 5; ++s) {
    ASSERT_TRUE(WriteSnapshot(dir.path(), ShardId{0}, Seq{s * 10}, "p").ok());
  }
  auto names = ListDir(SnapshotDir(dir.path()));
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(names->size(), kSnapshotsKept);
  EXPECT_EQ((*names)[0], SnapshotFileName(Seq{40}));
  EXPECT_EQ((*names)[1], SnapshotFileName(Seq{50}));
}

}  // namespace
}  // namespace giftledger

// State snapshots: payload round trip, every corruption of the file or the
// payload detected, the newest valid one chosen, and a restart from a
// snapshot equal to a restart from zero.
#include "commands/snapshot.h"

#include <gtest/gtest.h>

#include <fstream>

#include "commands/engine.h"
#include "commands/test_util.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/snapshot.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders

constexpr uint64_t kAlice = 1001;
constexpr uint64_t kHost = 2001;

// A state touching every part of ShardState.
Harness BusyHarness() {
  Harness h;
  h.Run(CatalogCmd(Tx(1), 7, 100));
  h.Run(TopUpCmd(Tx(2), kAlice, 10'000));
  h.Run(PlaceCmd(Tx(3), kAlice, kHost, 7, 2));
  h.Run(PlaceCmd(Tx(4), kAlice, kHost, 7, 1));
  h.Run(ConsumeCmd(Tx(5), kAlice, Tx(4)));
  h.Run(RefundCmd(Tx(6), kAlice, Tx(4)));
  h.Run(HostCreditCmd(Tx(5), kHost, 50));
  h.Run(PayoutCmd(Tx(7), kHost, 20));
  h.Run(LimitsCmd(Tx(8), kAlice, 1000, 2000, 3000));
  h.Run(PrivacyCmd(Tx(9), kAlice, true));
  h.Run(PayoutCmd(Tx(10), kHost, 1000));  // logged rejection
  return h;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(Snapshot, PayloadRoundTripIsHashEqual) {
  Harness h = BusyHarness();
  auto decoded =
      DecodeSnapshotPayload(EncodeSnapshotPayload(h.state), h.state.config, h.state.last_seq);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(StateHash(decoded.value()), StateHash(h.state));
  EXPECT_EQ(decoded->expiry.size(), 1u);
  EXPECT_EQ(decoded->last_seq, h.state.last_seq);
}

TEST(Snapshot, PayloadOfAnotherConfigurationOrSeqIsDataLoss) {
  Harness h = BusyHarness();
  const std::string payload = EncodeSnapshotPayload(h.state);
  ShardConfig other = h.state.config;
  other.shard_count = 2;
  EXPECT_EQ(DecodeSnapshotPayload(payload, other, h.state.last_seq).status().code(),
            Code::kDataLoss);
  other = h.state.config;
  other.utc_offset_minutes = 60;
  EXPECT_EQ(DecodeSnapshotPayload(payload, other, h.state.last_seq).status().code(),
            Code::kDataLoss);
  EXPECT_EQ(DecodeSnapshotPayload(payload, h.state.config, h.state.last_seq + 1).status().code(),
            Code::kDataLoss);
}

TEST(Snapshot, TruncatedPayloadIsDataLoss) {
  Harness h = BusyHarness();
  const std::string good = EncodeSnapshotPayload(h.state);
  for (size_t n : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 1}) {
    EXPECT_EQ(
        DecodeSnapshotPayload(good.substr(0, n), h.state.config, h.state.last_seq).status().code(),
        Code::kDataLoss)
        << n;
  }
}

TEST(Snapshot, PayloadBreakingAnInvariantIsDataLoss) {
  Harness h = BusyHarness();
  ShardState broken = h.state;
  broken.wallets[UserId{kAlice}].available += 1;  // money from nowhere
  EXPECT_EQ(DecodeSnapshotPayload(EncodeSnapshotPayload(broken), h.state.config, h.state.last_seq)
                .status()
                .code(),
            Code::kDataLoss);
}

// The parser must accept only canonical payloads (it replaced a second
// serialization + compare): the same wallets in another order parse to an
// equal, invariant-respecting state, yet the bytes are not canonical.
TEST(Snapshot, PayloadWithWalletsOutOfKeyOrderIsDataLoss) {
  Harness h;
  ASSERT_EQ(h.Run(TopUpCmd(Tx(1), 1, 5)).code, schemas::OK);
  ASSERT_EQ(h.Run(TopUpCmd(Tx(2), 2, 7)).code, schemas::OK);
  std::string payload = EncodeSnapshotPayload(h.state);
  constexpr size_t kWallets = 12 + 8;  // config, then the wallet count
  constexpr size_t kWalletBytes = 60;
  const std::string first = payload.substr(kWallets, kWalletBytes);
  payload.replace(kWallets, kWalletBytes, payload.substr(kWallets + kWalletBytes, kWalletBytes));
  payload.replace(kWallets + kWalletBytes, kWalletBytes, first);
  ASSERT_TRUE(ParseState(EncodeSnapshotPayload(h.state)).ok());
  EXPECT_EQ(DecodeSnapshotPayload(payload, h.state.config, h.state.last_seq).status().code(),
            Code::kDataLoss);
}

TEST(Snapshot, PayloadWithADuplicateIdempotencyKeyIsDataLoss) {
  Harness h;
  ASSERT_EQ(h.Run(CatalogCmd(Tx(1), 7, 100)).code, schemas::OK);
  ASSERT_EQ(h.Run(CatalogCmd(Tx(2), 8, 100)).code, schemas::OK);
  std::string payload = EncodeSnapshotPayload(h.state);
  // The idempotency table is followed by 5 × 16 bytes of totals, last_seq
  // and last_ledger_time: its two 44-byte records end 96 bytes before the end.
  constexpr size_t kRecord = 44;
  const size_t second = payload.size() - 96 - kRecord;
  const size_t first = second - kRecord;
  payload.replace(second, 16, payload.substr(first, 16));  // same tx id twice
  EXPECT_EQ(DecodeSnapshotPayload(payload, h.state.config, h.state.last_seq).status().code(),
            Code::kDataLoss);
}

TEST(Snapshot, PayloadWithACatalogFlagOtherThanZeroOrOneIsDataLoss) {
  Harness h;
  ASSERT_EQ(h.Run(CatalogCmd(Tx(1), 7, 100)).code, schemas::OK);
  std::string payload = EncodeSnapshotPayload(h.state);
  // config 12, four empty-table counts (wallets, hosts, orders, expiry),
  // order_disk_seq and the catalog count 6 × 8, gift 4, name "gift-7" 4 + 6,
  // price 8.
  constexpr size_t kActive = 12 + 6 * 8 + 4 + 4 + 6 + 8;
  ASSERT_EQ(payload[kActive], 1);
  payload[kActive] = 2;
  EXPECT_EQ(DecodeSnapshotPayload(payload, h.state.config, h.state.last_seq).status().code(),
            Code::kDataLoss);
}

TEST(Snapshot, AnyFlippedByteOfTheFileIsSkipped) {
  ::giftledger::testing::TempDir dir;
  Harness h = BusyHarness();
  ASSERT_TRUE(WriteStateSnapshot(dir.path(), h.state).ok());
  const std::string path =
      JoinPath(SnapshotDir(dir.path()), SnapshotFileName(Seq{h.state.last_seq}));
  const std::string good = ReadBytes(path);
  ASSERT_GT(good.size(), kSnapshotHeaderBytes);
  for (size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] = char(bad[i] ^ 0x40);
    WriteBytes(path, bad);
    EXPECT_FALSE(LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq))
        << "byte " << i;
  }
  WriteBytes(path, good);
  EXPECT_TRUE(LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq));
}

TEST(Snapshot, CorruptNewestIsSkippedForAnOlderOne) {
  ::giftledger::testing::TempDir dir;
  Harness h = BusyHarness();
  const ShardState older = h.state;
  ASSERT_TRUE(WriteStateSnapshot(dir.path(), older).ok());
  h.Run(TopUpCmd(Tx(50), kAlice, 1));
  ASSERT_TRUE(WriteStateSnapshot(dir.path(), h.state).ok());
  auto newest = LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->last_seq, h.state.last_seq);

  const std::string path =
      JoinPath(SnapshotDir(dir.path()), SnapshotFileName(Seq{h.state.last_seq}));
  std::string bytes = ReadBytes(path);
  bytes[bytes.size() / 2] ^= 1;
  WriteBytes(path, bytes);
  auto fallback = LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq);
  ASSERT_TRUE(fallback.has_value());
  EXPECT_EQ(StateHash(*fallback), StateHash(older));

  WriteBytes(JoinPath(SnapshotDir(dir.path()), SnapshotFileName(Seq{older.last_seq})), "garbage");
  EXPECT_FALSE(LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq).has_value());
}

TEST(Snapshot, IntactFileWithARefusedPayloadIsSkippedForAnOlderOne) {
  ::giftledger::testing::TempDir dir;
  Harness h = BusyHarness();
  const ShardState older = h.state;
  ASSERT_TRUE(WriteStateSnapshot(dir.path(), older).ok());
  h.Run(TopUpCmd(Tx(50), kAlice, 1));
  // A checksummed file whose payload breaks the conservation equation.
  ShardState broken = h.state;
  broken.totals.topped_up += 1;
  ASSERT_TRUE(WriteSnapshot(dir.path(), broken.config.shard, Seq{broken.last_seq},
                            EncodeSnapshotPayload(broken))
                  .ok());
  auto loaded = LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(StateHash(*loaded), StateHash(older));
}

TEST(Snapshot, SnapshotPastTheLogEndOrOfAnotherShardIsSkipped) {
  ::giftledger::testing::TempDir dir;
  Harness h = BusyHarness();
  ASSERT_TRUE(WriteStateSnapshot(dir.path(), h.state).ok());
  EXPECT_FALSE(
      LoadNewestStateSnapshot(dir.path(), h.state.config, h.state.last_seq - 1).has_value());
  ShardConfig other = h.state.config;
  other.shard_count = 2;
  EXPECT_FALSE(LoadNewestStateSnapshot(dir.path(), other, h.state.last_seq).has_value());
  other = h.state.config;
  other.shard = ShardId{1};
  EXPECT_FALSE(LoadNewestStateSnapshot(dir.path(), other, h.state.last_seq).has_value());
}

TEST(Snapshot, OnlyTheNewestAreKept) {
  ::giftledger::testing::TempDir dir;
  Harness h;
  for (int i = 0; i < 5; ++i) {
    h.Run(TopUpCmd(Tx(100 + i), kAlice, 1));
    ASSERT_TRUE(WriteStateSnapshot(dir.path(), h.state).ok());
  }
  auto names = ListDir(SnapshotDir(dir.path()));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), kSnapshotsKept);
}

TEST(Snapshot, EngineRestartFromSnapshotEqualsRestartFromZero) {
  ::giftledger::testing::TempDir dir;
  ASSERT_TRUE(FormatLedger(dir.path(), 1, kSegmentBytesMin).ok());
  const std::string shard_dir = ShardDir(dir.path(), ShardId{0});
  auto open = [&](bool snapshots) {
    auto key = SigningKey::Load(SigningKeyPath(dir.path(), ShardId{0}));
    EngineOptions o;
    o.writer.segment_bytes = kSegmentBytesMin;
    o.clock_us = [] { return kT0; };
    o.snapshots = snapshots;
    auto e = ShardEngine::Open(shard_dir, ShardConfig{ShardId{0}, 1, 0}, key.value(), o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e.value());
  };
  Hash32 live{};
  {
    auto e = open(true);
    e->SubmitAndWait({CatalogCmd(Tx(1), 7, 100), TopUpCmd(Tx(2), kAlice, 1000),
                      PlaceCmd(Tx(3), kAlice, kHost, 7, 2)});
    ASSERT_TRUE(e->WriteSnapshotNow().ok());
    e->SubmitAndWait({ConsumeCmd(Tx(4), kAlice, Tx(3)), TopUpCmd(Tx(5), kAlice, 7)});
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->Close().ok());
  }
  {
    auto e = open(true);
    EXPECT_EQ(e->snapshot_seq(), 3u);
    EXPECT_EQ(e->replayed_events(), 2u);
    EXPECT_EQ(e->CurrentStateHash(), live);
  }
  {
    auto e = open(false);
    EXPECT_EQ(e->replayed_events(), 5u);
    EXPECT_EQ(e->CurrentStateHash(), live);
  }
  // A corrupt snapshot: skipped with a log line, full replay instead.
  const std::string path = JoinPath(SnapshotDir(shard_dir), SnapshotFileName(Seq{3}));
  std::string bytes = ReadBytes(path);
  bytes[40] ^= 1;
  WriteBytes(path, bytes);
  auto e = open(true);
  EXPECT_EQ(e->snapshot_seq(), 0u);
  EXPECT_EQ(e->replayed_events(), 5u);
  EXPECT_EQ(e->CurrentStateHash(), live);
}

}  // namespace
}  // namespace giftledger::commands

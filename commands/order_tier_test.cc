// Closed orders through the engine with a tiny memory budget: an order
// evicted to a run file still refuses a second consume, cancel or refund
// with its original code, its refund works exactly once (the refunded
// version supersedes the disk record, also across merges and restarts), a
// restart from snapshot + runs + tail equals the live state even after a
// crash between a run write and the next snapshot, and a corrupt order run
// stops the restart with DATA_LOSS naming the file.
#include "commands/order_tier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "commands/engine.h"
#include "commands/test_util.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/snapshot.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders

constexpr size_t kBudget = 4;
constexpr uint64_t kPayer = 7;
constexpr uint64_t kHost = 11;
constexpr int64_t kPrice = 10;

class OrderTierTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(FormatLedger(dir_.path(), 1, kSegmentBytesMin).ok()); }

  std::string ShardPath() const { return ShardDir(dir_.path(), ShardId{0}); }

  Result<std::unique_ptr<ShardEngine>> Open(bool snapshots) {
    auto key = SigningKey::Load(SigningKeyPath(dir_.path(), ShardId{0}));
    EXPECT_TRUE(key.ok());
    EngineOptions o;
    o.writer.segment_bytes = kSegmentBytesMin;
    o.clock_us = [this] { return now_us_.load(); };
    o.snapshots = snapshots;
    o.closed_orders_memory_max = kBudget;
    // Synchronous unless a test says otherwise: counts right after a batch are exact.
    o.evict_in_background = background_;
    return ShardEngine::Open(ShardPath(), ShardConfig{ShardId{0}, 1, 0}, key.value(), o);
  }

  std::unique_ptr<ShardEngine> MustOpen(bool snapshots) {
    auto e = Open(snapshots);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e.value()) : nullptr;
  }

  uint64_t Submit(ShardEngine& e, const Command& c, ResultCode want) {
    auto r = e.SubmitAndWait({c});
    EXPECT_EQ(r[0].code(), want) << r[0].message();
    return r[0].seq();
  }

  // Catalog and coins, then orders Tx(first..first+n-1), each placed and
  // consumed in its own batch (eviction runs between batches).
  void Setup(ShardEngine& e) {
    Submit(e, CatalogCmd(Tx(900'001), 1, kPrice), schemas::OK);
    Submit(e, TopUpCmd(Tx(900'002), kPayer, 100'000), schemas::OK);
  }
  void PlaceAndConsume(ShardEngine& e, uint64_t first, uint64_t n) {
    for (uint64_t i = first; i < first + n; ++i) {
      Submit(e, PlaceCmd(Tx(i), kPayer, kHost, 1, 1), schemas::OK);
      Submit(e, ConsumeCmd(Tx(500'000 + i), kPayer, Tx(i)), schemas::OK);
    }
  }
  uint64_t next_tx_ = 800'000;
  bool background_ = false;

  ::giftledger::testing::TempDir dir_;
  std::atomic<int64_t> now_us_{kT0};
};

TEST_F(OrderTierTest, RefundOfAnEvictedConsumedOrderWorksOnceThenIsRefused) {
  auto e = MustOpen(true);
  ASSERT_NE(e, nullptr);
  Setup(*e);
  PlaceAndConsume(*e, 1, 20);
  EXPECT_LE(e->closed_orders_memory(), kBudget + 1);
  ASSERT_GT(e->order_runs(), 0u);
  const Hash32 before = e->CurrentStateHash();
  // Order 1 is long evicted; its refund brings the refunded version to memory.
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::OK);
  EXPECT_NE(e->CurrentStateHash(), before);
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ALREADY_REFUNDED);
  // Push the refunded version to disk as well (a newer run supersedes the
  // consumed record, also once the runs merge), then ask again.
  PlaceAndConsume(*e, 100, 20);
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ALREADY_REFUNDED);
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ORDER_ALREADY_CONSUMED);
  ASSERT_TRUE(e->CheckCurrentInvariants().ok());
  ASSERT_TRUE(e->WriteSnapshotNow().ok());
  Hash32 live = e->CurrentStateHash();
  ASSERT_TRUE(e->Close().ok());
  // Snapshot + runs, then a replay from zero over the runs.
  for (bool snapshots : {true, false}) {
    auto r = MustOpen(snapshots);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->CurrentStateHash(), live) << snapshots;
    Submit(*r, RefundCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ALREADY_REFUNDED);
    // Another evicted consumed order is refunded exactly once after the restart.
    Submit(*r, RefundCmd(Tx(next_tx_++), kPayer, Tx(2 + (snapshots ? 0 : 1))), schemas::OK);
    Submit(*r, RefundCmd(Tx(next_tx_++), kPayer, Tx(2 + (snapshots ? 0 : 1))),
           schemas::ALREADY_REFUNDED);
    EXPECT_TRUE(r->CheckCurrentInvariants().ok());
    live = r->CurrentStateHash();
    ASSERT_TRUE(r->Close().ok());
  }
}

// Runs written on the background thread while refunds keep changing orders
// that are being evicted: a refunded order stays refunded (memory overrides
// the run written before the refund), each refund pays once, and restarts
// with and without the snapshot give the live state.
TEST_F(OrderTierTest, RefundDuringBackgroundEvictionIsNeitherLostNorPaidTwice) {
  background_ = true;
  auto e = MustOpen(true);
  ASSERT_NE(e, nullptr);
  Setup(*e);
  for (uint64_t i = 1; i <= 40; ++i) {
    PlaceAndConsume(*e, i, 1);
    if (i % 3 == 0) Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(i - 1)), schemas::OK);
    EXPECT_LE(e->closed_orders_memory(), kBudget + kBudget / 2 + 2) << i;
  }
  for (uint64_t i = 3; i <= 40; i += 3) {
    Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(i - 1)), schemas::ALREADY_REFUNDED);
  }
  ASSERT_TRUE(e->CheckCurrentInvariants().ok());
  ASSERT_TRUE(e->WriteSnapshotNow().ok());
  Hash32 live = e->CurrentStateHash();
  ASSERT_TRUE(e->Close().ok());
  for (bool snapshots : {true, false}) {
    auto r = MustOpen(snapshots);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->CurrentStateHash(), live) << snapshots;
    EXPECT_TRUE(r->CheckCurrentInvariants().ok());
    Submit(*r, RefundCmd(Tx(next_tx_++), kPayer, Tx(5)), schemas::ALREADY_REFUNDED);
    live = r->CurrentStateHash();  // the refused refund is recorded too
    ASSERT_TRUE(r->Close().ok());
  }
}

TEST_F(OrderTierTest, ConsumeOrCancelOfAnEvictedOrderIsRefusedWithTheOriginalCode) {
  auto e = MustOpen(false);
  ASSERT_NE(e, nullptr);
  Setup(*e);
  Submit(*e, PlaceCmd(Tx(1), kPayer, kHost, 1, 1), schemas::OK);
  Submit(*e, CancelCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::OK);
  Submit(*e, PlaceCmd(Tx(2), kPayer, kHost, 1, 1, kOrderTtlMinUs), schemas::OK);
  now_us_ += 2 * kOrderTtlMinUs;  // the next batch's sweep expires order 2
  PlaceAndConsume(*e, 10, 20);
  ASSERT_GT(e->order_runs(), 0u);
  // Consumed, voided and expired orders, all on disk by now.
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(10)), schemas::ORDER_ALREADY_CONSUMED);
  Submit(*e, CancelCmd(Tx(next_tx_++), kPayer, Tx(10)), schemas::ORDER_ALREADY_CONSUMED);
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ORDER_VOIDED);
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ORDER_VOIDED);
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(2)), schemas::ORDER_EXPIRED);
  Submit(*e, CancelCmd(Tx(next_tx_++), kPayer, Tx(2)), schemas::ORDER_EXPIRED);
  // Another payer naming the order learns nothing about it.
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer + 1, Tx(10)), schemas::ORDER_NOT_FOUND);
  // An evicted order id cannot be reused as a new command's tx id.
  auto reuse = e->SubmitAndWait({TopUpCmd(Tx(10), kPayer, 5)});
  EXPECT_EQ(reuse[0].code(), schemas::TX_ID_REUSED);
  EXPECT_TRUE(e->CheckCurrentInvariants().ok());
}

// Runs written after the newest snapshot (the process died before the next
// one): the restart loads the older snapshot, which still holds some of those
// orders in memory (one of them pending then), the newer runs and the tail.
TEST_F(OrderTierTest, CrashBetweenOrderRunWriteAndSnapshotIsHarmless) {
  Hash32 live{};
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    Setup(*e);
    PlaceAndConsume(*e, 1, 3);
    Submit(*e, PlaceCmd(Tx(50), kPayer, kHost, 1, 1), schemas::OK);  // pending in the snapshot
    ASSERT_TRUE(e->WriteSnapshotNow().ok());
    Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(50)), schemas::OK);
    Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(2)), schemas::OK);
    PlaceAndConsume(*e, 10, 20);  // evicts orders 1..3, 50 and the refund of 2
    ASSERT_GT(e->order_runs(), 0u);
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->Close().ok());  // no snapshot after the newer runs
  }
  auto e = MustOpen(true);
  ASSERT_NE(e, nullptr);
  EXPECT_GT(e->replayed_events(), 0u);
  EXPECT_EQ(e->CurrentStateHash(), live);
  EXPECT_TRUE(e->CheckCurrentInvariants().ok());
  EXPECT_LE(e->closed_orders_memory(), kBudget + 1);
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(2)), schemas::ALREADY_REFUNDED);
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(50)), schemas::ORDER_ALREADY_CONSUMED);
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(50)), schemas::OK);
  Submit(*e, RefundCmd(Tx(next_tx_++), kPayer, Tx(50)), schemas::ALREADY_REFUNDED);
}

TEST_F(OrderTierTest, CorruptOrderRunStopsTheRestartWithDataLossNamingTheFile) {
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    Setup(*e);
    PlaceAndConsume(*e, 1, 10);
    ASSERT_GT(e->order_runs(), 0u);
    ASSERT_TRUE(e->Close().ok());
  }
  auto names = ListDir(OrderDir(ShardPath()));
  ASSERT_TRUE(names.ok());
  ASSERT_FALSE(names.value().empty());
  const std::string path = JoinPath(OrderDir(ShardPath()), names.value().front());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kRunHeaderBytes + 20);  // inside the first record's payer
    f.put('\xff');
  }
  auto e = Open(true);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kDataLoss);
  EXPECT_NE(e.status().message().find(path), std::string::npos) << e.status().message();
}

// A snapshot that leaves closed orders to runs that are gone: refused, and
// the shard replays from zero (rebuilding the runs) instead of forgetting
// them.
TEST_F(OrderTierTest, DeletedOrderRunsAreRebuiltFromTheLogNotForgotten) {
  Hash32 live{};
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    Setup(*e);
    PlaceAndConsume(*e, 1, 10);
    ASSERT_TRUE(e->WriteSnapshotNow().ok());
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->Close().ok());
  }
  ASSERT_EQ(std::system(("rm -rf '" + OrderDir(ShardPath()) + "'").c_str()), 0);
  auto e = MustOpen(true);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->snapshot_seq(), 0u);  // the snapshot needed the deleted runs
  EXPECT_EQ(e->CurrentStateHash(), live);
  EXPECT_GT(e->order_runs(), 0u);
  Submit(*e, ConsumeCmd(Tx(next_tx_++), kPayer, Tx(1)), schemas::ORDER_ALREADY_CONSUMED);
}

}  // namespace
}  // namespace giftledger::commands

// Permanent idempotency through the engine with a tiny memory budget: ids
// evicted to run files keep their original result and seq (and TX_ID_REUSED
// for other content) across a restart from snapshot + runs, after a replay
// from zero, after a crash between a run write and the next snapshot; a
// corrupt run stops the restart with DATA_LOSS naming the file; while the
// slots of evicted entries are erased in slices, reads answer from the run.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "commands/engine.h"
#include "commands/idempotency_tier.h"
#include "commands/test_util.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/snapshot.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders

constexpr size_t kBudget = 4;

class IdempotencyTierTest : public ::testing::Test {
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
    o.idempotency_memory_entries_max = kBudget;
    o.evict_in_background = background_;
    return ShardEngine::Open(ShardPath(), ShardConfig{ShardId{0}, 1, 0}, key.value(), o);
  }

  std::unique_ptr<ShardEngine> MustOpen(bool snapshots) {
    auto e = Open(snapshots);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e.value()) : nullptr;
  }

  // Top-ups Tx(first..first+n-1), one command per batch so that eviction
  // (between batches) runs often. Returns their seqs.
  std::vector<uint64_t> TopUps(ShardEngine& e, uint64_t first, uint64_t n) {
    std::vector<uint64_t> seqs;
    for (uint64_t i = first; i < first + n; ++i) {
      auto r = e.SubmitAndWait({TopUpCmd(Tx(i), 1000 + i % 7, 10)});
      EXPECT_EQ(r[0].code(), schemas::OK);
      seqs.push_back(r[0].seq());
    }
    return seqs;
  }

  // Tx(1) .. Tx(n) answer as the first time; other content is TX_ID_REUSED.
  void ExpectOriginalAnswers(ShardEngine& e, const std::vector<uint64_t>& seqs) {
    for (uint64_t i = 1; i <= seqs.size(); ++i) {
      auto r = e.SubmitAndWait({TopUpCmd(Tx(i), 1000 + i % 7, 10), TopUpCmd(Tx(i), 1000, 11)});
      EXPECT_EQ(r[0].code(), schemas::OK) << i << " " << r[0].message();
      EXPECT_EQ(r[0].seq(), seqs[i - 1]) << i;
      EXPECT_EQ(r[1].code(), schemas::TX_ID_REUSED) << i;
    }
  }

  ::giftledger::testing::TempDir dir_;
  std::atomic<int64_t> now_us_{kT0};
  // Synchronous eviction unless a test says otherwise: the counts the tests
  // check right after a batch are then exact.
  bool background_ = false;
};

TEST_F(IdempotencyTierTest, EvictedIdKeepsItsResultAcrossSnapshotRestartAndReplayFromZero) {
  std::vector<uint64_t> seqs;
  Hash32 live{};
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    seqs = TopUps(*e, 1, 40);
    EXPECT_LE(e->idempotency_memory_entries(), kBudget + 1);
    EXPECT_GE(e->idempotency_disk_entries(), 30u);
    ExpectOriginalAnswers(*e, seqs);
    ASSERT_TRUE(e->WriteSnapshotNow().ok());
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->CheckCurrentInvariants().ok());
    ASSERT_TRUE(e->Close().ok());
  }
  {
    auto e = MustOpen(true);  // snapshot (memory part) + runs
    ASSERT_NE(e, nullptr);
    EXPECT_GT(e->snapshot_seq(), 0u);
    EXPECT_EQ(e->replayed_events(), 0u);
    EXPECT_EQ(e->CurrentStateHash(), live);
    ExpectOriginalAnswers(*e, seqs);
  }
  {
    auto e = MustOpen(false);  // replay from zero over the existing runs
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->CurrentStateHash(), live);
    EXPECT_LE(e->idempotency_memory_entries(), kBudget + 1);
    ExpectOriginalAnswers(*e, seqs);
  }
  // Without any run file and any snapshot, a replay from zero rebuilds them.
  ASSERT_EQ(std::system(
                ("rm -rf '" + IdempotencyDir(ShardPath()) + "' '" + SnapshotDir(ShardPath()) + "'")
                    .c_str()),
            0);
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->CurrentStateHash(), live);
    EXPECT_GE(e->idempotency_disk_entries(), 30u);
    ExpectOriginalAnswers(*e, seqs);
  }
}

// Runs written on the engine's background thread while batches keep coming
// (how the service runs): memory never passes 3/2 of the budget (a batch
// waits for the run there), every id answers as the first time, and a
// restart from the runs, with or without the snapshot, gives the same state.
TEST_F(IdempotencyTierTest, BackgroundEvictionAnswersLikeSynchronousAndStaysUnderTheHardMax) {
  background_ = true;
  std::vector<uint64_t> seqs;
  Hash32 live{};
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    for (uint64_t i = 1; i <= 60; ++i) {
      auto one = TopUps(*e, i, 1);
      seqs.insert(seqs.end(), one.begin(), one.end());
      EXPECT_LE(e->idempotency_memory_entries(), kBudget + kBudget / 2 + 1) << i;
    }
    ExpectOriginalAnswers(*e, seqs);
    ASSERT_TRUE(e->WriteSnapshotNow().ok());
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->CheckCurrentInvariants().ok());
    ASSERT_TRUE(e->Close().ok());
  }
  for (bool snapshots : {true, false}) {
    auto e = MustOpen(snapshots);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->CurrentStateHash(), live) << snapshots;
    EXPECT_GE(e->idempotency_disk_entries(), 40u) << snapshots;
    EXPECT_TRUE(e->CheckCurrentInvariants().ok());
    ExpectOriginalAnswers(*e, seqs);
  }
}

// Runs written after the newest snapshot (the process died before the next
// one): the restart loads the older snapshot, the newer runs and the tail;
// the ids in both the snapshot and the runs are answered once, correctly.
TEST_F(IdempotencyTierTest, CrashBetweenRunWriteAndSnapshotIsHarmless) {
  std::vector<uint64_t> seqs;
  Hash32 live{};
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    seqs = TopUps(*e, 1, 10);
    ASSERT_TRUE(e->WriteSnapshotNow().ok());
    auto more = TopUps(*e, 11, 30);  // evicts ids the snapshot holds in memory
    seqs.insert(seqs.end(), more.begin(), more.end());
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->Close().ok());  // no snapshot after the newer runs
  }
  auto e = MustOpen(true);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->snapshot_seq(), 10u);
  EXPECT_EQ(e->replayed_events(), 30u);
  EXPECT_EQ(e->CurrentStateHash(), live);
  EXPECT_TRUE(e->CheckCurrentInvariants().ok());
  ExpectOriginalAnswers(*e, seqs);
}

TEST_F(IdempotencyTierTest, CorruptRunStopsTheRestartWithDataLossNamingTheFile) {
  {
    auto e = MustOpen(true);
    ASSERT_NE(e, nullptr);
    TopUps(*e, 1, 20);
    ASSERT_GT(e->idempotency_runs(), 0u);
    ASSERT_TRUE(e->Close().ok());
  }
  auto names = ListDir(IdempotencyDir(ShardPath()));
  ASSERT_TRUE(names.ok());
  ASSERT_FALSE(names.value().empty());
  const std::string path = JoinPath(IdempotencyDir(ShardPath()), names.value().front());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kIdempotencyRunHeaderBytes + 3);
    f.put('\xff');
  }
  auto e = Open(true);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kDataLoss);
  EXPECT_NE(e.status().message().find(path), std::string::npos) << e.status().message();
}

// An eviction drops the moved entries from memory at once but erases their
// slots in slices between batches. Meanwhile every id answers from the run
// with its original seq, and the hash, the invariants and a snapshot do not
// see the slots (memory never overrides the run for idempotency).
TEST(IdempotencyTierSlices, ReadsDuringASlicedEraseAnswerFromTheRun) {
  ::giftledger::testing::TempDir dir;
  Harness h;
  h.EnableDiskTier(dir.path(), 0, RunIndexOptions{10, false});  // evictions by hand
  std::vector<uint64_t> seqs;
  for (uint64_t i = 1; i <= 20; ++i) seqs.push_back(h.Run(TopUpCmd(Tx(i), 1000 + i, 10)).seq);
  const Hash32 live = StateHash(h.state);
  auto e = PrepareIdempotencyEviction(h.state, 8, h.state.last_seq);
  ASSERT_TRUE(e.has_value());
  ASSERT_TRUE(e->Write().ok());
  const size_t moved = e->records.size();
  FinishIdempotencyEviction(h.state, std::move(*e));
  EXPECT_EQ(h.state.idempotency.size(), 4u);
  EXPECT_EQ(h.state.idempotency.dropped(), moved);
  for (size_t slice : {size_t{0}, size_t{7}, moved}) {
    EraseIdempotencyDropped(h.state, slice);
    for (uint64_t i = 1; i <= 20; ++i) {
      auto found = h.state.FindIdempotency(*TxId::FromBytes(Tx(i)));
      ASSERT_TRUE(found.has_value()) << i;
      EXPECT_EQ(found->seq, seqs[i - 1]) << i;
    }
    EXPECT_EQ(StateHash(h.state), live);
    EXPECT_TRUE(CheckInvariants(h.state).ok());
    auto parsed = ParseState(SerializeState(h.state));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->idempotency.size(), 4u);
    EXPECT_EQ(parsed->idempotency.dropped(), 0u);
    ASSERT_TRUE(AttachIdempotencyIndex(parsed.value(), h.state.idempotency_disk).ok());
    EXPECT_EQ(StateHash(parsed.value()), live);
    const Outcome again = h.Run(TopUpCmd(Tx(3), 1003, 10));
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.seq, seqs[2]);
  }
  EXPECT_EQ(h.state.idempotency.dropped(), 0u);
}

}  // namespace
}  // namespace giftledger::commands

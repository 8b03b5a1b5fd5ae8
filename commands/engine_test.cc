// The shard engine against a real ledger directory: batches decide against
// the live state, answers come after durability, and a restart that replays
// the log reaches a hash-equal state.
#include "commands/engine.h"

#include <gtest/gtest.h>

#include <atomic>

#include "commands/test_util.h"
#include "ledger/manifest.h"
#include "ledger/testing/fault_fs.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders

constexpr uint64_t kAlice = 1001;
constexpr uint64_t kHost = 2001;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(FormatLedger(dir_.path(), 1, kSegmentBytesMin).ok()); }

  std::unique_ptr<ShardEngine> OpenEngine(FileSystem* fs = FileSystem::Default()) {
    auto key = SigningKey::Load(SigningKeyPath(dir_.path(), ShardId{0}));
    EXPECT_TRUE(key.ok());
    EngineOptions o;
    o.writer.segment_bytes = kSegmentBytesMin;
    o.writer.fs = fs;
    o.clock_us = [this] { return now_us_.load(); };
    auto e = ShardEngine::Open(ShardDir(dir_.path(), ShardId{0}), ShardConfig{ShardId{0}, 1, 0},
                               key.value(), o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e.value()) : nullptr;
  }

  ::giftledger::testing::TempDir dir_;
  std::atomic<int64_t> now_us_{kT0};
};

TEST_F(EngineTest, LaterCommandsInABatchSeeEarlierEffects) {
  auto e = OpenEngine();
  ASSERT_NE(e, nullptr);
  auto r = e->SubmitAndWait({CatalogCmd(Tx(1), 7, 100), TopUpCmd(Tx(2), kAlice, 1000),
                             PlaceCmd(Tx(3), kAlice, kHost, 7, 2), ConsumeCmd(Tx(4), kAlice, Tx(3)),
                             ConsumeCmd(Tx(5), kAlice, Tx(3))});
  ASSERT_EQ(r.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r[i].code(), schemas::OK) << i << " " << r[i].message();
    EXPECT_EQ(r[i].seq(), uint64_t(i + 1));
  }
  EXPECT_EQ(r[4].code(), schemas::ORDER_ALREADY_CONSUMED);
  EXPECT_EQ(r[4].seq(), 5u);
  EXPECT_TRUE(e->CheckCurrentInvariants().ok());
  EXPECT_TRUE(e->Close().ok());
}

TEST_F(EngineTest, UnloggedRejectionsHaveNoSeq) {
  auto e = OpenEngine();
  ASSERT_NE(e, nullptr);
  auto r = e->SubmitAndWait({TopUpCmd(Tx(1), kAlice, 5)}, kRoleGifts);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code(), schemas::PERMISSION_DENIED);
  EXPECT_EQ(r[0].seq(), 0u);
}

TEST_F(EngineTest, RestartByReplayGivesAnEqualStateHash) {
  Hash32 live{};
  uint64_t events = 0;
  {
    auto e = OpenEngine();
    ASSERT_NE(e, nullptr);
    e->SubmitAndWait({CatalogCmd(Tx(1), 7, 100), TopUpCmd(Tx(2), kAlice, 1000)});
    e->SubmitAndWait({PlaceCmd(Tx(3), kAlice, kHost, 7, 2, kSecond),
                      PlaceCmd(Tx(4), kAlice, kHost, 7, 1), PayoutCmd(Tx(5), kHost, 1)});
    now_us_ += 2 * kSecond;  // Tx(3) expires; the next batch sweeps it first
    auto r = e->SubmitAndWait({ConsumeCmd(Tx(6), kAlice, Tx(4)), ConsumeCmd(Tx(7), kAlice, Tx(3)),
                               HostCreditCmd(Tx(6), kHost, 50), PrivacyCmd(Tx(8), kAlice, true)});
    EXPECT_EQ(r[0].code(), schemas::OK);
    EXPECT_EQ(r[1].code(), schemas::ORDER_EXPIRED);
    EXPECT_EQ(r[2].code(), schemas::OK);
    // Many small batches in flight at once: answers only after durability.
    std::atomic<int> answered{0};
    for (int i = 0; i < 50; ++i) {
      e->Submit({TopUpCmd(Tx(100 + i), kAlice, 1)}, kRolesAllGateway,
                [&answered](std::vector<schemas::CommandResult> rs) {
                  EXPECT_EQ(rs.at(0).code(), schemas::OK);
                  answered.fetch_add(1);
                });
    }
    auto last = e->SubmitAndWait({TopUpCmd(Tx(200), kAlice, 1)});
    EXPECT_EQ(answered.load(), 50);
    events = last[0].seq();
    EXPECT_TRUE(e->CheckCurrentInvariants().ok());
    live = e->CurrentStateHash();
    ASSERT_TRUE(e->Close().ok());
  }
  auto e = OpenEngine();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->replayed_events(), events);
  EXPECT_EQ(e->CurrentStateHash(), live);
  EXPECT_TRUE(e->CheckCurrentInvariants().ok());
  // Permanent idempotency across the restart.
  auto r = e->SubmitAndWait({PlaceCmd(Tx(4), kAlice, kHost, 7, 1), TopUpCmd(Tx(2), kAlice, 999),
                             ConsumeCmd(Tx(7), kAlice, Tx(3))});
  EXPECT_EQ(r[0].code(), schemas::OK);
  EXPECT_EQ(r[1].code(), schemas::TX_ID_REUSED);
  EXPECT_EQ(r[2].code(), schemas::ORDER_EXPIRED);
  EXPECT_EQ(e->CurrentStateHash(), live);
}

TEST_F(EngineTest, SyncFailureAnswersUnavailableAndRestartForgetsTheUndurable) {
  Hash32 durable_hash{};
  {
    ::giftledger::testing::FaultFileSystem fs;
    auto e = OpenEngine(&fs);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->SubmitAndWait({TopUpCmd(Tx(1), kAlice, 10)})[0].code(), schemas::OK);
    durable_hash = e->CurrentStateHash();
    fs.Arm(::giftledger::testing::Fault::kSyncEio);
    auto r = e->SubmitAndWait({TopUpCmd(Tx(2), kAlice, 20)});
    EXPECT_EQ(r[0].code(), schemas::UNAVAILABLE);
    EXPECT_EQ(r[0].seq(), 0u);
    // Failed for good: nothing more is decided.
    auto after = e->SubmitAndWait({TopUpCmd(Tx(3), kAlice, 30)});
    EXPECT_EQ(after[0].code(), schemas::UNAVAILABLE);
    EXPECT_FALSE(e->Close().ok());
  }
  // The failed block may or may not have reached the disk; either way the
  // restarted state is the replay of what is there, and the client's retry
  // with the same tx id gets a definite answer.
  auto e = OpenEngine();
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->CheckCurrentInvariants().ok());
  auto retry = e->SubmitAndWait({TopUpCmd(Tx(2), kAlice, 20)});
  EXPECT_EQ(retry[0].code(), schemas::OK);
  if (e->replayed_events() == 1) {
    EXPECT_EQ(retry[0].seq(), 2u);
  }
  EXPECT_NE(e->CurrentStateHash(), durable_hash);
}

}  // namespace
}  // namespace giftledger::commands

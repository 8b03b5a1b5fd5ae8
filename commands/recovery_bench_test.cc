// The recovery benchmark runs end to end on a small log (figures are not
// asserted: benchmarks never time-assert), and its restart really used the
// snapshot and replayed exactly the tail.
#include "commands/recovery_bench.h"

#include <gtest/gtest.h>

#include "commands/state.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

TEST(RecoveryBench, RestartLoadsTheSnapshotAndReplaysTheTail) {
  ::giftledger::testing::TempDir dir;
  RecoveryBenchOptions o;
  o.data_dir = dir.Sub("ledger");
  o.events = 3000;
  o.tail_events = 500;
  o.users = 100;
  o.batch_commands = 256;
  o.accounts = 1000;
  auto r = RunRecoveryBench(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Two catalog commands (one per append run) besides the mix.
  EXPECT_EQ(r->log_events, 3002u);
  EXPECT_EQ(r->snapshot_seq, 2501u);
  EXPECT_EQ(r->tail_events, 501u);
  EXPECT_GT(r->snapshot_bytes, 0u);
  EXPECT_GT(r->replay_events_per_s, 0);
  EXPECT_EQ(r->accounts, 1000u);
  // At least the wallet and the tx id it was topped up with. Measured with
  // glibc's mallinfo2, which a sanitizer's own allocator leaves at zero.
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
  constexpr bool kGlibcMalloc = !__has_feature(address_sanitizer);
#else
  constexpr bool kGlibcMalloc = true;
#endif
  if (kGlibcMalloc) {
    EXPECT_GT(r->bytes_per_account, double(sizeof(Wallet) + 16));
  }
}

}  // namespace
}  // namespace giftledger::commands

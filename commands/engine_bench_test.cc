// The engine benchmark runs end to end on a small mix (figures are not
// asserted: benchmarks never time-assert).
#include "commands/engine_bench.h"

#include <gtest/gtest.h>

#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

TEST(EngineBench, MixIsDeterministicAndAllCommandsSucceed) {
  const auto a = EngineBenchMix(1000, 50);
  const auto b = EngineBenchMix(1000, 50);
  ASSERT_EQ(a.size(), 1000u);
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString());

  ::giftledger::testing::TempDir dir;
  EngineBenchOptions o;
  o.data_dir = dir.Sub("ledger");
  o.commands = 5000;
  o.batch_commands = 100;
  o.producers = 3;
  o.users = 200;
  auto r = RunEngineBench(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->commands, 5000u);
  EXPECT_EQ(r->rejected, 0u);
  EXPECT_GT(r->commands_per_s, 0);
  EXPECT_GT(r->decide_apply_per_s, 0);
  EXPECT_GE(r->fsyncs, 1u);
  EXPECT_GE(r->events, r->commands);  // every command logged at least one event

  // A second run on the same ledger appends with fresh tx ids: no command is
  // answered as a duplicate (which would log nothing), none is rejected.
  auto again = RunEngineBench(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->rejected, 0u);
  EXPECT_GE(again->events, again->commands);
}

}  // namespace
}  // namespace giftledger::commands

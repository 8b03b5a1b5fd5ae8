// `giftledger bench scale`: the same closed-loop gift load (bench e2e's,
// through the gateway client) against 1, 2 and 4 shard processes — a ledger
// of N shards, N `giftledger start --shards i` children sharing one
// nats-server — giving total commands/s and the per-shard efficiency
// total / (N × single). Every child runs on this machine, so the ratio shows
// what the cores allow; docs/benchmarks.md says what many machines give.
#pragma once

#include <CLI/CLI.hpp>

namespace giftledger::cli {

void RegisterBenchScale(CLI::App* bench, int* exit_code);

}  // namespace giftledger::cli

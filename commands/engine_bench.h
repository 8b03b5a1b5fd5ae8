// The shard engine benchmark behind `giftledger bench engine` (issue 4): a
// realistic mix (top-ups, place+consume pairs, a few cancels) against one
// shard with the durable log, and the same mix decided and applied in memory.
// The CLI (tools/) adds the SQLite comparison and prints the JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

struct EngineBenchOptions {
  std::string data_dir;  // formatted here with one shard if it holds no ledger
  uint64_t commands = 1'000'000;
  uint32_t batch_commands = 1024;  // commands per Submit (a gateway batch)
  uint32_t batches_in_flight_max = 32;
  uint32_t users = 100'000;
};

struct EngineBenchResult {
  uint64_t commands = 0;
  double commands_per_s = 0;  // durable: answered after fdatasync
  double commit_p50_us = 0;   // Submit → answers, per batch
  double commit_p99_us = 0;
  double decide_apply_per_s = 0;  // in memory, one core, no log
  uint64_t rejected = 0;          // commands answered with a code other than OK
};

// The mix, deterministic for a given count: per user a top-up, then order
// pairs (PlaceOrder + ConsumeOrder), every 16th order cancelled instead.
std::vector<schemas::Command> EngineBenchMix(uint64_t commands, uint32_t users);

Result<EngineBenchResult> RunEngineBench(const EngineBenchOptions& options);

}  // namespace giftledger::commands

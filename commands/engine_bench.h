// The shard engine benchmark behind `giftledger bench engine` (issue 4): a
// realistic mix (top-ups, place+consume pairs, a few cancels) submitted by
// several producer threads in gateway batches against one shard with the
// durable log, and the same mix decided and applied in memory on one core.
// The CLI (tools/cli/bench_engine.cc) adds the SQLite comparison and the JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "commands/limits.h"
#include "ledger/status.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

struct EngineBenchOptions {
  // Formatted here with one shard if it holds no ledger; appended to (with
  // fresh tx ids) if it holds a one-shard ledger; left in place.
  std::string data_dir;
  uint64_t commands = 2'000'000;
  uint32_t producers = 4;              // threads, each a gateway with its own users
  uint32_t batch_commands = 8190;      // commands per Submit (a full gateway batch)
  uint32_t batches_in_flight_max = 2;  // per producer, awaiting durability
  uint32_t users = 100'000;
  // The engine's idempotency memory budget (EngineOptions); a small one
  // makes the durable run evict to run files and look new ids up on disk.
  size_t idempotency_memory_entries_max = size_t{1} << 21;
  // The engine's closed-order memory budget (EngineOptions).
  size_t closed_orders_memory_max = kClosedOrdersMemoryMax;
  // Fill checkpoints' state roots (EngineOptions::state_root); off measures
  // the commit path without the state tree.
  bool state_root = true;
  // Checkpoint every this many blocks (0 = the writer's default).
  uint64_t checkpoint_every_blocks = 0;
};

struct EngineBenchResult {
  uint64_t commands = 0;
  double seconds = 0;
  double commands_per_s = 0;  // durable: answered after fdatasync
  double commit_p50_us = 0;   // Submit → answers, per batch
  double commit_p99_us = 0;
  double decide_apply_per_s = 0;  // in memory, one core, no log
  uint64_t rejected = 0;          // commands answered with a code other than OK
  uint64_t events = 0;            // appended by the durable run
  uint64_t fsyncs = 0;            // of the durable run
  uint64_t blocks = 0;
  uint64_t idempotency_disk_entries = 0;  // after the durable run
  uint64_t idempotency_runs = 0;
  uint64_t closed_orders_memory = 0;  // after the durable run
  uint64_t order_disk_records = 0;
  uint64_t order_runs = 0;
};

// The mix, deterministic for a given (commands, users, salt): per user a
// top-up, then order pairs (PlaceOrder + ConsumeOrder), every 16th order
// cancelled instead. `salt` makes the tx ids of one run distinct from every
// other run's on the same ledger.
std::vector<schemas::Command> EngineBenchMix(uint64_t commands, uint32_t users, uint64_t salt = 0);

// The SetCatalog command the mix relies on (gift 1, price 10).
schemas::Command EngineBenchCatalog(uint64_t salt = 0);

// The user whose shard processes `c` (0 for none).
uint64_t EngineBenchUser(const schemas::Command& c);

Result<EngineBenchResult> RunEngineBench(const EngineBenchOptions& options);

// Decide + apply of `mix` (after EngineBenchCatalog) on one core, no log;
// commands per second.
double DecideApplyPerS(const std::vector<schemas::Command>& mix);

}  // namespace giftledger::commands

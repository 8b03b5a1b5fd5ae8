// `giftledger bench ledger`: durable signed appends against the same-run
// baselines of raw write+fdatasync and naive SQLite, on the same disk.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ledger/status.h"

namespace giftledger::cli {

struct LedgerBenchOptions {
  std::string data_dir;
  uint32_t shards = 1;
  uint64_t events = 2'000'000;
  uint32_t event_bytes = 160;
  uint32_t producers = 2;
  uint32_t producer_batch = 64;    // events per Append call
  uint32_t inflight_batches = 64;  // per producer, awaiting durability
  uint32_t lone_samples = 300;
  uint64_t sqlite_events = 2000;
};

// Runs the benchmark; the ledger is left in data_dir (formatted if absent).
Result<nlohmann::json> RunLedgerBench(const LedgerBenchOptions& o);
void PrintLedgerBenchHuman(const nlohmann::json& j);

}  // namespace giftledger::cli

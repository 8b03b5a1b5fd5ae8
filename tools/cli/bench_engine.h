// `giftledger bench engine` and `giftledger bench recovery`: the money core's
// benchmarks (commands/engine_bench.h, commands/recovery_bench.h) with the
// same-run SQLite baseline, printed as a table or as one JSON object.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "commands/engine_bench.h"
#include "commands/recovery_bench.h"
#include "ledger/status.h"

namespace giftledger::cli {

struct EngineCliOptions {
  commands::EngineBenchOptions engine;
  uint64_t sqlite_commands = 2000;  // the naive baseline is ~fsync-bound
};

Result<nlohmann::json> RunEngineBenchCli(const EngineCliOptions& o);
void PrintEngineBenchHuman(const nlohmann::json& j);

Result<nlohmann::json> RunRecoveryBenchCli(const commands::RecoveryBenchOptions& o);
void PrintRecoveryBenchHuman(const nlohmann::json& j);

}  // namespace giftledger::cli

// `giftledger bench project`: the projections' throughput (docs/cli.md) —
// ledger → SQLite, ledger → in-memory models, hot top-100 queries — with a
// same-run naive SQLite baseline (one transaction per event).
#pragma once

#include <CLI/CLI.hpp>

namespace giftledger::cli {

void RegisterBenchProject(CLI::App* bench, int* exit_code);

}  // namespace giftledger::cli

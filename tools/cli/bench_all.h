// `giftledger bench all`: the ledger, engine, e2e, project and verify
// benchmarks, each in a child process of this binary with its same-run
// baselines, gathered into one JSON object with the date and the machine
// (docs/benchmarks.md; tools/bench-report turns it into a table). The e2e
// run gets its own nats-server on a free loopback port, a formatted ledger
// and a `giftledger start`, all stopped by pid at the end.
#pragma once

#include <CLI/CLI.hpp>

namespace giftledger::cli {

void RegisterBenchAll(CLI::App* bench, int* exit_code);

}  // namespace giftledger::cli

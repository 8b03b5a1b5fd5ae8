// giftledger bench <what>: benchmarks that print their same-run baselines.
#include <cstdio>

#include "tools/cli/bench_ledger.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {

void RegisterBench(CLI::App& app, int* exit_code) {
  auto* bench = app.add_subcommand("bench", "Benchmarks with same-run baselines and ratios");
  bench->require_subcommand(1);
  auto* ledger = bench->add_subcommand(
      "ledger", "Durable signed appends vs raw write+fdatasync and naive SQLite");
  auto o = std::make_shared<LedgerBenchOptions>();
  auto json = std::make_shared<bool>(false);
  ledger->add_option("--data", o->data_dir,
                     "Ledger directory: formatted if absent, appended to if a ledger; kept")
      ->required();
  ledger->add_option("--shards", o->shards, "Shards to append to")->capture_default_str();
  ledger->add_option("--events", o->events, "Events in the throughput run")->capture_default_str();
  ledger->add_option("--event-bytes", o->event_bytes, "Bytes per event")->capture_default_str();
  ledger->add_option("--producers", o->producers, "Producer threads")->capture_default_str();
  ledger->add_option("--producer-batch", o->producer_batch, "Events per append call")
      ->capture_default_str();
  ledger->add_option("--inflight", o->inflight_batches,
                     "Append calls each producer keeps awaiting durability")
      ->capture_default_str();
  ledger->add_option("--sqlite-events", o->sqlite_events, "Events for the SQLite baseline")
      ->capture_default_str();
  ledger->add_flag("--json", *json, "One JSON object on stdout");
  ledger->callback([o, json, exit_code] {
    auto r = RunLedgerBench(*o);
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (*json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      PrintLedgerBenchHuman(r.value());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace giftledger::cli

// giftledger bench <what>: benchmarks that print their same-run baselines.
#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "tools/cli/bench_all.h"
#include "tools/cli/bench_e2e.h"
#include "tools/cli/bench_engine.h"
#include "tools/cli/bench_failover.h"
#include "tools/cli/bench_ledger.h"
#include "tools/cli/bench_project.h"
#include "tools/cli/bench_scale.h"
#include "tools/cli/bench_verify.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

// Runs `run`, prints its JSON or its human table, sets the exit code.
template <typename Run, typename Human>
void Report(Run run, Human human, bool json, int* exit_code) {
  // The engine logs its restarts at info level on stdout; keep the JSON clean.
  if (json) spdlog::set_level(spdlog::level::warn);
  auto r = run();
  if (!r.ok()) {
    *exit_code = ReportError(r.status());
    return;
  }
  if (json) {
    std::printf("%s\n", r->dump(2).c_str());
  } else {
    human(r.value());
  }
  *exit_code = kExitOk;
}

void RegisterBenchEngine(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "engine", "Durable commands/s of one shard engine, decide+apply/s, vs naive SQLite");
  auto o = std::make_shared<EngineCliOptions>();
  auto json = std::make_shared<bool>(false);
  auto& e = o->engine;
  cmd->add_option("--data", e.data_dir,
                  "Ledger directory: formatted (1 shard) if absent, appended to if a ledger; kept")
      ->required();
  cmd->add_option("--commands", e.commands, "Commands in the durable run")->capture_default_str();
  cmd->add_option("--producers", e.producers, "Producer threads (gateways)")->capture_default_str();
  cmd->add_option("--batch", e.batch_commands, "Commands per gateway batch (max 8190)")
      ->capture_default_str()
      ->check(CLI::Range(1, 8190));
  cmd->add_option("--inflight", e.batches_in_flight_max,
                  "Batches each producer keeps awaiting durability")
      ->capture_default_str();
  cmd->add_option("--users", e.users, "Distinct payers in the mix")->capture_default_str();
  cmd->add_option("--idempotency-memory", e.idempotency_memory_entries_max,
                  "Idempotency entries kept in memory; older ones go to run files")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 40));
  cmd->add_flag("--no-state-root", [&e](int64_t) { e.state_root = false; },
                "Checkpoints without state roots (measures the state tree's commit-path cost)");
  cmd->add_option("--checkpoint-blocks", e.checkpoint_every_blocks,
                  "Checkpoint every N blocks (0 = writer default 4096)")
      ->capture_default_str();
  cmd->add_option("--sqlite-commands", o->sqlite_commands, "Commands for the SQLite baseline")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  cmd->callback([o, json, exit_code] {
    Report([&] { return RunEngineBenchCli(*o); }, PrintEngineBenchHuman, *json, exit_code);
  });
}

void RegisterBenchRecovery(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "recovery", "Restart time (snapshot + tail), replay from zero, state bytes per account");
  auto o = std::make_shared<commands::RecoveryBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--data", o->data_dir,
                  "Ledger directory: formatted (1 shard) if absent, appended to if a ledger; kept")
      ->required();
  cmd->add_option("--events", o->events, "Events this run appends")->capture_default_str();
  cmd->add_option("--tail-events", o->tail_events, "Of which appended after the snapshot")
      ->capture_default_str();
  cmd->add_option("--users", o->users, "Distinct payers in the mix")->capture_default_str();
  cmd->add_option("--accounts", o->accounts, "Accounts for bytes_per_account")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  cmd->callback([o, json, exit_code] {
    Report([&] { return RunRecoveryBenchCli(*o); }, PrintRecoveryBenchHuman, *json, exit_code);
  });
}

void RegisterBenchE2e(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "e2e", "Encrypted gift commands/s and latency through NATS vs a plain NATS echo");
  auto o = std::make_shared<E2eBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--nats", o->nats_url, "NATS server of a running `giftledger start`")
      ->capture_default_str();
  cmd->add_option("--key", o->key_file, "Gateway key with roles gifts,payments,ops")->required();
  cmd->add_option("--threads", o->threads, "Load generator threads")->capture_default_str();
  cmd->add_option("--inflight", o->inflight, "Requests each thread keeps in flight")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "Commands per envelope (even, max 8190)")
      ->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "Peak run")->capture_default_str();
  cmd->add_option("--half-seconds", o->half_seconds, "Run paced at 50 % of the peak")
      ->capture_default_str();
  cmd->add_option("--echo-seconds", o->echo_seconds, "NATS echo baseline")->capture_default_str();
  cmd->add_option("--users", o->users_per_shard, "Payers per shard")->capture_default_str();
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  cmd->callback([o, json, exit_code] {
    Report([&] { return RunE2eBench(*o); }, PrintE2eBenchHuman, *json, exit_code);
    nats_Close();
  });
}

void RegisterBenchVerify(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "verify", "verify events/s vs BLAKE2b-256 per event and Ed25519 verify/s, same run");
  auto o = std::make_shared<VerifyBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--data", o->data_dir,
                  "Ledger to verify as is; made here (and kept) when absent. Default: a "
                  "temporary ledger, removed after");
  cmd->add_option("--events", o->events, "Events written when the ledger is made")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t(1), uint64_t(1'000'000'000)));
  cmd->add_option("--shards", o->shards, "Shards when the ledger is made")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--event-bytes", o->event_bytes, "Bytes per event when the ledger is made")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--block-events", o->block_events, "Events per block when the ledger is made")
      ->capture_default_str()
      ->check(CLI::Range(1u, 8190u));
  cmd->add_option("--runs", o->runs, "verify runs (the best is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100u));
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  cmd->callback([o, json, exit_code] {
    Report([&] { return RunVerifyBench(*o); }, PrintVerifyBenchHuman, *json, exit_code);
  });
}

}  // namespace

void RegisterBench(CLI::App& app, int* exit_code) {
  auto* bench = app.add_subcommand("bench", "Benchmarks with same-run baselines and ratios");
  bench->require_subcommand(1);
  auto* ledger = bench->add_subcommand(
      "ledger", "Durable signed appends vs raw write+fdatasync and naive SQLite");
  auto o = std::make_shared<LedgerBenchOptions>();
  auto json = std::make_shared<bool>(false);
  ledger
      ->add_option("--data", o->data_dir,
                   "Ledger directory: formatted if absent, appended to if a ledger; kept")
      ->required();
  ledger->add_option("--shards", o->shards, "Shards to append to")->capture_default_str();
  ledger->add_option("--events", o->events, "Events in the throughput run")->capture_default_str();
  ledger->add_option("--event-bytes", o->event_bytes, "Bytes per event")->capture_default_str();
  ledger->add_option("--producers", o->producers, "Producer threads")->capture_default_str();
  ledger->add_option("--producer-batch", o->producer_batch, "Events per append call")
      ->capture_default_str();
  ledger
      ->add_option("--inflight", o->inflight_batches,
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
  RegisterBenchEngine(bench, exit_code);
  RegisterBenchRecovery(bench, exit_code);
  RegisterBenchE2e(bench, exit_code);
  RegisterBenchProject(bench, exit_code);
  RegisterBenchVerify(bench, exit_code);
  RegisterBenchScale(bench, exit_code);
  RegisterBenchAll(bench, exit_code);
  RegisterBenchFailover(bench, exit_code);
}

}  // namespace giftledger::cli

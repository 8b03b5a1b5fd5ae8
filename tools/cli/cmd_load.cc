// giftledger load: simulated live rooms against a running `giftledger start`
// (tools/cli/load.h). Interval reports on stderr (or JSON lines on stdout),
// a summary at the end; Ctrl-C ends the run early and still summarizes.
#include <nats/nats.h>

#include <csignal>
#include <cstdio>

#include "tools/cli/commands.h"
#include "tools/cli/load.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

volatile bool g_stop = false;
extern "C" void OnStopSignal(int) { g_stop = true; }

}  // namespace

void RegisterLoad(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<LoadOptions>();
  auto json = std::make_shared<bool>(false);
  auto strict = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "load",
      "Simulated live rooms: viewers top up and send gifts (combos, cancels, refunds, replayed "
      "consumes) to Zipf-popular hosts through the encrypted gateway protocol");
  cmd->add_option("--nats", o->nats_url, "NATS server URL")->capture_default_str();
  cmd->add_option("--key", o->key_file, "Gateway key with roles gifts,payments")->required();
  cmd->add_option("--ops-key", o->ops_key_file,
                  "Gateway key with role ops: loads the catalog and refunds some gifts");
  cmd->add_option("--duration", o->duration_s, "Seconds to run (Ctrl-C stops early)")
      ->capture_default_str();
  cmd->add_option("--rate", o->rate_per_s, "Gift actions per second; 0 = as fast as answered")
      ->capture_default_str();
  cmd->add_option("--viewers", o->viewers, "Viewer accounts")->capture_default_str();
  cmd->add_option("--hosts", o->hosts, "Hosts, one room each")->capture_default_str();
  cmd->add_option("--zipf", o->zipf_s, "Host popularity exponent")->capture_default_str();
  cmd->add_option("--inflight", o->inflight_max, "Requests in flight")->capture_default_str();
  cmd->add_option("--request-commands", o->request_commands_max, "Commands per request, max")
      ->capture_default_str();
  cmd->add_option("--report-every", o->report_every_s, "Seconds between interval reports")
      ->capture_default_str();
  cmd->add_flag("--report-json", o->report_json_lines,
                "Interval reports as JSON lines on stdout (summary then follows as JSON)");
  cmd->add_flag("--quiet", o->quiet, "No interval reports");
  cmd->add_flag(
      "--no-catalog", [o](int64_t) { o->load_catalog = false; },
      "Do not (re)load the demo catalog with --ops-key");
  cmd->add_option("--acks", o->acks_path,
                  "Append each acknowledged command to FILE: tx_id_hex shard seq CODE");
  cmd->add_option("--journal", o->journal_path,
                  "Redo journal of the gifts key (the ops key journals to FILE.ops)");
  cmd->add_option("--seed", o->seed, "Random seed of the simulation")->capture_default_str();
  cmd->add_option("--timeout-ms", o->timeout_ms, "Per request attempt")->capture_default_str();
  cmd->add_flag("--json", *json, "Summary as one JSON object on stdout");
  cmd->add_flag("--strict", *strict, "Exit 1 when any result was unexpected or unknown");
  cmd->callback([o, json, strict, exit_code] {
    g_stop = false;
    std::signal(SIGINT, OnStopSignal);
    std::signal(SIGTERM, OnStopSignal);
    auto summary = RunLoad(*o, &g_stop);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    nats_Close();
    if (!summary.ok()) {
      *exit_code = summary.status().code() == Code::kInvalidArgument
                       ? kExitUsage
                       : ReportError(summary.status());
      if (*exit_code == kExitUsage) ReportError(summary.status());
      return;
    }
    if (*json || o->report_json_lines) {
      std::printf("%s\n", summary->dump(2).c_str());
    } else {
      PrintLoadSummaryHuman(*summary);
    }
    const bool clean = (*summary)["unexpected"] == 0 && (*summary)["unknown_outcome"] == 0;
    *exit_code = *strict && !clean ? kExitCheckFailed : kExitOk;
  });
}

}  // namespace giftledger::cli

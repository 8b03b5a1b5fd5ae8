// giftledger settle: the settlement consumer (projections/settlement.h,
// docs/read-models.md "Settlement"). Credits every gift's host share to the
// host's shard exactly once; runs until SIGINT/SIGTERM (or idle with
// --exit-when-idle), logging progress, optionally serving /metrics.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/ingress/http_server.h"
#include "projections/settlement.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

std::atomic<bool> g_stop{false};

struct SettleOpts {
  projections::SettlementOptions s;
  std::string metrics;
  double report_every_s = 10;
  bool json = false;
};

nlohmann::json StatsJson(const projections::SettlementStats& s) {
  return {{"events", s.events.load()},
          {"duplicates", s.duplicates.load()},
          {"gap_filled_events", s.gap_filled_events.load()},
          {"gifts", s.gifts.load()},
          {"refunds_ignored", s.refunds_ignored.load()},
          {"credited", s.credited.load()},
          {"credited_coins", s.credited_coins.load()},
          {"rejected", s.rejected.load()},
          {"requests", s.requests.load()},
          {"retries", s.retries.load()},
          {"batches", s.batches.load()}};
}

std::string MetricsText(const projections::SettlementStats& s) {
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP giftledger_settlement_") + name + " " + help + "\n";
    out += std::string("# TYPE giftledger_settlement_") + name + " counter\n";
    out += std::string("giftledger_settlement_") + name + " " + std::to_string(v) + "\n";
  };
  counter("events_total", "Events read (duplicates excluded).", s.events);
  counter("gifts_total", "GiftSent events with a host share.", s.gifts);
  counter("credited_total", "Host credits the ledger answered OK.", s.credited);
  counter("credited_coins_total", "Coins of the credits answered OK.", s.credited_coins);
  counter("rejected_total", "Host credits permanently rejected (see the log).", s.rejected);
  counter("retries_total", "Rounds of transient failures retried.", s.retries);
  counter("requests_total", "Requests sent to the ledger.", s.requests);
  return out;
}

Result<std::unique_ptr<ingress::HttpServer>> StartMetrics(const std::string& host_port,
                                                          const projections::SettlementStats* s) {
  return ingress::StartMetricsServer(host_port, [s] { return MetricsText(*s); });
}

int Run(const SettleOpts& o) {
  projections::SettlementStats stats;
  projections::SettlementOptions so = o.s;
  so.stop = &g_stop;
  g_stop = false;
  ::signal(SIGINT, [](int) { g_stop = true; });
  ::signal(SIGTERM, [](int) { g_stop = true; });
  auto settlement = projections::Settlement::Open(so, &stats);
  if (!settlement.ok()) return ReportError(settlement.status());
  std::unique_ptr<ingress::HttpServer> http;
  nlohmann::json ready{{"ledger_id", settlement.value()->ledger().ledger_id},
                       {"shards", settlement.value()->ledger().shard_count},
                       {"durable", so.durable},
                       {"settled_seq", settlement.value()->settled_positions()}};
  if (!o.metrics.empty()) {
    auto server = StartMetrics(o.metrics, &stats);
    if (!server.ok()) return ReportError(server.status());
    http = std::move(server.value());
    std::string host;
    uint16_t port = 0;
    (void)ingress::ParseHostPort(o.metrics, &host, &port);
    ready["metrics_url"] = "http://" + host + ":" + std::to_string(http->port()) + "/metrics";
  }
  std::printf("ready %s\n", ready.dump().c_str());
  std::fflush(stdout);
  // Progress on stderr every report_every_s while running.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread reporter([&] {
    std::unique_lock<std::mutex> lock(mu);
    const auto every = std::chrono::duration<double>(o.report_every_s);
    while (!cv.wait_for(lock, every, [&] { return done; })) {
      spdlog::info("settlement: {} gifts credited ({} coins), {} rejected, {} retries, {} events",
                   stats.credited.load(), stats.credited_coins.load(), stats.rejected.load(),
                   stats.retries.load(), stats.events.load());
    }
  });
  Status st = settlement.value()->Run();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  reporter.join();
  if (http) http->Stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool stopped = g_stop.load() && (st.ok() || st.code() == Code::kAborted);
  if (!st.ok() && !stopped) return ReportError(st);
  nlohmann::json j = StatsJson(stats);
  j["seconds"] = seconds;
  j["credits_per_s"] = seconds > 0 ? double(stats.credited.load()) / seconds : 0;
  j["settled_seq"] = settlement.value()->settled_positions();
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf(
        "settle: %llu gifts credited (%llu coins), %llu rejected, %llu retries, %llu events in "
        "%.3f s (%.0f credits/s)\n",
        (unsigned long long)stats.credited.load(), (unsigned long long)stats.credited_coins.load(),
        (unsigned long long)stats.rejected.load(), (unsigned long long)stats.retries.load(),
        (unsigned long long)stats.events.load(), seconds, j["credits_per_s"].get<double>());
  }
  return kExitOk;
}

}  // namespace

void RegisterSettle(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<SettleOpts>();
  auto* cmd = app.add_subcommand(
      "settle",
      "Settlement consumer: credit every gift's host share to the host's shard, exactly once");
  cmd->add_option("--nats", o->s.url, "NATS server URL")->capture_default_str();
  cmd->add_option("--key", o->s.key_file, "Gateway key with the settlement role")->required();
  cmd->add_option("--state", o->s.state_path,
                  "Positions file (settled seq per shard), rewritten after each answered batch; "
                  "without it settlement starts at seq 1 of every shard");
  cmd->add_option("--stream", o->s.stream, "The event stream")->capture_default_str();
  cmd->add_option("--durable", o->s.durable, "The durable consumer name")->capture_default_str();
  cmd->add_option("--batch", o->s.batch_credits, "Credits pending before they are submitted")
      ->capture_default_str()
      ->check(CLI::Range(size_t(1), size_t(1) << 20));
  cmd->add_option("--timeout-ms", o->s.submit_timeout_ms, "Per request attempt")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(600'000)));
  cmd->add_option("--metrics", o->metrics,
                  "Serve Prometheus /metrics (and /healthz) on HOST:PORT, e.g. 127.0.0.1:9466");
  cmd->add_option("--report-every", o->report_every_s, "Seconds between progress log lines")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_flag("--exit-when-idle", o->s.exit_when_idle,
                "Exit once a pull finds nothing new (else run until SIGINT/SIGTERM)");
  cmd->add_flag("--json", o->json, "Final summary as one JSON object on stdout");
  cmd->callback([o, exit_code] {
    *exit_code = Run(*o);
    nats_Close();
  });
}

}  // namespace giftledger::cli

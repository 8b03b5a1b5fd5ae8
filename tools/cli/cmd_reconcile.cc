// giftledger reconcile: recompute every wallet and host account from the log
// and compare with the shards' snapshots and the read models; exit code =
// outcome. With --every it runs until SIGINT/SIGTERM and publishes each
// report on NATS subject giftledger.reconcile (docs/cli.md, docs/dashboard.md).
#include <nats/nats.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "commands/ingress/nats_servers.h"
#include "replay/reconcile.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using nlohmann::json;

constexpr char kReconcileSubject[] = "giftledger.reconcile";
// Mismatches listed in a published report (the dashboard shows the count).
constexpr size_t kPublishedMismatchesMax = 100;

struct ReconcileOpts {
  std::string data;
  std::string db;
  bool json = false;
  std::string every;
  std::string nats;
};

volatile std::sig_atomic_t g_reconcile_stop = 0;
void OnReconcileSignal(int) { g_reconcile_stop = 1; }

// "90s", "10m", "1h", "500ms" or plain seconds; nullopt when not > 0.
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& s) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = s.substr(used);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = v * 1000;
  } else if (unit == "ms") {
    ms = v;
  } else if (unit == "m") {
    ms = v * 60'000;
  } else if (unit == "h") {
    ms = v * 3'600'000;
  } else {
    return std::nullopt;
  }
  if (!(ms >= 1) || ms > 366.0 * 24 * 3'600'000) return std::nullopt;
  return std::chrono::milliseconds(int64_t(ms));
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json MismatchJson(const Mismatch& m) {
  json j = {{"source", MismatchSourceName(m.source)},
            {"shard", m.shard},
            {"account_kind", m.account_kind},
            {"account", m.account},
            {"field", m.field},
            {"expected", m.expected},
            {"found", m.found},
            {"last_seq", m.last_seq}};
  if (!m.detail.empty()) j["detail"] = m.detail;
  return j;
}

json ReportJson(const ReconcileReport& r, const std::string& at, size_t mismatches_max) {
  json j;
  j["ok"] = r.ok;
  j["at"] = at;
  j["ledger_id"] = r.ledger_id;
  j["events"] = r.events;
  j["seconds"] = r.seconds;
  j["events_per_s"] = r.seconds > 0 ? double(r.events) / r.seconds : 0.0;
  j["mismatch_count"] = r.mismatch_count;
  j["mismatches"] = json::array();
  for (size_t i = 0; i < r.mismatches.size() && i < mismatches_max; ++i) {
    j["mismatches"].push_back(MismatchJson(r.mismatches[i]));
  }
  j["mismatches_truncated"] = j["mismatches"].size() < r.mismatch_count;
  j["shards"] = json::array();
  for (const auto& s : r.shards) {
    j["shards"].push_back(
        {{"shard", s.shard},
         {"log_last_seq", s.log_last_seq},
         {"users", s.users},
         {"hosts", s.hosts},
         {"snapshot_seq", s.snapshot_seq ? json(*s.snapshot_seq) : json()},
         {"read_model_seq", s.read_model_seq ? json(*s.read_model_seq) : json()},
         {"read_model_lag", s.read_model_lag},
         {"mismatches", s.mismatches}});
  }
  return j;
}

void PrintHuman(const ReconcileReport& r, const std::string& at) {
  for (const auto& s : r.shards) {
    std::string snap = s.snapshot_seq ? std::to_string(*s.snapshot_seq) : "none";
    std::string rm = s.read_model_seq ? std::to_string(*s.read_model_seq) +
                                            " (lag " + std::to_string(s.read_model_lag) + ")"
                                      : "not compared";
    std::printf("shard %u: log seq %llu, %llu users, %llu hosts; snapshot at %s; read model at %s; "
                "%llu mismatches\n",
                s.shard, (unsigned long long)s.log_last_seq, (unsigned long long)s.users,
                (unsigned long long)s.hosts, snap.c_str(), rm.c_str(),
                (unsigned long long)s.mismatches);
  }
  for (const auto& m : r.mismatches) {
    if (m.account_kind == "source") {
      std::printf("MISMATCH %s shard %u: %s (expected %lld, found %lld) %s\n",
                  MismatchSourceName(m.source), m.shard, m.field.c_str(), (long long)m.expected,
                  (long long)m.found, m.detail.c_str());
    } else {
      std::printf("MISMATCH %s shard %u %s %llu %s: expected %lld, found %lld (at seq %llu)\n",
                  MismatchSourceName(m.source), m.shard, m.account_kind.c_str(),
                  (unsigned long long)m.account, m.field.c_str(), (long long)m.expected,
                  (long long)m.found, (unsigned long long)m.last_seq);
    }
  }
  if (r.mismatches.size() < r.mismatch_count) {
    std::printf("... %llu more mismatches not listed\n",
                (unsigned long long)(r.mismatch_count - r.mismatches.size()));
  }
  const double rate = r.seconds > 0 ? double(r.events) / r.seconds : 0;
  std::printf("%s %s: %llu events replayed in %.3f s (%.0f events/s), %llu mismatches\n",
              at.c_str(), r.ok ? "reconciled, all agree" : "RECONCILE FOUND MISMATCHES",
              (unsigned long long)r.events, r.seconds, rate, (unsigned long long)r.mismatch_count);
  std::fflush(stdout);
}

int ExitFor(const Status& st) {
  std::fprintf(stderr, "giftledger: %s\n", st.ToString().c_str());
  return st.code() == Code::kDataLoss ? kExitCheckFailed : kExitError;
}

// One run: the report on stdout, the exit code, and the JSON to publish.
int RunOnce(const ReconcileOpts& o, json* published) {
  ReconcileOptions ro;
  ro.data_dir = o.data;
  ro.db_path = o.db;
  ProgressBar bar("reconcile");
  std::mutex mu;
  ro.progress = [&](uint64_t done, uint64_t total) {
    std::lock_guard<std::mutex> lock(mu);
    bar.Update(done, total);
  };
  auto rep = Reconcile(ro);
  bar.Finish();
  const std::string at = UtcNow();
  if (!rep.ok()) {
    *published = {{"ok", false}, {"at", at}, {"error", rep.status().ToString()},
                  {"mismatch_count", 0}, {"mismatches", json::array()}};
    return ExitFor(rep.status());
  }
  if (o.json) {
    std::printf("%s\n", ReportJson(rep.value(), at, kReconcileMismatchesMax).dump(2).c_str());
    std::fflush(stdout);
  } else {
    PrintHuman(rep.value(), at);
  }
  *published = ReportJson(rep.value(), at, kPublishedMismatchesMax);
  return rep->ok ? kExitOk : kExitMismatch;
}

Status Publish(natsConnection* nc, const json& report) {
  const std::string text = report.dump();
  natsStatus s = natsConnection_PublishString(nc, kReconcileSubject, text.c_str());
  if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 5000);
  if (s != NATS_OK) return Unavailable(std::string("publish: ") + natsStatus_GetText(s));
  return Status::Ok();
}

int RunEvery(const ReconcileOpts& o, std::chrono::milliseconds period) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = ingress::SetNatsServers(opts, o.nats);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetName(opts, "giftledger-reconcile");
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    return ReportError(Unavailable("NATS " + o.nats + ": " + natsStatus_GetText(s)));
  }
  std::signal(SIGINT, OnReconcileSignal);
  std::signal(SIGTERM, OnReconcileSignal);
  int code = kExitOk;
  while (!g_reconcile_stop) {
    const auto next = std::chrono::steady_clock::now() + period;
    json report;
    code = RunOnce(o, &report);
    // A lost publish is reported and retried with the next run's report;
    // the reconciler itself keeps going.
    if (Status st = Publish(nc, report); !st.ok()) {
      std::fprintf(stderr, "giftledger: %s\n", st.ToString().c_str());
    }
    while (!g_reconcile_stop && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  natsConnection_Destroy(nc);
  return code;
}

}  // namespace

void RegisterReconcile(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "reconcile",
      "Recompute every wallet and host account from the log and compare with the snapshots and "
      "the read models (exit 0 = all agree, 5 = mismatches)");
  auto o = std::make_shared<ReconcileOpts>();
  cmd->add_option("--data", o->data, "Ledger data directory (read only)")->required();
  cmd->add_option("--db", o->db,
                  "Read-model database (SQLite) to compare at its recorded positions");
  cmd->add_flag("--json", o->json, "One JSON object per run on stdout");
  cmd->add_option("--every", o->every,
                  "Run periodically (e.g. 90s, 10m, 1h) until SIGINT/SIGTERM; needs --nats");
  cmd->add_option("--nats", o->nats, "NATS URL to publish each report on giftledger.reconcile");
  cmd->callback([o, exit_code] {
    if (o->every.empty()) {
      if (!o->nats.empty()) {
        std::fprintf(stderr, "giftledger: --nats needs --every\n");
        *exit_code = kExitUsage;
        return;
      }
      json unused;
      *exit_code = RunOnce(*o, &unused);
      return;
    }
    auto period = ParseDuration(o->every);
    if (!period || o->nats.empty()) {
      std::fprintf(stderr, "giftledger: --every wants a duration such as 10m, with --nats URL\n");
      *exit_code = kExitUsage;
      return;
    }
    *exit_code = RunEvery(*o, *period);
  });
}

}  // namespace giftledger::cli

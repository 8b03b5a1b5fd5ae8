#include "tools/cli/bench_project.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ledger/manifest.h"
#include "ledger/writer.h"
#include "projections/ledger_source.h"
#include "projections/limits.h"
#include "projections/projector.h"
#include "projections/query.h"
#include "tools/cli/bench_project_nats.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using projections::Board;
using projections::Projector;
using projections::Window;

struct ProjectBenchOptions {
  std::string dir;  // empty: a fresh directory under $TMPDIR, removed after
  uint64_t events = 2'000'000;
  uint32_t users = 100'000;
  uint32_t hosts = 2'000;
  uint64_t naive_events = 20'000;
  uint64_t queries = 2'000'000;
  uint64_t sqlite_queries = 2'000;
  bool keep = false;
  ProjectNatsBenchOptions nats;  // the figures over NATS (bench_project_nats.h)
};

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of this process: on a shared machine the wall-clock rates
// understate what the code does per core, so both are reported.
double CpuSeconds() {
  timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string TxBytes(uint64_t n) {
  std::string s(16, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(n >> (8 * i));
  s[6] = char((uint8_t(s[6]) & 0x0f) | 0x40);
  s[15] = 1;
  return s;
}

// The mix: a top-up per user, then gifts (OrderPlaced + GiftSent) from random
// payers to random hosts in the host's room, every 200th gift refunded,
// ledger time advancing 2 ms a gift (so periods roll over).
std::vector<std::string> MakeEvents(const ProjectBenchOptions& o) {
  std::vector<std::string> out;
  out.reserve(o.events);
  schemas::Event e;
  uint64_t tx = 1, rng = 42;
  int64_t t = 1'710'072'000'000'000;
  auto push = [&] {
    e.set_ledger_time_us(t);
    out.push_back(e.SerializeAsString());
  };
  for (uint32_t u = 0; u < o.users && out.size() < o.events; ++u) {
    e.Clear();
    e.set_tx_id(TxBytes(tx++));
    e.mutable_topped_up()->set_user(u + 1);
    e.mutable_topped_up()->set_amount(1'000'000);
    push();
  }
  uint64_t gifts = 0;
  while (out.size() + 2 <= o.events) {
    const uint64_t payer = 1 + SplitMix(rng) % o.users;
    const uint64_t host = 1'000'000 + SplitMix(rng) % o.hosts;
    const uint32_t count = 1 + uint32_t(SplitMix(rng) % 5);
    const std::string order = TxBytes(tx++);
    e.Clear();
    e.set_tx_id(order);
    auto* p = e.mutable_order_placed();
    p->set_payer(payer);
    p->set_host(host);
    p->set_room(host);
    p->set_gift(1);
    p->set_count(count);
    p->set_amount(10 * count);
    p->set_host_share(5 * count);
    push();
    e.Clear();
    e.set_tx_id(TxBytes(tx++));
    auto* g = e.mutable_gift_sent();
    g->set_payer(payer);
    g->set_host(host);
    g->set_room(host);
    g->set_gift(1);
    g->set_count(count);
    g->set_amount(10 * count);
    g->set_host_share(5 * count);
    g->set_order_id(order);
    push();
    if (++gifts % 200 == 0 && out.size() < o.events) {
      e.Clear();
      e.set_tx_id(TxBytes(tx++));
      auto* r = e.mutable_refunded();
      r->set_payer(payer);
      r->set_order_id(order);
      r->set_amount(10 * count);
      push();
    }
    t += 2000;
  }
  return out;
}

Status WriteLedger(const std::string& dir, const std::vector<std::string>& events) {
  auto m = FormatLedger(dir, 1, kSegmentBytesMax / 4);
  if (!m.ok()) return m.status();
  auto key = LoadShardSigningKey(dir, m.value(), ShardId{0});
  if (!key.ok()) return key.status();
  WriterOptions wo;
  wo.segment_bytes = kSegmentBytesMax / 4;
  auto w = Writer::Open(ShardDir(dir, ShardId{0}), ShardId{0}, key.value(), wo);
  if (!w.ok()) return w.status();
  EventBatch batch;
  for (const std::string& ev : events) {
    if (batch.count() == kBlockEventsMax - 2 || !batch.Add(ev).ok()) {
      auto r = w.value()->AppendAndWait(std::move(batch));
      if (!r.status.ok()) return r.status;
      batch = EventBatch();
      GL_RETURN_IF_ERROR(batch.Add(ev));
    }
  }
  if (!batch.empty()) {
    auto r = w.value()->AppendAndWait(std::move(batch));
    if (!r.status.ok()) return r.status;
  }
  return w.value()->Close();
}

Result<nlohmann::json> RunProjectBench(const ProjectBenchOptions& o) {
  namespace fs = std::filesystem;
  std::string dir = o.dir;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "giftledger-bench-project-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return ErrnoStatus("mkdtemp", errno);
    dir = tmpl;
  } else if (fs::exists(dir)) {
    return AlreadyExists(dir + " exists; the benchmark makes a fresh directory");
  }
  const std::string ledger = dir + "/ledger";
  const auto events = MakeEvents(o);
  GL_RETURN_IF_ERROR(WriteLedger(ledger, events));
  auto config = projections::ConfigFromLedger(ledger, projections::LevelTable());
  if (!config.ok()) return config.status();
  nlohmann::json j{{"events", events.size()}, {"users", o.users}, {"hosts", o.hosts}};

  // Ledger → in-memory models (every block verified as it is read).
  {
    auto mem = Projector::InMemory(config.value());
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = CpuSeconds();
    GL_RETURN_IF_ERROR(projections::ProjectFromLedger(ledger, *mem));
    const double s = Since(t0);
    j["rebuild_seconds"] = s;
    j["rebuild_events_per_s"] = double(events.size()) / s;
    j["rebuild_events_per_cpu_s"] = double(events.size()) / (CpuSeconds() - c0);
  }
  // Ledger → SQLite, batches of the default size.
  auto p = Projector::Open(dir + "/rm.sqlite", projections::OpenMode::kCreateNew, config.value());
  if (!p.ok()) return p.status();
  {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = CpuSeconds();
    GL_RETURN_IF_ERROR(projections::ProjectFromLedger(ledger, *p.value()));
    const double s = Since(t0);
    j["sqlite_seconds"] = s;
    j["events_per_s"] = double(events.size()) / s;
    j["events_per_cpu_s"] = double(events.size()) / (CpuSeconds() - c0);
    j["batches"] = p.value()->stats().batches;
  }
  // Baseline: the same projector, one SQLite transaction per event.
  {
    auto naive = Projector::Open(dir + "/naive.sqlite", projections::OpenMode::kCreateNew,
                                 config.value(), 1);
    if (!naive.ok()) return naive.status();
    projections::LedgerSourceOptions so;
    so.max_events = std::min<uint64_t>(o.naive_events, events.size());
    auto t0 = std::chrono::steady_clock::now();
    GL_RETURN_IF_ERROR(projections::ProjectFromLedger(ledger, *naive.value(), so));
    const double rate = double(so.max_events) / Since(t0);
    j["naive_sqlite_events_per_s"] = rate;
    j["ratio_naive_sqlite"] = j["events_per_s"].get<double>() / rate;
  }
  // Hot top-100 in process, over every host's fan board and the global ones.
  {
    auto& hot = p.value()->models().hot();
    std::vector<projections::RankEntry> top;
    int64_t period = 0;
    uint64_t entries = 0, rng = 7;
    const Board boards[] = {Board::kRoom, Board::kHost, Board::kHosts, Board::kGifters};
    // Warm-up: the first read of each board after the projection sorts it.
    for (uint64_t i = 0; i < o.queries / 10; ++i) {
      const Board b = boards[i % 4];
      const uint64_t key = projections::IsGlobalBoard(b) ? 0 : 1'000'000 + SplitMix(rng) % o.hosts;
      hot.Top(b, key, Window((i / 4) % projections::kWindowCount), 100, &top, &period);
    }
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < o.queries; ++i) {
      const Board b = boards[i % 4];
      const uint64_t key = projections::IsGlobalBoard(b) ? 0 : 1'000'000 + SplitMix(rng) % o.hosts;
      if (hot.Top(b, key, Window((i / 4) % projections::kWindowCount), 100, &top, &period)) {
        entries += top.size();
      }
    }
    const double rate = double(o.queries) / Since(t0);
    j["query_top100_per_s"] = rate;
    j["query_entries_avg"] = o.queries ? double(entries) / double(o.queries) : 0.0;
    // Baseline: the same top-100 from SQLite.
    auto store = projections::Store::Open(dir + "/rm.sqlite", projections::OpenMode::kReadOnly, {});
    if (!store.ok()) return store.status();
    t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < o.sqlite_queries; ++i) {
      const Board b = boards[i % 4];
      const uint64_t key = projections::IsGlobalBoard(b) ? 0 : 1'000'000 + SplitMix(rng) % o.hosts;
      auto a = projections::QueryLeaderboard(
          *store.value(), b, key, Window((i / 4) % projections::kWindowCount), std::nullopt, 100);
      if (!a.ok()) return a.status();
    }
    const double sqlite_rate = double(o.sqlite_queries) / Since(t0);
    j["sqlite_query_top100_per_s"] = sqlite_rate;
    j["ratio_query_sqlite"] = rate / sqlite_rate;
  }
  // Over NATS: the same queries through the query server, and gifts from
  // durable to visible through the event stream.
  if (!o.nats.skip) {
    auto n = RunProjectNatsBench(o.nats, dir, *p.value(), config.value(), o.hosts);
    if (!n.ok()) return n.status();
    j.update(n.value());
    j["ratio_query_nats_in_process"] =
        j["query_top100_per_s_nats"].get<double>() / j["query_top100_per_s"].get<double>();
  }
  j["target_events_per_s"] = 500'000;
  j["target_rebuild_events_per_s"] = 2'000'000;
  j["target_query_top100_per_s"] = 600'000;
  j["target_query_top100_per_s_nats"] = 100'000;
  j["target_visible_p99_ms"] = 20;
  j["redis_zrevrange_top100_per_s"] = "55000-68000 (measured once on this machine, not this run)";
  p.value().reset();
  if (!o.keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    j["dir"] = dir;
  }
  return j;
}

void PrintHuman(const nlohmann::json& j) {
  std::printf("events: %llu\n", (unsigned long long)j["events"].get<uint64_t>());
  std::printf(
      "ledger -> SQLite:    %12.0f events/s  (%.0f per CPU second; naive 1 tx/event: "
      "%.0f/s, x%.1f)\n",
      j["events_per_s"].get<double>(), j["events_per_cpu_s"].get<double>(),
      j["naive_sqlite_events_per_s"].get<double>(), j["ratio_naive_sqlite"].get<double>());
  std::printf("ledger -> memory:    %12.0f events/s  (%.0f per CPU second)\n",
              j["rebuild_events_per_s"].get<double>(), j["rebuild_events_per_cpu_s"].get<double>());
  std::printf("hot top-100:         %12.0f queries/s (SQLite: %.0f/s, x%.1f)\n",
              j["query_top100_per_s"].get<double>(), j["sqlite_query_top100_per_s"].get<double>(),
              j["ratio_query_sqlite"].get<double>());
  if (j.contains("query_top100_per_s_nats")) {
    std::printf(
        "hot top-100 (NATS):  %12.0f queries/s (%u requesters x %u in flight; x%.2f of "
        "in-process)\n",
        j["query_top100_per_s_nats"].get<double>(), j["nats_requesters"].get<unsigned>(),
        j["nats_inflight"].get<unsigned>(), j["ratio_query_nats_in_process"].get<double>());
    std::printf(
        "visible p99:         %12.1f ms at %.0f gifts/s offered, %.0f/s visible "
        "(p50 %.1f ms)\n",
        j["visible_p99_ms"].get<double>(), j["visible_rate_gifts_per_s"].get<double>(),
        j["visible_achieved_gifts_per_s"].get<double>(), j["visible_p50_ms"].get<double>());
  }
}

}  // namespace

void RegisterBenchProject(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "project", "Projection: ledger->SQLite and ->memory events/s, hot top-100 queries/s");
  auto o = std::make_shared<ProjectBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--dir", o->dir, "Fresh work directory (default: under $TMPDIR)");
  cmd->add_option("--events", o->events, "Events in the ledger")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t(1000), uint64_t(100'000'000)));
  cmd->add_option("--users", o->users, "Distinct payers")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000'000u));
  cmd->add_option("--hosts", o->hosts, "Distinct hosts (one room each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10'000'000u));
  cmd->add_option("--naive-events", o->naive_events, "Events for the 1 tx/event baseline")
      ->capture_default_str();
  cmd->add_option("--queries", o->queries, "Hot top-100 queries")->capture_default_str();
  cmd->add_option("--sqlite-queries", o->sqlite_queries, "SQLite top-100 queries (baseline)")
      ->capture_default_str();
  cmd->add_flag("--keep", o->keep, "Keep the work directory");
  cmd->add_option("--nats", o->nats.url,
                  "nats-server (JetStream on) for the NATS figures (default: start one on a free "
                  "loopback port)");
  cmd->add_flag("--no-nats", o->nats.skip, "Skip the NATS figures");
  cmd->add_option("--nats-queries", o->nats.queries, "Top-100 queries over NATS")
      ->capture_default_str();
  cmd->add_option("--nats-requesters", o->nats.requesters, "Concurrent requester connections")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--nats-inflight", o->nats.inflight, "Requests each requester keeps in flight")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  cmd->add_option("--visible-rate", o->nats.visible_rate, "Gifts/s offered in the visibility run")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 10'000'000.0));
  cmd->add_option("--visible-seconds", o->nats.visible_seconds, "Length of the visibility run")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  cmd->callback([o, json, exit_code] {
    // The event publisher logs at info level on stdout; keep the JSON clean.
    if (*json) spdlog::set_level(spdlog::level::warn);
    auto r = RunProjectBench(*o);
    nats_Close();
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (*json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      PrintHuman(r.value());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace giftledger::cli

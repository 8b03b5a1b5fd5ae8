// giftledger project / rebuild: fold a ledger's events into the SQLite read
// models (docs/read-models.md). `project` resumes a database after its
// per-shard positions; `rebuild` makes a new one and never overwrites.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/ingress/http_server.h"
#include "commands/shard_ranges.h"
#include "projections/ledger_source.h"
#include "projections/limits.h"
#include "projections/nats_source.h"
#include "projections/projector.h"
#include "projections/projector_metrics.h"
#include "projections/state_hash.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"
#include "tools/cli/projection_cli.h"

namespace giftledger::cli {

using projections::Position;

nlohmann::json PositionsJson(const std::vector<Position>& positions) {
  nlohmann::json a = nlohmann::json::array();
  for (size_t s = 0; s < positions.size(); ++s) {
    a.push_back(
        {{"shard", s}, {"seq", positions[s].seq}, {"ledger_time_us", positions[s].ledger_time_us}});
  }
  return a;
}

std::string PositionsText(const std::vector<Position>& positions) {
  std::string s;
  for (size_t i = 0; i < positions.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(i) + ":" + std::to_string(positions[i].seq);
  }
  return s;
}

namespace {

std::atomic<bool> g_stop{false};

struct ProjectOpts {
  std::string ledger;
  std::string nats;      // --nats: JetStream source instead of ledger files
  std::string manifest;  // with --nats: the ledger's manifest (dir or file)
  std::string stream = "GIFTLEDGER_EVENTS";
  std::string durable = "giftledger-projector";
  bool exit_when_idle = false;
  bool no_broadcasts = false;
  bool no_queries = false;
  int64_t banner_min = 10'000;
  std::string db;
  std::string levels;
  size_t batch = projections::Projector::kBatchEventsMaxDefault;
  bool state_hash = false;
  bool json = false;
  std::string metrics;              // HOST:PORT of /metrics; empty = none
  std::vector<std::string> shards;  // --shards ranges; empty = all
  bool durable_given = false;
};

// The durable consumer: --durable as given, else the default name with the
// shard range appended ("giftledger-projector-0-3_6"), so that projectors of
// disjoint ranges never share one by accident.
std::string DurableName(const ProjectOpts& o, const std::vector<uint32_t>& shards) {
  if (o.durable_given || shards.empty()) return o.durable;
  std::string range = commands::FormatShardRanges(shards);
  for (char& c : range) {
    if (c == ',') c = '_';
  }
  return o.durable + "-" + range;
}

int64_t WallUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// /metrics (Prometheus text) and /healthz of the projector on HOST:PORT; the
// URL is announced on stderr ("giftledger project: metrics on URL").
Result<std::unique_ptr<ingress::HttpServer>> ServeMetrics(const std::string& host_port,
                                                          projections::ProjectorMetrics* m) {
  auto server = ingress::StartMetricsServer(host_port, [m] { return m->Text(WallUs()); });
  if (!server.ok()) return server.status();
  std::string host;
  uint16_t port = 0;
  (void)ingress::ParseHostPort(host_port, &host, &port);
  std::fprintf(stderr, "giftledger project: metrics on http://%s:%u/metrics\n", host.c_str(),
               unsigned(server.value()->port()));
  std::fflush(stderr);
  return server;
}

// Runs the projection into `db` (opened with `mode`) and prints the report.
int Run(const ProjectOpts& o, projections::OpenMode mode, const char* label) {
  projections::LevelTable levels;
  if (!o.levels.empty()) {
    auto t = projections::LevelTable::Parse(o.levels);
    if (!t.ok()) {
      std::fprintf(stderr, "giftledger: --levels: %s\n", t.status().message().c_str());
      return kExitUsage;
    }
    levels = t.value();
  }
  if (o.ledger.empty() == o.nats.empty() || (!o.nats.empty() && o.manifest.empty())) {
    std::fprintf(stderr,
                 "giftledger: give either --from-ledger DIR or --nats URL with --manifest\n");
    return kExitUsage;
  }
  std::vector<uint32_t> shards;
  if (!o.shards.empty()) {
    auto parsed = commands::ParseShardRanges(o.shards);
    if (!parsed.ok()) {
      std::fprintf(stderr, "giftledger: --shards: %s\n", parsed.status().message().c_str());
      return kExitUsage;
    }
    shards = parsed.value();
  }
  auto config = projections::ConfigFromLedger(o.nats.empty() ? o.ledger : o.manifest, levels);
  if (!config.ok()) return ReportError(config.status());
  for (uint32_t shard : shards) {
    if (shard >= config->shard_count) {
      std::fprintf(stderr, "giftledger: --shards: shard %u does not exist (ledger has %u shards)\n",
                   unsigned(shard), unsigned(config->shard_count));
      return kExitUsage;
    }
  }
  auto p = projections::Projector::Open(o.db, mode, config.value(), o.batch);
  if (!p.ok()) return ReportError(p.status());
  // Declared before the server, destroyed after it: the handler reads it.
  projections::ProjectorMetrics metrics(config->shard_count);
  std::unique_ptr<ingress::HttpServer> http;
  if (!o.metrics.empty()) {
    auto server = ServeMetrics(o.metrics, &metrics);
    if (!server.ok()) return ReportError(server.status());
    http = std::move(server.value());
    p.value()->set_metrics(&metrics);
    for (uint32_t s = 0; s < config->shard_count; ++s) {
      const auto& pos = p.value()->committed_positions()[s];
      metrics.Committed(s, pos.seq, pos.ledger_time_us);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  ProgressBar bar(label);
  Status st;
  if (o.nats.empty()) {
    projections::LedgerSourceOptions so;
    so.shards = shards;
    so.progress = [&](uint64_t done, uint64_t total) { bar.Update(done, total); };
    st = projections::ProjectFromLedger(o.ledger, *p.value(), so);
  } else {
    projections::NatsSourceOptions no;
    no.url = o.nats;
    no.stream = o.stream;
    no.durable = DurableName(o, shards);
    no.shards = shards;
    no.exit_when_idle = o.exit_when_idle;
    no.broadcasts = !o.no_broadcasts;
    no.serve_queries = !o.no_queries;
    no.broadcast.banner_amount_min = o.banner_min;
    no.stop = &g_stop;
    ::signal(SIGINT, [](int) { g_stop = true; });
    ::signal(SIGTERM, [](int) { g_stop = true; });
    projections::NatsSourceStats ns;
    st = projections::ProjectFromNats(*p.value(), no, &ns);
  }
  bar.Finish();
  p.value()->set_metrics(nullptr);
  if (http) http->Stop();
  if (!st.ok()) return ReportError(st);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& stats = p.value()->stats();
  std::string hash;
  if (o.state_hash) {
    auto h = projections::ReadModelStateHash(*p.value()->store());
    if (!h.ok()) return ReportError(h.status());
    hash = ToHex(h.value());
  }
  const double rate = seconds > 0 ? double(stats.applied_events) / seconds : 0;
  if (o.json) {
    nlohmann::json j{{"db", o.db},
                     {"ledger_id", config->ledger_id},
                     {"events", stats.applied_events},
                     {"skipped_duplicates", stats.skipped_duplicates},
                     {"batches", stats.batches},
                     {"seconds", seconds},
                     {"events_per_s", rate},
                     {"positions", PositionsJson(p.value()->committed_positions())}};
    if (o.state_hash) j["state_hash"] = hash;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s: %llu events in %llu batches, %.3f s (%.0f events/s); positions %s\n", label,
                (unsigned long long)stats.applied_events, (unsigned long long)stats.batches,
                seconds, rate, PositionsText(p.value()->committed_positions()).c_str());
    if (o.state_hash) std::printf("state hash: %s\n", hash.c_str());
  }
  return kExitOk;
}

void AddCommon(CLI::App* cmd, ProjectOpts* o) {
  cmd->add_option("--from-ledger", o->ledger, "Ledger data directory (read-only)");
  cmd->add_option("--levels", o->levels,
                  "Level thresholds, ascending coins, e.g. 1000,5000,20000 (default: "
                  "docs/read-models.md)");
  cmd->add_option("--batch", o->batch, "Events per SQLite transaction")
      ->capture_default_str()
      ->check(CLI::Range(size_t(1), projections::kBatchEventsMax));
  cmd->add_option("--shards", o->shards,
                  "Project only these shards: N, A-B or a list, e.g. 0-3 or 0,2,5-7 (default: "
                  "all); keep one range per database")
      ->delimiter(',');
  cmd->add_flag("--state-hash", o->state_hash, "Print the state hash of all read models");
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
}

}  // namespace

void RegisterProjectAndRebuild(CLI::App& app, int* exit_code) {
  auto* project = app.add_subcommand(
      "project", "Project a ledger's events into SQLite read models, resuming after its positions");
  auto po = std::make_shared<ProjectOpts>();
  AddCommon(project, po.get());
  project->add_option("--db", po->db, "Read-model database (created if absent)")->required();
  project->add_option("--nats", po->nats,
                      "Consume JetStream (durable pull consumer) instead of ledger files");
  project->add_option("--manifest", po->manifest,
                      "With --nats: the ledger's manifest.json (or its directory)");
  project->add_option("--stream", po->stream, "With --nats: the event stream")
      ->capture_default_str();
  project
      ->add_option("--durable", po->durable,
                   "With --nats: the durable consumer name (with --shards, default: this name "
                   "followed by -RANGE)")
      ->capture_default_str();
  project->add_flag("--no-queries", po->no_queries,
                    "With --nats: do not answer giftledger.q.* hot queries");
  project->add_flag("--no-broadcasts", po->no_broadcasts,
                    "With --nats: publish no room/banner/level broadcasts");
  project
      ->add_option("--banner-min", po->banner_min,
                   "With --nats: coins from which a gift line is also a banner")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 62));
  project->add_option("--metrics", po->metrics,
                      "Serve Prometheus /metrics (and /healthz) on HOST:PORT, e.g. "
                      "127.0.0.1:9465 (port 0: any free port; the URL is printed on stderr)");
  project->add_flag(
      "--exit-when-idle", po->exit_when_idle,
      "With --nats: exit once a pull finds nothing new (else run until SIGINT/SIGTERM)");
  project->callback([po, project, exit_code] {
    po->durable_given = project->count("--durable") > 0;
    *exit_code = Run(*po, projections::OpenMode::kOpenOrCreate, "project");
  });

  auto* rebuild = app.add_subcommand(
      "rebuild", "Build a new read-model database from the whole log (never overwrites)");
  auto ro = std::make_shared<ProjectOpts>();
  AddCommon(rebuild, ro.get());
  rebuild->add_option("--db", ro->db, "New database file (must not exist)")->required();
  rebuild->callback([ro, exit_code] {
    // Built under a temporary name and linked into place at the end, so that
    // NEW exists only once complete; link() refuses to replace a file.
    const std::string final_path = ro->db;
    if (::access(final_path.c_str(), F_OK) == 0) {
      *exit_code = ReportError(AlreadyExists(final_path + " exists; rebuild never overwrites"));
      return;
    }
    ProjectOpts o = *ro;
    o.db = final_path + ".partial";
    const int rc = Run(o, projections::OpenMode::kCreateNew, "rebuild");
    if (rc != kExitOk) {
      *exit_code = rc;
      return;
    }
    if (::link(o.db.c_str(), final_path.c_str()) != 0) {
      *exit_code = ReportError(ErrnoStatus("link " + final_path, errno));
      return;
    }
    ::unlink(o.db.c_str());
    *exit_code = kExitOk;
  });
}

void RegisterProjections(CLI::App& app, int* exit_code) {
  RegisterProjectAndRebuild(app, exit_code);
  RegisterQuery(app, exit_code);
}

}  // namespace giftledger::cli

// giftledger start: serve the ledger's shards over NATS until SIGINT/SIGTERM
// (drain, flush, snapshot, exit 0); SIGHUP reloads DIR/gateways.json.
#include <malloc.h>
#include <nats/nats.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands/ingress/http_server.h"
#include "commands/ingress/service.h"
#include "commands/shard_ranges.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

struct StartOpts {
  std::string data;
  std::string nats = "nats://127.0.0.1:4222";
  std::vector<std::string> shards;  // ranges and lists; empty = all
  bool no_snapshots = false;
  bool no_events = false;
  std::string events_stream = ingress::kEventStreamDefault;
  int64_t events_replicas = 1;
  int64_t events_max_age_s = 0;
  std::string log_level = "info";
  std::string metrics;             // HOST:PORT of the /metrics endpoint; empty = none
  uint64_t checkpoint_blocks = 0;  // 0 = writer default
  uint64_t checkpoint_ms = 0;
  // Replication (docs/replication.md).
  bool replicate = false;
  bool standby = false;
  std::string ack = "local";
  std::string node;  // empty = <hostname>:<pid>
  std::string blocks_stream = ingress::kBlockStreamDefault;
  int64_t blocks_replicas = 1;
  std::string lease_bucket = ingress::kLeaseBucketDefault;
  size_t idempotency_memory = 0;  // 0 = engine default (limits.h)
  size_t closed_orders_memory = 0;
};

std::string DefaultNodeName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "node");
  return std::string(host) + ":" + std::to_string(getpid());
}

// Waits for signals on the io_context until SIGINT/SIGTERM; SIGHUP reloads.
void WaitForStop(boost::asio::io_context& io, boost::asio::signal_set& signals,
                 ingress::Service& service) {
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          Status st = service.ReloadGateways();
          if (!st.ok()) spdlog::error("SIGHUP: gateways not reloaded: {}", st.ToString());
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("signal {}: stopping", sig);
        io.stop();
      };
  signals.async_wait(on_signal);
  io.run();
}

// A service runs for months: memory it frees must go back to the system.
// glibc raises its mmap threshold each time a large block is freed, up to
// 32 MiB, after which the multi-MiB buffers of evictions and merges come from
// the heap and stay there, fragmented; in the soak RssAnon grew 18 % in
// 6 minutes that way. A fixed threshold keeps every block of 256 KiB or
// more in its own mapping, unmapped when freed. Before any thread starts.
void SetUpAllocator() { (void)::mallopt(M_MMAP_THRESHOLD, 256 * 1024); }

int RunStart(const StartOpts& o) {
  SetUpAllocator();
  // stdout carries the "ready" line; logs go to stderr (docs/cli.md).
  spdlog::set_default_logger(spdlog::stderr_color_mt("start"));
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  // Signals are caught from here on, even while the shards recover: a
  // SIGTERM during recovery stops the service as soon as it is up.
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::signal(SIGPIPE, SIG_IGN);

  ingress::ServiceOptions so;
  so.data_dir = o.data;
  so.nats_url = o.nats;
  if (!o.shards.empty()) {
    auto shards = commands::ParseShardRanges(o.shards);
    if (!shards.ok()) {
      std::fprintf(stderr, "giftledger: --shards: %s\n", shards.status().message().c_str());
      return kExitUsage;
    }
    so.shards = shards.value();
  }
  so.snapshots = !o.no_snapshots;
  so.publish_events = !o.no_events;
  so.event_stream.name = o.events_stream;
  so.event_stream.replicas = o.events_replicas;
  so.event_stream.max_age_s = o.events_max_age_s;
  so.checkpoint_every_blocks = o.checkpoint_blocks;
  so.checkpoint_every_ms = o.checkpoint_ms;
  so.standby = o.standby;
  so.ack = o.ack == "replicated" ? ingress::AckMode::kReplicated : ingress::AckMode::kLocal;
  // A standby or a replicated ack is replication.
  so.replicate = o.replicate || o.standby || so.ack == ingress::AckMode::kReplicated;
  if (so.replicate && o.node.empty()) {
    // Blocks name their leader by the manifest's node list (keys node).
    std::fprintf(stderr,
                 "giftledger: replication needs --node NAME, a node listed with `giftledger keys "
                 "node --data DIR --name NAME`\n");
    return kExitUsage;
  }
  so.node = o.node.empty() ? DefaultNodeName() : o.node;
  so.block_stream.name = o.blocks_stream;
  so.block_stream.replicas = o.blocks_replicas;
  so.lease_bucket = o.lease_bucket;
  so.idempotency_memory_entries_max = o.idempotency_memory;
  so.closed_orders_memory_max = o.closed_orders_memory;
  auto service = ingress::Service::Open(so);
  if (!service.ok()) return ReportError(service.status());
  Status st = service.value()->Start();
  if (!st.ok()) {
    (void)service.value()->Shutdown();
    return ReportError(st);
  }
  nlohmann::json ready = nlohmann::json::parse(service.value()->InfoJson());
  std::unique_ptr<ingress::HttpServer> http;
  if (!o.metrics.empty()) {
    ingress::Service* svc = service.value().get();
    auto server = ingress::StartMetricsServer(o.metrics, [svc] { return svc->MetricsText(); });
    if (!server.ok()) {
      (void)service.value()->Shutdown();
      return ReportError(server.status());
    }
    http = std::move(server.value());
    std::string host;
    uint16_t port = 0;
    (void)ingress::ParseHostPort(o.metrics, &host, &port);
    ready["metrics_url"] = "http://" + host + ":" + std::to_string(http->port()) + "/metrics";
    spdlog::info("metrics on {}", ready["metrics_url"].get<std::string>());
  }
  std::printf("ready %s\n", ready.dump().c_str());
  std::fflush(stdout);
  WaitForStop(io, signals, *service.value());
  if (http) http->Stop();
  st = service.value()->Shutdown();
  service.value().reset();
  nats_Close();
  if (!st.ok()) return ReportError(st);
  return kExitOk;
}

}  // namespace

void RegisterStart(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "start", "Serve commands over NATS (giftledger.cmd.<shard>, giftledger.info) until SIGTERM");
  auto o = std::make_shared<StartOpts>();
  cmd->add_option("--data", o->data, "Ledger data directory (with service.key)")->required();
  cmd->add_option("--nats", o->nats, "NATS server URL, or a comma-separated list of a cluster's")
      ->capture_default_str();
  cmd->add_option("--shards", o->shards,
                  "Shards to serve: N, A-B or a list of them, e.g. 0-3 or 0,2,5-7 (default: all)")
      ->delimiter(',');
  cmd->add_flag("--no-snapshots", o->no_snapshots,
                "Neither load nor write state snapshots (replay every shard from seq 1)");
  cmd->add_flag("--no-events", o->no_events,
                "Neither publish events to JetStream nor serve giftledger.replay.<shard>");
  cmd->add_option("--events-stream", o->events_stream,
                  "JetStream stream for the events (created when missing)")
      ->capture_default_str();
  cmd->add_option("--events-replicas", o->events_replicas,
                  "Replicas of a stream created by start (3 in a NATS cluster)")
      ->capture_default_str()
      ->check(CLI::Range(1, 5));
  cmd->add_option("--events-max-age-s", o->events_max_age_s,
                  "max_age of a stream created by start, seconds (0 = keep forever)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--checkpoint-blocks", o->checkpoint_blocks,
                  "Write a signed checkpoint (with state root) after this many blocks "
                  "(0 = default 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--checkpoint-ms", o->checkpoint_ms,
                  "... or this many ms after the previous one, whichever is first "
                  "(0 = default 60000)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--replicate", o->replicate,
                "Replicate (docs/replication.md): publish every block to JetStream and serve a "
                "shard only while holding its lease; until then follow the block stream");
  cmd->add_flag("--standby", o->standby,
                "Replicate as a standby: print ready at once, follow the leader's blocks, take "
                "over when its lease expires (implies --replicate)");
  cmd->add_option("--ack", o->ack,
                  "local: answer after the local fdatasync; replicated: also after JetStream "
                  "stored the block (implies --replicate)")
      ->capture_default_str()
      ->check(CLI::IsMember({"local", "replicated"}));
  cmd->add_option("--node", o->node,
                  "Name of this process in leases and block messages "
                  "(default <hostname>:<pid>)");
  cmd->add_option("--blocks-stream", o->blocks_stream,
                  "JetStream stream of the replicated blocks (created when missing)")
      ->capture_default_str();
  cmd->add_option("--blocks-replicas", o->blocks_replicas,
                  "Replicas of the block stream and the lease bucket when created (3 in a "
                  "NATS cluster)")
      ->capture_default_str()
      ->check(CLI::Range(1, 5));
  cmd->add_option("--lease-bucket", o->lease_bucket, "NATS KV bucket of the shard leases")
      ->capture_default_str();
  cmd->add_option("--idempotency-memory", o->idempotency_memory,
                  "Tx ids kept in memory per shard before older ones move to run files "
                  "(default 2^21 = 2097152, the maximum)")
      ->check(CLI::Range(size_t{2}, commands::kIdempotencyMemoryEntriesMax));
  cmd->add_option("--closed-orders-memory", o->closed_orders_memory,
                  "Closed orders kept in memory per shard before older ones move to run files "
                  "(default 2^18 = 262144, the maximum)")
      ->check(CLI::Range(size_t{2}, commands::kClosedOrdersMemoryMax));
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  cmd->add_option("--metrics", o->metrics,
                  "Serve Prometheus /metrics (and /healthz) on HOST:PORT, e.g. 127.0.0.1:9464 "
                  "(port 0 = any; the ready line names it)");
  cmd->callback([o, exit_code] { *exit_code = RunStart(*o); });
}

}  // namespace giftledger::cli

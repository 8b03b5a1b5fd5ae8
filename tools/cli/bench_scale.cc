#include "tools/cli/bench_scale.h"

#include <nats/nats.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/process.h"
#include "tools/cli/bench_e2e.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using Args = std::vector<std::string>;

struct ScaleOptions {
  std::vector<uint32_t> processes{1, 2, 4};
  double seconds = 5;
  uint32_t threads = 2;             // load generator threads
  uint32_t inflight_per_shard = 4;  // requests in flight per shard, all threads together
  uint32_t batch = 1024;
  bool events = true;  // publish events to JetStream, as in production
  bool keep = false;
  bool json = false;
};

std::string SelfPath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("giftledger") : p.string();
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// utime + stime of a live process (/proc/<pid>/stat), seconds; 0 when gone.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');  // the command name may hold blanks
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at 3 (state); utime and stime are 14 and 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

int RunQuiet(const std::string& dir, const std::string& name, Args args) {
  args.insert(args.begin(), SelfPath());
  const pid_t pid = testing::Spawn(args, dir + "/" + name + ".out", dir + "/" + name + ".err");
  return pid > 0 ? testing::WaitExit(pid) : -1;
}

// One step: a ledger of n shards, n `start --shards i` on one nats-server,
// the e2e closed loop through the gateway client for o.seconds.
Result<nlohmann::json> RunStep(const std::string& work, uint32_t n, const ScaleOptions& o) {
  const std::string dir = work + "/p" + std::to_string(n);
  std::filesystem::create_directories(dir);
  // Its own nats-server: each step's ledger publishes its own stream.
  testing::NatsServer nats(dir);
  const std::string err = nats.Start();
  if (!err.empty()) return Unavailable(err);
  const std::string data = dir + "/ledger", key = dir + "/bench.key";
  if (RunQuiet(dir, "format", {"format", "--data", data, "--shards", std::to_string(n)}) != 0 ||
      RunQuiet(dir, "keys-service", {"keys", "service", "--data", data}) != 0 ||
      RunQuiet(dir, "keys-gateway",
               {"keys", "gateway", "--data", data, "--name", "bench", "--roles",
                "gifts,payments,ops", "--out", key}) != 0) {
    return Internal("format/keys failed: " +
                    Tail(testing::ReadFileOrEmpty(dir + "/keys-gateway.err"), 300));
  }
  std::vector<pid_t> starts;
  auto stop_all = [&](int signal) {
    int worst = 0;
    for (pid_t pid : starts) {
      const int code = testing::StopProcess(pid, signal);
      if (code != 0) worst = code;
    }
    starts.clear();
    return worst;
  };
  for (uint32_t i = 0; i < n; ++i) {
    Args args{SelfPath(), "start",    "--data",   data,
              "--nats",   nats.url(), "--shards", std::to_string(i)};
    if (!o.events) args.push_back("--no-events");
    pid_t pid = -1;
    const std::string name = dir + "/start-" + std::to_string(i);
    const std::string serr =
        testing::SpawnUntilReady(args, name + ".out", name + ".err", "ready ", &pid);
    if (pid > 0) starts.push_back(pid);
    if (!serr.empty()) {
      stop_all(SIGKILL);
      return Unavailable("giftledger start --shards " + std::to_string(i) + ": " + Tail(serr, 400));
    }
  }
  std::vector<double> cpu0;
  for (pid_t pid : starts) cpu0.push_back(CpuSeconds(pid));
  const double nats_cpu0 = CpuSeconds(nats.pid());

  E2eBenchOptions e;
  e.nats_url = nats.url();
  e.key_file = key;
  e.threads = o.threads;
  e.inflight = std::max(1u, o.inflight_per_shard * n / o.threads);
  e.batch = o.batch;
  e.seconds = o.seconds;
  e.half_seconds = 0;  // closed loop only
  e.echo_seconds = 0;
  auto r = RunE2eBench(e);

  double start_cpu_s = 0;
  for (size_t i = 0; i < starts.size(); ++i) start_cpu_s += CpuSeconds(starts[i]) - cpu0[i];
  const double nats_cpu_s = CpuSeconds(nats.pid()) - nats_cpu0;
  const int stopped = stop_all(SIGTERM);
  nats.Stop();
  if (!r.ok()) return r.status();
  if (stopped != 0) {
    return Internal("a giftledger start exited " + std::to_string(stopped) + " on SIGTERM");
  }
  const double per_s = r.value()["commands_per_s"].get<double>();
  const double run_s = double(r.value()["commands"].get<uint64_t>()) / (per_s > 0 ? per_s : 1);
  return nlohmann::json{
      {"processes", n},
      {"shards", n},
      {"commands_per_s", per_s},
      {"commands", r.value()["commands"]},
      {"commands_failed", r.value()["commands_failed"]},
      {"p50_us", r.value()["p50_us"]},
      {"p99_us", r.value()["p99_us"]},
      {"inflight_requests", e.threads * e.inflight},
      {"start_cpu_s", start_cpu_s},
      {"nats_cpu_s", nats_cpu_s},
      {"start_cores_busy", run_s > 0 ? start_cpu_s / run_s : 0},
      {"commands_per_start_cpu_s",
       start_cpu_s > 0 ? double(r.value()["commands"].get<uint64_t>()) / start_cpu_s : 0},
  };
}

Result<nlohmann::json> RunScale(const ScaleOptions& o) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "giftledger-bench-scale-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return ErrnoStatus("mkdtemp", errno);
  const std::string work = tmpl;
  nlohmann::json runs = nlohmann::json::array();
  double single = 0;
  Status failed;
  for (uint32_t n : o.processes) {
    std::fprintf(stderr, "bench scale: %u shard process(es) ...\n", n);
    auto step = RunStep(work, n, o);
    if (!step.ok()) {
      failed = Status(step.status().code(),
                      std::to_string(n) + " processes: " + step.status().message());
      break;
    }
    nlohmann::json j = step.value();
    if (n == 1) single = j["commands_per_s"].get<double>();
    runs.push_back(j);
  }
  std::error_code ec;
  if (!o.keep) fs::remove_all(work, ec);
  GL_RETURN_IF_ERROR(failed);
  const unsigned cores = std::thread::hardware_concurrency();
  for (auto& j : runs) {
    const double n = j["processes"].get<double>();
    j["efficiency"] = single > 0 ? j["commands_per_s"].get<double>() / (n * single) : 0;
    j["speedup"] = single > 0 ? j["commands_per_s"].get<double>() / single : 0;
  }
  nlohmann::json out{{"cores", cores},
                     {"seconds_per_run", o.seconds},
                     {"batch_commands", o.batch},
                     {"threads", o.threads},
                     {"inflight_per_shard", o.inflight_per_shard},
                     {"events", o.events},
                     {"single_commands_per_s", single},
                     {"runs", runs}};
  if (o.keep) out["work_dir"] = work;
  return out;
}

void PrintHuman(const nlohmann::json& j) {
  std::printf("bench scale: %u cores, %.0f s a run, %u commands/envelope, events %s\n",
              j["cores"].get<unsigned>(), j["seconds_per_run"].get<double>(),
              j["batch_commands"].get<unsigned>(), j["events"].get<bool>() ? "on" : "off");
  std::printf("  %9s %14s %8s %10s %10s %11s %12s\n", "processes", "commands/s", "speedup",
              "efficiency", "p99 (us)", "start cores", "cmds/cpu-s");
  for (const auto& r : j["runs"]) {
    std::printf("  %9u %14.0f %8.2f %10.2f %10.0f %11.2f %12.0f\n", r["processes"].get<unsigned>(),
                r["commands_per_s"].get<double>(), r["speedup"].get<double>(),
                r["efficiency"].get<double>(), r["p99_us"].get<double>(),
                r["start_cores_busy"].get<double>(), r["commands_per_start_cpu_s"].get<double>());
  }
  std::printf(
      "  efficiency = total / (N x single). Here every process, nats-server and the load\n"
      "  generator share %u cores, so N processes cannot exceed what the cores give. Shards share\n"
      "  nothing but NATS: on N machines (one shard process each, a NATS cluster sized for the\n"
      "  traffic) the total approaches N x %.0f commands/s, until NATS itself is the limit.\n",
      j["cores"].get<unsigned>(), j["single_commands_per_s"].get<double>());
}

}  // namespace

void RegisterBenchScale(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "scale",
      "Commands/s of 1, 2 and 4 shard processes (one `start --shards i` each, one nats-server) "
      "and the per-shard efficiency");
  auto o = std::make_shared<ScaleOptions>();
  cmd->add_option("--processes", o->processes, "Shard process counts to run (the first must be 1)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--seconds", o->seconds, "Closed-loop run per process count")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  cmd->add_option("--threads", o->threads, "Load generator threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--inflight-per-shard", o->inflight_per_shard,
                  "Requests in flight per shard (all threads together)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--batch", o->batch, "Commands per envelope (even, max 8190)")
      ->capture_default_str();
  cmd->add_flag(
      "--no-events", [o](int64_t) { o->events = false; },
      "Start the shard processes with --no-events (no JetStream publishing)");
  cmd->add_flag("--keep", o->keep, "Keep the work directory (ledgers, child logs)");
  cmd->add_flag("--json", o->json, "One JSON object on stdout; progress on stderr");
  cmd->callback([o, exit_code] {
    if (o->processes.empty() || o->processes.front() != 1) {
      std::fprintf(stderr, "giftledger: --processes must start with 1 (the single baseline)\n");
      *exit_code = kExitUsage;
      return;
    }
    if (o->json) spdlog::set_level(spdlog::level::warn);
    auto r = RunScale(*o);
    nats_Close();
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (o->json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      PrintHuman(r.value());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace giftledger::cli

#include "tools/cli/bench_all.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/process.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Args = std::vector<std::string>;

struct BenchAllOptions {
  bool quick = false;
  bool json = false;
  bool keep = false;
  std::string only;  // comma-separated subset, empty = all
};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string SelfPath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("giftledger") : p.string();
}

// The first line of /proc/<file> whose key is `key`, value after the colon.
std::string ProcField(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

nlohmann::json Machine() {
  utsname u{};
  ::uname(&u);
  const std::string mem = ProcField("/proc/meminfo", "MemTotal");
  const double mem_gib = mem.empty() ? 0 : std::stod(mem) / (1024.0 * 1024.0);
  char mem_text[32];
  std::snprintf(mem_text, sizeof mem_text, "%.1f GiB", mem_gib);
  return {{"cpu", ProcField("/proc/cpuinfo", "model name")},
          {"cores", std::thread::hardware_concurrency()},
          {"memory", mem_text},
          {"kernel", std::string(u.sysname) + " " + u.release + " " + u.machine}};
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// Runs `giftledger <args> --json` to completion: its JSON, or what failed.
Result<nlohmann::json> RunJson(const std::string& work, const std::string& name, Args args) {
  Args argv{SelfPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--json");
  const std::string out = work + "/" + name + ".out", err = work + "/" + name + ".err";
  const pid_t pid = testing::Spawn(argv, out, err);
  if (pid <= 0) return Internal("fork failed");
  const int code = testing::WaitExit(pid);
  if (code != 0) {
    return Internal(name + " exited " + std::to_string(code) + ": " +
                    Tail(testing::ReadFileOrEmpty(err), 400));
  }
  auto j = nlohmann::json::parse(testing::ReadFileOrEmpty(out), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Internal(name + ": output is not a JSON object");
  return j;
}

int RunQuiet(const std::string& work, const std::string& name, Args args) {
  Args argv{SelfPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = testing::Spawn(argv, work + "/" + name + ".out", work + "/" + name + ".err");
  return pid > 0 ? testing::WaitExit(pid) : -1;
}

// e2e: nats-server, a 2-shard ledger with keys, `giftledger start`, then
// `bench e2e` against it; everything stopped by pid.
Result<nlohmann::json> RunE2e(const std::string& work, const Args& bench_args) {
  const std::string dir = work + "/e2e";
  std::filesystem::create_directories(dir);
  testing::NatsServer nats(dir);
  const std::string err = nats.Start();
  if (!err.empty()) return Unavailable("e2e: " + err);
  const std::string data = dir + "/ledger", key = dir + "/bench.key";
  if (RunQuiet(dir, "format", {"format", "--data", data, "--shards", "2"}) != 0 ||
      RunQuiet(dir, "keys-service", {"keys", "service", "--data", data}) != 0 ||
      RunQuiet(dir, "keys-gateway",
               {"keys", "gateway", "--data", data, "--name", "bench", "--roles",
                "gifts,payments,ops", "--out", key}) != 0) {
    return Internal("e2e: format/keys failed: " +
                    Tail(testing::ReadFileOrEmpty(dir + "/keys-gateway.err"), 300));
  }
  pid_t start = -1;
  const std::string serr =
      testing::SpawnUntilReady({SelfPath(), "start", "--data", data, "--nats", nats.url()},
                               dir + "/start.out", dir + "/start.err", "ready ", &start);
  if (!serr.empty()) {
    if (start > 0) testing::StopProcess(start, SIGKILL);
    return Unavailable("e2e: giftledger start: " + Tail(serr, 400));
  }
  Args args{"bench", "e2e", "--nats", nats.url(), "--key", key};
  args.insert(args.end(), bench_args.begin(), bench_args.end());
  auto j = RunJson(dir, "bench-e2e", args);
  const int stopped = testing::StopProcess(start, SIGTERM);
  nats.Stop();
  if (j.ok() && stopped != 0) {
    return Internal("e2e: giftledger start exited " + std::to_string(stopped) + " on SIGTERM");
  }
  return j;
}

struct Step {
  const char* name;
  Args full, quick;
};

int RunAll(const BenchAllOptions& o) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "giftledger-bench-all-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return ReportError(ErrnoStatus("mkdtemp", errno));
  const std::string work = tmpl;
  const std::vector<Step> steps = {
      {"ledger",
       {"bench", "ledger", "--data", work + "/ledger", "--events", "2000000", "--sqlite-events",
        "2000"},
       {"bench", "ledger", "--data", work + "/ledger", "--events", "500000", "--sqlite-events",
        "500"}},
      {"engine",
       {"bench", "engine", "--data", work + "/engine", "--commands", "2000000", "--sqlite-commands",
        "2000"},
       {"bench", "engine", "--data", work + "/engine", "--commands", "400000", "--sqlite-commands",
        "500"}},
      {"e2e",
       {"--seconds", "8", "--half-seconds", "8", "--echo-seconds", "4"},
       {"--seconds", "3", "--half-seconds", "3", "--echo-seconds", "2"}},
      {"project",
       {"bench", "project", "--events", "2000000", "--visible-seconds", "10"},
       {"bench", "project", "--events", "400000", "--naive-events", "5000", "--queries", "500000",
        "--sqlite-queries", "500", "--nats-queries", "100000", "--visible-seconds", "4"}},
      {"verify",
       {"bench", "verify", "--events", "3000000"},
       {"bench", "verify", "--events", "1000000"}},
  };
  nlohmann::json benches = nlohmann::json::object();
  nlohmann::json out{{"date", UtcNow()}, {"machine", Machine()}, {"quick", o.quick}};
  const auto t0 = Clock::now();
  int failed = 0, i = 0;
  for (const Step& s : steps) {
    ++i;
    if (!o.only.empty() &&
        ("," + o.only + ",").find(std::string(",") + s.name + ",") == std::string::npos) {
      continue;
    }
    std::fprintf(stderr, "bench all: [%d/%zu] %s ...\n", i, steps.size(), s.name);
    const auto t1 = Clock::now();
    const Args& args = o.quick ? s.quick : s.full;
    auto r = std::string(s.name) == "e2e" ? RunE2e(work, args) : RunJson(work, s.name, args);
    const double secs = Since(t1);
    if (r.ok()) {
      r.value()["bench_seconds"] = secs;
      benches[s.name] = r.value();
      std::fprintf(stderr, "bench all: [%d/%zu] %s done in %.0f s\n", i, steps.size(), s.name,
                   secs);
    } else {
      ++failed;
      benches[s.name] = {{"error", r.status().message()}, {"bench_seconds", secs}};
      std::fprintf(stderr, "bench all: [%d/%zu] %s FAILED: %s\n", i, steps.size(), s.name,
                   r.status().message().c_str());
    }
    // Each bench's data goes once it is measured: the disk is shared.
    std::error_code ec;
    if (!o.keep) fs::remove_all(work + "/" + s.name, ec);
  }
  out["seconds"] = Since(t0);
  out["benches"] = benches;
  if (o.keep) {
    out["work_dir"] = work;
  } else {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf(
        "bench all: %s, %s, %u cores, %s, %s (%.0f s)\n", out["date"].get<std::string>().c_str(),
        out["machine"]["cpu"].get<std::string>().c_str(), out["machine"]["cores"].get<unsigned>(),
        out["machine"]["memory"].get<std::string>().c_str(),
        out["machine"]["kernel"].get<std::string>().c_str(), out["seconds"].get<double>());
    for (auto& [name, b] : benches.items()) {
      std::printf("%s: %s\n", name.c_str(), b.dump().c_str());
    }
    std::printf("(--json for one object; tools/bench-report makes the table)\n");
  }
  return failed == 0 ? kExitOk : kExitError;
}

}  // namespace

void RegisterBenchAll(CLI::App* bench, int* exit_code) {
  auto* cmd = bench->add_subcommand(
      "all",
      "Ledger, engine, e2e, project and verify benchmarks with their baselines, as one JSON "
      "object (a few minutes; --quick about one)");
  auto o = std::make_shared<BenchAllOptions>();
  cmd->add_flag("--quick", o->quick, "Smaller runs (about a minute)");
  cmd->add_option("--only", o->only, "Comma-separated subset: ledger,engine,e2e,project,verify")
      ->check([](const std::string& v) {
        std::string rest = v + ",";
        for (size_t p; (p = rest.find(',')) != std::string::npos; rest.erase(0, p + 1)) {
          const std::string n = rest.substr(0, p);
          if (n != "ledger" && n != "engine" && n != "e2e" && n != "project" && n != "verify") {
            return "unknown bench '" + n + "'";
          }
        }
        return std::string();
      });
  cmd->add_flag("--keep", o->keep, "Keep the work directory (ledgers, child logs)");
  cmd->add_flag("--json", o->json, "One JSON object on stdout; progress on stderr");
  cmd->callback([o, exit_code] { *exit_code = RunAll(*o); });
}

}  // namespace giftledger::cli

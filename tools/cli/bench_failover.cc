#include "tools/cli/bench_failover.h"

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
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

struct FailoverBenchOptions {
  double seconds = 5;        // each closed-loop run
  double kill_seconds = 9;   // the failover run
  double rate_per_s = 1000;  // gift actions/s of the failover run
  int nats_nodes = 3;        // 3: a local cluster, streams with 3 replicas
  bool json = false;
  bool keep = false;
};

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string SelfPath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("giftledger") : p.string();
}

size_t CountLines(const std::string& path) {
  size_t n = 0;
  for (char c : testing::ReadFileOrEmpty(path)) n += c == '\n';
  return n;
}

int RunQuiet(const std::string& work, const std::string& name, Args args,
             std::string* out = nullptr) {
  Args argv{SelfPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = testing::Spawn(argv, work + "/" + name + ".out", work + "/" + name + ".err");
  const int code = pid > 0 ? testing::WaitExit(pid) : -1;
  if (out != nullptr) *out = testing::ReadFileOrEmpty(work + "/" + name + ".out");
  return code;
}

// Processes started by one run, stopped by pid whatever happens.
struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (pid_t p : pids) {
      if (p > 0 && testing::Alive(p)) testing::StopProcess(p, SIGKILL);
    }
  }
};

class FailoverBench {
 public:
  FailoverBench(FailoverBenchOptions o, std::string work) : o_(o), work_(std::move(work)) {}

  Result<nlohmann::json> Run() {
    // One server, or a cluster (its own config: routes and a JetStream quorum).
    testing::NatsServer single(work_);
    testing::NatsCluster cluster(work_, o_.nats_nodes);
    std::string err = o_.nats_nodes == 1 ? single.Start() : cluster.Start();
    if (!err.empty()) return Unavailable(err);
    url_ = o_.nats_nodes == 1 ? single.url() : cluster.urls();
    GL_RETURN_IF_ERROR(Prepare());
    nlohmann::json out;
    auto local = Throughput("local");
    if (!local.ok()) return local.status();
    auto replicated = Throughput("replicated");
    if (!replicated.ok()) return replicated.status();
    auto failover = Failover();
    if (!failover.ok()) return failover.status();
    out = failover.value();
    out["nats_servers"] = o_.nats_nodes;
    out["blocks_replicas"] = Replicas();
    out["local"] = local.value();
    out["replicated"] = replicated.value();
    const double l = local.value()["commands_per_s"].get<double>();
    const double r = replicated.value()["commands_per_s"].get<double>();
    out["replicated_vs_local"] = l > 0 ? std::round(r / l * 1000) / 1000 : 0.0;
    single.Stop();
    cluster.Stop();
    return out;
  }

 private:
  int Replicas() const { return o_.nats_nodes >= 3 ? 3 : 1; }
  std::string A() const { return work_ + "/a"; }
  std::string B() const { return work_ + "/b"; }

  Status Prepare() {
    if (RunQuiet(work_, "format", {"format", "--data", A(), "--shards", "1"}) != 0 ||
        RunQuiet(work_, "keys-service", {"keys", "service", "--data", A()}) != 0 ||
        RunQuiet(work_, "keys-app",
                 {"keys", "gateway", "--data", A(), "--name", "app", "--roles", "gifts,payments",
                  "--out", work_ + "/app.key"}) != 0 ||
        RunQuiet(work_, "keys-ops",
                 {"keys", "gateway", "--data", A(), "--name", "ops", "--roles", "ops", "--out",
                  work_ + "/ops.key"}) != 0 ||
        RunQuiet(work_, "keys-node-a", {"keys", "node", "--data", A(), "--name", "a"}) != 0 ||
        RunQuiet(work_, "keys-node-b", {"keys", "node", "--data", A(), "--name", "b"}) != 0) {
      return Internal("format/keys failed: " + testing::ReadFileOrEmpty(work_ + "/keys-app.err"));
    }
    // The standby's copy, taken before anything is written: it catches up
    // from the block stream.
    std::error_code ec;
    std::filesystem::copy(A(), B(), std::filesystem::copy_options::recursive, ec);
    if (ec) return Internal("copy " + A() + " to " + B() + ": " + ec.message());
    return Status::Ok();
  }

  Result<pid_t> StartNode(const std::string& data, const std::string& node, const std::string& ack,
                          bool standby) {
    Args argv{SelfPath(),
              "start",
              "--data",
              data,
              "--nats",
              url_,
              "--node",
              node,
              "--ack",
              ack,
              "--replicate",
              "--no-snapshots",
              "--log-level",
              "info",
              "--blocks-replicas",
              std::to_string(Replicas())};
    if (standby) argv.push_back("--standby");
    pid_t pid = -1;
    const std::string name = node + "-" + ack;
    std::string err = testing::SpawnUntilReady(argv, work_ + "/" + name + ".out",
                                               work_ + "/" + name + ".err", "ready ", &pid);
    if (!err.empty()) {
      if (pid > 0) testing::StopProcess(pid, SIGKILL);
      return Unavailable("start " + name + ": " + err);
    }
    return pid;
  }

  Args LoadArgs(double seconds, double rate, const std::string& acks) {
    Args a{"load",
           "--nats",
           url_,
           "--key",
           work_ + "/app.key",
           "--ops-key",
           work_ + "/ops.key",
           "--duration",
           std::to_string(seconds),
           "--rate",
           std::to_string(rate),
           "--viewers",
           "2000",
           "--hosts",
           "20",
           "--timeout-ms",
           "1000",
           "--quiet",
           "--json"};
    if (!acks.empty()) {
      a.push_back("--acks");
      a.push_back(acks);
    }
    return a;
  }

  // Closed-loop load against a lone leader with the given ack mode.
  Result<nlohmann::json> Throughput(const std::string& ack) {
    Children c;
    auto leader = StartNode(A(), "a", ack, false);
    if (!leader.ok()) return leader.status();
    c.pids.push_back(leader.value());
    std::fprintf(stderr, "bench failover: --ack %s, closed loop %.0f s ...\n", ack.c_str(),
                 o_.seconds);
    std::string out;
    if (RunQuiet(work_, "load-" + ack, LoadArgs(o_.seconds, 0, ""), &out) != 0) {
      return Internal("load --ack " + ack +
                      " failed: " + testing::ReadFileOrEmpty(work_ + "/load-" + ack + ".err"));
    }
    if (testing::StopProcess(leader.value(), SIGTERM) != 0) {
      return Internal("start --ack " + ack + " did not stop cleanly");
    }
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_discarded()) return Internal("load output is not JSON");
    return nlohmann::json{{"commands_per_s", j.value("commands_per_s", 0.0)},
                          {"p50_us", j.value("p50_us", 0)},
                          {"p99_us", j.value("p99_us", 0)}};
  }

  Result<nlohmann::json> Failover() {
    Children c;
    auto leader = StartNode(A(), "a", "replicated", false);
    if (!leader.ok()) return leader.status();
    c.pids.push_back(leader.value());
    auto standby = StartNode(B(), "b", "replicated", true);
    if (!standby.ok()) return standby.status();
    c.pids.push_back(standby.value());
    const std::string acks = work_ + "/acks.txt";
    std::fprintf(stderr,
                 "bench failover: leader + standby, %.0f gifts/s for %.0f s, SIGKILL at "
                 "%.1f s ...\n",
                 o_.rate_per_s, o_.kill_seconds, o_.kill_seconds / 3);
    Args argv{SelfPath()};
    for (auto& a : LoadArgs(o_.kill_seconds, o_.rate_per_s, acks)) argv.push_back(a);
    const auto t0 = Clock::now();
    const pid_t load =
        testing::Spawn(argv, work_ + "/load-failover.out", work_ + "/load-failover.err");
    if (load <= 0) return Internal("fork failed");
    c.pids.push_back(load);
    std::this_thread::sleep_for(std::chrono::duration<double>(o_.kill_seconds / 3));
    const double kill_s = Since(t0);
    const size_t acked_at_kill = CountLines(acks);
    testing::StopProcess(leader.value(), SIGKILL);
    const std::string b_err = work_ + "/b-replicated.err";
    double lead_s = -1;
    size_t acked_at_lead = 0;
    while (Since(t0) < o_.kill_seconds + 30) {
      if (testing::ReadFileOrEmpty(b_err).find(": leader, node b") != std::string::npos) {
        lead_s = Since(t0);
        acked_at_lead = CountLines(acks);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const int load_code = testing::WaitExit(load);
    const double end_s = Since(t0);
    const size_t acked_end = CountLines(acks);
    if (load_code != 0) return Internal("load exited " + std::to_string(load_code));
    if (lead_s < 0) return Internal("the standby never led: " + testing::ReadFileOrEmpty(b_err));
    if (testing::StopProcess(standby.value(), SIGTERM) != 0) {
      return Internal("the new leader did not stop cleanly");
    }
    std::string check;
    RunQuiet(work_, "check-acks", {"check-acks", "--data", B(), "--acks", acks, "--json"}, &check);
    auto cj = nlohmann::json::parse(check, nullptr, false);
    if (cj.is_discarded()) return Internal("check-acks output is not JSON");
    const int verify = RunQuiet(work_, "verify", {"verify", "--data", B()});
    const double after_span = end_s - lead_s;
    return nlohmann::json{
        {"takeover_ms", std::llround((lead_s - kill_s) * 1000)},
        {"acked", cj.value("acked", 0)},
        {"lost", cj.value("lost", 0)},
        {"duplicated", cj.value("duplicated", 0)},
        {"verify_ok", verify == 0},
        {"before_commands_per_s", std::llround(double(acked_at_kill) / kill_s)},
        {"after_commands_per_s",
         after_span > 0.5 ? std::llround(double(acked_end - acked_at_lead) / after_span) : 0}};
  }

  const FailoverBenchOptions o_;
  const std::string work_;
  std::string url_;
};

void PrintHuman(const nlohmann::json& j) {
  std::printf("failover (--ack replicated, SIGKILL of the leader):\n");
  std::printf("  takeover            %8lld ms (kill to the standby serving)\n",
              (long long)j.value("takeover_ms", 0LL));
  std::printf("  acked / lost / dup  %8lld / %lld / %lld  (verify %s)\n",
              (long long)j.value("acked", 0LL), (long long)j.value("lost", 0LL),
              (long long)j.value("duplicated", 0LL), j.value("verify_ok", false) ? "ok" : "FAILED");
  std::printf("  commands/s          %8lld before, %lld after\n",
              (long long)j.value("before_commands_per_s", 0LL),
              (long long)j.value("after_commands_per_s", 0LL));
  std::printf("closed loop, one leader:\n");
  std::printf("  --ack local         %8.0f commands/s  p50 %lld us  p99 %lld us\n",
              j["local"].value("commands_per_s", 0.0), (long long)j["local"].value("p50_us", 0LL),
              (long long)j["local"].value("p99_us", 0LL));
  std::printf("  --ack replicated    %8.0f commands/s  p50 %lld us  p99 %lld us\n",
              j["replicated"].value("commands_per_s", 0.0),
              (long long)j["replicated"].value("p50_us", 0LL),
              (long long)j["replicated"].value("p99_us", 0LL));
  std::printf("  replicated / local  %8.3f\n", j.value("replicated_vs_local", 0.0));
}

}  // namespace

void RegisterBenchFailover(CLI::App* bench, int* exit_code) {
  auto* cmd =
      bench->add_subcommand("failover",
                            "Takeover time, acked/lost/duplicated after SIGKILL of the leader, and "
                            "--ack replicated vs --ack local commands/s (own local NATS cluster)");
  auto o = std::make_shared<FailoverBenchOptions>();
  cmd->add_option("--seconds", o->seconds, "Each closed-loop run")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 600.0));
  cmd->add_option("--kill-seconds", o->kill_seconds,
                  "The failover run (the kill comes a third of the way in)")
      ->capture_default_str()
      ->check(CLI::Range(3.0, 600.0));
  cmd->add_option("--rate", o->rate_per_s, "Gift actions/s of the failover run")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  cmd->add_option("--nats-nodes", o->nats_nodes,
                  "nats-servers of the local cluster it starts (1, or 3 for streams with 3 "
                  "replicas)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 3}));
  cmd->add_flag("--keep", o->keep, "Keep the work directory (its path goes to stderr)");
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    namespace fs = std::filesystem;
    std::string tmpl = (fs::temp_directory_path() / "giftledger-bench-failover-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      *exit_code = ReportError(ErrnoStatus("mkdtemp", errno));
      return;
    }
    auto r = FailoverBench(*o, tmpl).Run();
    if (o->keep) {
      std::fprintf(stderr, "bench failover: work directory %s\n", tmpl.c_str());
    } else {
      std::error_code ec;
      fs::remove_all(tmpl, ec);
    }
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

// Replication and failover end to end (docs/replication.md): a 3-node
// nats-server cluster with JetStream on loopback ports, the block stream and
// the lease bucket with 3 replicas, two `giftledger start` processes on
// copies of one ledger (a leader and a --standby), `giftledger load` with
// --ack replicated. Checked: the standby's log is byte-identical to the
// leader's and verifies; after SIGKILL of the leader the standby leads,
// every acknowledged command is in its log exactly once (check-acks), and
// verify and reconcile pass on it; a paused leader that comes back after the
// takeover cannot append; a leader cut off from NATS stops serving and the
// commands go to the standby. Processes are stopped by pid.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/testing/temp_dir.h"
#include "tests/testing/process.h"

#ifndef GIFTLEDGER_BIN_DEFAULT
#error "tests/CMakeLists.txt defines GIFTLEDGER_BIN_DEFAULT"
#endif

namespace giftledger {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Polls `path` (bounded, 20 s) until it contains `needle`.
bool WaitForText(const std::string& path, const std::string& needle) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    if (testing::ReadFileOrEmpty(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

size_t CountLines(const std::string& path) {
  const std::string s = testing::ReadFileOrEmpty(path);
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class FailoverE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    cluster_ = std::make_unique<testing::NatsCluster>(tmp_.path());
    const std::string err = cluster_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(testing::MakeTestLedger(Binary(), Leader(), 1, tmp_.Sub("app.key"), 16), "");
    ASSERT_EQ(testing::Run({Binary(), "keys", "gateway", "--data", Leader(), "--name", "ops",
                            "--roles", "ops", "--out", tmp_.Sub("ops.key")}),
              0);
    // Both nodes are listed in the manifest: blocks name their leader.
    for (const char* node : {"a", "b"}) {
      ASSERT_EQ(testing::Run({Binary(), "keys", "node", "--data", Leader(), "--name", node}), 0);
    }
    // The standby's machine gets a copy of the ledger before either starts.
    fs::copy(Leader(), Standby(), fs::copy_options::recursive);
  }

  void TearDown() override {
    for (pid_t pid : {load_pid_, leader_pid_, standby_pid_}) {
      if (pid > 0 && testing::Alive(pid)) testing::StopProcess(pid, SIGKILL);
    }
    if (cluster_) {
      // A node a test stopped with SIGSTOP must run again to hear SIGTERM.
      for (int i = 0; i < cluster_->size(); ++i) {
        if (cluster_->pid(i) > 0) kill(cluster_->pid(i), SIGCONT);
      }
      cluster_->Stop();
    }
  }

  std::string Leader() const { return tmp_.Sub("a"); }
  std::string Standby() const { return tmp_.Sub("b"); }

  // Every node of the cluster, or the ones a test lists (a cut-off node).
  std::string Urls(std::initializer_list<int> nodes = {}) const {
    if (nodes.size() == 0) return cluster_->urls();
    std::string out;
    for (int i : nodes) out += (out.empty() ? "" : ",") + cluster_->url(i);
    return out;
  }

  void StartNode(const std::string& data, const std::string& node, bool standby, pid_t* pid,
                 const std::string& urls = "") {
    std::vector<std::string> argv = {Binary(),
                                     "start",
                                     "--data",
                                     data,
                                     "--nats",
                                     urls.empty() ? Urls() : urls,
                                     "--node",
                                     node,
                                     "--ack",
                                     "replicated",
                                     "--blocks-replicas",
                                     "3",
                                     "--no-snapshots"};
    if (standby) argv.push_back("--standby");
    std::string err = testing::SpawnUntilReady(argv, tmp_.Sub(node + ".out"),
                                               tmp_.Sub(node + ".err"), "ready ", pid);
    ASSERT_TRUE(err.empty()) << err;
  }

  void StartLoad(double duration_s) {
    load_pid_ = testing::Spawn({Binary(),
                                "load",
                                "--nats",
                                Urls(),
                                "--key",
                                tmp_.Sub("app.key"),
                                "--ops-key",
                                tmp_.Sub("ops.key"),
                                "--duration",
                                std::to_string(duration_s),
                                "--rate",
                                "400",
                                "--viewers",
                                "200",
                                "--hosts",
                                "5",
                                "--inflight",
                                "4",
                                "--timeout-ms",
                                "1000",
                                "--quiet",
                                "--acks",
                                tmp_.Sub("acks.txt")},
                               tmp_.Sub("load.out"), tmp_.Sub("load.err"));
    ASSERT_GT(load_pid_, 0);
  }

  int WaitLoad() {
    int code = testing::WaitExit(load_pid_);
    load_pid_ = -1;
    return code;
  }

  // The `.seg` files of shard 0, name -> bytes.
  static std::map<std::string, std::string> Segments(const std::string& data) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(fs::path(data) / "shard-0000")) {
      if (e.path().extension() != ".seg") continue;
      out[e.path().filename().string()] = testing::ReadFileOrEmpty(e.path().string());
    }
    return out;
  }

  // SIGTERM to a node started by StartNode; its exit code (as StopProcess).
  // The pid is cleared, so TearDown does not stop it again.
  static int StopNode(pid_t* pid) {
    const int code = testing::StopProcess(*pid, SIGTERM);
    *pid = -1;
    return code;
  }

  // `giftledger submit topup` through `urls`; its exit code, output in *out.
  int SubmitTopUp(const std::string& urls, int user, int timeout_ms, std::string* out) {
    return testing::Run(
        {Binary(), "submit", "--nats", urls, "--key", tmp_.Sub("app.key"), "--timeout-ms",
         std::to_string(timeout_ms), "topup", "--user", std::to_string(user), "--amount", "5"},
        out);
  }

  // Bytes written to shard 0's segments (a segment is preallocated with zeros).
  static size_t LogBytes(const std::string& data) {
    size_t n = 0;
    for (const auto& [name, bytes] : Segments(data)) n += bytes.find_last_not_of('\0') + 1;
    return n;
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsCluster> cluster_;
  pid_t leader_pid_ = -1, standby_pid_ = -1, load_pid_ = -1;
};

TEST_F(FailoverE2eTest, StandbyLogIsByteIdenticalToTheLeaders) {
  // A node the manifest does not list takes no part (its blocks could not
  // name it).
  const pid_t unlisted =
      testing::Spawn({Binary(), "start", "--data", Standby(), "--nats", Urls(), "--node", "z",
                      "--standby", "--blocks-replicas", "3", "--no-snapshots"},
                     tmp_.Sub("z.out"), tmp_.Sub("z.err"));
  ASSERT_GT(unlisted, 0);
  EXPECT_EQ(testing::WaitExit(unlisted), 3);
  const std::string z_err = testing::ReadFileOrEmpty(tmp_.Sub("z.err"));
  EXPECT_NE(z_err.find("keys node"), std::string::npos) << z_err;
  StartNode(Leader(), "a", false, &leader_pid_);
  StartNode(Standby(), "b", true, &standby_pid_);
  StartLoad(1.0);
  ASSERT_EQ(WaitLoad(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("load.err"));
  ASSERT_GT(CountLines(tmp_.Sub("acks.txt")), 0u);
  // A clean stop publishes everything and hands the lease over.
  ASSERT_EQ(StopNode(&leader_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("a.err"));
  ASSERT_TRUE(WaitForText(tmp_.Sub("b.err"), ": leader, node b"))
      << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  ASSERT_EQ(StopNode(&standby_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  const auto a = Segments(Leader()), b = Segments(Standby());
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(bytes == b.at(name)) << name << " differs";
  }
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", Standby()}), 0);
  EXPECT_EQ(
      testing::Run({Binary(), "check-acks", "--data", Standby(), "--acks", tmp_.Sub("acks.txt")}),
      0);
}

TEST_F(FailoverE2eTest, KilledLeaderLosesNoAcknowledgedCommand) {
  StartNode(Leader(), "a", false, &leader_pid_);
  StartNode(Standby(), "b", true, &standby_pid_);
  StartLoad(3.5);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const size_t acked_before = CountLines(tmp_.Sub("acks.txt"));
  const auto killed = Clock::now();
  ASSERT_EQ(testing::StopProcess(leader_pid_, SIGKILL), 128 + SIGKILL);
  leader_pid_ = -1;
  ASSERT_TRUE(WaitForText(tmp_.Sub("b.err"), ": leader, node b"))
      << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  const int64_t takeover_ms = MsSince(killed);
  ASSERT_EQ(WaitLoad(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("load.err"));
  const size_t acked = CountLines(tmp_.Sub("acks.txt"));
  std::printf(
      "failover: %zu commands acked before the kill, %zu in all; SIGKILL to standby "
      "leading %lld ms\n",
      acked_before, acked, (long long)takeover_ms);
  ASSERT_GT(acked_before, 0u);
  // The new leader answers: a command after the load is acknowledged.
  std::string out;
  EXPECT_EQ(SubmitTopUp(Urls(), 7, 2000, &out), 0) << out;
  ASSERT_EQ(StopNode(&standby_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  EXPECT_EQ(
      testing::Run({Binary(), "check-acks", "--data", Standby(), "--acks", tmp_.Sub("acks.txt")},
                   &out),
      0)
      << out;
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", Standby()}, &out), 0) << out;
  // The log names who wrote what: node a, then node b under a later epoch.
  const size_t a_term = out.find(" node a seqs 1-");
  const size_t b_term = out.find(" node b seqs ");
  EXPECT_NE(a_term, std::string::npos) << out;
  EXPECT_NE(b_term, std::string::npos) << out;
  EXPECT_LT(a_term, b_term) << out;
  EXPECT_EQ(testing::Run({Binary(), "reconcile", "--data", Standby()}, &out), 0) << out;
}

TEST_F(FailoverE2eTest, PausedLeaderThatComesBackCannotAppend) {
  StartNode(Leader(), "a", false, &leader_pid_);
  StartNode(Standby(), "b", true, &standby_pid_);
  // A leader frozen past its lease (a paused VM, a long GC-like stall).
  ASSERT_EQ(kill(leader_pid_, SIGSTOP), 0);
  ASSERT_TRUE(WaitForText(tmp_.Sub("b.err"), ": leader, node b"))
      << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  ASSERT_EQ(kill(leader_pid_, SIGCONT), 0);
  // It notices at once that its lease is gone and stops serving.
  ASSERT_TRUE(WaitForText(tmp_.Sub("a.err"), "this node stops serving the shard"))
      << testing::ReadFileOrEmpty(tmp_.Sub("a.err"));
  std::string out;
  EXPECT_EQ(SubmitTopUp(Urls(), 7, 2000, &out), 0) << out;
  ASSERT_EQ(StopNode(&leader_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("a.err"));
  ASSERT_EQ(StopNode(&standby_pid_), 0);
  // The top-up is in the new leader's log only.
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", Standby()}), 0);
  EXPECT_GT(LogBytes(Standby()), LogBytes(Leader()));
}

TEST_F(FailoverE2eTest, OneOfThreeNatsServersKilledUnderLoadLosesNoAcknowledgedCommand) {
  StartNode(Leader(), "a", false, &leader_pid_);
  StartNode(Standby(), "b", true, &standby_pid_);
  StartLoad(4.0);
  // The node leading the block stream is the hardest to lose.
  int victim = -1;
  for (int i = 0; i < 100 && victim < 0; ++i) {
    victim = cluster_->StreamLeader("GIFTLEDGER_BLOCKS");
    if (victim < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(victim, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_EQ(cluster_->Kill(victim, SIGKILL), 128 + SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_EQ(cluster_->Restart(victim), "");
  ASSERT_EQ(WaitLoad(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("load.err"));
  ASSERT_GT(CountLines(tmp_.Sub("acks.txt")), 0u);
  // Losing the lease bucket's leader too can cost the leader its lease (it
  // cannot renew during the election), and a publish retried across the
  // election can be refused as out of sequence: either way it stops serving
  // and exits with an error (fail closed), and the standby leads. A stop
  // hands the shard to the standby, which holds every replicated block.
  const int a_exit = StopNode(&leader_pid_);
  const std::string a_err = testing::ReadFileOrEmpty(tmp_.Sub("a.err"));
  if (a_exit != 0) {
    EXPECT_EQ(a_exit, 3) << a_err;
    EXPECT_NE(a_err.find("restart required"), std::string::npos) << a_err;
  }
  ASSERT_TRUE(WaitForText(tmp_.Sub("b.err"), ": leader, node b"))
      << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  ASSERT_EQ(StopNode(&standby_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  std::string out;
  EXPECT_EQ(
      testing::Run({Binary(), "check-acks", "--data", Standby(), "--acks", tmp_.Sub("acks.txt")},
                   &out),
      0)
      << out;
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", Standby()}, &out), 0) << out;
}

TEST_F(FailoverE2eTest, LeaderCutOffFromNatsStopsServingAndTheStandbyTakesTheCommands) {
  // The leader reaches the cluster through node 0 only; the standby and the
  // clients through nodes 1 and 2.
  StartNode(Leader(), "a", false, &leader_pid_, Urls({0}));
  StartNode(Standby(), "b", true, &standby_pid_, Urls({1, 2}));
  // Node 0 freezes: its TCP connections stay open but carry nothing, as in a
  // network partition. The other two keep the quorum.
  ASSERT_EQ(kill(cluster_->pid(0), SIGSTOP), 0);
  // The leader cannot renew its lease and stops serving before the lease
  // can expire elsewhere; then the standby leads.
  ASSERT_TRUE(WaitForText(tmp_.Sub("a.err"), "this node stops serving the shard"))
      << testing::ReadFileOrEmpty(tmp_.Sub("a.err"));
  ASSERT_TRUE(WaitForText(tmp_.Sub("b.err"), ": leader, node b"))
      << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  std::string out;
  EXPECT_EQ(SubmitTopUp(Urls({1, 2}), 7, 5000, &out), 0) << out;
  // The partition heals: the old leader stays out.
  ASSERT_EQ(kill(cluster_->pid(0), SIGCONT), 0);
  EXPECT_EQ(SubmitTopUp(Urls(), 8, 5000, &out), 0) << out;
  ASSERT_EQ(StopNode(&leader_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("a.err"));
  ASSERT_EQ(StopNode(&standby_pid_), 0) << testing::ReadFileOrEmpty(tmp_.Sub("b.err"));
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", Standby()}, &out), 0) << out;
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", Leader()}, &out), 0) << out;
  // Both top-ups are in the new leader's log and not in the old one's.
  EXPECT_GT(LogBytes(Standby()), LogBytes(Leader()));
}

}  // namespace
}  // namespace giftledger

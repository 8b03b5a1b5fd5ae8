// Shard placement end to end: one ledger of 4 shards served by two `giftledger
// start` processes with disjoint `--shards` ranges, each connected to its own
// node of a 3-node NATS cluster (as on two machines). A single client
// reaches every shard (NATS routes giftledger.cmd.<shard> to
// the process serving it); a third process asking for a shard already served
// is refused; two projectors with disjoint `--shards` ranges into separate
// databases each hold exactly their shards. Processes are stopped by pid.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "commands/ingress/client.h"
#include "ledger/crypto.h"
#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "ledger/testing/temp_dir.h"
#include "tests/testing/process.h"

#ifndef GIFTLEDGER_BIN_DEFAULT
#error "tests/CMakeLists.txt defines GIFTLEDGER_BIN_DEFAULT"
#endif

namespace giftledger {
namespace {

using ingress::Client;
using schemas::Command;

constexpr uint32_t kShards = 4;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

Command TopUp(uint32_t n, uint64_t user) {
  Command c;
  std::string t(16, '\x71');
  for (int i = 0; i < 4; ++i) t[i] = char((n >> (8 * i)) & 0xff);
  t[6] = char(0x40);  // UUID v4, never the reserved v8
  c.set_tx_id(t);
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(10);
  c.mutable_top_up()->set_payment_ref("pay");
  return c;
}

class PlacementE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    nats_ = std::make_unique<testing::NatsCluster>(tmp_.path());
    const std::string err = nats_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(testing::MakeTestLedger(Binary(), data(), kShards, tmp_.Sub("app.key")), "");
  }

  void TearDown() override {
    for (pid_t pid : pids_) testing::StopProcess(pid, SIGKILL);
    if (nats_) nats_->Stop();
  }

  std::string data() const { return tmp_.Sub("ledger"); }

  // Starts a shard process for `range`, connected to the next node of the
  // NATS cluster (as if on its own machine); its ready line's shards_served.
  nlohmann::json StartShards(const std::string& name, const std::string& range) {
    pid_t pid = -1;
    const std::string url = nats_->url(next_node_++ % nats_->size());
    const std::string err = testing::SpawnUntilReady(
        {Binary(), "start", "--data", data(), "--nats", url, "--shards", range},
        tmp_.Sub(name + ".out"), tmp_.Sub(name + ".err"), "ready ", &pid);
    if (pid > 0) pids_.push_back(pid);
    EXPECT_EQ(err, "");
    const std::string out = testing::ReadFileOrEmpty(tmp_.Sub(name + ".out"));
    const auto ready = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
    return ready.is_discarded() ? nlohmann::json() : ready["shards_served"];
  }

  uint64_t LogEnd(uint32_t shard) {
    auto m = LoadManifest(data());
    EXPECT_TRUE(m.ok());
    auto r = LogReader::Open(ShardDir(data(), ShardId{shard}), ShardId{shard},
                             m.value().public_keys[shard]);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value()->scan().next_seq.value - 1 : 0;
  }

  // `project ARGS --json`: positions[shard].seq.
  std::vector<uint64_t> Project(std::vector<std::string> args) {
    args.insert(args.begin(), {Binary(), "project"});
    args.push_back("--json");
    std::string out;
    EXPECT_EQ(testing::Run(args, &out), 0) << out;
    const auto j = nlohmann::json::parse(out, nullptr, false);
    std::vector<uint64_t> seqs;
    if (j.is_discarded()) return seqs;
    for (const auto& p : j["positions"]) seqs.push_back(p["seq"].get<uint64_t>());
    return seqs;
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsCluster> nats_;
  int next_node_ = 0;
  std::vector<pid_t> pids_;
};

TEST_F(PlacementE2eTest, TwoProcessesWithDisjointRangesServeEveryShardAndAThirdIsRefused) {
  EXPECT_EQ(StartShards("a", "0-1"), nlohmann::json::parse("[0,1]"));
  EXPECT_EQ(StartShards("b", "2,3"), nlohmann::json::parse("[2,3]"));

  ingress::ClientOptions co;
  co.nats_url = nats_->urls();
  co.key_file = tmp_.Sub("app.key");
  auto client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::map<uint32_t, std::vector<Command>> by_shard;
  for (uint32_t i = 0; i < 64; ++i) {
    Command c = TopUp(i, 500 + i);
    by_shard[(*client)->ShardOf(c)].push_back(c);
  }
  ASSERT_EQ(by_shard.size(), kShards) << "64 users cover every shard";
  for (const auto& [shard, cmds] : by_shard) {
    auto out = (*client)->Submit(shard, cmds);
    ASSERT_TRUE(out.ok()) << "shard " << shard << ": " << out.status.ToString();
    for (const auto& r : out.results) EXPECT_EQ(r.code(), schemas::OK) << r.message();
  }

  // A shard is served by one process: its LOCK refuses a second (bounded:
  // a process that wrongly starts is stopped by TearDown).
  pid_t third = -1;
  const std::string refused = testing::SpawnUntilReady(
      {Binary(), "start", "--data", data(), "--nats", nats_->urls(), "--shards", "1-2"},
      tmp_.Sub("c.out"), tmp_.Sub("c.err"), "ready ", &third);
  if (testing::Alive(third)) pids_.push_back(third);
  EXPECT_NE(refused.find("is open for writing by another process"), std::string::npos) << refused;
  // A malformed range is a usage error; nothing starts.
  EXPECT_EQ(testing::Run(
                {Binary(), "start", "--data", data(), "--nats", nats_->urls(), "--shards", "3-1"}),
            2);

  for (pid_t pid : pids_) EXPECT_EQ(testing::StopProcess(pid, SIGTERM), 0);
  pids_.clear();
  for (uint32_t s = 0; s < kShards; ++s) EXPECT_EQ(LogEnd(s), by_shard[s].size()) << s;

  // Two projectors, disjoint ranges, separate databases: each holds exactly
  // its shards' positions, the others untouched.
  const auto low = Project({"--from-ledger", data(), "--shards", "0-1", "--db", tmp_.Sub("a.db")});
  const auto high = Project({"--from-ledger", data(), "--shards", "2-3", "--db", tmp_.Sub("b.db")});
  ASSERT_EQ(low.size(), kShards);
  ASSERT_EQ(high.size(), kShards);
  for (uint32_t s = 0; s < kShards; ++s) {
    EXPECT_EQ(low[s], s < 2 ? LogEnd(s) : 0u) << s;
    EXPECT_EQ(high[s], s >= 2 ? LogEnd(s) : 0u) << s;
  }
  EXPECT_EQ(testing::Run({Binary(), "project", "--from-ledger", data(), "--shards", "4", "--db",
                          tmp_.Sub("c.db")}),
            2);
}

TEST_F(PlacementE2eTest, ProjectorsOverNatsWithDisjointRangesEachApplyOnlyTheirShards) {
  EXPECT_EQ(StartShards("all", "0-3"), nlohmann::json::parse("[0,1,2,3]"));
  ingress::ClientOptions co;
  co.nats_url = nats_->urls();
  co.key_file = tmp_.Sub("app.key");
  auto client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::map<uint32_t, std::vector<Command>> by_shard;
  for (uint32_t i = 0; i < 40; ++i) {
    Command c = TopUp(1000 + i, 700 + i);
    by_shard[(*client)->ShardOf(c)].push_back(c);
  }
  for (const auto& [shard, cmds] : by_shard) ASSERT_TRUE((*client)->Submit(shard, cmds).ok());

  // Default durables differ by range; a range of one shard filters its subject.
  const std::vector<std::string> common = {"--nats",         nats_->urls(),      "--manifest",
                                           data(),           "--exit-when-idle", "--no-queries",
                                           "--no-broadcasts"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return Project(args);
  };
  const auto low = with({"--shards", "0-2", "--db", tmp_.Sub("a.db")});
  const auto high = with({"--shards", "3", "--db", tmp_.Sub("b.db")});
  ASSERT_EQ(low.size(), kShards);
  ASSERT_EQ(high.size(), kShards);
  for (uint32_t s = 0; s < kShards; ++s) {
    const uint64_t n = by_shard[s].size();
    EXPECT_EQ(low[s], s < 3 ? n : 0u) << s;
    EXPECT_EQ(high[s], s == 3 ? n : 0u) << s;
  }
}

}  // namespace
}  // namespace giftledger

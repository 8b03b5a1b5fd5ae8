// The ledger on a NATS cluster: three nats-servers on loopback ports forming
// one JetStream cluster, `giftledger start --nats URL,URL,URL
// --events-replicas 3`, a gateway client given the same list. One server is
// SIGKILLed under load and restarted: no acknowledged command is lost, and
// the replicated event stream holds every acknowledged command's events
// exactly once, each shard's seqs contiguous and equal to the log. Processes
// are stopped by pid.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "commands/ingress/client.h"
#include "commands/ingress/event_publisher.h"
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
using ingress::SubmitOutcome;
using schemas::Command;

constexpr uint32_t kShards = 2;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

std::string Tx(uint32_t n) {
  std::string t(16, '\x3c');
  for (int i = 0; i < 4; ++i) t[i] = char((n >> (8 * i)) & 0xff);
  t[6] = char(0x40);  // UUID v4, never the reserved v8
  return t;
}

Command TopUp(uint32_t tx, uint64_t user, int64_t amount) {
  Command c;
  c.set_tx_id(Tx(tx));
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(amount);
  c.mutable_top_up()->set_payment_ref("pay");
  return c;
}

std::string Header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  return natsMsgHeader_Get(m, key, &v) == NATS_OK && v != nullptr ? v : "";
}

class ClusterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    cluster_ = std::make_unique<testing::NatsCluster>(tmp_.path());
    const std::string err = cluster_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(testing::MakeTestLedger(Binary(), data(), kShards, tmp_.Sub("app.key")), "");
    auto m = LoadManifest(data());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manifest_ = m.value();
    const std::string start_err = testing::SpawnUntilReady(
        {Binary(), "start", "--data", data(), "--nats", cluster_->urls(), "--events-replicas", "3"},
        tmp_.Sub("start.out"), tmp_.Sub("start.err"), "ready ", &service_pid_);
    ASSERT_EQ(start_err, "");
    ASSERT_EQ(natsConnection_ConnectTo(&nc_, cluster_->urls().c_str()), NATS_OK);
    ASSERT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
  }

  void TearDown() override {
    if (service_pid_ > 0) testing::StopProcess(service_pid_, SIGKILL);
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
    if (cluster_) cluster_->Stop();
  }

  std::string data() const { return tmp_.Sub("ledger"); }

  // The stream's info (bounded retries: a leader election may be under way).
  jsStreamInfo* StreamInfo() {
    for (int i = 0; i < 200; ++i) {
      jsStreamInfo* si = nullptr;
      if (js_GetStreamInfo(&si, js_, ingress::kEventStreamDefault, nullptr, nullptr) == NATS_OK) {
        return si;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return nullptr;
  }

  // Node index of the stream's leader ("n<i>"), -1 when unknown.
  int StreamLeader() {
    jsStreamInfo* si = StreamInfo();
    int leader = -1;
    if (si != nullptr && si->Cluster != nullptr && si->Cluster->Leader != nullptr &&
        si->Cluster->Leader[0] == 'n') {
      leader = std::atoi(si->Cluster->Leader + 1);
    }
    jsStreamInfo_Destroy(si);
    return leader;
  }

  std::vector<std::string> LogEvents(uint32_t shard) {
    auto reader = LogReader::Open(ShardDir(data(), ShardId{shard}), ShardId{shard},
                                  manifest_.public_keys[shard]);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<std::string> out;
    if (!reader.ok()) return out;
    Status st = (*reader)->ReadEvents(Seq{1}, [&](Seq, std::string_view ev) {
      out.emplace_back(ev);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsCluster> cluster_;
  Manifest manifest_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  pid_t service_pid_ = -1;
};

TEST_F(ClusterE2eTest, OneOfThreeNatsServersKilledUnderLoadLosesAndDoublesNoAckedCommand) {
  ingress::ClientOptions co;
  co.nats_url = cluster_->urls();
  co.key_file = tmp_.Sub("app.key");
  co.timeout_ms = 2'000;
  auto client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Client& app = *client.value();

  // The stream is R3 and has a leader: kill that node, the hardest case.
  int victim = -1;
  for (int i = 0; i < 100 && victim < 0; ++i) {
    victim = StreamLeader();
    if (victim < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    jsStreamInfo* si = StreamInfo();
    ASSERT_NE(si, nullptr);
    EXPECT_EQ(si->Config->Replicas, 3);
    jsStreamInfo_Destroy(si);
  }
  ASSERT_GE(victim, 0);
  ASSERT_LT(victim, cluster_->size());

  constexpr uint32_t kFirstTx = 10'000;
  constexpr uint32_t kBatch = 4;
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> acked{0};
  std::mutex mu;
  std::set<std::string> acked_tx;  // answered OK
  std::thread load([&] {
    for (uint32_t at = 0; !stop.load(); at += kBatch) {
      std::map<uint32_t, std::vector<Command>> by_shard;
      for (uint32_t i = at; i < at + kBatch; ++i) {
        Command c = TopUp(kFirstTx + i, 1000 + i % 11, 5);
        by_shard[app.ShardOf(c)].push_back(c);
      }
      for (auto& [shard, cmds] : by_shard) {
        // An unknown outcome is resubmitted with the same tx ids.
        SubmitOutcome out = app.Submit(shard, cmds);
        for (int attempt = 0; attempt < 30 && !out.ok(); ++attempt) out = app.Submit(shard, cmds);
        if (!out.ok()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (size_t k = 0; k < cmds.size(); ++k) {
          if (out.results[k].code() == schemas::OK) acked_tx.insert(cmds[k].tx_id());
        }
        acked.fetch_add(uint32_t(cmds.size()));
      }
    }
  });
  auto wait_acked = [&](uint32_t n) {
    for (int i = 0; i < 2000 && acked.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return acked.load() >= n;
  };
  EXPECT_TRUE(wait_acked(200));
  EXPECT_EQ(cluster_->Kill(victim, SIGKILL), 128 + SIGKILL);
  // Commands keep being acknowledged with one server of three down.
  EXPECT_TRUE(wait_acked(acked.load() + 200));
  EXPECT_EQ(cluster_->Restart(victim), "");
  EXPECT_TRUE(wait_acked(acked.load() + 200));
  stop = true;
  load.join();

  // Each acknowledged tx id is in the log exactly once.
  std::vector<std::vector<std::string>> logs;
  std::multiset<std::string> logged;
  size_t total = 0;
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    logs.push_back(LogEvents(shard));
    total += logs.back().size();
    for (const std::string& bytes : logs.back()) {
      schemas::Event e;
      ASSERT_TRUE(e.ParseFromString(bytes));
      logged.insert(e.tx_id());
    }
  }
  ASSERT_GE(acked_tx.size(), 600u);
  for (const std::string& tx : acked_tx) ASSERT_EQ(logged.count(tx), 1u);

  // The stream catches up (bounded) and then holds the log: each shard's
  // seqs once, in order, bytes equal; so every acked command exactly once.
  uint64_t msgs = 0;
  for (int i = 0; i < 400 && msgs < total; ++i) {
    jsStreamInfo* si = StreamInfo();
    msgs = si != nullptr ? si->State.Msgs : 0;
    jsStreamInfo_Destroy(si);
    if (msgs < total) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(msgs, total) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
  jsStreamInfo* si = StreamInfo();
  ASSERT_NE(si, nullptr);
  const uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  std::vector<uint64_t> next(kShards, 1);
  std::multiset<std::string> streamed;
  for (uint64_t s = first; s <= last && s > 0; ++s) {
    natsMsg* m = nullptr;
    ASSERT_EQ(js_GetMsg(&m, js_, ingress::kEventStreamDefault, s, nullptr, nullptr), NATS_OK) << s;
    const uint32_t shard = uint32_t(std::stoul(Header(m, ingress::kShardHeader)));
    const uint64_t seq = std::stoull(Header(m, ingress::kSeqHeader));
    const std::string bytes(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m)));
    natsMsg_Destroy(m);
    ASSERT_LT(shard, kShards);
    ASSERT_EQ(seq, next[shard]) << "shard " << shard << " stream seq " << s;
    ASSERT_LE(seq, logs[shard].size());
    ASSERT_EQ(bytes, logs[shard][seq - 1]) << "shard " << shard << " seq " << seq;
    ++next[shard];
    schemas::Event e;
    ASSERT_TRUE(e.ParseFromString(bytes));
    streamed.insert(e.tx_id());
  }
  for (const std::string& tx : acked_tx) EXPECT_EQ(streamed.count(tx), 1u);
  EXPECT_EQ(testing::StopProcess(service_pid_, SIGTERM), 0)
      << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
  service_pid_ = -1;
}

}  // namespace
}  // namespace giftledger

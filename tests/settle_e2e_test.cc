// Settlement end to end with a real nats-server, `giftledger start` and the
// `giftledger settle` binary: every gift's host share is credited exactly
// once, also when settle is killed with SIGKILL at random points and
// restarted, and when every message is delivered again (a lost state file,
// a new durable consumer). The ledger files are the judge: one HostCredited
// per GiftSent, and host earnings equal the sum of host shares.
// `giftledger query --nats` against the projector's query server.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "commands/ingress/client.h"
#include "commands/routing.h"
#include "commands/test_util.h"
#include "ledger/block.h"
#include "ledger/crypto.h"
#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "ledger/testing/temp_dir.h"
#include "projections/ledger_source.h"
#include "projections/projector.h"
#include "projections/query_server.h"
#include "tests/testing/process.h"

namespace giftledger {
namespace {

using namespace commands::testing;  // NOLINT: builders
namespace gt = ::giftledger::testing;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env ? env : GIFTLEDGER_BIN_DEFAULT;
}

constexpr uint32_t kShards = 2;
constexpr uint64_t kUsers = 12;
constexpr uint64_t kHostFirst = 900;
constexpr uint64_t kHosts = 5;

// What the ledger files say about gifts and credits.
struct Tally {
  std::map<uint64_t, int64_t> host_shares;               // by host: Σ GiftSent.host_share
  std::map<uint64_t, int64_t> earned;                    // by host: Σ HostCredited.amount
  std::map<std::pair<uint32_t, uint64_t>, int> gifts;    // (shard, seq) of GiftSent with a share
  std::map<std::pair<uint32_t, uint64_t>, int> credits;  // (payer_shard, gift_seq) → count
};

class SettleE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    nats_ = std::make_unique<gt::NatsServer>(tmp_.path());
    const std::string err = nats_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(gt::Run({Binary(), "format", "--data", data(), "--shards", std::to_string(kShards)}),
              0);
    ASSERT_EQ(gt::Run({Binary(), "keys", "service", "--data", data()}), 0);
    ASSERT_EQ(gt::Run({Binary(), "keys", "gateway", "--data", data(), "--name", "app", "--roles",
                       "gifts,payments,ops", "--out", tmp_.Sub("app.key")}),
              0);
    ASSERT_EQ(gt::Run({Binary(), "keys", "gateway", "--data", data(), "--name", "settler",
                       "--roles", "settlement", "--out", tmp_.Sub("settle.key")}),
              0);
    const std::string err2 =
        gt::SpawnUntilReady({Binary(), "start", "--data", data(), "--nats", nats_->url()},
                            tmp_.Sub("start.out"), tmp_.Sub("start.err"), "ready ", &service_pid_);
    ASSERT_TRUE(err2.empty()) << err2;
    ingress::ClientOptions o;
    o.nats_url = nats_->url();
    o.key_file = tmp_.Sub("app.key");
    o.timeout_ms = 10'000;
    auto c = ingress::Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c.value());
    for (uint32_t s = 0; s < kShards; ++s) {
      SubmitOk(s, {CatalogCmd(Tx(next_tx_++), 1, 10, true, 5000),
                   CatalogCmd(Tx(next_tx_++), 2, 7, true, 3333)});
    }
    std::vector<std::vector<schemas::Command>> topups(kShards);
    for (uint64_t u = 1; u <= kUsers; ++u) {
      topups[ShardOfUser(u)].push_back(TopUpCmd(Tx(next_tx_++), u, 1'000'000));
    }
    for (uint32_t s = 0; s < kShards; ++s) SubmitOk(s, topups[s]);
  }
  void TearDown() override {
    client_.reset();
    if (service_pid_ > 0) gt::StopProcess(service_pid_, SIGTERM);
    if (nats_) nats_->Stop();
  }
  std::string data() const { return tmp_.Sub("ledger"); }
  static uint32_t ShardOfUser(uint64_t u) {
    return commands::ShardOf(commands::UserId{u}, kShards).value;
  }

  void SubmitOk(uint32_t shard, const std::vector<schemas::Command>& cmds) {
    auto r = client_->Submit(shard, cmds);
    ASSERT_TRUE(r.ok()) << r.status.ToString();
    ASSERT_EQ(r.results.size(), cmds.size());
    for (const auto& res : r.results) ASSERT_EQ(res.code(), schemas::OK) << res.message();
  }
  // n gifts: one request of PlaceOrders and one of ConsumeOrders per shard.
  void Gifts(int n) {
    std::vector<std::vector<schemas::Command>> place(kShards), consume(kShards);
    for (int i = 0; i < n; ++i) {
      const uint64_t payer = 1 + uint64_t(next_tx_ % kUsers);
      const uint64_t host = kHostFirst + uint64_t(next_tx_ % kHosts);
      const std::string order = Tx(next_tx_++);
      place[ShardOfUser(payer)].push_back(PlaceCmd(order, payer, host, 1 + uint32_t(i % 2), 3));
      consume[ShardOfUser(payer)].push_back(ConsumeCmd(Tx(next_tx_++), payer, order));
      orders_.push_back({payer, order});
    }
    for (uint32_t s = 0; s < kShards; ++s) {
      if (!place[s].empty()) SubmitOk(s, place[s]);
      if (!consume[s].empty()) SubmitOk(s, consume[s]);
    }
  }
  Tally ReadLedger() {
    Tally t;
    auto m = LoadManifest(data());
    EXPECT_TRUE(m.ok());
    for (uint32_t s = 0; s < kShards; ++s) {
      auto r = LogReader::Open(ShardDir(data(), ShardId{s}), ShardId{s}, m->public_keys[s]);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      Status st = r.value()->ReadFrom(Seq{1}, [&](const BlockView& b) {
        ForEachEvent(b, [&](Seq seq, std::string_view bytes) {
          schemas::Event e;
          EXPECT_TRUE(e.ParseFromArray(bytes.data(), int(bytes.size())));
          if (e.has_gift_sent() && e.gift_sent().host_share() > 0) {
            t.host_shares[e.gift_sent().host()] += e.gift_sent().host_share();
            t.gifts[{s, seq.value}] += 1;
          } else if (e.has_host_credited()) {
            t.earned[e.host_credited().host()] += e.host_credited().amount();
            t.credits[{e.host_credited().payer_shard(), e.host_credited().gift_seq()}] += 1;
          }
        });
        return true;
      });
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    return t;
  }
  // Every gift credited exactly once, nothing else credited.
  void ExpectExactlyOnce(const Tally& t) {
    EXPECT_FALSE(t.gifts.empty());
    EXPECT_EQ(t.credits.size(), t.gifts.size());
    for (const auto& [gift, n] : t.gifts) {
      auto it = t.credits.find(gift);
      ASSERT_NE(it, t.credits.end())
          << "gift at shard " << gift.first << " seq " << gift.second << " never credited";
      EXPECT_EQ(it->second, 1) << "gift at shard " << gift.first << " seq " << gift.second;
    }
    EXPECT_EQ(t.earned, t.host_shares);
  }
  std::vector<std::string> SettleArgs(const std::string& state, const std::string& durable) {
    std::vector<std::string> a = {Binary(),     "settle", "--nats",
                                  nats_->url(), "--key",  tmp_.Sub("settle.key"),
                                  "--durable",  durable};
    if (!state.empty()) a.insert(a.end(), {"--state", state});
    return a;
  }
  // Runs settle until the stream is idle; its JSON summary.
  nlohmann::json SettleUntilIdle(const std::string& state, const std::string& durable) {
    auto a = SettleArgs(state, durable);
    a.insert(a.end(), {"--exit-when-idle", "--json"});
    std::string out;
    EXPECT_EQ(gt::Run(a, &out), 0) << out;
    const size_t brace = out.find("\n{");
    EXPECT_NE(brace, std::string::npos) << out;
    return nlohmann::json::parse(out.substr(brace + 1), nullptr, false);
  }

  gt::TempDir tmp_;
  std::unique_ptr<gt::NatsServer> nats_;
  pid_t service_pid_ = -1;
  std::unique_ptr<ingress::Client> client_;
  uint64_t next_tx_ = 1;
  std::vector<std::pair<uint64_t, std::string>> orders_;  // (payer, order id)
};

TEST_F(SettleE2eTest, EveryGiftIsCreditedOnceAcrossKillsRestartsAndRedelivery) {
  Gifts(150);
  {
    // A key without the settlement role stops settle: nothing credited or saved.
    auto a = SettleArgs(tmp_.Sub("wrong.state"), "wrong");
    a[5] = tmp_.Sub("app.key");  // gifts, payments, ops
    a.push_back("--exit-when-idle");
    std::string out;
    EXPECT_EQ(gt::Run(a, &out), 3) << out;
    EXPECT_TRUE(ReadLedger().credits.empty());
    EXPECT_NE(::access(tmp_.Sub("wrong.state").c_str(), F_OK), 0) << "no position was saved";
  }
  // Refunds do not take the host's share back (docs/commands.md): still one
  // credit per gift.
  const auto [payer, order] = orders_.front();
  SubmitOk(ShardOfUser(payer), {RefundCmd(Tx(next_tx_++), payer, order)});
  const std::string state = tmp_.Sub("settle.state");
  const unsigned seed = unsigned(std::random_device{}());
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 3; ++round) {
    pid_t pid = -1;
    auto a = SettleArgs(state, "settler");
    a.insert(a.end(), {"--batch", "1"});  // one credit per request: many points to die at
    const std::string err =
        gt::SpawnUntilReady(a, tmp_.Sub("settle.out"), tmp_.Sub("settle.err"), "ready ", &pid);
    ASSERT_TRUE(err.empty()) << err;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 120));
    ASSERT_EQ(gt::StopProcess(pid, SIGKILL), 128 + SIGKILL);
    Gifts(30);  // new gifts arrive while settlement is down
  }
  nlohmann::json s = SettleUntilIdle(state, "settler");
  EXPECT_EQ(s["rejected"], 0);
  const Tally t = ReadLedger();
  EXPECT_EQ(t.gifts.size(), 240u);
  ExpectExactlyOnce(t);

  // Everything delivered again: a lost state file and a new durable consumer
  // resubmit every credit; the derived ids answer the original results.
  nlohmann::json again = SettleUntilIdle("", "settler-2");
  EXPECT_EQ(again["gifts"], 240);
  EXPECT_EQ(again["credited"], 240);
  EXPECT_EQ(again["refunds_ignored"], 1);
  const Tally t2 = ReadLedger();
  ExpectExactlyOnce(t2);
  EXPECT_EQ(t2.earned, t.earned);
  // And with its state, a settled consumer has nothing new to do.
  nlohmann::json idle = SettleUntilIdle(state, "settler");
  EXPECT_EQ(idle["gifts"], 0);
  EXPECT_EQ(idle["credited"], 0);
}

// `query --nats` against a query server over the projection of this ledger:
// the same answers as `query --db`, with positions.
TEST_F(SettleE2eTest, QueryOverNatsAnswersLikeTheDatabase) {
  Gifts(20);
  (void)SettleUntilIdle(tmp_.Sub("settle.state"), "settler");
  auto config = projections::ConfigFromLedger(data(), projections::LevelTable());
  ASSERT_TRUE(config.ok());
  const std::string db = tmp_.Sub("read.sqlite");
  auto p = projections::Projector::Open(db, projections::OpenMode::kOpenOrCreate, config.value());
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(projections::ProjectFromLedger(data(), *p.value()).ok());
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, nats_->url().c_str()), NATS_OK);
  std::mutex mu;
  auto server = projections::HotQueryServer::Start(nc, p.value().get(), &mu);
  ASSERT_TRUE(server.ok());
  auto ask = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> a = {Binary(), "query", "--nats", nats_->url(), "--json"};
    a.insert(a.end(), args.begin(), args.end());
    return gt::Run(a, out);
  };
  auto db_ask = [&](std::vector<std::string> args) {
    std::vector<std::string> a = {Binary(), "query", "--db", db, "--json"};
    a.insert(a.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(gt::Run(a, &out), 0);
    return nlohmann::json::parse(out, nullptr, false);
  };
  const Tally t = ReadLedger();
  std::string out;
  ASSERT_EQ(ask({"wallet", std::to_string(kHostFirst)}, &out), 0) << out;
  nlohmann::json w = nlohmann::json::parse(out);
  EXPECT_EQ(w["host"]["earned"], t.earned.at(kHostFirst));
  EXPECT_EQ(w["host"], db_ask({"wallet", std::to_string(kHostFirst)})["host"]);
  ASSERT_EQ(w["positions"].size(), kShards);
  for (uint32_t s = 0; s < kShards; ++s) {
    EXPECT_EQ(w["positions"][s]["seq"], p.value()->committed_positions()[s].seq);
  }
  ASSERT_EQ(ask({"level", "2"}, &out), 0) << out;  // even users send the gifts
  EXPECT_EQ(nlohmann::json::parse(out)["experience"], db_ask({"level", "2"})["experience"]);
  EXPECT_GT(nlohmann::json::parse(out)["experience"].get<int64_t>(), 0);
  const std::string tx = ToHex(reinterpret_cast<const uint8_t*>(orders_[3].second.data()), 16);
  ASSERT_EQ(ask({"gift", tx}, &out), 0) << out;
  nlohmann::json g = nlohmann::json::parse(out);
  EXPECT_EQ(g["rows"].size(), 1u);
  EXPECT_EQ(g["rows"], db_ask({"gift", tx})["rows"]);
  EXPECT_EQ(g["positions"].size(), kShards);
  ASSERT_EQ(ask({"leaderboard", "hosts", "--top", "3"}, &out), 0) << out;
  nlohmann::json lb = nlohmann::json::parse(out);
  EXPECT_EQ(lb["entries"].size(), 3u);
  // Equal scores may rank in either order: compare the scores.
  nlohmann::json lb_db = db_ask({"leaderboard", "hosts", "--top", "3"});
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(lb["entries"][i]["score"], lb_db["entries"][i]["score"]);
  // Bad input: typed errors, usage exit code.
  EXPECT_EQ(ask({"gift", "zz"}, &out), 2);
  EXPECT_EQ(gt::Run({Binary(), "query", "--nats", nats_->url(), "--db", db, "level", "1"}), 2);
  server.value().reset();
  natsConnection_Destroy(nc);
}

}  // namespace
}  // namespace giftledger

// The JetStream source end to end with a real nats-server and `giftledger
// start`: the live projection equals the projection of the ledger files; a
// database behind a durable consumer that already acked past it catches up
// from the replay service; a consumer that redelivers everything changes
// nothing (duplicates).
#include "projections/nats_source.h"

#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/ingress/client.h"
#include "commands/routing.h"
#include "commands/test_util.h"
#include "ledger/crypto.h"
#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "ledger/testing/temp_dir.h"
#include "projections/ledger_source.h"
#include "projections/query.h"
#include "projections/state_hash.h"
#include "tests/testing/process.h"

namespace giftledger::projections {
namespace {

using namespace commands::testing;  // NOLINT: builders
namespace gt = ::giftledger::testing;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env ? env : GIFTLEDGER_BIN_DEFAULT;
}

constexpr uint32_t kShards = 2;

class NatsSourceTest : public ::testing::Test {
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
    auto config = ConfigFromLedger(data(), LevelTable());
    ASSERT_TRUE(config.ok());
    config_ = config.value();
  }
  void TearDown() override {
    client_.reset();
    if (service_pid_ > 0) gt::StopProcess(service_pid_, SIGTERM);
    if (nats_) nats_->Stop();
  }
  std::string data() const { return tmp_.Sub("ledger"); }

  void Submit(const schemas::Command& c, uint32_t shard) {
    auto r = client_->Submit(shard, {c});
    ASSERT_TRUE(r.ok()) << r.status.ToString();
    ASSERT_EQ(r.results.size(), 1u);
    ASSERT_EQ(r.results[0].code(), schemas::OK) << r.results[0].message();
  }
  void Routed(const schemas::Command& c) {
    Submit(c, commands::ShardOf(*commands::RoutingUser(c), kShards).value);
  }
  void Gifts(uint64_t first_user, int n) {
    for (int i = 0; i < n; ++i) {
      const uint64_t payer = first_user + uint64_t(i % 5);
      const std::string order = Tx(next_tx_++);
      auto place = PlaceCmd(order, payer, 900 + uint64_t(i % 3), 1, 1 + uint32_t(i % 4));
      Routed(place);
      Routed(ConsumeCmd(Tx(next_tx_++), payer, order));
    }
  }
  std::string Project(const std::string& db, const std::string& durable, bool catch_up,
                      NatsSourceStats* stats = nullptr, uint64_t* applied = nullptr) {
    auto p = Projector::Open(tmp_.Sub(db), OpenMode::kOpenOrCreate, config_);
    EXPECT_TRUE(p.ok());
    NatsSourceOptions o;
    o.url = nats_->url();
    o.durable = durable;
    o.exit_when_idle = true;
    o.catch_up_on_start = catch_up;
    NatsSourceStats s;
    Status st = ProjectFromNats(*p.value(), o, &s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (stats) *stats = s;
    if (applied) *applied = p.value()->stats().applied_events;
    auto h = ReadModelStateHash(*p.value()->store());
    return h.ok() ? ToHex(h.value()) : "";
  }
  std::string FilesHash() {
    auto p = Projector::Open(tmp_.Sub("files-" + std::to_string(next_tx_) + ".sqlite"),
                             OpenMode::kCreateNew, config_);
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(ProjectFromLedger(data(), *p.value()).ok());
    auto h = ReadModelStateHash(*p.value()->store());
    return h.ok() ? ToHex(h.value()) : "";
  }

  gt::TempDir tmp_;
  std::unique_ptr<gt::NatsServer> nats_;
  pid_t service_pid_ = -1;
  std::unique_ptr<ingress::Client> client_;
  ProjectionConfig config_;
  uint64_t next_tx_ = 1;
  std::vector<uint64_t> ledger_positions_;
};

TEST_F(NatsSourceTest, LiveProjectionEqualsFilesAndGapsFillFromReplay) {
  for (uint32_t s = 0; s < kShards; ++s) Submit(CatalogCmd(Tx(next_tx_++), 1, 10), s);
  for (uint64_t u = 1; u <= 10; ++u) Routed(TopUpCmd(Tx(next_tx_++), u, 10'000));
  Gifts(1, 12);
  // Room gift lines, as a room's viewers would follow them.
  natsConnection* viewer = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&viewer, nats_->url().c_str()), NATS_OK);
  natsSubscription* room_lines = nullptr;
  ASSERT_EQ(natsConnection_SubscribeSync(&room_lines, viewer, "giftledger.room.*.gifts"), NATS_OK);
  ASSERT_EQ(natsConnection_Flush(viewer), NATS_OK);
  // The event publisher runs after durability: poll the stream (stream
  // only, no catch-up) until it has everything; no timing is asserted.
  NatsSourceStats stats;
  std::string live, files = FilesHash();
  for (int i = 0; i < 100 && live != files; ++i) {
    live = Project("live.sqlite", "a", /*catch_up=*/false, &stats);
  }
  EXPECT_EQ(live, files);
  EXPECT_EQ(stats.gap_filled_events, 0u);
  // Every gift announced once, after its commit.
  int lines = 0;
  for (natsMsg* m = nullptr; natsSubscription_NextMsg(&m, room_lines, 2000) == NATS_OK;) {
    ++lines;
    natsMsg_Destroy(m);
  }
  EXPECT_EQ(lines, 12);
  natsSubscription_Destroy(room_lines);
  natsConnection_Destroy(viewer);

  Gifts(6, 8);
  files = FilesHash();
  // A new database on durable "a", which already acked the first part: the
  // first message of a shard is past seq 1, a gap filled from the replay
  // service before it is applied.
  uint64_t gap_filled = 0;
  for (int i = 0; i < 100 && gap_filled == 0; ++i) {
    Project("fresh.sqlite", "a", /*catch_up=*/false, &stats);
    gap_filled += stats.gap_filled_events;
  }
  EXPECT_GT(gap_filled, 0u);
  // Catch-up at start brings shards without new messages to the end too.
  EXPECT_EQ(Project("fresh.sqlite", "a", /*catch_up=*/true), files);
  // A consumer that delivers the whole stream again: all duplicates.
  uint64_t applied = 1;
  EXPECT_EQ(Project("fresh.sqlite", "b", /*catch_up=*/false, &stats, &applied), files);
  EXPECT_EQ(applied, 0u);
  EXPECT_GT(stats.messages, 0u);
}

TEST_F(NatsSourceTest, HotQueriesAnswerWhatSqliteHoldsWithPositions) {
  for (uint32_t s = 0; s < kShards; ++s) Submit(CatalogCmd(Tx(next_tx_++), 1, 10), s);
  for (uint64_t u = 1; u <= 10; ++u) Routed(TopUpCmd(Tx(next_tx_++), u, 10'000));
  Gifts(1, 10);
  ledger_positions_.assign(kShards, 0);
  for (uint32_t s = 0; s < kShards; ++s) {
    auto r = LogReader::Open(ShardDir(data(), ShardId{s}), ShardId{s},
                             LoadManifest(data()).value().public_keys[s]);
    ASSERT_TRUE(r.ok());
    ledger_positions_[s] = r.value()->scan().next_seq.value - 1;
  }
  const std::string db = tmp_.Sub("hot.sqlite");
  auto p = Projector::Open(db, OpenMode::kOpenOrCreate, config_);
  ASSERT_TRUE(p.ok());
  std::atomic<bool> stop{false};
  Status result;
  std::thread runner([&] {
    NatsSourceOptions o;
    o.url = nats_->url();
    o.durable = "hot";
    o.stop = &stop;
    NatsSourceStats stats;
    result = ProjectFromNats(*p.value(), o, &stats);
  });
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, nats_->url().c_str()), NATS_OK);
  const std::string req = R"({"board":"room","key":77,"window":"day","top":100})";
  nlohmann::json answer;
  for (int i = 0; i < 200; ++i) {
    natsMsg* reply = nullptr;
    if (natsConnection_Request(&reply, nc, "giftledger.q.leaderboard", req.data(), int(req.size()),
                               2000) != NATS_OK) {
      // No responders until the projector has caught up and subscribed.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    answer = nlohmann::json::parse(
        std::string(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply))));
    natsMsg_Destroy(reply);
    bool done = true;
    for (uint32_t s = 0; s < kShards; ++s) {
      done = done && answer["positions"][s]["seq"].get<uint64_t>() == ledger_positions_[s];
    }
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  runner.join();
  natsConnection_Destroy(nc);
  ASSERT_TRUE(result.ok()) << result.ToString();
  // The hot answer at the ledger's end equals the SQLite answer.
  auto s = Store::Open(db, OpenMode::kReadOnly, {});
  ASSERT_TRUE(s.ok());
  auto sql = QueryLeaderboard(*s.value(), Board::kRoom, 77, Window::kDay, std::nullopt, 100);
  ASSERT_TRUE(sql.ok());
  ASSERT_FALSE(sql->entries.empty());
  ASSERT_EQ(answer["entries"].size(), sql->entries.size()) << answer.dump();
  for (size_t i = 0; i < sql->entries.size(); ++i) {
    EXPECT_EQ(answer["entries"][i]["member"].get<uint64_t>(), sql->entries[i].member);
    EXPECT_EQ(answer["entries"][i]["score"].get<int64_t>(), sql->entries[i].score);
  }
  EXPECT_EQ(answer["period"].get<int64_t>(), sql->period);
  for (uint32_t sh = 0; sh < kShards; ++sh) {
    EXPECT_EQ(answer["positions"][sh]["seq"].get<uint64_t>(), ledger_positions_[sh]);
  }
}

// Sums every sample whose line starts with `prefix` (a family with optional
// labels), -1 when there is none.
double MetricSum(const std::string& text, const std::string& prefix) {
  double sum = -1;
  size_t at = 0;
  while ((at = text.find("\n" + prefix, at)) != std::string::npos) {
    const size_t end = text.find('\n', at + 1);
    const std::string line = text.substr(at + 1, end - at - 1);
    const char after = line.size() > prefix.size() ? line[prefix.size()] : '\0';
    if (after == ' ' || after == '{') {
      sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(line.rfind(' ') + 1));
    }
    at = end;
  }
  return sum;
}

TEST_F(NatsSourceTest, ProjectMetricsEndpointCountsEveryEventOfTheLog) {
  for (uint32_t s = 0; s < kShards; ++s) Submit(CatalogCmd(Tx(next_tx_++), 1, 10), s);
  for (uint64_t u = 1; u <= 10; ++u) Routed(TopUpCmd(Tx(next_tx_++), u, 10'000));
  Gifts(1, 6);
  uint64_t log_events = 0;
  std::vector<uint64_t> last_seq(kShards);
  for (uint32_t s = 0; s < kShards; ++s) {
    auto r = LogReader::Open(ShardDir(data(), ShardId{s}), ShardId{s},
                             LoadManifest(data()).value().public_keys[s]);
    ASSERT_TRUE(r.ok());
    last_seq[s] = r.value()->scan().next_seq.value - 1;
    log_events += last_seq[s];
  }
  pid_t pid = gt::Spawn({Binary(), "project", "--nats", nats_->url(), "--manifest", data(), "--db",
                         tmp_.Sub("m.sqlite"), "--metrics", "127.0.0.1:0"},
                        tmp_.Sub("project.out"), tmp_.Sub("project.err"));
  ASSERT_GT(pid, 0);
  // The URL is announced on stderr; bounded wait, nothing timed is asserted.
  int port = 0;
  const std::string marker = "metrics on http://127.0.0.1:";
  for (int i = 0; i < 600 && port == 0 && gt::Alive(pid); ++i) {
    const std::string err = gt::ReadFileOrEmpty(tmp_.Sub("project.err"));
    if (size_t at = err.find(marker); at != std::string::npos) {
      port = std::atoi(err.c_str() + at + marker.size());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ASSERT_GT(port, 0) << gt::ReadFileOrEmpty(tmp_.Sub("project.err"));
  std::string text;
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(gt::HttpGet(port, "/metrics", &text), 200);
    if (MetricSum(text, "giftledger_projector_events_total") == double(log_events)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // One hot query over NATS, then the counters once more.
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, nats_->url().c_str()), NATS_OK);
  const std::string req = R"({"board":"hosts","window":"all","top":10})";
  natsMsg* reply = nullptr;
  natsStatus qs = NATS_TIMEOUT;
  // The query server subscribes once the start-up catch-up is committed.
  for (int i = 0; i < 200 && qs != NATS_OK; ++i) {
    qs = natsConnection_Request(&reply, nc, "giftledger.q.leaderboard", req.data(), int(req.size()),
                                10'000);
    if (qs != NATS_OK) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(qs, NATS_OK);
  natsMsg_Destroy(reply);
  natsConnection_Destroy(nc);
  ASSERT_EQ(gt::HttpGet(port, "/metrics", &text), 200);
  std::string health;
  EXPECT_EQ(gt::HttpGet(port, "/healthz", &health), 200);
  EXPECT_EQ(gt::StopProcess(pid, SIGTERM), 0) << gt::ReadFileOrEmpty(tmp_.Sub("project.err"));

  EXPECT_EQ(MetricSum(text, "giftledger_projector_events_total"), double(log_events)) << text;
  EXPECT_EQ(MetricSum(text, "giftledger_projector_events_total{type=\"catalog_set\"}"),
            double(kShards));
  EXPECT_EQ(MetricSum(text, "giftledger_projector_events_total{type=\"topped_up\"}"), 10);
  EXPECT_EQ(MetricSum(text, "giftledger_projector_events_total{type=\"order_placed\"}"), 6);
  EXPECT_EQ(MetricSum(text, "giftledger_projector_events_total{type=\"gift_sent\"}"), 6);
  EXPECT_EQ(MetricSum(text, "giftledger_projector_events_total{type=\"refunded\"}"), 0);
  for (uint32_t s = 0; s < kShards; ++s) {
    const std::string l = "{shard=\"" + std::to_string(s) + "\"}";
    EXPECT_EQ(MetricSum(text, "giftledger_projector_projected_seq" + l), double(last_seq[s]));
    EXPECT_EQ(MetricSum(text, "giftledger_projector_seen_seq" + l), double(last_seq[s]));
    EXPECT_EQ(MetricSum(text, "giftledger_projector_lag_events" + l), 0);
  }
  const double batches = MetricSum(text, "giftledger_projector_batches_total");
  EXPECT_GE(batches, 1);
  EXPECT_EQ(MetricSum(text, "giftledger_projector_commit_latency_us_count"), batches);
  EXPECT_EQ(MetricSum(text, "giftledger_projector_batch_events_sum"), double(log_events));
  EXPECT_EQ(MetricSum(text, "giftledger_projector_query_requests_total"), 1);
  EXPECT_EQ(MetricSum(text, "giftledger_projector_query_errors_total"), 0);
  // The stream redelivers what the start-up catch-up already applied.
  EXPECT_LE(MetricSum(text, "giftledger_projector_duplicates_total"), double(log_events));
}

}  // namespace
}  // namespace giftledger::projections

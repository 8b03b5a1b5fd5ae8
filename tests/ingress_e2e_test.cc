// End to end over a real nats-server: a formatted ledger, the real
// `giftledger start` as a child process, and the C++ gateway client. Every
// process is stopped by its pid, also when a test fails.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands/ingress/box.h"
#include "commands/ingress/client.h"
#include "commands/ingress/subjects.h"
#include "ledger/crypto.h"
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

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

std::string Tx(uint8_t b) { return std::string(16, char(b)); }

Command TopUp(const std::string& tx, uint64_t user, int64_t amount) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(amount);
  c.mutable_top_up()->set_payment_ref("pay");
  return c;
}

Command Catalog(const std::string& tx) {
  Command c;
  c.set_tx_id(tx);
  auto* s = c.mutable_set_catalog();
  s->set_gift(1);
  s->set_name("rose");
  s->set_price(10);
  s->set_active(true);
  s->set_host_share_bps(5000);
  return c;
}

Command PlaceOrder(const std::string& tx, uint64_t payer) {
  Command c;
  c.set_tx_id(tx);
  auto* p = c.mutable_place_order();
  p->set_payer(payer);
  p->set_host(900);
  p->set_room(5);
  p->set_gift(1);
  p->set_count(3);
  p->set_ttl_us(60'000'000);
  return c;
}

Command Consume(const std::string& tx, uint64_t payer, const std::string& order) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_consume_order()->set_payer(payer);
  c.mutable_consume_order()->set_order_id(order);
  return c;
}

class IngressE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    nats_ = std::make_unique<testing::NatsServer>(tmp_.path());
    const std::string err = nats_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(testing::MakeTestLedger(Binary(), data(), 2, key("app")), "");
    ASSERT_EQ(testing::Run({Binary(), "keys", "gateway", "--data", data(), "--name", "ops",
                            "--roles", "ops", "--out", key("ops")}),
              0);
    StartService();
  }

  void TearDown() override {
    if (service_pid_ > 0) testing::StopProcess(service_pid_, SIGKILL);
    clients_.clear();
    if (nats_) nats_->Stop();
  }

  std::string data() const { return tmp_.Sub("ledger"); }
  std::string key(const std::string& name) const { return tmp_.Sub(name + ".key"); }

  // Starts `giftledger start` and waits for its "ready" line (bounded: a
  // service that never gets ready fails the test instead of hanging it).
  void StartService(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{Binary(), "start", "--data", data(), "--nats", nats_->url()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string err = testing::SpawnUntilReady(argv, tmp_.Sub("start.out"), tmp_.Sub("start.err"),
                                               "ready ", &service_pid_);
    ASSERT_TRUE(err.empty()) << err;
  }

  // SIGTERM: drain, flush, snapshot, exit 0.
  int StopService() {
    int code = testing::StopProcess(service_pid_, SIGTERM);
    service_pid_ = -1;
    return code;
  }

  Client& Connect(const std::string& key_file, int64_t timeout_ms = 10'000,
                  uint32_t attempts_max = 4) {
    ingress::ClientOptions o;
    o.nats_url = nats_->url();
    o.key_file = key_file;
    o.timeout_ms = timeout_ms;
    o.attempts_max = attempts_max;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    GL_ASSERT(c.ok());
    clients_.push_back(std::move(c.value()));
    return *clients_.back();
  }

  // Sets the catalog on every shard through the ops gateway.
  void SetCatalogEverywhere() {
    Client& ops = Connect(key("ops"));
    for (uint32_t s = 0; s < ops.info().shard_count; ++s) {
      SubmitOutcome out = ops.Submit(s, {Catalog(Tx(uint8_t(0xc0 + s)))});
      ASSERT_TRUE(out.ok()) << out.status.ToString();
      ASSERT_EQ(out.results[0].code(), schemas::OK) << out.results[0].message();
    }
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsServer> nats_;
  pid_t service_pid_ = -1;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_F(IngressE2eTest, TopUpPlaceConsumeThenResubmissionReturnsTheSameSeq) {
  SetCatalogEverywhere();
  Client& app = Connect(key("app"));
  EXPECT_EQ(app.info().shard_count, 2u);
  const uint64_t user = 42;
  const uint32_t shard = app.ShardOf(TopUp(Tx(1), user, 1));

  SubmitOutcome top = app.Submit(shard, {TopUp(Tx(1), user, 1000)});
  ASSERT_TRUE(top.ok()) << top.status.ToString();
  ASSERT_EQ(top.results[0].code(), schemas::OK) << top.results[0].message();
  const uint64_t topup_seq = top.results[0].seq();
  EXPECT_GT(topup_seq, 0u);

  SubmitOutcome order = app.Submit(shard, {PlaceOrder(Tx(2), user)});
  ASSERT_TRUE(order.ok()) << order.status.ToString();
  ASSERT_EQ(order.results[0].code(), schemas::OK) << order.results[0].message();

  SubmitOutcome consume = app.Submit(shard, {Consume(Tx(3), user, Tx(2))});
  ASSERT_TRUE(consume.ok()) << consume.status.ToString();
  ASSERT_EQ(consume.results[0].code(), schemas::OK) << consume.results[0].message();

  // Same tx id, same command: the original result, no second effect.
  SubmitOutcome again = app.Submit(shard, {TopUp(Tx(1), user, 1000)});
  ASSERT_TRUE(again.ok()) << again.status.ToString();
  EXPECT_EQ(again.results[0].code(), schemas::OK);
  EXPECT_EQ(again.results[0].seq(), topup_seq);
  // The same ConsumeOrder under a new tx id: the order state refuses it.
  SubmitOutcome twice = app.Submit(shard, {Consume(Tx(4), user, Tx(2))});
  ASSERT_TRUE(twice.ok()) << twice.status.ToString();
  EXPECT_EQ(twice.results[0].code(), schemas::ORDER_ALREADY_CONSUMED);

  // A command routed to the wrong shard is refused per command.
  SubmitOutcome wrong = app.Submit(1 - shard, {TopUp(Tx(5), user, 1)});
  ASSERT_TRUE(wrong.ok()) << wrong.status.ToString();
  EXPECT_EQ(wrong.results[0].code(), schemas::WRONG_SHARD);

  ASSERT_EQ(StopService(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", data()}), 0);

  // After a restart (snapshot + log) the tx id still answers with its seq.
  StartService();
  SubmitOutcome after = app.Submit(shard, {TopUp(Tx(1), user, 1000)});
  ASSERT_TRUE(after.ok()) << after.status.ToString();
  EXPECT_EQ(after.results[0].seq(), topup_seq);
  ASSERT_EQ(StopService(), 0);
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", data()}), 0);
}

TEST_F(IngressE2eTest, CommandOutsideTheGatewaysRolesIsPermissionDenied) {
  Client& app = Connect(key("app"));  // gifts, payments: no ops
  SubmitOutcome out = app.Submit(0, {Catalog(Tx(9)), TopUp(Tx(10), 0, 0)});
  ASSERT_TRUE(out.ok()) << out.status.ToString();
  ASSERT_EQ(out.results.size(), 2u);
  EXPECT_EQ(out.results[0].code(), schemas::PERMISSION_DENIED);
  EXPECT_EQ(out.results[0].seq(), 0u);
  // The rest of the batch is decided normally (user 0 is invalid).
  EXPECT_EQ(out.results[1].code(), schemas::INVALID_ARGUMENT);
  Client& ops = Connect(key("ops"));  // ops cannot top up
  SubmitOutcome topup = ops.Submit(ops.ShardOf(TopUp(Tx(11), 8, 1)), {TopUp(Tx(11), 8, 1)});
  ASSERT_TRUE(topup.ok()) << topup.status.ToString();
  EXPECT_EQ(topup.results[0].code(), schemas::PERMISSION_DENIED);
}

TEST_F(IngressE2eTest, ReplayedEnvelopeIsRejected) {
  Client& app = Connect(key("app"));
  const Command c = TopUp(Tx(20), 77, 5);
  const uint32_t shard = app.ShardOf(c);
  ingress::BoxNonce nonce;
  const std::string envelope = app.SealNow({c}, &nonce);

  auto first = app.RequestRaw(ingress::CommandSubject(shard), envelope, 10'000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  SubmitOutcome ok = app.DecodeReply(first.value(), nonce, 1);
  ASSERT_TRUE(ok.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.results[0].code(), schemas::OK);

  auto second = app.RequestRaw(ingress::CommandSubject(shard), envelope, 10'000);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  SubmitOutcome replayed = app.DecodeReply(second.value(), nonce, 1);
  EXPECT_FALSE(replayed.ok());
  EXPECT_EQ(replayed.envelope_error, schemas::REPLAYED);
}

TEST_F(IngressE2eTest, BadMacAndUnknownGatewayGetPlaintextErrors) {
  Client& app = Connect(key("app"));
  ingress::BoxNonce nonce;
  std::string envelope = app.SealNow({TopUp(Tx(30), 77, 5)}, &nonce);
  envelope[envelope.size() - 1] ^= 0x01;  // last ciphertext byte
  auto reply = app.RequestRaw(ingress::CommandSubject(0), envelope, 10'000);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  schemas::Envelope env;
  ASSERT_TRUE(env.ParseFromString(reply.value()));
  EXPECT_EQ(env.error(), schemas::BAD_MAC);
  EXPECT_TRUE(env.ciphertext().empty());

  // A key pair that was never registered.
  ASSERT_TRUE(ingress::BoxKeyPair::Generate().Save(key("stranger")).ok());
  // Plaintext errors are unauthenticated (anyone on NATS can send one), so
  // the client keeps waiting, retries with the same tx id and ends with an
  // unknown outcome carrying the last plaintext code as a hint.
  Client& stranger = Connect(key("stranger"), /*timeout_ms=*/300, /*attempts_max=*/2);
  SubmitOutcome out = stranger.Submit(0, {TopUp(Tx(31), 77, 5)});
  EXPECT_FALSE(out.ok());
  EXPECT_TRUE(out.unknown_outcome());
  EXPECT_EQ(out.status.code(), Code::kUnavailable);
  EXPECT_EQ(out.envelope_error, schemas::UNKNOWN_GATEWAY);
  EXPECT_EQ(out.attempts, 2u);
  EXPECT_GE(out.ignored_replies, 2u);

  // Registering it and sending SIGHUP admits it.
  ASSERT_EQ(testing::Run({Binary(), "keys", "gateway", "--data", data(), "--name", "late",
                          "--roles", "payments", "--out", key("late")}),
            0);
  ::kill(service_pid_, SIGHUP);
  Client& late = Connect(key("late"), /*timeout_ms=*/1000, /*attempts_max=*/1);
  const Command c = TopUp(Tx(32), 77, 5);
  // The reload is asynchronous: UNKNOWN_GATEWAY until the service has read
  // the file (bounded wait, the assertion is on the outcome). Resubmitting
  // the same tx id is safe whatever the earlier attempts did.
  SubmitOutcome admitted;
  for (int i = 0; i < 200; ++i) {
    admitted = late.Submit(late.ShardOf(c), {c});
    if (!admitted.unknown_outcome()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(admitted.ok()) << admitted.status.ToString();
  EXPECT_EQ(admitted.results[0].code(), schemas::OK);
  ASSERT_EQ(StopService(), 0);
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", data()}), 0);
}

// Sums every sample of a metric family whose line starts with `prefix`.
double MetricSum(const std::string& text, const std::string& prefix) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

TEST_F(IngressE2eTest, MetricsEndpointCountsRequestsResultsCommitsAndBlocks) {
  ASSERT_EQ(StopService(), 0);
  StartService({"--metrics", "127.0.0.1:0"});
  // The ready line of this start (the file may hold the first start's too).
  const std::string out = testing::ReadFileOrEmpty(tmp_.Sub("start.out"));
  const size_t at = out.rfind("ready ");
  ASSERT_NE(at, std::string::npos) << out;
  const auto info = nlohmann::json::parse(out.substr(at + 6, out.find('\n', at) - at - 6));
  const std::string url = info.at("metrics_url");
  const int port = std::stoi(url.substr(url.rfind(':') + 1));

  SetCatalogEverywhere();  // 2 requests, 2 OK
  Client& app = Connect(key("app"));
  const uint32_t shard = app.ShardOf(TopUp(Tx(1), 42, 1));
  SubmitOutcome top = app.Submit(shard, {TopUp(Tx(1), 42, 1000)});
  ASSERT_TRUE(top.ok()) << top.status.ToString();
  SubmitOutcome missing = app.Submit(shard, {Consume(Tx(2), 42, Tx(99))});
  ASSERT_TRUE(missing.ok()) << missing.status.ToString();
  ASSERT_EQ(missing.results[0].code(), schemas::ORDER_NOT_FOUND);

  std::string body;
  ASSERT_EQ(testing::HttpGet(port, "/metrics", &body), 200);
  EXPECT_EQ(MetricSum(body, "giftledger_requests_total "), 4);
  EXPECT_EQ(MetricSum(body, "giftledger_command_results_total{code=\"OK\"}"), 3);
  EXPECT_EQ(MetricSum(body, "giftledger_command_results_total{code=\"ORDER_NOT_FOUND\"}"), 1);
  EXPECT_EQ(MetricSum(body, "giftledger_command_results_total{code=\"INSUFFICIENT_FUNDS\"}"), 0);
  // Every answered request was timed once; every block is counted by size.
  EXPECT_EQ(MetricSum(body, "giftledger_commit_latency_us_count{"), 4);
  const double blocks = MetricSum(body, "giftledger_blocks_total{");
  EXPECT_GE(blocks, 1);
  EXPECT_EQ(MetricSum(body, "giftledger_block_events_count{"), blocks);
  // Catalog ×2, top-up, and the logged rejection: four events.
  EXPECT_EQ(MetricSum(body, "giftledger_events_total{"), 4);
  EXPECT_EQ(MetricSum(body, "giftledger_fsync_us_count{"),
            MetricSum(body, "giftledger_fsyncs_total{"));
  EXPECT_NE(body.find("# TYPE giftledger_commit_latency_us histogram"), std::string::npos);
  EXPECT_EQ(testing::HttpGet(port, "/healthz", &body), 200);
  EXPECT_EQ(testing::HttpGet(port, "/nope", &body), 404);
  ASSERT_EQ(StopService(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
}

}  // namespace
}  // namespace giftledger

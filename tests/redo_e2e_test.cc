// The client's retry rules and redo journal end to end: a real nats-server, the
// real `giftledger start`, `giftledger submit --journal` and `giftledger redo`
// as child processes. Commands are left unanswered by freezing (SIGSTOP) or
// stopping the service and by SIGKILLing the client mid-flight; `redo` must
// then get every one applied exactly once. Every process is stopped by pid.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/ingress/client.h"
#include "commands/ingress/gatekeeper.h"
#include "commands/ingress/redo_journal.h"
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
using ingress::RedoJournal;
using ingress::SubmitOutcome;
using schemas::Command;

constexpr int64_t kPrice = 10;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

std::string Hex(const std::string& b) {
  return ToHex(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

Command TopUp(const std::string& tx, uint64_t user, int64_t amount) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(amount);
  return c;
}

Command PlaceOrder(uint64_t payer, uint32_t count) {
  Command c;
  c.set_tx_id(ingress::NewTxId());
  auto* p = c.mutable_place_order();
  p->set_payer(payer);
  p->set_host(900);
  p->set_room(5);
  p->set_gift(1);
  p->set_count(count);
  p->set_ttl_us(60'000'000);
  return c;
}

class RedoE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    nats_ = std::make_unique<testing::NatsServer>(tmp_.path());
    const std::string err = nats_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(testing::Run({Binary(), "format", "--data", data(), "--shards", "2"}), 0);
    ASSERT_EQ(testing::Run({Binary(), "keys", "service", "--data", data()}), 0);
    ASSERT_EQ(testing::Run({Binary(), "keys", "gateway", "--data", data(), "--name", "app",
                            "--roles", "gifts,payments,ops", "--out", key()}),
              0);
    StartService();
    Client& c = app();
    for (uint32_t s = 0; s < c.info().shard_count; ++s) {
      Command cat;
      cat.set_tx_id(ingress::NewTxId());
      auto* sc = cat.mutable_set_catalog();
      sc->set_gift(1);
      sc->set_name("rose");
      sc->set_price(kPrice);
      sc->set_active(true);
      SubmitOutcome out = c.Submit(s, {cat});
      ASSERT_TRUE(out.ok()) << out.status.ToString();
      ASSERT_EQ(out.results[0].code(), schemas::OK);
    }
  }

  void TearDown() override {
    if (service_pid_ > 0) {
      ::kill(service_pid_, SIGCONT);
      testing::StopProcess(service_pid_, SIGKILL);
    }
    if (client_pid_ > 0) testing::StopProcess(client_pid_, SIGKILL);
    client_.reset();
    natsSubscription_Destroy(info_sub_);
    natsConnection_Destroy(info_nc_);
    if (nats_) nats_->Stop();
  }

  std::string data() const { return tmp_.Sub("ledger"); }
  std::string key() const { return tmp_.Sub("app.key"); }
  std::string journal() const { return tmp_.Sub("redo.journal"); }

  void StartService() {
    std::string err = testing::SpawnUntilReady(
        {Binary(), "start", "--data", data(), "--nats", nats_->url()}, tmp_.Sub("start.out"),
        tmp_.Sub("start.err"), "ready ", &service_pid_);
    ASSERT_TRUE(err.empty()) << err;
  }

  // Freezes the service (SIGSTOP): requests queue in its socket, to be
  // decided on SIGCONT with their answers going nowhere. giftledger.info is
  // answered meanwhile by the test (same JSON), so clients can still connect.
  void Freeze() {
    if (info_nc_ == nullptr) {
      ASSERT_EQ(natsConnection_ConnectTo(&info_nc_, nats_->url().c_str()), NATS_OK);
      natsMsg* reply = nullptr;
      ASSERT_EQ(natsConnection_RequestString(&reply, info_nc_, ingress::kInfoSubject, "", 10'000),
                NATS_OK);
      info_json_.assign(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply)));
      natsMsg_Destroy(reply);
      auto answer = [](natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) {
        const auto* json = static_cast<const std::string*>(closure);
        const char* to = natsMsg_GetReply(msg);
        if (to != nullptr && *to != '\0') {
          (void)natsConnection_Publish(nc, to, json->data(), int(json->size()));
        }
        natsMsg_Destroy(msg);
      };
      ASSERT_EQ(natsConnection_Subscribe(&info_sub_, info_nc_, ingress::kInfoSubject, answer,
                                         &info_json_),
                NATS_OK);
      ASSERT_EQ(natsConnection_Flush(info_nc_), NATS_OK);
    }
    ASSERT_EQ(::kill(service_pid_, SIGSTOP), 0);
  }
  void Thaw() { ASSERT_EQ(::kill(service_pid_, SIGCONT), 0); }

  int StopService() {
    int code = testing::StopProcess(service_pid_, SIGTERM);
    service_pid_ = -1;
    return code;
  }

  Client& app() {
    if (client_ == nullptr) {
      ingress::ClientOptions o;
      o.nats_url = nats_->url();
      o.key_file = key();
      o.timeout_ms = 10'000;
      auto c = Client::Connect(o);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      GL_ASSERT(c.ok());
      client_ = std::move(c.value());
    }
    return *client_;
  }

  // Runs `giftledger redo --json` and returns tx id (hex) -> result.
  std::map<std::string, nlohmann::json> Redo(int* exit_code) {
    std::string out;
    *exit_code = testing::Run({Binary(), "redo", "--nats", nats_->url(), "--key", key(),
                               "--journal", journal(), "--json", "--timeout-ms", "10000"},
                              &out);
    std::map<std::string, nlohmann::json> by_tx;
    auto j = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    if (j.is_discarded()) return by_tx;
    for (const auto& r : j["results"]) by_tx[r["tx_id"].get<std::string>()] = r;
    return by_tx;
  }

  // The payer's available coins are exactly `coins`: an order of all of them
  // passes, one more gift does not. (Spends the coins.)
  void ExpectBalance(uint64_t user, int64_t coins) {
    Client& c = app();
    const Command all = PlaceOrder(user, uint32_t(coins / kPrice));
    SubmitOutcome out = c.Submit(c.ShardOf(all), {all, PlaceOrder(user, 1)});
    ASSERT_TRUE(out.ok()) << out.status.ToString();
    EXPECT_EQ(out.results[0].code(), schemas::OK) << "user " << user << " has < " << coins;
    EXPECT_EQ(out.results[1].code(), schemas::INSUFFICIENT_FUNDS)
        << "user " << user << " has > " << coins;
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsServer> nats_;
  pid_t service_pid_ = -1;
  pid_t client_pid_ = -1;
  std::unique_ptr<Client> client_;
  natsConnection* info_nc_ = nullptr;
  natsSubscription* info_sub_ = nullptr;
  std::string info_json_;
};

// Someone on the (TLS-less) NATS answers every request first with a forged
// plaintext BAD_MAC and with an envelope that does not open: the client
// ignores both and takes the service's authenticated answer.
TEST_F(RedoE2eTest, ForgedErrorRepliesRacingTheServiceAreIgnored) {
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, nats_->url().c_str()), NATS_OK);
  natsSubscription* subs[2] = {nullptr, nullptr};
  auto forge = [](natsConnection* conn, natsSubscription*, natsMsg* msg, void*) {
    const char* to = natsMsg_GetReply(msg);
    if (to != nullptr && *to != '\0') {
      const std::string plain = ingress::Gatekeeper::PlainError(schemas::BAD_MAC, "forged");
      (void)natsConnection_Publish(conn, to, plain.data(), int(plain.size()));
      schemas::Envelope bogus;
      bogus.set_version(1);
      bogus.set_nonce(std::string(24, 'x'));
      bogus.set_ciphertext(std::string(64, 'y'));
      const std::string b = bogus.SerializeAsString();
      (void)natsConnection_Publish(conn, to, b.data(), int(b.size()));
      (void)natsConnection_Flush(conn);
    }
    natsMsg_Destroy(msg);
  };
  for (uint32_t s = 0; s < 2; ++s) {
    ASSERT_EQ(
        natsConnection_Subscribe(&subs[s], nc, ingress::CommandSubject(s).c_str(), forge, nullptr),
        NATS_OK);
  }
  ASSERT_EQ(natsConnection_Flush(nc), NATS_OK);

  Client& c = app();
  const Command t = TopUp(ingress::NewTxId(), 41, 3 * kPrice);
  SubmitOutcome out = c.Submit(c.ShardOf(t), {t});
  ASSERT_TRUE(out.ok()) << out.status.ToString();
  EXPECT_EQ(out.kind, ingress::SubmitKind::kAnswered);
  EXPECT_EQ(out.results[0].code(), schemas::OK);
  EXPECT_GT(out.results[0].seq(), 0u);

  // With the service frozen, only forgeries come back: the outcome stays
  // unknown (never "rejected") and the last forged code is only a hint.
  Freeze();
  ingress::ClientOptions o;
  o.nats_url = nats_->url();
  o.key_file = key();
  o.timeout_ms = 300;
  o.attempts_max = 2;
  auto impatient = Client::Connect(o);
  ASSERT_TRUE(impatient.ok()) << impatient.status().ToString();
  const Command t2 = TopUp(ingress::NewTxId(), 41, kPrice);
  SubmitOutcome unknown = impatient.value()->Submit(c.ShardOf(t2), {t2});
  EXPECT_TRUE(unknown.unknown_outcome());
  EXPECT_EQ(unknown.status.code(), Code::kUnavailable);
  EXPECT_EQ(unknown.envelope_error, schemas::BAD_MAC);
  EXPECT_EQ(unknown.attempts, 2u);
  EXPECT_GE(unknown.ignored_replies, 4u);  // two forgeries per attempt
  Thaw();

  // The same tx id later: applied once (by the queued attempts or now).
  SubmitOutcome again = c.Submit(c.ShardOf(t2), {t2});
  ASSERT_TRUE(again.ok()) << again.status.ToString();
  EXPECT_EQ(again.results[0].code(), schemas::OK);
  for (auto* s : subs) natsSubscription_Destroy(s);
  natsConnection_Destroy(nc);
  ExpectBalance(41, 4 * kPrice);
}

// One command reaches a frozen service (applied later, its answer lost), one
// never reaches a stopped one. `redo` gets both applied exactly once.
TEST_F(RedoE2eTest, UnansweredCommandsAreRedoneExactlyOnce) {
  const std::string tx_frozen = Hex(ingress::NewTxId());
  const std::string tx_down = Hex(ingress::NewTxId());
  auto submit = [&](const std::string& tx) {
    return testing::Run({Binary(), "submit", "--nats", nats_->url(), "--key", key(), "--journal",
                         journal(), "--timeout-ms", "300", "--attempts", "1", "topup", "--user",
                         "77", "--amount", std::to_string(2 * kPrice), "--tx", tx});
  };
  Freeze();
  EXPECT_EQ(submit(tx_frozen), 3);  // outcome unknown
  Thaw();
  ASSERT_EQ(StopService(), 0);  // drains: the queued request is decided
  EXPECT_EQ(submit(tx_down), 3);

  auto pending = RedoJournal::ReadPending(journal());
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ(Hex(pending.value()[0].tx_id), tx_frozen);
  EXPECT_EQ(Hex(pending.value()[1].tx_id), tx_down);

  StartService();
  int code = -1;
  auto results = Redo(&code);
  EXPECT_EQ(code, 0);
  ASSERT_EQ(results.size(), 2u);
  for (const std::string& tx : {tx_frozen, tx_down}) {
    ASSERT_EQ(results.count(tx), 1u) << tx;
    EXPECT_EQ(results[tx]["code"], "OK");
    EXPECT_TRUE(results[tx]["answered"].get<bool>());
    // The same tx id again: the same seq, no second effect.
    std::string id(16, '\0');
    ASSERT_TRUE(FromHex(tx, reinterpret_cast<uint8_t*>(id.data()), 16));
    const Command again = TopUp(id, 77, 2 * kPrice);
    SubmitOutcome out = app().Submit(app().ShardOf(again), {again});
    ASSERT_TRUE(out.ok()) << out.status.ToString();
    EXPECT_EQ(out.results[0].seq(), results[tx]["seq"].get<uint64_t>());
  }
  pending = RedoJournal::ReadPending(journal());
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
  ExpectBalance(77, 4 * kPrice);
  // Nothing left: redo has nothing to do and says so.
  results = Redo(&code);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(results.empty());
}

// A `submit --journal` child is SIGKILLed while its requests wait at a
// frozen service; the service then decides them with nobody listening.
// `redo` returns each original result; balances show each applied once.
TEST_F(RedoE2eTest, ClientKilledMidFlightThenRedoAppliesEachCommandOnce) {
  constexpr int kUsers = 12;
  nlohmann::json commands = nlohmann::json::array();
  for (int u = 0; u < kUsers; ++u) {
    for (int k = 0; k <= u % 3; ++k) {  // 1 to 3 top-ups per user
      commands.push_back({{"top_up", {{"user", std::to_string(100 + u)}, {"amount", "10"}}}});
    }
  }
  const std::string file = tmp_.Sub("commands.json");
  std::ofstream(file) << commands.dump();

  Freeze();
  client_pid_ =
      testing::Spawn({Binary(), "submit", "--nats", nats_->url(), "--key", key(), "--journal",
                      journal(), "--timeout-ms", "60000", "--json-commands", file},
                     tmp_.Sub("submit.out"), tmp_.Sub("submit.err"));
  ASSERT_GT(client_pid_, 0);
  // Wait (bounded) until every command is journaled, i.e. about to be sent
  // or sent; the client cannot finish while the service is frozen.
  size_t journaled = 0;
  for (int i = 0; i < 3000 && journaled < commands.size(); ++i) {
    auto p = RedoJournal::ReadPending(journal());
    journaled = p.ok() ? p->size() : 0;
    ASSERT_TRUE(testing::Alive(client_pid_)) << testing::ReadFileOrEmpty(tmp_.Sub("submit.err"));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(journaled, commands.size());
  EXPECT_EQ(testing::StopProcess(client_pid_, SIGKILL), 128 + SIGKILL);
  client_pid_ = -1;
  Thaw();

  int code = -1;
  auto results = Redo(&code);
  EXPECT_EQ(code, 0);
  ASSERT_EQ(results.size(), commands.size());
  auto pending = RedoJournal::ReadPending(journal());
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
  // Redo once more by hand with the same tx ids: the same seqs.
  for (const auto& [tx, r] : results) {
    EXPECT_EQ(r["code"], "OK") << r.dump();
  }
  for (int u = 0; u < kUsers; ++u) ExpectBalance(100 + u, 10 * (1 + u % 3));
  ASSERT_EQ(StopService(), 0);
  EXPECT_EQ(testing::Run({Binary(), "verify", "--data", data()}), 0);
}

}  // namespace
}  // namespace giftledger

// The dashboard over real HTTP: a real nats-server, `giftledger dashboard`
// on a free port; the page, the event stream, and a broadcast seen on NATS
// showing up in the state it serves. Processes are stopped by pid.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "ledger/testing/temp_dir.h"
#include "tests/testing/process.h"

#ifndef GIFTLEDGER_BIN_DEFAULT
#error "tests/CMakeLists.txt defines GIFTLEDGER_BIN_DEFAULT"
#endif

namespace giftledger {
namespace {

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

class DashboardE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = std::make_unique<testing::NatsServer>(tmp_.path());
    const std::string err = nats_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    const std::string e =
        testing::SpawnUntilReady({Binary(), "dashboard", "--nats", nats_->url(), "--http",
                                  "127.0.0.1:0", "--refresh-ms", "100"},
                                 tmp_.Sub("dash.out"), tmp_.Sub("dash.err"), "ready ", &pid_);
    ASSERT_EQ(e, "");
    const std::string out = testing::ReadFileOrEmpty(tmp_.Sub("dash.out"));
    // "ready http://127.0.0.1:PORT/"
    port_ = std::atoi(out.c_str() + out.rfind(':') + 1);
    ASSERT_GT(port_, 0) << out;
  }
  void TearDown() override {
    if (pid_ > 0) testing::StopProcess(pid_, SIGTERM);
    if (nats_) nats_->Stop();
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsServer> nats_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(DashboardE2eTest, PageIsServedWholeWithoutExternalAssets) {
  std::string body;
  ASSERT_EQ(testing::HttpGet(port_, "/", &body), 200);
  EXPECT_NE(body.find("<title>giftledger"), std::string::npos);
  EXPECT_NE(body.find("new EventSource(\"/events\")"), std::string::npos);
  EXPECT_EQ(body.find("http://"), std::string::npos) << "no external assets";
  EXPECT_EQ(body.find("https://"), std::string::npos) << "no external assets";
  EXPECT_EQ(testing::HttpGet(port_, "/missing", &body), 404);
}

TEST_F(DashboardE2eTest, BannerPublishedOnNatsAppearsInTheServedState) {
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, nats_->url().c_str()), NATS_OK);
  const std::string banner =
      R"({"shard":0,"seq":9,"payer":42,"host":1000000,"room":1,"gift":8,"count":1,"amount":20000})";
  nlohmann::json state;
  // Bounded: publish until the dashboard (subscribed at start) shows it.
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(natsConnection_PublishString(nc, "giftledger.banner", banner.c_str()), NATS_OK);
    natsConnection_Flush(nc);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string body;
    ASSERT_EQ(testing::HttpGet(port_, "/api/state", &body), 200);
    state = nlohmann::json::parse(body, nullptr, false);
    ASSERT_FALSE(state.is_discarded()) << body;
    if (state.contains("banners") && !state["banners"].empty()) break;
  }
  natsConnection_Destroy(nc);
  ASSERT_FALSE(state["banners"].empty()) << state.dump();
  const auto& b = state["banners"][0];
  EXPECT_EQ(b["payer"], "user 42");
  EXPECT_EQ(b["host"], "host 1000000");
  EXPECT_EQ(b["coins"], 20000);
  EXPECT_TRUE(state.contains("boards"));
  EXPECT_TRUE(state.contains("shards"));
}

TEST_F(DashboardE2eTest, ReportOfAPeriodicReconcilerAppearsInTheServedState) {
  const std::string ledger = tmp_.Sub("ledger");
  ASSERT_EQ(testing::Run({Binary(), "format", "--data", ledger, "--shards", "2"}), 0);
  const pid_t rec = testing::Spawn({Binary(), "reconcile", "--data", ledger, "--every", "1h",
                                    "--nats", nats_->url()},
                                   tmp_.Sub("rec.out"), tmp_.Sub("rec.err"));
  ASSERT_GT(rec, 0);
  nlohmann::json state;
  // Bounded: the reconciler publishes its first report right after it starts.
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string body;
    ASSERT_EQ(testing::HttpGet(port_, "/api/state", &body), 200);
    state = nlohmann::json::parse(body, nullptr, false);
    ASSERT_FALSE(state.is_discarded()) << body;
    if (state.contains("reconcile") && state["reconcile"].is_object()) break;
  }
  EXPECT_EQ(testing::StopProcess(rec, SIGTERM), 0) << testing::ReadFileOrEmpty(tmp_.Sub("rec.err"));
  ASSERT_TRUE(state["reconcile"].is_object()) << state.dump();
  const auto& r = state["reconcile"];
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["mismatch_count"], 0);
  EXPECT_TRUE(r["mismatches"].is_array());
  EXPECT_FALSE(r["at"].get<std::string>().empty());
  EXPECT_EQ(r["shards"].size(), 2u);
  // The page reads the fields the reconciler publishes.
  std::string page;
  ASSERT_EQ(testing::HttpGet(port_, "/", &page), 200);
  EXPECT_NE(page.find("rc.mismatch_count"), std::string::npos);
  EXPECT_NE(page.find("rc.at"), std::string::npos);
}

TEST_F(DashboardE2eTest, EventStreamSendsTheStateAsServerSentEvents) {
  // HttpGet reads until the peer closes; read the stream with a raw socket
  // via curl-like framing instead: the first event is enough.
  std::string out;
  const int code =
      testing::Run({"/usr/bin/env", "bash", "-c",
                    "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port_) +
                        "; printf 'GET /events HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&3; "
                        "timeout 10 head -c 4096 <&3 | grep -m1 '^data: {'"},
                   &out);
  EXPECT_EQ(code, 0) << out;
  ASSERT_EQ(out.rfind("data: {", 0), 0u) << out;
  const auto j = nlohmann::json::parse(out.substr(6), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_TRUE(j.contains("boards"));
  EXPECT_TRUE(j.contains("t_ms"));
}

}  // namespace
}  // namespace giftledger

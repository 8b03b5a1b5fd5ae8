// The event stream end to end: a real nats-server with JetStream, the real
// `giftledger start`, the gateway client. Every event in the ledger must
// arrive in GIFTLEDGER_EVENTS exactly once, seqs contiguous from 1 per shard,
// bytes equal to the log — also across a restart of the service and for
// events committed while the service was down. The replay service must page
// out exactly the log. Processes are stopped by pid.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include "commands/engine.h"
#include "commands/ingress/client.h"
#include "commands/ingress/event_publisher.h"
#include "commands/ingress/replay_service.h"
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
using Events = std::vector<std::pair<uint64_t, std::string>>;  // (seq, bytes)

constexpr uint32_t kShards = 2;

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

std::string Tx(uint32_t n) {
  std::string t(16, '\x5a');
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

// One message of the stream, as read back by stream sequence.
struct StreamMsg {
  std::string subject;
  uint64_t stream_seq = 0;
  std::string msg_id, shard, seq, data;
};

std::string Header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  return natsMsgHeader_Get(m, key, &v) == NATS_OK && v != nullptr ? v : "";
}

class JetStreamE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    nats_ = std::make_unique<testing::NatsServer>(tmp_.path());
    const std::string err = nats_->Start();
    if (err == "nats-server not found on PATH") GTEST_SKIP() << err;
    ASSERT_EQ(err, "");
    ASSERT_EQ(testing::MakeTestLedger(Binary(), data(), kShards, tmp_.Sub("app.key")), "");
    auto m = LoadManifest(data());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manifest_ = m.value();
    ASSERT_EQ(natsConnection_ConnectTo(&nc_, nats_->url().c_str()), NATS_OK);
    ASSERT_EQ(natsConnection_JetStream(&js_, nc_, nullptr), NATS_OK);
    StartService();
  }

  void TearDown() override {
    if (service_pid_ > 0) testing::StopProcess(service_pid_, SIGKILL);
    clients_.clear();
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
    if (nats_) nats_->Stop();
  }

  std::string data() const { return tmp_.Sub("ledger"); }

  void StartService() {
    std::string err = testing::SpawnUntilReady(
        {Binary(), "start", "--data", data(), "--nats", nats_->url()}, tmp_.Sub("start.out"),
        tmp_.Sub("start.err"), "ready ", &service_pid_);
    ASSERT_TRUE(err.empty()) << err;
  }

  int StopService() {
    int code = testing::StopProcess(service_pid_, SIGTERM);
    service_pid_ = -1;
    return code;
  }

  Client& Connect() {
    ingress::ClientOptions o;
    o.nats_url = nats_->url();
    o.key_file = tmp_.Sub("app.key");
    o.timeout_ms = 10'000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    GL_ASSERT(c.ok());
    clients_.push_back(std::move(c.value()));
    return *clients_.back();
  }

  // Top-ups for `count` users starting at `first_tx`, each to its shard,
  // several commands a request.
  void SubmitTopUps(uint32_t first_tx, uint32_t count) {
    Client& app = clients_.empty() ? Connect() : *clients_.back();
    std::map<uint32_t, std::vector<Command>> by_shard;
    for (uint32_t i = 0; i < count; ++i) {
      Command c = TopUp(first_tx + i, 1000 + (first_tx + i) % 37, 10 + i);
      by_shard[app.ShardOf(c)].push_back(c);
    }
    for (auto& [shard, cmds] : by_shard) {
      for (size_t at = 0; at < cmds.size(); at += 5) {
        std::vector<Command> batch(cmds.begin() + at, cmds.begin() + std::min(cmds.size(), at + 5));
        SubmitOutcome out = app.Submit(shard, batch);
        ASSERT_TRUE(out.ok()) << out.status.ToString();
        for (const auto& r : out.results) ASSERT_EQ(r.code(), schemas::OK) << r.message();
      }
    }
  }

  Events LogEvents(uint32_t shard) {
    auto reader = LogReader::Open(ShardDir(data(), ShardId{shard}), ShardId{shard},
                                  manifest_.public_keys[shard]);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    Events out;
    if (!reader.ok()) return out;
    Status st = (*reader)->ReadEvents(Seq{1}, [&](Seq seq, std::string_view ev) {
      out.emplace_back(seq.value, std::string(ev));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  uint64_t StreamMsgCount() {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, ingress::kEventStreamDefault, nullptr, nullptr) != NATS_OK) {
      return 0;
    }
    const uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
  }

  // Every message of the stream in stream order.
  std::vector<StreamMsg> ReadStream() {
    std::vector<StreamMsg> out;
    jsStreamInfo* si = nullptr;
    EXPECT_EQ(js_GetStreamInfo(&si, js_, ingress::kEventStreamDefault, nullptr, nullptr), NATS_OK);
    if (si == nullptr) return out;
    EXPECT_EQ(si->Config->Storage, js_FileStorage);
    EXPECT_EQ(si->Config->Retention, js_LimitsPolicy);
    EXPECT_EQ(si->Config->Replicas, 1);
    const uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    for (uint64_t s = first; s <= last && s > 0; ++s) {
      natsMsg* m = nullptr;
      jsErrCode code = jsErrCode(0);
      natsStatus st = js_GetMsg(&m, js_, ingress::kEventStreamDefault, s, nullptr, &code);
      EXPECT_EQ(st, NATS_OK) << "stream seq " << s << " jetstream error " << int(code);
      if (st != NATS_OK) continue;
      StreamMsg sm;
      sm.subject = natsMsg_GetSubject(m);
      sm.stream_seq = natsMsg_GetSequence(m);
      sm.msg_id = Header(m, "Nats-Msg-Id");
      sm.shard = Header(m, ingress::kShardHeader);
      sm.seq = Header(m, ingress::kSeqHeader);
      sm.data.assign(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m)));
      natsMsg_Destroy(m);
      out.push_back(std::move(sm));
    }
    return out;
  }

  // Waits (bounded) until the stream holds as many messages as the logs
  // hold events, then checks them one by one.
  void ExpectStreamEqualsLog() {
    std::vector<Events> logs;
    size_t total = 0;
    for (uint32_t s = 0; s < kShards; ++s) {
      logs.push_back(LogEvents(s));
      total += logs.back().size();
    }
    ASSERT_GT(total, 0u);
    for (int i = 0; i < 3000 && StreamMsgCount() < total; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::vector<StreamMsg> msgs = ReadStream();
    ASSERT_EQ(msgs.size(), total) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
    std::vector<uint64_t> next(kShards, 1);
    for (const StreamMsg& m : msgs) {
      const uint32_t shard = uint32_t(std::stoul(m.shard));
      ASSERT_LT(shard, kShards);
      ASSERT_EQ(m.subject, ingress::EventSubject(shard));
      const uint64_t seq = std::stoull(m.seq);
      // Each shard's events in order, once, no gap.
      ASSERT_EQ(seq, next[shard]) << "shard " << shard << " stream seq " << m.stream_seq;
      EXPECT_EQ(m.msg_id, ingress::EventMsgId(shard, seq));
      ASSERT_LE(seq, logs[shard].size());
      EXPECT_EQ(logs[shard][seq - 1].first, seq);
      EXPECT_EQ(m.data, logs[shard][seq - 1].second) << "shard " << shard << " seq " << seq;
      ++next[shard];
    }
    for (uint32_t s = 0; s < kShards; ++s) EXPECT_EQ(next[s], logs[s].size() + 1);
  }

  Result<ingress::ReplayPage> Replay(uint32_t shard, const std::string& body) {
    natsMsg* reply = nullptr;
    const std::string subject = ingress::ReplaySubject(shard);
    natsStatus s =
        natsConnection_Request(&reply, nc_, subject.c_str(), body.data(), int(body.size()), 10'000);
    if (s != NATS_OK) return Unavailable(std::string("replay request: ") + natsStatus_GetText(s));
    auto page = ingress::DecodeReplayReply(
        std::string_view(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply))));
    natsMsg_Destroy(reply);
    return page;
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::NatsServer> nats_;
  Manifest manifest_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  pid_t service_pid_ = -1;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_F(JetStreamE2eTest, EveryEventArrivesOnceInOrderAcrossARestart) {
  SubmitTopUps(1, 60);
  ExpectStreamEqualsLog();

  ASSERT_EQ(StopService(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
  StartService();
  SubmitTopUps(1000, 40);
  // Resubmitting committed tx ids adds no events, so nothing new to publish.
  SubmitTopUps(1, 10);
  ExpectStreamEqualsLog();
  ASSERT_EQ(StopService(), 0);
}

// The two guards the publisher relies on, checked against this nats-server:
// a stale expected-last-subject-sequence (0 included) is refused, and a
// Msg-Id seen before is a duplicate, not a second copy.
TEST_F(JetStreamE2eTest, StaleExpectedSubjectSeqIsRefusedAndAKnownMsgIdIsADuplicate) {
  SubmitTopUps(1, 10);
  ExpectStreamEqualsLog();
  const uint64_t before = StreamMsgCount();
  auto publish = [&](const char* msg_id, const char* expected, jsErrCode* code) {
    natsMsg* m = nullptr;
    EXPECT_EQ(natsMsg_Create(&m, ingress::EventSubject(0).c_str(), nullptr, "x", 1), NATS_OK);
    natsMsgHeader_Set(m, ingress::kMsgIdHeader, msg_id);
    if (expected != nullptr) natsMsgHeader_Set(m, ingress::kExpectedLastSubjectSeqHeader, expected);
    jsPubAck* ack = nullptr;
    *code = jsErrCode(0);
    natsStatus s = js_PublishMsg(&ack, js_, m, nullptr, code);
    natsMsg_Destroy(m);
    const bool duplicate = ack != nullptr && ack->Duplicate;
    jsPubAck_Destroy(ack);
    return std::make_pair(s, duplicate);
  };
  jsErrCode code;
  auto stale = publish("0:999999", "0", &code);
  EXPECT_NE(stale.first, NATS_OK);
  EXPECT_EQ(code, JSStreamWrongLastSequenceErr);
  auto dup = publish("0:1", nullptr, &code);
  EXPECT_EQ(dup.first, NATS_OK);
  EXPECT_TRUE(dup.second);
  EXPECT_EQ(StreamMsgCount(), before);
  ASSERT_EQ(StopService(), 0);
}

// The chain a publish window relies on (docs/protocol.md, "Event stream"):
// a message expecting a Msg-Id that is not the stream's last is refused, so
// after one refused message every later one of its window is refused too and
// nothing is stored out of order; the stream's true last Msg-Id is accepted.
TEST_F(JetStreamE2eTest, AWindowStoresNothingAfterItsFirstRefusedMessage) {
  SubmitTopUps(1, 10);
  ExpectStreamEqualsLog();
  ASSERT_EQ(StopService(), 0);  // nothing else publishes from here on
  const std::vector<StreamMsg> msgs = ReadStream();
  ASSERT_FALSE(msgs.empty());
  const std::string last_id = msgs.back().msg_id;
  const uint64_t before = StreamMsgCount();
  auto publish = [&](const std::string& subject, const char* msg_id, const char* header,
                     const std::string& value, jsErrCode* code) {
    natsMsg* m = nullptr;
    EXPECT_EQ(natsMsg_Create(&m, subject.c_str(), nullptr, "x", 1), NATS_OK);
    natsMsgHeader_Set(m, ingress::kMsgIdHeader, msg_id);
    natsMsgHeader_Set(m, header, value.c_str());
    jsPubAck* ack = nullptr;
    *code = jsErrCode(0);
    natsStatus s = js_PublishMsg(&ack, js_, m, nullptr, code);
    natsMsg_Destroy(m);
    jsPubAck_Destroy(ack);
    return s;
  };
  jsErrCode code;
  // A window's first message, refused by the subject fence ...
  EXPECT_NE(publish(ingress::EventSubject(0), "0:900001", ingress::kExpectedLastSubjectSeqHeader,
                    "0", &code),
            NATS_OK);
  EXPECT_EQ(code, JSStreamWrongLastSequenceErr);
  // ... and the two after it, chained to it, refused as well.
  EXPECT_NE(publish(ingress::EventSubject(0), "0:900002", ingress::kExpectedLastMsgIdHeader,
                    "0:900001", &code),
            NATS_OK);
  EXPECT_EQ(code, JSStreamWrongLastMsgIDErr);
  EXPECT_NE(publish(ingress::EventSubject(0), "0:900003", ingress::kExpectedLastMsgIdHeader,
                    "0:900002", &code),
            NATS_OK);
  EXPECT_EQ(code, JSStreamWrongLastMsgIDErr);
  EXPECT_EQ(StreamMsgCount(), before);
  // The stream's real last Msg-Id is accepted (on a subject no shard uses).
  EXPECT_EQ(
      publish(ingress::EventSubject(99), "99:1", ingress::kExpectedLastMsgIdHeader, last_id, &code),
      NATS_OK);
  EXPECT_EQ(StreamMsgCount(), before + 1);
}

TEST_F(JetStreamE2eTest, EventsCommittedWhileTheServiceWasDownArePublishedOnStart) {
  SubmitTopUps(1, 20);
  ExpectStreamEqualsLog();
  ASSERT_EQ(StopService(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));

  // Commit straight through an engine: the stream has not seen these.
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    auto key = LoadShardSigningKey(data(), manifest_, ShardId{shard});
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    commands::EngineOptions o;
    o.writer.segment_bytes = manifest_.segment_bytes;
    auto e = commands::ShardEngine::Open(
        ShardDir(data(), ShardId{shard}),
        commands::ShardConfig{ShardId{shard}, kShards, manifest_.utc_offset_minutes}, key.value(),
        o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Client& app = *clients_.back();
    std::vector<Command> cmds;
    for (uint32_t tx = 5000; cmds.size() < 15; ++tx) {
      Command c = TopUp(tx, 2000 + tx, 7);
      if (app.ShardOf(c) == shard) cmds.push_back(c);
    }
    for (const auto& r : (*e)->SubmitAndWait(cmds)) ASSERT_EQ(r.code(), schemas::OK);
    ASSERT_TRUE((*e)->Close().ok());
  }

  StartService();
  ExpectStreamEqualsLog();
  ASSERT_EQ(StopService(), 0);
}

TEST_F(JetStreamE2eTest, ReplayPagesFromSeqOneEqualTheLog) {
  SubmitTopUps(1, 80);
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    const Events log = LogEvents(shard);
    ASSERT_FALSE(log.empty());
    Events got;
    uint64_t from = 1;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = Replay(shard, R"({"from_seq":)" + std::to_string(from) + R"(,"max_events":9})");
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      ASSERT_LE(page->events.size(), 9u);
      EXPECT_EQ(page->from_seq, from);
      for (auto& e : page->events) got.push_back(std::move(e));
      from = page->next_seq;
      if (page->events.empty() || from == page->durable_next_seq) break;
    }
    EXPECT_EQ(got, log) << "shard " << shard;
  }
  // An empty body is from seq 1, a full page.
  auto first = Replay(0, "");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->from_seq, 1u);
  EXPECT_EQ(first->events.size(), LogEvents(0).size());
  // Seq 0 does not exist.
  EXPECT_EQ(Replay(0, R"({"from_seq":0})").status().code(), Code::kInvalidArgument);
  ASSERT_EQ(StopService(), 0);
}

// nats-server is killed and restarted (same port, same store) while a client
// keeps submitting: the client's retries with the same tx ids ride out the
// outage, every command takes effect exactly once, and the publisher, which
// lost its connection mid-stream, catches the stream up with no gap or copy.
TEST_F(JetStreamE2eTest, NatsServerKilledUnderLoadDoublesNothingAndPublishingCatchesUp) {
  Client& app = Connect();
  constexpr uint32_t kCommands = 400;
  constexpr uint32_t kFirstTx = 20'000;
  std::atomic<uint32_t> acked{0};
  std::atomic<uint32_t> retried{0};
  std::vector<int> codes(kCommands, -1);
  std::thread load([&] {
    for (uint32_t at = 0; at < kCommands; at += 4) {
      std::vector<Command> batch;
      for (uint32_t i = at; i < at + 4; ++i) batch.push_back(TopUp(kFirstTx + i, 1000 + i % 3, 5));
      // Every top-up of a batch goes to user 1000..1002; group by shard.
      std::map<uint32_t, std::vector<Command>> by_shard;
      for (const Command& c : batch) by_shard[app.ShardOf(c)].push_back(c);
      for (auto& [shard, cmds] : by_shard) {
        SubmitOutcome out;
        // An outage outlasts one Submit's retries: resubmit the same tx ids.
        for (int attempt = 0; attempt < 60; ++attempt) {
          out = app.Submit(shard, cmds);
          if (out.ok()) break;
          retried.fetch_add(1);
        }
        if (!out.ok()) return;
        for (size_t k = 0; k < cmds.size(); ++k) {
          uint32_t n = 0;
          for (int b = 0; b < 4; ++b) n |= uint32_t(uint8_t(cmds[k].tx_id()[b])) << (8 * b);
          codes[n - kFirstTx] = out.results[k].code();
        }
      }
      acked.store(at + 4);
    }
  });
  for (int i = 0; i < 3000 && acked.load() < kCommands / 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(nats_->Restart(SIGKILL), "");
  load.join();
  ASSERT_EQ(acked.load(), kCommands) << "retried " << retried.load();
  for (uint32_t i = 0; i < kCommands; ++i) EXPECT_EQ(codes[i], schemas::OK) << "command " << i;

  // Each tx id is in the log exactly once.
  std::multiset<std::string> logged;
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    for (const auto& [seq, bytes] : LogEvents(shard)) {
      schemas::Event e;
      ASSERT_TRUE(e.ParseFromString(bytes)) << "shard " << shard << " seq " << seq;
      ASSERT_TRUE(e.has_topped_up()) << "shard " << shard << " seq " << seq;
      logged.insert(e.tx_id());
    }
  }
  ASSERT_EQ(logged.size(), kCommands);
  for (uint32_t i = 0; i < kCommands; ++i) EXPECT_EQ(logged.count(Tx(kFirstTx + i)), 1u) << i;
  ExpectStreamEqualsLog();
  ASSERT_EQ(StopService(), 0) << testing::ReadFileOrEmpty(tmp_.Sub("start.err"));
}

}  // namespace
}  // namespace giftledger

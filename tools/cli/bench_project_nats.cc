#include "tools/cli/bench_project_nats.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "commands/ingress/event_publisher.h"
#include "ledger/limits.h"
#include "ledger/manifest.h"
#include "ledger/writer.h"
#include "projections/ledger_source.h"
#include "projections/nats_source.h"
#include "projections/query_server.h"
#include "tests/testing/process.h"

namespace giftledger::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

Status NatsError(const std::string& what, natsStatus s) {
  return Unavailable("nats: " + what + ": " + natsStatus_GetText(s));
}

using NatsConn = std::unique_ptr<natsConnection, void (*)(natsConnection*)>;

Result<NatsConn> Connect(const std::string& url) {
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
  if (s != NATS_OK) return NatsError("connect " + url, s);
  return NatsConn(nc, natsConnection_Destroy);
}

// One requester: its own connection and reply inbox, `inflight` requests
// outstanding, `count` answers awaited.
Status Requester(const std::string& url, uint64_t count, uint32_t inflight, uint32_t hosts,
                 uint64_t seed, uint64_t* answered) {
  auto nc = Connect(url);
  if (!nc.ok()) return nc.status();
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return Internal("inbox");
  const std::string reply_to = inbox;
  natsInbox_Destroy(inbox);
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_SubscribeSync(&sub, nc.value().get(), reply_to.c_str());
  if (s != NATS_OK) return NatsError("subscribe", s);
  std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(sub,
                                                                       natsSubscription_Destroy);
  (void)natsSubscription_SetPendingLimits(sub, -1, -1);
  static const char* kBoards[] = {"room", "host", "hosts", "gifters"};
  static const char* kWindows[] = {"hour", "day", "week", "month", "all"};
  uint64_t sent = 0, got = 0, rng = seed;
  while (got < count) {
    while (sent < count && sent - got < inflight) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      const char* board = kBoards[sent % 4];
      const bool global = sent % 4 >= 2;
      const uint64_t key = global ? 0 : 1'000'000 + (rng >> 33) % hosts;
      const std::string req = std::string("{\"board\":\"") + board +
                              "\",\"key\":" + std::to_string(key) + ",\"window\":\"" +
                              kWindows[(sent / 4) % 5] + "\",\"top\":100}";
      s = natsConnection_PublishRequest(nc.value().get(), "giftledger.q.leaderboard",
                                        reply_to.c_str(), req.data(), int(req.size()));
      if (s != NATS_OK) return NatsError("publish request", s);
      ++sent;
    }
    natsMsg* m = nullptr;
    s = natsSubscription_NextMsg(&m, sub, 10'000);
    if (s != NATS_OK) return NatsError("answer", s);
    const bool error =
        natsMsg_GetDataLength(m) > 8 && std::string_view(natsMsg_GetData(m), 9) == "{\"error\":";
    natsMsg_Destroy(m);
    if (error) return Internal("the query server answered an error");
    ++got;
  }
  *answered = got;
  return Status::Ok();
}

Result<nlohmann::json> QueriesOverNats(const ProjectNatsBenchOptions& o, const std::string& url,
                                       projections::Projector& p, uint32_t hosts) {
  auto nc = Connect(url);
  if (!nc.ok()) return nc.status();
  std::mutex mu;
  auto server = projections::HotQueryServer::Start(nc.value().get(), &p, &mu);
  if (!server.ok()) return server.status();
  const uint64_t per = std::max<uint64_t>(1, o.queries / o.requesters);
  std::vector<uint64_t> answered(o.requesters, 0);
  std::vector<Status> status(o.requesters);
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (uint32_t r = 0; r < o.requesters; ++r) {
    pool.emplace_back(
        [&, r] { status[r] = Requester(url, per, o.inflight, hosts, 17 + r, &answered[r]); });
  }
  for (auto& t : pool) t.join();
  const double s = Since(t0);
  server.value().reset();
  for (const Status& st : status) GL_RETURN_IF_ERROR(st);
  uint64_t total = 0;
  for (uint64_t a : answered) total += a;
  return nlohmann::json{{"query_top100_per_s_nats", double(total) / s},
                        {"nats_queries", total},
                        {"nats_requesters", o.requesters},
                        {"nats_inflight", o.inflight}};
}

std::string TxBytes(uint64_t n) {
  std::string s(16, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(n >> (8 * i));
  s[6] = char((uint8_t(s[6]) & 0x0f) | 0x40);
  s[15] = 2;
  return s;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Appends `gifts` gifts (OrderPlaced + GiftSent each) as one durable batch.
AppendOutcome AppendGifts(Writer& w, uint64_t gifts, uint32_t users, uint64_t* tx, uint64_t* rng) {
  EventBatch batch;
  schemas::Event e;
  for (uint64_t i = 0; i < gifts; ++i) {
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t payer = 1 + (*rng >> 33) % users;
    const uint64_t host = 1'000'000 + (*rng >> 20) % 2'000;
    const std::string order = TxBytes((*tx)++);
    e.Clear();
    e.set_tx_id(order);
    e.set_ledger_time_us(NowUs());
    auto* pl = e.mutable_order_placed();
    pl->set_payer(payer);
    pl->set_host(host);
    pl->set_room(host);
    pl->set_gift(1);
    pl->set_count(1);
    pl->set_amount(10);
    pl->set_host_share(5);
    GL_ASSERT(batch.Add(e.SerializeAsString()).ok());
    e.Clear();
    e.set_tx_id(TxBytes((*tx)++));
    e.set_ledger_time_us(NowUs());
    auto* g = e.mutable_gift_sent();
    g->set_payer(payer);
    g->set_host(host);
    g->set_room(host);
    g->set_gift(1);
    g->set_count(1);
    g->set_amount(10);
    g->set_host_share(5);
    g->set_order_id(order);
    GL_ASSERT(batch.Add(e.SerializeAsString()).ok());
  }
  return w.AppendAndWait(std::move(batch));
}

Status TopUps(Writer& w, uint32_t users, uint64_t* tx) {
  schemas::Event e;
  for (uint32_t u = 0; u < users;) {
    EventBatch batch;
    for (uint32_t i = 0; i < 4096 && u < users; ++i, ++u) {
      e.Clear();
      e.set_tx_id(TxBytes((*tx)++));
      e.set_ledger_time_us(NowUs());
      e.mutable_topped_up()->set_user(u + 1);
      e.mutable_topped_up()->set_amount(1'000'000'000);
      GL_RETURN_IF_ERROR(batch.Add(e.SerializeAsString()));
    }
    auto r = w.AppendAndWait(std::move(batch));
    if (!r.status.ok()) return r.status;
  }
  return Status::Ok();
}

struct Acked {
  uint64_t last_seq;
  uint64_t gifts;
  Clock::time_point at;
};

// The live pipeline: writer → EventPublisher → JetStream → ProjectFromNats
// (SQLite commit, hot boards, broadcasts) with the ack-to-visible latency of
// every gift. First a burst measures what the pipeline sustains; the steady
// run then offers min(requested rate, 80 % of that), and says which.
Result<nlohmann::json> Visibility(const ProjectNatsBenchOptions& o, const std::string& url,
                                  const std::string& dir) {
  const std::string ledger = dir + "/live-ledger";
  auto m = FormatLedger(ledger, 1, kSegmentBytesDefault);
  if (!m.ok()) return m.status();
  auto key = LoadShardSigningKey(ledger, m.value(), ShardId{0});
  if (!key.ok()) return key.status();
  WriterOptions wo;
  wo.segment_bytes = m->segment_bytes;
  auto w = Writer::Open(ShardDir(ledger, ShardId{0}), ShardId{0}, key.value(), wo);
  if (!w.ok()) return w.status();
  Writer& writer = *w.value();
  auto config = projections::ConfigFromLedger(ledger, projections::LevelTable());
  if (!config.ok()) return config.status();
  auto p = projections::Projector::Open(dir + "/live.sqlite", projections::OpenMode::kCreateNew,
                                        config.value());
  if (!p.ok()) return p.status();

  auto pub_nc = Connect(url);
  if (!pub_nc.ok()) return pub_nc.status();
  ingress::ShardLogSource src;
  src.shard = ShardId{0};
  src.shard_dir = ShardDir(ledger, ShardId{0});
  src.key = m->public_keys[0];
  src.durable_next_seq = [&writer] { return writer.durable_next_seq().value; };
  auto publisher = ingress::EventPublisher::Start(pub_nc.value().get(), {}, {src});

  std::mutex mu;
  std::deque<Acked> acked;  // oldest first
  std::vector<double> latency_ms;
  bool record = false;
  std::atomic<uint64_t> visible_seq{0};
  Clock::time_point last_visible = Clock::now();
  std::atomic<bool> stop{false}, projector_done{false};
  projections::NatsSourceOptions no;
  no.url = url;
  no.durable = "giftledger-bench-visible";
  no.catch_up_on_start = false;  // no replay service here; the stream is complete
  no.stop = &stop;
  projections::Projector* proj = p.value().get();
  no.on_commit = [&](uint64_t) {
    const auto now = Clock::now();
    const uint64_t seq = proj->committed_positions()[0].seq;
    std::lock_guard<std::mutex> lock(mu);
    while (!acked.empty() && acked.front().last_seq <= seq) {
      const double ms = std::chrono::duration<double, std::milli>(now - acked.front().at).count();
      if (record) latency_ms.insert(latency_ms.end(), acked.front().gifts, ms);
      acked.pop_front();
      last_visible = now;
    }
    visible_seq = seq;
  };
  Status projector_status;
  projections::NatsSourceStats ns;
  std::thread projector;
  auto wait_until = [&](const std::function<bool()>& done, double seconds) {
    const auto t0 = Clock::now();
    while (!done() && !projector_done.load() && Since(t0) < seconds) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  };
  auto finish = [&] {
    stop = true;
    if (projector.joinable()) projector.join();
    publisher->Stop();
    (void)writer.Close();
  };
  // Appends `gifts` gifts in batches due at `rate` (every millisecond the
  // gifts due by then, as the service's group commit would; a slow fsync
  // makes the next batch bigger, the offered rate stays).
  uint64_t tx = 1, rng = 99;
  auto feed = [&](double rate, double seconds, uint64_t gifts_max, uint64_t* fed,
                  uint64_t* batches) -> Status {
    const auto t0 = Clock::now();
    *fed = 0;
    while (Since(t0) < seconds && *fed < gifts_max) {
      const uint64_t due = std::min<uint64_t>(gifts_max, uint64_t(rate * Since(t0)));
      const uint64_t n = std::min<uint64_t>(due - std::min(due, *fed), (kBlockEventsMax - 2) / 2);
      if (n == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      auto r = AppendGifts(writer, n, o.visible_users, &tx, &rng);
      if (!r.status.ok()) return r.status;
      {
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back({r.first_seq.value + 2 * n - 1, n, Clock::now()});
      }
      publisher->Notify(0);
      *fed += n;
      ++*batches;
    }
    return Status::Ok();
  };
  auto durable_end = [&] { return writer.durable_next_seq().value - 1; };

  // Warm-up: the users' top-ups, published (so the stream exists) before the
  // projector subscribes, then through the whole pipeline.
  Status st = TopUps(writer, o.visible_users, &tx);
  if (st.ok()) {
    publisher->Notify(0);
    if (!wait_until([&] { return publisher->published_next_seq(0) > durable_end(); }, 60)) {
      st = Unavailable("the event publisher did not publish the top-ups within 60 s");
    }
  }
  if (st.ok()) {
    projector = std::thread([&] {
      projector_status = projections::ProjectFromNats(*proj, no, &ns);
      projector_done = true;
    });
    if (!wait_until([&] { return visible_seq.load() >= durable_end(); }, 60)) {
      st = Unavailable("the top-ups did not become visible within 60 s");
    }
  }
  // Burst: about a second of the requested rate as fast as the writer takes
  // it; gifts ÷ time until all are visible = what the pipeline sustains.
  double sustained = 0;
  uint64_t burst = 0, batches = 0;
  if (st.ok()) {
    const uint64_t gifts = std::clamp<uint64_t>(uint64_t(o.visible_rate), 1'000, 50'000);
    const auto t0 = Clock::now();
    st = feed(1e12, 3600, gifts, &burst, &batches);
    if (st.ok() && !wait_until([&] { return visible_seq.load() >= durable_end(); }, 120)) {
      st = Unavailable("the burst did not become visible within 120 s");
    }
    sustained = double(burst) / Since(t0);
  }
  const double rate = std::min(o.visible_rate, 0.8 * sustained);
  uint64_t fed = 0;
  batches = 0;
  double feed_seconds = 0, visible_seconds = 0;
  Clock::time_point t0 = Clock::now();
  if (st.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      record = true;
    }
    t0 = Clock::now();
    st = feed(rate, o.visible_seconds, UINT64_MAX, &fed, &batches);
    feed_seconds = Since(t0);
    if (st.ok() && !wait_until([&] { return visible_seq.load() >= durable_end(); }, 120)) {
      st = Unavailable("the gifts did not become visible within 120 s");
    }
    std::lock_guard<std::mutex> lock(mu);
    visible_seconds = std::chrono::duration<double>(last_visible - t0).count();
  }
  finish();
  GL_RETURN_IF_ERROR(projector_status);
  GL_RETURN_IF_ERROR(st);
  return nlohmann::json{
      {"visible_rate_requested_gifts_per_s", o.visible_rate},
      {"visible_sustained_gifts_per_s", sustained},
      {"visible_rate_gifts_per_s", rate},
      {"visible_rate_is_requested", rate == o.visible_rate},
      {"visible_offered_gifts_per_s", double(fed) / feed_seconds},
      {"visible_achieved_gifts_per_s", visible_seconds > 0 ? double(fed) / visible_seconds : 0},
      {"visible_gifts", fed},
      {"visible_batches", batches},
      {"visible_p50_ms", Percentile(latency_ms, 0.50)},
      {"visible_p99_ms", Percentile(latency_ms, 0.99)},
      {"visible_max_ms", Percentile(latency_ms, 1.0)},
      {"visible_projector_pull_messages", ns.messages}};
}

}  // namespace

Result<nlohmann::json> RunProjectNatsBench(const ProjectNatsBenchOptions& o, const std::string& dir,
                                           projections::Projector& projector,
                                           const projections::ProjectionConfig& config,
                                           uint32_t hosts) {
  (void)config;
  std::unique_ptr<testing::NatsServer> server;
  std::string url = o.url;
  if (url.empty()) {
    server = std::make_unique<testing::NatsServer>(dir);
    const std::string err = server->Start();
    if (!err.empty()) return Unavailable("bench project: " + err + " (or give --nats, --no-nats)");
    url = server->url();
  }
  nlohmann::json j;
  auto q = QueriesOverNats(o, url, projector, hosts);
  if (!q.ok()) return q.status();
  j.update(q.value());
  auto v = Visibility(o, url, dir);
  if (!v.ok()) return v.status();
  j.update(v.value());
  return j;
}

}  // namespace giftledger::cli

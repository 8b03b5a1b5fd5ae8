#include "tools/cli/bench_e2e.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "commands/ingress/client.h"
#include "commands/ingress/limits.h"
#include "commands/ingress/nats_servers.h"

namespace giftledger::cli {
namespace {

using Clock = std::chrono::steady_clock;
using ingress::Client;
using schemas::Command;

constexpr uint32_t kGift = 1;
constexpr int64_t kTopUpCoins = 1'000'000'000'000;  // kAmountMax: never runs dry

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Users per shard, so that every batch is one shard's.
std::vector<std::vector<uint64_t>> UsersByShard(const Client& c, uint32_t per_shard) {
  std::vector<std::vector<uint64_t>> users(c.info().shard_count);
  Command probe;
  for (uint64_t u = 1;; ++u) {
    probe.mutable_top_up()->set_user(u);
    auto& v = users[c.ShardOf(probe)];
    if (v.size() < per_shard) v.push_back(u);
    bool full = true;
    for (const auto& s : users) full &= s.size() >= per_shard;
    if (full) return users;
  }
}

// PlaceOrder + ConsumeOrder pairs of one shard's payers: batch/2 gifts.
std::vector<Command> GiftBatch(const std::vector<uint64_t>& payers, uint32_t batch,
                               uint64_t* cursor) {
  std::vector<Command> out;
  out.reserve(batch);
  for (uint32_t k = 0; k + 1 < batch; k += 2) {
    const uint64_t payer = payers[(*cursor)++ % payers.size()];
    Command place;
    place.set_tx_id(ingress::NewTxId());
    auto* p = place.mutable_place_order();
    p->set_payer(payer);
    p->set_host(1'000'000'000 + payer);
    p->set_room(7);
    p->set_gift(kGift);
    p->set_count(1);
    p->set_ttl_us(60'000'000);
    Command consume;
    consume.set_tx_id(ingress::NewTxId());
    consume.mutable_consume_order()->set_payer(payer);
    consume.mutable_consume_order()->set_order_id(place.tx_id());
    out.push_back(std::move(place));
    out.push_back(std::move(consume));
  }
  return out;
}

// Catalog on every shard, then one big top-up per payer.
Status Setup(Client& c, const std::vector<std::vector<uint64_t>>& users) {
  for (uint32_t s = 0; s < c.info().shard_count; ++s) {
    Command cat;
    cat.set_tx_id(ingress::NewTxId());
    auto* sc = cat.mutable_set_catalog();
    sc->set_gift(kGift);
    sc->set_name("bench-rose");
    sc->set_price(1);
    sc->set_active(true);
    sc->set_host_share_bps(5000);
    std::vector<Command> batch{cat};
    for (uint64_t u : users[s]) {
      Command t;
      t.set_tx_id(ingress::NewTxId());
      t.mutable_top_up()->set_user(u);
      t.mutable_top_up()->set_amount(kTopUpCoins);
      t.mutable_top_up()->set_payment_ref("bench");
      batch.push_back(std::move(t));
    }
    auto out = c.Submit(s, batch);
    if (!out.ok()) return out.status;
    for (const auto& r : out.results) {
      if (r.code() == schemas::PERMISSION_DENIED) {
        return FailedPrecondition("the bench key needs roles gifts,payments,ops");
      }
      if (r.code() != schemas::OK) {
        return Internal("setup: " + schemas::ResultCode_Name(r.code()) + " " + r.message());
      }
    }
  }
  return Status::Ok();
}

struct RunResult {
  uint64_t commands_ok = 0;
  uint64_t commands_failed = 0;
  uint64_t requests = 0;
  double seconds = 0;
  std::vector<double> latency_us;  // per request: first send (or its due time) to answer
};

// Threads x inflight requests. rate_per_s == 0: closed loop (each thread
// sends as soon as a slot frees). Otherwise open loop: requests are due at a
// fixed pace and latency counts from the due time, so a stalled service is
// not hidden by the generator waiting for it.
RunResult RunLoad(Client& c, const std::vector<std::vector<uint64_t>>& users,
                  const E2eBenchOptions& o, double seconds, double rate_per_s) {
  RunResult total;
  std::mutex mu;
  const auto start = Clock::now();
  const auto stop =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> pool;
  for (uint32_t t = 0; t < o.threads; ++t) {
    pool.emplace_back([&, t] {
      RunResult mine;
      struct Pending {
        std::shared_ptr<Client::Call> call;
        double lateness_us;
      };
      std::deque<Pending> q;
      uint64_t cursor = uint64_t(t) * 7919;
      uint32_t shard = t % c.info().shard_count;
      const double interval_s = rate_per_s > 0 ? double(o.batch) * o.threads / rate_per_s : 0;
      auto due = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(interval_s * t / o.threads));
      auto finish_front = [&] {
        auto out = c.Finish(q.front().call);
        ++mine.requests;
        if (out.ok()) {
          for (const auto& r : out.results) {
            (r.code() == schemas::OK ? mine.commands_ok : mine.commands_failed) += 1;
          }
          mine.latency_us.push_back(double(out.latency_us) + q.front().lateness_us);
        } else {
          mine.commands_failed += o.batch;
        }
        q.pop_front();
      };
      while (Clock::now() < stop) {
        std::vector<Command> batch = GiftBatch(users[shard], o.batch, &cursor);
        double lateness_us = 0;
        if (interval_s > 0) {
          std::this_thread::sleep_until(due);
          lateness_us = std::chrono::duration<double, std::micro>(Clock::now() - due).count();
          due += std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(interval_s));
        }
        q.push_back({c.Begin(shard, std::move(batch)), lateness_us});
        shard = (shard + o.threads) % c.info().shard_count;
        while (!q.empty() && (q.size() >= o.inflight || Client::Ready(q.front().call))) {
          finish_front();
        }
      }
      while (!q.empty()) finish_front();
      std::lock_guard<std::mutex> lock(mu);
      total.commands_ok += mine.commands_ok;
      total.commands_failed += mine.commands_failed;
      total.requests += mine.requests;
      total.latency_us.insert(total.latency_us.end(), mine.latency_us.begin(),
                              mine.latency_us.end());
    });
  }
  for (auto& th : pool) th.join();
  total.seconds = Since(start);
  return total;
}

// The bytes a reply to `batch` commands takes on the wire (typical seqs).
size_t ReplyBytes(uint32_t batch) {
  schemas::Reply reply;
  reply.set_request_nonce(std::string(ingress::kBoxNonceBytes, 'n'));
  reply.set_timestamp_us(1'700'000'000'000'000);
  for (uint32_t i = 0; i < batch; ++i) {
    auto* r = reply.add_results();
    r->set_code(schemas::OK);
    r->set_seq(10'000'000 + i);
  }
  schemas::Envelope env;
  env.set_version(ingress::kProtocolVersion);
  env.set_nonce(std::string(ingress::kBoxNonceBytes, 'n'));
  env.set_ciphertext(std::string(reply.ByteSizeLong() + ingress::kBoxMacBytes, 'c'));
  return env.ByteSizeLong();
}

struct Echo {
  std::string reply;
};

void OnEcho(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) {
  const auto* echo = static_cast<const Echo*>(closure);
  const char* to = natsMsg_GetReply(msg);
  if (to != nullptr && *to != '\0') {
    (void)natsConnection_Publish(nc, to, echo->reply.data(), int(echo->reply.size()));
  }
  natsMsg_Destroy(msg);
}

// Plain NATS request/reply with an in-process responder: the same request
// bytes (a sealed envelope) and reply size, threads x inflight requests in
// flight (one blocking requester each), no crypto, no ledger.
Result<RunResult> RunEcho(const E2eBenchOptions& o, const std::string& request,
                          size_t reply_bytes) {
  Echo echo{std::string(reply_bytes, 'r')};
  natsOptions* opts = nullptr;
  natsConnection* responder = nullptr;
  natsConnection* requester = nullptr;
  natsSubscription* sub = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = ingress::SetNatsServers(opts, o.nats_url);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsConnection_Connect(&responder, opts);
  if (s == NATS_OK) s = natsConnection_Connect(&requester, opts);
  natsInbox* inbox = nullptr;
  if (s == NATS_OK) s = natsInbox_Create(&inbox);
  const std::string subject = std::string("giftledger.bench.echo.") + (inbox ? inbox : "x");
  natsInbox_Destroy(inbox);
  if (s == NATS_OK) s = natsConnection_Subscribe(&sub, responder, subject.c_str(), OnEcho, &echo);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(responder);
  RunResult total;
  if (s == NATS_OK) {
    std::mutex mu;
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (uint32_t t = 0; t < o.threads * o.inflight; ++t) {
      pool.emplace_back([&] {
        RunResult mine;
        while (Since(start) < o.echo_seconds) {
          natsMsg* reply = nullptr;
          const auto t0 = Clock::now();
          natsStatus rs = natsConnection_Request(&reply, requester, subject.c_str(), request.data(),
                                                 int(request.size()), 10'000);
          ++mine.requests;
          if (rs == NATS_OK) {
            mine.latency_us.push_back(
                std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            mine.commands_ok += o.batch;
            natsMsg_Destroy(reply);
          } else {
            mine.commands_failed += o.batch;
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        total.requests += mine.requests;
        total.commands_ok += mine.commands_ok;
        total.commands_failed += mine.commands_failed;
        total.latency_us.insert(total.latency_us.end(), mine.latency_us.begin(),
                                mine.latency_us.end());
      });
    }
    for (auto& th : pool) th.join();
    total.seconds = Since(start);
  }
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(requester);
  natsConnection_Destroy(responder);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return Unavailable(std::string("echo baseline: ") + natsStatus_GetText(s));
  return total;
}

}  // namespace

Result<nlohmann::json> RunE2eBench(const E2eBenchOptions& o) {
  if (o.batch < 2 || o.batch > ingress::kBatchCommandsMax || o.batch % 2 != 0) {
    return InvalidArgument("--batch must be even, 2 to 8190");
  }
  if (o.threads == 0 || o.inflight == 0) return InvalidArgument("--threads and --inflight >= 1");
  ingress::ClientOptions co;
  co.nats_url = o.nats_url;
  co.key_file = o.key_file;
  co.timeout_ms = o.timeout_ms;
  auto client = Client::Connect(co);
  if (!client.ok()) return client.status();
  Client& c = *client.value();
  const auto users = UsersByShard(c, o.users_per_shard);
  GL_RETURN_IF_ERROR(Setup(c, users));

  RunResult peak = RunLoad(c, users, o, o.seconds, 0);
  const double peak_per_s = double(peak.commands_ok) / peak.seconds;
  RunResult half = RunLoad(c, users, o, o.half_seconds, peak_per_s / 2);

  uint64_t cursor = 0;
  ingress::BoxNonce nonce;
  const std::string request = c.SealNow(GiftBatch(users[0], o.batch, &cursor), &nonce);
  const size_t reply_bytes = ReplyBytes(o.batch);
  auto echo = RunEcho(o, request, reply_bytes);
  if (!echo.ok()) return echo.status();
  const double echo_per_s = double(echo->commands_ok) / echo->seconds;

  nlohmann::json j;
  j["shards"] = c.info().shard_count;
  j["threads"] = o.threads;
  j["inflight_per_thread"] = o.inflight;
  j["batch_commands"] = o.batch;
  j["request_bytes"] = request.size();
  j["reply_bytes"] = reply_bytes;
  j["commands_per_s"] = peak_per_s;
  j["requests_per_s"] = double(peak.requests) / peak.seconds;
  j["commands"] = peak.commands_ok;
  j["commands_failed"] = peak.commands_failed + half.commands_failed;
  j["p50_us"] = Percentile(peak.latency_us, 0.50);
  j["p99_us"] = Percentile(peak.latency_us, 0.99);
  j["half_load_target_per_s"] = peak_per_s / 2;
  j["half_load_commands_per_s"] = double(half.commands_ok) / half.seconds;
  j["p50_at_half_load_us"] = Percentile(half.latency_us, 0.50);
  j["p99_at_half_load_us"] = Percentile(half.latency_us, 0.99);
  j["nats_echo_per_s"] = echo_per_s;
  j["nats_echo_requests_per_s"] = double(echo->requests) / echo->seconds;
  j["nats_echo_p50_us"] = Percentile(echo->latency_us, 0.50);
  j["nats_echo_p99_us"] = Percentile(echo->latency_us, 0.99);
  j["ratio_echo"] = echo_per_s > 0 ? peak_per_s / echo_per_s : 0;
  j["target_commands_per_s"] = 250'000;
  j["target_p99_at_half_load_us"] = 5'000;
  return j;
}

void PrintE2eBenchHuman(const nlohmann::json& j) {
  std::printf(
      "bench e2e: %u shard(s), %u threads x %u in flight, %u commands/envelope "
      "(%zu B request, %zu B reply)\n",
      j["shards"].get<unsigned>(), j["threads"].get<unsigned>(),
      j["inflight_per_thread"].get<unsigned>(), j["batch_commands"].get<unsigned>(),
      j["request_bytes"].get<size_t>(), j["reply_bytes"].get<size_t>());
  std::printf("  %-36s %14s %14s %8s\n", "figure", "giftledger", "nats echo", "ratio");
  std::printf("  %-36s %14.0f %14.0f %8.2f  (target >= 250000)\n",
              "commands/s (durable, encrypted)", j["commands_per_s"].get<double>(),
              j["nats_echo_per_s"].get<double>(), j["ratio_echo"].get<double>());
  std::printf("  %-36s %14.0f %14.0f\n", "request p50 at peak (us)", j["p50_us"].get<double>(),
              j["nats_echo_p50_us"].get<double>());
  std::printf("  %-36s %14.0f %14.0f\n", "request p99 at peak (us)", j["p99_us"].get<double>(),
              j["nats_echo_p99_us"].get<double>());
  std::printf("  %-36s %14.0f  (%.0f commands/s paced, target p99 <= 5000)\n",
              "request p99 at 50 % load (us)", j["p99_at_half_load_us"].get<double>(),
              j["half_load_commands_per_s"].get<double>());
  std::printf("  %llu commands failed\n", j["commands_failed"].get<unsigned long long>());
}

}  // namespace giftledger::cli

// Request/reply benchmark of a running `giftledger start` through the C++
// client: p50/p99 of 1-command batches one at a time, then throughput of
// big batches from several threads. Not a test: prints JSON, asserts nothing.
//   ingress_bench --nats URL --key FILE [--batch 1000] [--batches 200]
//                 [--threads 4] [--lone 2000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "commands/ingress/client.h"
#include "ledger/crypto.h"

namespace {

using Clock = std::chrono::steady_clock;
using giftledger::ingress::Client;
using giftledger::schemas::Command;

Command TopUp(uint64_t user) {
  Command c;
  c.set_tx_id(giftledger::ingress::NewTxId());
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(1);
  c.mutable_top_up()->set_payment_ref("bench");
  return c;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  giftledger::CryptoInit();
  giftledger::ingress::ClientOptions o;
  size_t batch = 1000, batches = 200, threads = 4, lone = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "--nats")
      o.nats_url = v;
    else if (f == "--key")
      o.key_file = v;
    else if (f == "--batch")
      batch = std::stoul(v);
    else if (f == "--batches")
      batches = std::stoul(v);
    else if (f == "--threads")
      threads = std::stoul(v);
    else if (f == "--lone")
      lone = std::stoul(v);
  }
  auto client = Client::Connect(o);
  if (!client.ok()) {
    std::fprintf(stderr, "connect: %s\n", client.status().ToString().c_str());
    return 3;
  }
  Client& c = *client.value();
  // Users of shard 0 only: every request goes to one shard's engine.
  std::vector<uint64_t> users;
  for (uint64_t u = 1; users.size() < 1024; ++u) {
    if (c.ShardOf(TopUp(u)) == 0) users.push_back(u);
  }

  std::vector<double> lone_us;
  uint64_t failures = 0;
  for (size_t i = 0; i < lone; ++i) {
    Command cmd = TopUp(users[i % users.size()]);
    const auto t0 = Clock::now();
    auto out = c.Submit(0, {cmd});
    lone_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    failures += !out.ok() || out.results[0].code() != giftledger::schemas::OK;
  }

  std::vector<std::vector<Command>> work(batches);
  for (size_t b = 0; b < batches; ++b) {
    for (size_t k = 0; k < batch; ++k)
      work[b].push_back(TopUp(users[(b * batch + k) % users.size()]));
  }
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> batch_failures{0};
  std::vector<double> batch_us(batches);
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t b; (b = next.fetch_add(1)) < batches;) {
        const auto s = Clock::now();
        auto out = c.Submit(0, work[b]);
        batch_us[b] = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
        bool ok = out.ok();
        for (const auto& r : out.results) ok &= r.code() == giftledger::schemas::OK;
        batch_failures += !ok;
      }
    });
  }
  for (auto& t : pool) t.join();
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();

  nlohmann::json j;
  j["lone_requests"] = lone;
  j["lone_p50_us"] = Percentile(lone_us, 0.50);
  j["lone_p99_us"] = Percentile(lone_us, 0.99);
  j["lone_failures"] = failures;
  j["batch_commands"] = batch;
  j["batches"] = batches;
  j["threads"] = threads;
  j["commands_per_s"] = double(batch * batches) / sec;
  j["batch_p50_us"] = Percentile(batch_us, 0.50);
  j["batch_p99_us"] = Percentile(batch_us, 0.99);
  j["batch_failures"] = batch_failures.load();
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

#include "commands/engine_bench.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "commands/apply.h"
#include "commands/decide.h"
#include "commands/engine.h"
#include "commands/routing.h"
#include "ledger/coding.h"
#include "ledger/file.h"
#include "ledger/manifest.h"

namespace giftledger::commands {
namespace {

using Clock = std::chrono::steady_clock;
using schemas::Command;

constexpr uint32_t kBenchGift = 1;
constexpr int64_t kBenchPrice = 10;

std::string BenchTx(uint64_t n, uint64_t salt) {
  uint8_t b[kTxIdBytes];
  PutU64(b, n);
  PutU64(b + 8, 0x6265'6e63'6874'7821ull ^ (salt * 0x9e37'79b9'7f4a'7c15ull));
  return std::string(reinterpret_cast<const char*>(b), sizeof(b));
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

// One producer's share of the mix (its users, in mix order) as gateway batches.
std::vector<std::vector<Command>> ProducerBatches(const std::vector<Command>& mix, uint32_t p,
                                                  const EngineBenchOptions& o) {
  std::vector<std::vector<Command>> batches(1);
  for (const Command& c : mix) {
    if (EngineBenchUser(c) % o.producers != p) continue;
    if (batches.back().size() == o.batch_commands) batches.emplace_back();
    batches.back().push_back(c);
  }
  if (batches.back().empty()) batches.pop_back();
  return batches;
}

struct ProducerTotals {
  std::mutex mu;
  std::vector<double> latencies_us;
  uint64_t rejected = 0;
};

// Submits the batches, keeping at most batches_in_flight_max awaiting
// durability; returns once all are answered.
void Produce(ShardEngine& e, const std::vector<std::vector<Command>>& batches,
             const EngineBenchOptions& o, ProducerTotals* totals) {
  std::mutex mu;
  std::condition_variable cv;
  uint32_t in_flight = 0;
  for (const auto& batch : batches) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < o.batches_in_flight_max; });
      ++in_flight;
    }
    const auto start = Clock::now();
    e.Submit(batch, kRolesAllGateway, [&, start](std::vector<schemas::CommandResult> rs) {
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      uint64_t bad = 0;
      for (const auto& r : rs) bad += r.code() != schemas::OK;
      {
        std::lock_guard<std::mutex> lock(totals->mu);
        totals->latencies_us.push_back(us);
        totals->rejected += bad;
      }
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
}

Result<std::unique_ptr<ShardEngine>> OpenBenchEngine(const std::string& dir,
                                                     size_t idempotency_memory_entries_max,
                                                     size_t closed_orders_memory_max,
                                                     bool state_root,
                                                     uint64_t checkpoint_every_blocks) {
  if (!PathExists(ManifestPath(dir))) {
    auto m = FormatLedger(dir, 1, kSegmentBytesDefault);
    if (!m.ok()) return m.status();
  }
  auto manifest = LoadManifest(dir);
  if (!manifest.ok()) return manifest.status();
  if (manifest->shard_count != 1) return FailedPrecondition("bench engine needs a 1-shard ledger");
  auto key = LoadShardSigningKey(dir, manifest.value(), ShardId{0});
  if (!key.ok()) return key.status();
  EngineOptions eo;
  eo.writer.segment_bytes = manifest->segment_bytes;
  eo.idempotency_memory_entries_max = idempotency_memory_entries_max;
  eo.closed_orders_memory_max = closed_orders_memory_max;
  eo.state_root = state_root;
  if (checkpoint_every_blocks > 0) eo.writer.checkpoints.every_blocks = checkpoint_every_blocks;
  return ShardEngine::Open(ShardDir(dir, ShardId{0}), ShardConfig{ShardId{0}, 1, 0}, key.value(),
                           eo);
}

}  // namespace

Command EngineBenchCatalog(uint64_t salt) {
  Command c;
  c.set_tx_id(BenchTx(0, salt));
  auto* p = c.mutable_set_catalog();
  p->set_gift(kBenchGift);
  p->set_name("rose");
  p->set_price(kBenchPrice);
  p->set_active(true);
  p->set_host_share_bps(5000);
  return c;
}

uint64_t EngineBenchUser(const Command& c) {
  auto user = RoutingUser(c);
  return user ? user->value : 0;
}

double DecideApplyPerS(const std::vector<Command>& mix) {
  ShardState s(ShardConfig{ShardId{0}, 1, 0});
  // As ShardEngine::Open does for its memory tier (the default budget).
  s.idempotency.Reserve(kIdempotencyMemoryEntriesMax + kIdempotencyMemoryEntriesMax / 2 + 1);
  uint64_t seq = 1;
  int64_t now = 1'700'000'000'000'000;
  Decision d;  // reused, as the engine does
  auto run = [&](const Command& c) {
    Decide(s, c, DecideContext{++now, kRolesAllGateway}, &d);
    for (const auto& e : d.events) Apply(s, e, seq++);
  };
  run(EngineBenchCatalog());
  const auto t0 = Clock::now();
  for (const Command& c : mix) run(c);
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  return double(mix.size()) / sec;
}

std::vector<Command> EngineBenchMix(uint64_t commands, uint32_t users, uint64_t salt) {
  std::vector<Command> out;
  out.reserve(commands);
  uint64_t tx = 1;
  std::vector<uint8_t> funded(users, 0);
  for (uint64_t i = 0; out.size() < commands; ++i) {
    const uint64_t user = 1 + (i % users);
    if (!funded[user - 1]) {
      funded[user - 1] = 1;
      Command c;
      c.set_tx_id(BenchTx(tx++, salt));
      c.mutable_top_up()->set_user(user);
      c.mutable_top_up()->set_amount(1'000'000'000);
      c.mutable_top_up()->set_payment_ref("bench");
      out.push_back(std::move(c));
      continue;
    }
    const std::string order = BenchTx(tx++, salt);
    Command place;
    place.set_tx_id(order);
    auto* p = place.mutable_place_order();
    p->set_payer(user);
    p->set_host(1'000'000'000 + user % 1000);
    p->set_room(1 + user % 5000);
    p->set_gift(kBenchGift);
    p->set_count(1 + uint32_t(i % 3));
    p->set_ttl_us(60'000'000);
    out.push_back(std::move(place));
    Command second;
    second.set_tx_id(BenchTx(tx++, salt));
    if (i % 16 == 0) {
      second.mutable_cancel_order()->set_payer(user);
      second.mutable_cancel_order()->set_order_id(order);
    } else {
      second.mutable_consume_order()->set_payer(user);
      second.mutable_consume_order()->set_order_id(order);
    }
    out.push_back(std::move(second));
  }
  out.resize(commands);
  return out;
}

Result<EngineBenchResult> RunEngineBench(const EngineBenchOptions& o) {
  if (o.batch_commands == 0 || o.batches_in_flight_max == 0 || o.users == 0 || o.producers == 0 ||
      o.commands == 0) {
    return InvalidArgument("commands, batch, in-flight, producers and users must be positive");
  }
  auto engine =
      OpenBenchEngine(o.data_dir, o.idempotency_memory_entries_max, o.closed_orders_memory_max,
                      o.state_root, o.checkpoint_every_blocks);
  if (!engine.ok()) return engine.status();
  ShardEngine& e = *engine.value();
  // The log's end names this run: a re-run on the same ledger uses new tx ids.
  const uint64_t salt = e.next_seq();
  auto cat = e.SubmitAndWait({EngineBenchCatalog(salt)});
  if (cat[0].code() != schemas::OK) return Internal("catalog: " + cat[0].message());

  const std::vector<Command> mix = EngineBenchMix(o.commands, o.users, salt);
  std::vector<std::vector<std::vector<Command>>> per_producer;
  for (uint32_t p = 0; p < o.producers; ++p) per_producer.push_back(ProducerBatches(mix, p, o));

  ProducerTotals totals;
  const WriterStats before = e.writer_stats();
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < o.producers; ++p) {
    threads.emplace_back([&, p] { Produce(e, per_producer[p], o, &totals); });
  }
  for (auto& t : threads) t.join();
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  const WriterStats after = e.writer_stats();
  EngineBenchResult r;
  r.idempotency_disk_entries = e.idempotency_disk_entries();
  r.idempotency_runs = e.idempotency_runs();
  r.closed_orders_memory = e.closed_orders_memory();
  r.order_disk_records = e.order_disk_records();
  r.order_runs = e.order_runs();
  GL_RETURN_IF_ERROR(e.Close());

  r.commands = mix.size();
  r.seconds = sec;
  r.commands_per_s = double(mix.size()) / sec;
  r.commit_p50_us = Percentile(totals.latencies_us, 0.50);
  r.commit_p99_us = Percentile(totals.latencies_us, 0.99);
  r.rejected = totals.rejected;
  r.events = after.events - before.events;
  r.fsyncs = after.fsyncs - before.fsyncs;
  r.blocks = after.blocks - before.blocks;
  r.decide_apply_per_s = DecideApplyPerS(mix);
  return r;
}

}  // namespace giftledger::commands

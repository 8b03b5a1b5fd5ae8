#include "commands/engine_bench.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "commands/apply.h"
#include "commands/decide.h"
#include "commands/engine.h"
#include "ledger/coding.h"
#include "ledger/file.h"
#include "ledger/manifest.h"

namespace giftledger::commands {
namespace {

using Clock = std::chrono::steady_clock;
using schemas::Command;

constexpr uint32_t kBenchGift = 1;
constexpr int64_t kBenchPrice = 10;

std::string BenchTx(uint64_t n) {
  uint8_t b[kTxIdBytes];
  PutU64(b, n);
  PutU64(b + 8, 0x6265'6e63'6874'7821ull);
  return std::string(reinterpret_cast<const char*>(b), sizeof(b));
}

Command Catalog() {
  Command c;
  c.set_tx_id(BenchTx(0));
  auto* p = c.mutable_set_catalog();
  p->set_gift(kBenchGift);
  p->set_name("rose");
  p->set_price(kBenchPrice);
  p->set_active(true);
  p->set_host_share_bps(5000);
  return c;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

// Decide + apply of the mix on one core, without the log.
double DecideApplyPerS(const std::vector<Command>& mix) {
  ShardState s(ShardConfig{ShardId{0}, 1, 0});
  uint64_t seq = 1;
  int64_t now = 1'700'000'000'000'000;
  auto run = [&](const Command& c) {
    Decision d = Decide(s, c, DecideContext{++now, kRolesAllGateway});
    for (const auto& e : d.events) Apply(s, e, seq++);
  };
  run(Catalog());
  const auto t0 = Clock::now();
  for (const Command& c : mix) run(c);
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  return double(mix.size()) / sec;
}

}  // namespace

std::vector<Command> EngineBenchMix(uint64_t commands, uint32_t users) {
  std::vector<Command> out;
  out.reserve(commands);
  uint64_t tx = 1;
  std::vector<uint8_t> funded(users, 0);
  for (uint64_t i = 0; out.size() < commands; ++i) {
    const uint64_t user = 1 + (i % users);
    if (!funded[user - 1]) {
      funded[user - 1] = 1;
      Command c;
      c.set_tx_id(BenchTx(tx++));
      c.mutable_top_up()->set_user(user);
      c.mutable_top_up()->set_amount(1'000'000'000);
      c.mutable_top_up()->set_payment_ref("bench");
      out.push_back(std::move(c));
      continue;
    }
    const std::string order = BenchTx(tx++);
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
    second.set_tx_id(BenchTx(tx++));
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
  if (o.batch_commands == 0 || o.batches_in_flight_max == 0 || o.users == 0) {
    return InvalidArgument("batch, in-flight and users must be positive");
  }
  if (!PathExists(ManifestPath(o.data_dir))) {
    auto m = FormatLedger(o.data_dir, 1, kSegmentBytesDefault);
    if (!m.ok()) return m.status();
  }
  auto manifest = LoadManifest(o.data_dir);
  if (!manifest.ok()) return manifest.status();
  if (manifest->shard_count != 1) return FailedPrecondition("bench engine needs a 1-shard ledger");
  auto key = SigningKey::Load(SigningKeyPath(o.data_dir, ShardId{0}));
  if (!key.ok()) return key.status();
  EngineOptions eo;
  eo.writer.segment_bytes = manifest->segment_bytes;
  auto engine = ShardEngine::Open(ShardDir(o.data_dir, ShardId{0}), ShardConfig{ShardId{0}, 1, 0},
                                  key.value(), eo);
  if (!engine.ok()) return engine.status();
  ShardEngine& e = *engine.value();
  e.SubmitAndWait({Catalog()});  // a re-run answers it as a duplicate

  const std::vector<Command> mix = EngineBenchMix(o.commands, o.users);
  std::vector<std::vector<Command>> batches;
  for (size_t i = 0; i < mix.size(); i += o.batch_commands) {
    batches.emplace_back(mix.begin() + i, mix.begin() + std::min(mix.size(), i + o.batch_commands));
  }

  std::mutex mu;
  std::condition_variable cv;
  uint32_t in_flight = 0;
  uint64_t rejected = 0;
  std::vector<double> latencies_us;
  const auto t0 = Clock::now();
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
      std::lock_guard<std::mutex> lock(mu);
      latencies_us.push_back(us);
      rejected += bad;
      --in_flight;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  GL_RETURN_IF_ERROR(e.Close());

  EngineBenchResult r;
  r.commands = mix.size();
  r.commands_per_s = double(mix.size()) / sec;
  r.commit_p50_us = Percentile(latencies_us, 0.50);
  r.commit_p99_us = Percentile(latencies_us, 0.99);
  r.rejected = rejected;
  r.decide_apply_per_s = DecideApplyPerS(mix);
  return r;
}

}  // namespace giftledger::commands

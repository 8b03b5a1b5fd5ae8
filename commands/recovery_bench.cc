#include "commands/recovery_bench.h"

#include <malloc.h>

#include <chrono>
#include <future>

#include "commands/apply.h"
#include "commands/decide.h"
#include "commands/engine.h"
#include "commands/engine_bench.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/snapshot.h"

namespace giftledger::commands {
namespace {

using Clock = std::chrono::steady_clock;
using schemas::Command;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Ledger {
  std::string dir;
  std::string shard_dir;
  Manifest manifest;
};

Result<Ledger> OpenLedger(const std::string& dir) {
  if (!PathExists(ManifestPath(dir))) {
    auto m = FormatLedger(dir, 1, kSegmentBytesDefault);
    if (!m.ok()) return m.status();
  }
  auto m = LoadManifest(dir);
  if (!m.ok()) return m.status();
  if (m->shard_count != 1) return FailedPrecondition("bench recovery needs a 1-shard ledger");
  return Ledger{dir, ShardDir(dir, ShardId{0}), m.value()};
}

Result<std::unique_ptr<ShardEngine>> OpenEngine(const Ledger& l, bool snapshots) {
  auto key = LoadShardSigningKey(l.dir, l.manifest, ShardId{0});
  if (!key.ok()) return key.status();
  EngineOptions eo;
  eo.writer.segment_bytes = l.manifest.segment_bytes;
  eo.snapshots = snapshots;
  return ShardEngine::Open(l.shard_dir, ShardConfig{ShardId{0}, 1, 0}, key.value(), eo);
}

// Appends the bench mix until `events` more events are in the log, two
// batches in flight so that deciding overlaps the disk flush.
Status AppendEvents(ShardEngine& e, uint64_t events, const RecoveryBenchOptions& o) {
  const uint64_t target = e.next_seq() + events;
  const uint64_t salt = e.next_seq();
  auto cat = e.SubmitAndWait({EngineBenchCatalog(salt)});
  if (cat[0].code() != schemas::OK) return Internal("catalog: " + cat[0].message());
  // Every command of the mix logs one event (nothing expires: ttl 60 s).
  const std::vector<Command> mix = EngineBenchMix(events, o.users, salt);
  std::vector<std::future<std::vector<schemas::CommandResult>>> in_flight;
  for (size_t i = 0; i < mix.size() && e.next_seq() < target; i += o.batch_commands) {
    std::vector<Command> batch(mix.begin() + i,
                               mix.begin() + std::min(mix.size(), i + o.batch_commands));
    auto p = std::make_shared<std::promise<std::vector<schemas::CommandResult>>>();
    in_flight.push_back(p->get_future());
    e.Submit(batch, kRolesAllGateway,
             [p](std::vector<schemas::CommandResult> r) { p->set_value(std::move(r)); });
    if (in_flight.size() >= 2) {
      for (const auto& r : in_flight.front().get()) {
        if (r.code() != schemas::OK) return Internal("bench command failed: " + r.message());
      }
      in_flight.erase(in_flight.begin());
    }
  }
  for (auto& f : in_flight) {
    for (const auto& r : f.get()) {
      if (r.code() != schemas::OK) return Internal("bench command failed: " + r.message());
    }
  }
  return Status::Ok();
}

}  // namespace

double BytesPerAccount(uint64_t accounts) {
  if (accounts == 0) return 0;
  const std::vector<Command> topups = EngineBenchMix(accounts, uint32_t(accounts), 1);
  const size_t before = mallinfo2().uordblks;
  double per_account = 0;
  {
    ShardState s(ShardConfig{ShardId{0}, 1, 0});
    uint64_t seq = 1;
    for (const Command& c : topups) {
      Decision d = Decide(s, c, DecideContext{1'700'000'000'000'000, kRolesAllGateway});
      GL_ASSERT(d.ok() && d.events.size() == 1);
      Apply(s, d.events[0], seq++);
    }
    GL_ASSERT(s.wallets.size() == accounts);
    per_account = double(mallinfo2().uordblks - before) / double(accounts);
  }
  return per_account;
}

Result<RecoveryBenchResult> RunRecoveryBench(const RecoveryBenchOptions& o) {
  if (o.events == 0 || o.users == 0 || o.batch_commands == 0 || o.tail_events > o.events) {
    return InvalidArgument("events, users and batch must be positive, tail ≤ events");
  }
  auto ledger = OpenLedger(o.data_dir);
  if (!ledger.ok()) return ledger.status();
  RecoveryBenchResult r;
  {
    auto e = OpenEngine(ledger.value(), /*snapshots=*/true);
    if (!e.ok()) return e.status();
    GL_RETURN_IF_ERROR(AppendEvents(*e.value(), o.events - o.tail_events, o));
    GL_RETURN_IF_ERROR(e.value()->WriteSnapshotNow());
    if (o.tail_events > 0) GL_RETURN_IF_ERROR(AppendEvents(*e.value(), o.tail_events, o));
    r.log_events = e.value()->next_seq() - 1;
    GL_RETURN_IF_ERROR(e.value()->Close());
  }
  {
    const auto t0 = Clock::now();
    auto e = OpenEngine(ledger.value(), /*snapshots=*/true);
    if (!e.ok()) return e.status();
    r.ready_ms = Ms(t0, Clock::now());
    r.snapshot_seq = e.value()->snapshot_seq();
    r.tail_events = e.value()->replayed_events();
    r.idempotency_memory_entries = e.value()->idempotency_memory_entries();
    r.idempotency_disk_entries = e.value()->idempotency_disk_entries();
    r.idempotency_runs = e.value()->idempotency_runs();
    r.closed_orders_memory = e.value()->closed_orders_memory();
    r.order_disk_records = e.value()->order_disk_records();
    r.order_runs = e.value()->order_runs();
    GL_RETURN_IF_ERROR(e.value()->Close());
  }
  auto snap = LoadNewestSnapshot(ledger->shard_dir, ShardId{0}, Seq{r.log_events});
  if (snap.ok() && snap->has_value()) r.snapshot_bytes = (*snap)->payload.size();
  {
    const auto t0 = Clock::now();
    auto e = OpenEngine(ledger.value(), /*snapshots=*/false);
    if (!e.ok()) return e.status();
    r.replay_ms = Ms(t0, Clock::now());
    r.replay_events_per_s = double(e.value()->replayed_events()) / (r.replay_ms / 1000);
    GL_RETURN_IF_ERROR(e.value()->Close());
  }
  r.accounts = o.accounts;
  r.bytes_per_account = BytesPerAccount(o.accounts);
  return r;
}

}  // namespace giftledger::commands

#include "commands/engine.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <optional>
#include <thread>
#include <utility>

#include "commands/apply.h"
#include "commands/idempotency_tier.h"
#include "commands/order_tier.h"
#include "commands/snapshot.h"
#include "ledger/coding.h"
#include "ledger/reader.h"

namespace giftledger::commands {

using schemas::Command;
using schemas::CommandResult;
using schemas::Event;

namespace {

int64_t WallClockUs() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The sweep's tx id: never entered in the idempotency index, only carried by
// its events. Ledger time LE, shard LE, "EXPR".
std::string ExpiryTxId(ShardId shard, int64_t now) {
  uint8_t b[kTxIdBytes];
  PutU64(b, uint64_t(now));
  PutU32(b + 8, shard.value);
  std::memcpy(b + 12, "EXPR", 4);
  return std::string(reinterpret_cast<const char*>(b), sizeof(b));
}

CommandResult MakeResult(schemas::ResultCode code, const std::string& message, uint64_t seq) {
  CommandResult r;
  r.set_code(code);
  r.set_message(message);
  r.set_seq(seq);
  return r;
}

}  // namespace

Result<std::unique_ptr<ShardEngine>> ShardEngine::Open(const std::string& shard_dir,
                                                       ShardConfig config, SigningKey key,
                                                       EngineOptions options) {
  if (!options.clock_us) options.clock_us = WallClockUs;
  // One clock for decisions and block stamps, so a block's ledger time is
  // never before the decisions it carries (the writer seals after deciding).
  if (!options.writer.clock_us) options.writer.clock_us = options.clock_us;
  const PublicKey public_key = key.public_key();
  std::shared_ptr<StateRootTracker> tracker;
  if (options.state_root && options.writer.checkpoints.enabled &&
      !options.writer.checkpoints.state_root) {
    tracker = std::make_shared<StateRootTracker>();
    options.writer.checkpoints.state_root = [tracker](Seq seq) {
      return tracker->RootAt(seq.value);
    };
  }
  std::unique_ptr<ShardEngine> e(new ShardEngine(shard_dir, config, options));
  e->state_tree_ = tracker;
  e->public_key_ = public_key;
  auto w = Writer::Open(shard_dir, config.shard, std::move(key), options.writer);
  if (!w.ok()) return w.status();
  e->writer_ = std::move(w.value());
  const uint64_t log_last_seq = e->writer_->durable_next_seq().value - 1;
  GL_RETURN_IF_ERROR(e->Replay(public_key, log_last_seq));
  e->next_seq_ = e->writer_->durable_next_seq().value;
  e->durable_next_seq_ = e->next_seq_;
  GL_ASSERT(e->state_.last_seq + 1 == e->next_seq_);
  e->last_time_us_ = e->state_.last_ledger_time_us;
  if (e->state_tree_) e->state_tree_->Reset(e->state_);
  return e;
}

// An eviction's runs, written on their own thread (EngineOptions::evict_in_background).
struct ShardEngine::Eviction {
  std::optional<IdempotencyEviction> idempotency;
  std::optional<OrderEviction> orders;
  Status status;                  // written by the thread before `done`
  std::atomic<bool> done{false};  // the runs are written (or failed)
  std::thread thread;

  void Write() {
    if (idempotency) status = idempotency->Write();
    if (status.ok() && orders) status = orders->Write();
    done.store(true, std::memory_order_release);
  }
};

// The run merges of both indexes, written on their own thread apart from
// evictions: the largest merges of a long run take seconds (millions of
// ids), and when evictions waited behind them memory reached its hard max and
// the soak's shards stalled for 25 s.
struct ShardEngine::Merge {
  std::optional<RunMerge<IdempotencyCodec>> idempotency;
  std::optional<RunMerge<OrderCodec>> orders;
  // Written by the thread before `done`.
  Status idempotency_status, orders_status;
  double idempotency_s = 0, orders_s = 0;
  std::atomic<bool> done{false};
  std::thread thread;

  void Write() {
    if (idempotency) idempotency_status = Timed(*idempotency, &idempotency_s);
    if (orders) orders_status = Timed(*orders, &orders_s);
    done.store(true, std::memory_order_release);
  }

  template <typename Codec>
  static Status Timed(RunMerge<Codec>& m, double* seconds) {
    const auto start = std::chrono::steady_clock::now();
    Status st = m.Write();
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return st;
  }
};

namespace {

// Background work, like a compaction: ten nice levels below the engine, so
// on a busy machine it waits for the engine's threads, not the reverse.
std::thread StartBackground(std::function<void()> work) {
  return std::thread([work = std::move(work)] {
    const auto tid = id_t(::syscall(SYS_gettid));
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0) (void)::setpriority(PRIO_PROCESS, tid, std::min(nice + 10, 19));
    // Hand the heap's free pages back to the system (the previous eviction's
    // records were freed when it finished), off the engine's thread.
    (void)::malloc_trim(0);
    work();
  });
}

// Installs one index's finished merge into *disk, the replaced index and
// the merge's sources going to *retired; or, when the merge failed, logs it
// and sets the covered seq its next try waits for (a new run).
template <typename Codec>
void InstallMerge(uint32_t shard, RunMerge<Codec>& m, const Status& status, double seconds,
                  std::shared_ptr<const RunIndex<Codec>>* disk, uint64_t* retry_seq,
                  std::vector<std::shared_ptr<const void>>* retired) {
  if (!status.ok()) {
    spdlog::warn("shard {}: {} run merge failed, runs kept unmerged: {}", shard, Codec::kWhat,
                 status.ToString());
    *retry_seq = (*disk)->covered_seq() + 1;
    return;
  }
  spdlog::info("shard {}: merged {} {} runs into one of {} records in {:.1f} s", shard,
               m.sources.size(), Codec::kWhat, m.merged->count(), seconds);
  std::shared_ptr<const RunIndex<Codec>> next = (*disk)->WithMerged(m);
  retired->push_back(std::move(*disk));
  retired->insert(retired->end(), m.sources.begin(), m.sources.end());
  *disk = std::move(next);
}

}  // namespace

ShardEngine::ShardEngine(std::string shard_dir, ShardConfig config, EngineOptions options)
    : shard_dir_(std::move(shard_dir)), state_(config), options_(options) {}

ShardEngine::~ShardEngine() { (void)Close(); }

// Newest usable snapshot (if any), then the log from the seq after it.
Status ShardEngine::Replay(const PublicKey& key, uint64_t log_last_seq) {
  auto index = IdempotencyIndex::Open(IdempotencyDir(shard_dir_), options_.idempotency);
  if (!index.ok()) return index.status();
  const uint64_t covered = index.value()->covered_seq();
  // Runs hold only durable entries (EvictIdempotency's seq_limit), and
  // recovery never cuts what was durable: a run past the log is damage.
  if (covered > log_last_seq) {
    return DataLoss(index.value()->dir() + ": idempotency runs reach seq " +
                    std::to_string(covered) + ", past the end of the log " +
                    std::to_string(log_last_seq));
  }
  auto orders = OrderIndex::Open(OrderDir(shard_dir_), options_.order_index);
  if (!orders.ok()) return orders.status();
  const uint64_t orders_covered = orders.value()->covered_seq();
  if (orders_covered > log_last_seq) {
    return DataLoss(orders.value()->dir() + ": order runs reach seq " +
                    std::to_string(orders_covered) + ", past the end of the log " +
                    std::to_string(log_last_seq));
  }
  if (options_.snapshots) {
    auto snap =
        LoadNewestStateSnapshot(shard_dir_, state_.config, log_last_seq, covered, orders_covered);
    if (snap) {
      state_ = std::move(*snap);
      snapshot_seq_ = state_.last_seq;
    }
  }
  GL_RETURN_IF_ERROR(AttachIdempotencyIndex(state_, std::move(index.value())));
  GL_RETURN_IF_ERROR(AttachOrderIndex(state_, std::move(orders.value())));
  // The memory tier never holds much more than its budget, and a hash table
  // never gives buckets back: size them once, so that no rehash of millions
  // of entries stalls a batch (or the replay) later.
  // (3/2 of the budget: a background eviction lets memory run past it.)
  // The idempotency ring also keeps evicted entries' slots until erased
  // (in slices): a quarter more room, so an insert rarely has to erase one.
  // (At 2^21 that is 3.9M slots: the table stays at 2^23 entries, half full.)
  state_.idempotency.Reserve(IdempotencyMemoryHardMax() + IdempotencyMemoryHardMax() / 4 + 1);
  state_.orders.reserve(ClosedOrdersMemoryHardMax() + 1);
  const Seq from{state_.last_seq + 1};
  // Nothing after the snapshot (or an empty log): LogReader::ReadFrom must
  // not be asked for a seq past the end (it indexes into an empty index).
  if (from.value <= log_last_seq) GL_RETURN_IF_ERROR(ReplayLog(key, from));
  spdlog::info("shard {}: snapshot seq {}, replayed {} events, state ready at seq {}",
               state_.config.shard.value, snapshot_seq_, replayed_events_, state_.last_seq);
  return Status::Ok();
}

Status ShardEngine::ReplayLog(const PublicKey& key, Seq from) {
  auto reader = LogReader::Open(shard_dir_, state_.config.shard, key);
  if (!reader.ok()) return reader.status();
  Status parse_error;
  Status st = reader.value()->ReadEvents(from, [&](Seq seq, std::string_view bytes) {
    Event e;
    if (!e.ParseFromArray(bytes.data(), int(bytes.size()))) {
      parse_error = DataLoss("event at seq " + std::to_string(seq.value) + " does not parse");
      return false;
    }
    Apply(state_, e, seq.value);
    ++replayed_events_;
    // Everything replayed is durable: evict up to it, so a replay from zero
    // stays within the memory budget (and rebuilds missing runs).
    if (state_.idempotency.size() > options_.idempotency_memory_entries_max) {
      Status ev = EvictIdempotency(state_, options_.idempotency_memory_entries_max, seq.value);
      if (!ev.ok()) {
        parse_error = ev;
        return false;
      }
    }
    if (state_.closed_orders_in_memory() > options_.closed_orders_memory_max) {
      Status ev = EvictClosedOrders(state_, options_.closed_orders_memory_max, seq.value);
      if (!ev.ok()) {
        parse_error = ev;
        return false;
      }
    }
    return true;
  });
  GL_RETURN_IF_ERROR(st);
  return parse_error;
}

int64_t ShardEngine::NextLedgerTime() {
  last_time_us_ = std::max(last_time_us_, options_.clock_us());
  return last_time_us_;
}

uint64_t ShardEngine::AppendAndApply(const google::protobuf::RepeatedPtrField<Event>& events) {
  const size_t n = size_t(events.size());
  if (scratch_.size() < n) scratch_.resize(n);
  size_t framed_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    scratch_[i].clear();  // keeps its capacity: no allocation per event
    GL_ASSERT(events[i].SerializeToString(&scratch_[i]));
    framed_bytes += kEventFrameBytes + scratch_[i].size();
  }
  // Events are bounded by limits.h; a command that fits no block is a bug.
  GL_ASSERT(n <= kBlockEventsMax && framed_bytes <= kBlockBodyBytesMax);
  if (chunk_.count() + n > kBlockEventsMax ||
      chunk_.body_bytes() + framed_bytes > kBlockBodyBytesMax) {
    FlushChunk();
  }
  if (chunk_.empty()) chunk_first_seq_ = next_seq_;
  for (size_t i = 0; i < n; ++i) GL_ASSERT(chunk_.Add(scratch_[i]).ok());
  const uint64_t first = next_seq_;
  next_seq_ += n;
  for (size_t i = 0; i < n; ++i) Apply(state_, events[int(i)], first + i);
  if (state_tree_) {
    for (size_t i = 0; i < n; ++i) state_tree_->Touch(events[int(i)]);
  }
  return first;
}

void ShardEngine::FlushChunk() {
  if (chunk_.empty()) return;
  const uint64_t first = chunk_first_seq_;
  const uint64_t next = next_seq_;
  GL_ASSERT(first + chunk_.count() == next);
  // Queued before the writer can make the batch durable and checkpoint it.
  if (state_tree_) state_tree_->EndBatch(state_, next - 1, durable_next_seq() - 1);
  writer_->Append(std::exchange(chunk_, EventBatch()),
                  [this, first, next](const AppendOutcome& out) { OnDurable(out, first, next); });
}

void ShardEngine::SweepExpired(int64_t now) {
  if (state_.expiry.empty() || state_.expiry.begin()->first > now) return;
  Command cmd;
  cmd.set_tx_id(ExpiryTxId(state_.config.shard, now));
  cmd.mutable_expire_orders();
  Decide(state_, cmd, DecideContext{now, kRoleSystem}, &decision_);
  GL_ASSERT(decision_.ok());
  if (!decision_.events.empty()) AppendAndApply(decision_.events);
}

size_t ShardEngine::IdempotencyMemoryHardMax() const {
  const size_t budget =
      std::min(options_.idempotency_memory_entries_max, kIdempotencyMemoryEntriesMax);
  return budget + budget / 2;
}

size_t ShardEngine::ClosedOrdersMemoryHardMax() const {
  const size_t budget = std::min(options_.closed_orders_memory_max, kClosedOrdersMemoryMax);
  return budget + budget / 2;
}

void ShardEngine::FailEngine(const std::string& why) {
  spdlog::error("shard {}: {}, engine stops", state_.config.shard.value, why);
  std::lock_guard<std::mutex> dl(durable_mu_);
  if (failed_.ok()) failed_ = Unavailable(why);
}

void ShardEngine::FinishEviction() {
  GL_ASSERT(eviction_ != nullptr);
  if (eviction_->thread.joinable()) eviction_->thread.join();
  std::unique_ptr<Eviction> e = std::move(eviction_);
  if (!e->status.ok()) {
    // Nothing was dropped from memory; a run written before the failure is
    // attached (or removed as contained) by the next open.
    FailEngine("eviction failed: " + e->status.message());
    return;
  }
  // An index a merge replaced since the prepare lives on in the eviction.
  std::vector<std::shared_ptr<const void>> retired;
  if (e->idempotency && e->idempotency->base != state_.idempotency_disk) {
    retired.push_back(e->idempotency->base);
  }
  if (e->orders && e->orders->base != state_.order_disk) retired.push_back(e->orders->base);
  if (e->idempotency) FinishIdempotencyEviction(state_, std::move(*e->idempotency));
  if (e->orders) FinishOrderEviction(state_, std::move(*e->orders));
  e.reset();
  Retire(std::move(retired));
}

void ShardEngine::MaybeEvict() {
  EraseIdempotencyDropped(state_, kIdempotencyEraseSliceMax);
  if (eviction_ != nullptr) {
    const bool at_hard_max = state_.idempotency.size() >= IdempotencyMemoryHardMax() ||
                             state_.closed_orders_in_memory() >= ClosedOrdersMemoryHardMax();
    // Waiting here is back-pressure: the tables were sized for the hard max.
    if (!eviction_->done.load(std::memory_order_acquire) && !at_hard_max) return;
    FinishEviction();
  }
  const bool over = state_.idempotency.size() > options_.idempotency_memory_entries_max ||
                    state_.closed_orders_in_memory() > options_.closed_orders_memory_max;
  if (!over) return;
  uint64_t durable_last;
  {
    std::lock_guard<std::mutex> dl(durable_mu_);
    if (!failed_.ok()) return;
    durable_last = durable_next_seq_ - 1;
  }
  auto e = std::make_unique<Eviction>();
  e->idempotency =
      PrepareIdempotencyEviction(state_, options_.idempotency_memory_entries_max, durable_last);
  e->orders = PrepareOrderEviction(state_, options_.closed_orders_memory_max, durable_last);
  if (!e->idempotency && !e->orders) return;  // nothing durable to move yet
  eviction_ = std::move(e);
  if (!options_.evict_in_background) {
    eviction_->Write();
    FinishEviction();
    return;
  }
  Eviction* raw = eviction_.get();
  eviction_->thread = StartBackground([raw] { raw->Write(); });
}

void ShardEngine::FinishMerge() {
  GL_ASSERT(merge_ != nullptr);
  if (merge_->thread.joinable()) merge_->thread.join();
  std::unique_ptr<Merge> m = std::move(merge_);
  // A failed merge leaves its runs as they were (a valid index); it is tried
  // again once an eviction has added a run, not before every batch.
  const uint32_t shard = state_.config.shard.value;
  std::vector<std::shared_ptr<const void>> retired;
  if (m->idempotency) {
    InstallMerge(shard, *m->idempotency, m->idempotency_status, m->idempotency_s,
                 &state_.idempotency_disk, &merge_retry_idempotency_seq_, &retired);
  }
  if (m->orders) {
    InstallMerge(shard, *m->orders, m->orders_status, m->orders_s, &state_.order_disk,
                 &merge_retry_orders_seq_, &retired);
  }
  m.reset();
  Retire(std::move(retired));
}

void ShardEngine::Retire(std::vector<std::shared_ptr<const void>> objects) {
  if (objects.empty()) return;
  // The previous drop finished long ago (one per merge); joined, not piled up.
  if (retire_thread_.joinable()) retire_thread_.join();
  if (!options_.evict_in_background) return;  // dropped here, as `objects` goes
  retire_thread_ = StartBackground([objects = std::move(objects)]() mutable { objects.clear(); });
}

void ShardEngine::MaybeMerge() {
  if (merge_ != nullptr) {
    if (!merge_->done.load(std::memory_order_acquire)) return;
    FinishMerge();
  }
  auto m = std::make_unique<Merge>();
  if (state_.idempotency_disk->covered_seq() >= merge_retry_idempotency_seq_) {
    m->idempotency = state_.idempotency_disk->PlanMerge();
  }
  if (state_.order_disk->covered_seq() >= merge_retry_orders_seq_) {
    m->orders = state_.order_disk->PlanMerge();
  }
  if (!m->idempotency && !m->orders) return;
  merge_ = std::move(m);
  if (!options_.evict_in_background) {
    merge_->Write();
    FinishMerge();
    return;
  }
  Merge* raw = merge_.get();
  merge_->thread = StartBackground([raw] { raw->Write(); });
}

void ShardEngine::Submit(const std::vector<Command>& commands, uint32_t roles, BatchCallback done) {
  Waiter w;
  w.done = std::move(done);
  w.results.reserve(commands.size());
  {
    std::lock_guard<std::mutex> lock(submit_mu_);
    // Between batches: no decision of this batch can have looked an id up
    // in memory that moves to disk under it.
    MaybeEvict();
    MaybeMerge();
    bool failed;
    {
      std::lock_guard<std::mutex> dl(durable_mu_);
      failed = !failed_.ok();
    }
    for (const Command& cmd : commands) {
      if (failed) {
        w.results.push_back(MakeResult(schemas::UNAVAILABLE, "engine failed, restart", 0));
        continue;
      }
      const int64_t now = NextLedgerTime();
      SweepExpired(now);
      Decision& d = decision_;
      Decide(state_, cmd, DecideContext{now, roles}, &d);
      uint64_t seq = d.original_seq;
      if (!d.events.empty()) seq = AppendAndApply(d.events);
      w.results.push_back(MakeResult(d.code, d.message, seq));
    }
    FlushChunk();
    // Everything appended so far, including what this batch's duplicates may
    // refer to, must be durable before the answers go out.
    w.needed_next_seq = next_seq_;
  }
  std::unique_lock<std::mutex> dl(durable_mu_);
  if (waiters_.empty() && durable_next_seq_ >= w.needed_next_seq) {
    dl.unlock();
    w.done(std::move(w.results));
    return;
  }
  if (!failed_.ok()) {
    const std::string why = "not durable: " + failed_.message();
    dl.unlock();
    for (CommandResult& r : w.results) r = MakeResult(schemas::UNAVAILABLE, why, 0);
    w.done(std::move(w.results));
    return;
  }
  waiters_.push_back(std::move(w));
}

void ShardEngine::OnDurable(const AppendOutcome& out, uint64_t expected_first_seq,
                            uint64_t next_seq) {
  std::vector<Waiter> ready;
  std::vector<bool> durable;
  {
    std::lock_guard<std::mutex> lock(durable_mu_);
    if (!out.status.ok()) {
      if (failed_.ok()) {
        spdlog::error("shard {}: append failed, engine stops: {}", state_.config.shard.value,
                      out.status.ToString());
      }
      failed_ = out.status;
    } else {
      GL_ASSERT(out.first_seq.value == expected_first_seq);
      durable_next_seq_ = std::max(durable_next_seq_, next_seq);
    }
    durable_cv_.notify_all();
    while (!waiters_.empty() &&
           (!failed_.ok() || waiters_.front().needed_next_seq <= durable_next_seq_)) {
      durable.push_back(waiters_.front().needed_next_seq <= durable_next_seq_);
      ready.push_back(std::move(waiters_.front()));
      waiters_.pop_front();
    }
  }
  for (size_t i = 0; i < ready.size(); ++i) {
    Waiter& w = ready[i];
    if (!durable[i]) {
      // Decided and applied in memory but not durable: the answer is unknown
      // to the client, who retries with the same tx id after a restart.
      for (CommandResult& r : w.results) {
        r = MakeResult(schemas::UNAVAILABLE, "not durable: " + out.status.message(), 0);
      }
    }
    w.done(std::move(w.results));
  }
}

Status ShardEngine::AppendReplicatedBlock(const std::string& block) {
  std::lock_guard<std::mutex> lock(submit_mu_);
  if (!writer_) return Unavailable("engine closed");
  GL_ASSERT(chunk_.empty());  // a standby decides nothing
  MaybeEvict();               // between two blocks, as between two batches of a leader
  MaybeMerge();
  {
    std::lock_guard<std::mutex> dl(durable_mu_);
    if (!failed_.ok()) return failed_;
  }
  BlockView view;
  std::vector<Hash32> leaves;
  GL_RETURN_IF_ERROR(CheckWholeBlock(block, public_key_, &view, &leaves));
  const BlockHeader h = view.header;
  if (h.first_seq.value != next_seq_) {
    return FailedPrecondition("block starts at seq " + std::to_string(h.first_seq.value) +
                              ", the shard is at " + std::to_string(next_seq_));
  }
  std::vector<Event> events(h.event_count);
  bool parsed = true;
  ForEachEvent(view, [&](Seq seq, std::string_view bytes) {
    parsed = parsed &&
             events[seq.value - h.first_seq.value].ParseFromArray(bytes.data(), int(bytes.size()));
  });
  if (!parsed)
    return DataLoss("block at seq " + std::to_string(h.first_seq.value) +
                    " holds an event that does not parse");
  const Hash32 hash = view.stored_hash;
  const uint64_t first = next_seq_;
  for (size_t i = 0; i < events.size(); ++i) {
    Apply(state_, events[i], first + i);
    if (state_tree_) state_tree_->Touch(events[i]);
  }
  next_seq_ = first + events.size();
  last_time_us_ = std::max(last_time_us_, h.ledger_time_us);
  const uint64_t next = next_seq_;
  if (state_tree_) state_tree_->EndBatch(state_, next - 1, durable_next_seq() - 1);
  writer_->AppendVerifiedBlock(
      block, h, hash, std::move(leaves),
      [this, first, next](const AppendOutcome& out) { OnDurable(out, first, next); });
  return Status::Ok();
}

void ShardEngine::SetLeader(uint64_t epoch, uint32_t node) {
  std::lock_guard<std::mutex> lock(submit_mu_);
  if (writer_) writer_->SetLeader(epoch, node);
}

void ShardEngine::Fence(const Status& why) {
  std::lock_guard<std::mutex> dl(durable_mu_);
  if (failed_.ok()) failed_ = why;
}

std::vector<CommandResult> ShardEngine::SubmitAndWait(const std::vector<Command>& commands,
                                                      uint32_t roles) {
  std::promise<std::vector<CommandResult>> p;
  auto f = p.get_future();
  Submit(commands, roles, [&p](std::vector<CommandResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

Status ShardEngine::WriteSnapshotNow() {
  if (!options_.snapshots) return FailedPrecondition("snapshots are off");
  std::lock_guard<std::mutex> lock(submit_mu_);  // nothing new is decided meanwhile
  {
    // The live state runs ahead of the disk; a snapshot holds durable state only.
    std::unique_lock<std::mutex> dl(durable_mu_);
    durable_cv_.wait(dl, [&] { return !failed_.ok() || durable_next_seq_ >= next_seq_; });
    if (!failed_.ok()) return failed_;
  }
  GL_ASSERT(state_.last_seq + 1 == next_seq_);
  return WriteStateSnapshot(shard_dir_, state_);
}

Status ShardEngine::Close() {
  std::lock_guard<std::mutex> lock(submit_mu_);
  if (eviction_ != nullptr) FinishEviction();
  if (merge_ != nullptr) FinishMerge();
  if (retire_thread_.joinable()) retire_thread_.join();
  if (!writer_) return Status::Ok();
  Status st = writer_->Close();  // completes every waiter
  writer_.reset();
  std::lock_guard<std::mutex> dl(durable_mu_);
  if (failed_.ok()) failed_ = Unavailable("engine closed");
  return st;
}

Hash32 ShardEngine::CurrentStateHash() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return StateHash(state_);
}

uint64_t ShardEngine::next_seq() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return next_seq_;
}

uint64_t ShardEngine::durable_next_seq() const {
  std::lock_guard<std::mutex> lock(durable_mu_);
  return durable_next_seq_;
}

WriterStats ShardEngine::writer_stats() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return writer_ ? writer_->stats() : WriterStats{};
}

size_t ShardEngine::idempotency_memory_entries() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return state_.idempotency.size();
}

size_t ShardEngine::idempotency_disk_entries() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return state_.idempotency_disk ? state_.idempotency_disk->entries() : 0;
}

size_t ShardEngine::idempotency_runs() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return state_.idempotency_disk ? state_.idempotency_disk->runs() : 0;
}

size_t ShardEngine::closed_orders_memory() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return state_.closed_orders_in_memory();
}

size_t ShardEngine::order_disk_records() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return state_.order_disk ? state_.order_disk->entries() : 0;
}

size_t ShardEngine::order_runs() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return state_.order_disk ? state_.order_disk->runs() : 0;
}

StateRootTrackerStats ShardEngine::state_root_stats() const {
  return state_tree_ ? state_tree_->stats() : StateRootTrackerStats{};
}

Status ShardEngine::CheckCurrentInvariants() const {
  std::lock_guard<std::mutex> lock(submit_mu_);
  return CheckInvariants(state_);
}

}  // namespace giftledger::commands

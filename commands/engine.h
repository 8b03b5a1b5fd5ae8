// The shard engine: batches of commands in, each decided against the live
// state (later commands see earlier effects), its events appended as one
// EventBatch through the group-commit Writer and applied, and every command
// answered only after its block is durable. Open replays the shard's log
// from zero to rebuild the state.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "commands/decide.h"
#include "commands/idempotency_index.h"
#include "commands/limits.h"
#include "commands/state.h"
#include "commands/state_root_tracker.h"
#include "ledger/writer.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

struct EngineOptions {
  WriterOptions writer;
  // Clock for decisions (µs since the epoch); ledger time never goes back.
  std::function<int64_t()> clock_us;
  // Load the newest valid snapshot at Open and allow WriteSnapshotNow; they
  // live in <shard_dir>/snapshots (ledger/snapshot.h). false = replay from 0.
  bool snapshots = false;
  // Permanent idempotency: beyond this many entries in memory, the oldest
  // durable ones move to run files in <shard_dir>/idempotency (at the start
  // of a Submit and during replay; docs/commands.md).
  size_t idempotency_memory_entries_max = kIdempotencyMemoryEntriesMax;
  IdempotencyIndexOptions idempotency;
  // Closed orders: beyond this many in memory, the oldest durable ones move
  // to run files in <shard_dir>/orders (same moments; docs/commands.md).
  size_t closed_orders_memory_max = kClosedOrdersMemoryMax;
  RunIndexOptions order_index;
  // Write the runs of an eviction on a background thread while commands keep
  // being decided against memory (the default): a run of a million ids takes
  // seconds to sort, write, fsync and merge, a stall of the whole shard when
  // done between two batches. Memory may then hold up to 3/2 of a budget
  // before a batch waits for the run. false = evict synchronously between
  // batches (tests that count entries right after a batch).
  bool evict_in_background = true;
  // Fill each checkpoint's state root (docs/proofs.md, "The state tree")
  // unless writer.checkpoints already has a hook or checkpoints are off.
  bool state_root = true;
};

using BatchCallback = std::function<void(std::vector<schemas::CommandResult>)>;

class ShardEngine {
 public:
  // Recovers the shard's log (Writer::Open), replays it into a fresh state and
  // starts accepting commands.
  static Result<std::unique_ptr<ShardEngine>> Open(const std::string& shard_dir, ShardConfig config,
                                                   SigningKey key, EngineOptions options);
  ~ShardEngine();
  ShardEngine(const ShardEngine&) = delete;
  ShardEngine& operator=(const ShardEngine&) = delete;

  // Decides, appends and applies each command in order; `done` receives one
  // result per command, in order, once all their events are durable (on the
  // writer's thread; it must not block nor call Submit, or the writer
  // stalls). A failed writer answers UNAVAILABLE and the engine refuses
  // everything after: restart to rebuild from the log. After Close, every
  // command is UNAVAILABLE.
  void Submit(const std::vector<schemas::Command>& commands, uint32_t roles, BatchCallback done);
  std::vector<schemas::CommandResult> SubmitAndWait(const std::vector<schemas::Command>& commands,
                                                    uint32_t roles = kRolesAllGateway);

  // Standby (docs/replication.md): checks a block received from the leader
  // (CheckWholeBlock against the shard key), applies its events to the state
  // and appends its bytes unchanged; returns before it is durable
  // (durable_next_seq tells). FAILED_PRECONDITION when the block does not
  // start at next_seq; DATA_LOSS when it fails a check (nothing changes) or
  // does not continue the chain (the engine then fails: the logs diverged).
  Status AppendReplicatedBlock(const std::string& block);
  // This node leads the shard under lease `epoch` as manifest node `node`:
  // every block sealed from now on names them (Writer::SetLeader).
  void SetLeader(uint64_t epoch, uint32_t node);
  // Refuses every command from now on (UNAVAILABLE with `why`): the shard
  // lost its lease or was deposed. Batches in flight finish as the writer says.
  void Fence(const Status& why);

  // Waits until everything appended is durable, then writes a snapshot of
  // the state (snapshot.h). FAILED_PRECONDITION when snapshots are off.
  Status WriteSnapshotNow();

  // Waits for everything in flight, stops the writer.
  Status Close();

  // Snapshot of the state's hash and a copy-free read under the engine lock.
  Hash32 CurrentStateHash() const;
  Status CheckCurrentInvariants() const;
  // Events applied from the log at Open (the tail after the snapshot).
  uint64_t replayed_events() const { return replayed_events_; }
  uint64_t snapshot_seq() const { return snapshot_seq_; }
  // The seq the next appended event will get.
  uint64_t next_seq() const;
  // The seq after the last durable event: everything below it can be read
  // back from the log (the event publisher and replay service bound their
  // reads by it).
  uint64_t durable_next_seq() const;
  // The writer's counters (zero after Close).
  WriterStats writer_stats() const;
  // Idempotency entries held in memory / in the on-disk runs, and the runs.
  size_t idempotency_memory_entries() const;
  size_t idempotency_disk_entries() const;
  size_t idempotency_runs() const;
  // Closed orders held in memory / records in the on-disk order runs, and the runs.
  size_t closed_orders_memory() const;
  size_t order_disk_records() const;
  size_t order_runs() const;
  // How the last checkpoint's state root was computed (zero when off).
  StateRootTrackerStats state_root_stats() const;

 private:
  struct Waiter {
    uint64_t needed_next_seq = 0;  // durable_next_seq that completes the batch
    std::vector<schemas::CommandResult> results;
    BatchCallback done;
  };

  ShardEngine(std::string shard_dir, ShardConfig config, EngineOptions options);
  Status Replay(const PublicKey& key, uint64_t log_last_seq);
  Status ReplayLog(const PublicKey& key, Seq from);
  int64_t NextLedgerTime();
  // Serializes one command's events into the open chunk (flushing it first
  // when they would not fit in the same block), applies them; returns the
  // first seq.
  uint64_t AppendAndApply(const google::protobuf::RepeatedPtrField<schemas::Event>& events);
  // Hands the open chunk to the writer (no-op when empty).
  void FlushChunk();
  void SweepExpired(int64_t now);
  // Between batches: finishes a background eviction whose runs are written
  // (or waits for it when memory reached 3/2 of a budget), and starts one
  // when a tier is over its budget, up to the last durable seq. A failure
  // fails the engine (fail closed, like a failed append).
  void MaybeEvict();
  void FinishEviction();
  // Between batches, after MaybeEvict: installs a finished background merge
  // and starts the next one the size tiers call for (RunIndex::PlanMerge).
  // Never waits: a merge only saves Bloom probes and files, and evictions
  // append runs meanwhile. A failed merge is logged, not fatal.
  void MaybeMerge();
  void FinishMerge();
  // Drops `objects` (indexes and runs a merge replaced) on a background
  // thread: the munmaps of their files and the closes of the unlinked ones,
  // which free the files' blocks, are not for the engine thread between two
  // batches.
  void Retire(std::vector<std::shared_ptr<const void>> objects);
  void FailEngine(const std::string& why);
  size_t IdempotencyMemoryHardMax() const;
  size_t ClosedOrdersMemoryHardMax() const;
  void OnDurable(const AppendOutcome& outcome, uint64_t expected_first_seq, uint64_t next_seq);

  const std::string shard_dir_;
  PublicKey public_key_{};
  ShardState state_;  // guarded by submit_mu_
  EngineOptions options_;
  std::unique_ptr<Writer> writer_;
  mutable std::mutex submit_mu_;  // one batch decides at a time
  uint64_t next_seq_ = 1;         // seq the next appended event will get
  // Several commands' events, appended as one EventBatch (one writer call,
  // one completion) when full or at the end of a Submit. A command's events
  // never straddle two chunks, so they stay atomic and consecutive.
  EventBatch chunk_;
  uint64_t chunk_first_seq_ = 0;
  std::vector<std::string> scratch_;  // encoded events of one command, reused
  Decision decision_;                 // reused by every Decide (no per-command allocation)
  int64_t last_time_us_ = 0;
  uint64_t replayed_events_ = 0;
  uint64_t snapshot_seq_ = 0;
  // The eviction whose runs are being written, if any (engine.cc).
  struct Eviction;
  std::unique_ptr<Eviction> eviction_;  // guarded by submit_mu_
  // The merge whose run is being written, if any (engine.cc).
  struct Merge;
  std::unique_ptr<Merge> merge_;  // guarded by submit_mu_
  // After a failed merge: the covered seq an index must reach (a new run)
  // before merges of it are planned again.
  uint64_t merge_retry_idempotency_seq_ = 0;  // guarded by submit_mu_
  uint64_t merge_retry_orders_seq_ = 0;       // guarded by submit_mu_
  std::thread retire_thread_;                 // guarded by submit_mu_
  // Null when the engine fills no state roots. Shared with the writer's hook.
  std::shared_ptr<StateRootTracker> state_tree_;

  mutable std::mutex durable_mu_;
  std::condition_variable durable_cv_;
  uint64_t durable_next_seq_ = 1;
  Status failed_;
  std::deque<Waiter> waiters_;
};

}  // namespace giftledger::commands

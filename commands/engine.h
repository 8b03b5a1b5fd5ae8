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
#include <vector>

#include "commands/decide.h"
#include "commands/state.h"
#include "ledger/writer.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

struct EngineOptions {
  WriterOptions writer;
  // Clock for decisions (µs since the epoch); ledger time never goes back.
  std::function<int64_t()> clock_us;
  // Where snapshots of this shard live; empty = no snapshots (replay from 0).
  std::string snapshot_dir;
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

  // Waits until everything appended is durable, then writes a snapshot of
  // the state (snapshot.h). FAILED_PRECONDITION without a snapshot_dir.
  Status WriteSnapshotNow();

  // Waits for everything in flight, stops the writer.
  Status Close();

  // Snapshot of the state's hash and a copy-free read under the engine lock.
  Hash32 CurrentStateHash() const;
  Status CheckCurrentInvariants() const;
  // Events applied from the log at Open (the tail after the snapshot).
  uint64_t replayed_events() const { return replayed_events_; }
  uint64_t snapshot_seq() const { return snapshot_seq_; }

 private:
  struct Waiter {
    uint64_t needed_next_seq = 0;  // durable_next_seq that completes the batch
    std::vector<schemas::CommandResult> results;
    BatchCallback done;
  };

  ShardEngine(ShardConfig config, EngineOptions options) : state_(config), options_(options) {}
  Status Replay(const std::string& shard_dir, const PublicKey& key, uint64_t log_last_seq);
  Status ReplayLog(const std::string& shard_dir, const PublicKey& key, Seq from);
  int64_t NextLedgerTime();
  // Serializes, appends and applies one command's events; returns the first seq.
  uint64_t AppendAndApply(const std::vector<schemas::Event>& events);
  void SweepExpired(int64_t now);
  void OnDurable(const AppendOutcome& outcome, uint64_t expected_first_seq, uint64_t next_seq);

  ShardState state_;  // guarded by submit_mu_
  EngineOptions options_;
  std::unique_ptr<Writer> writer_;
  mutable std::mutex submit_mu_;  // one batch decides at a time
  uint64_t next_seq_ = 1;         // seq the next appended event will get
  int64_t last_time_us_ = 0;
  uint64_t replayed_events_ = 0;
  uint64_t snapshot_seq_ = 0;

  std::mutex durable_mu_;
  std::condition_variable durable_cv_;
  uint64_t durable_next_seq_ = 1;
  Status failed_;
  std::deque<Waiter> waiters_;
};

}  // namespace giftledger::commands

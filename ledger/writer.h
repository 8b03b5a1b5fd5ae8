// The shard writer: group commit of signed blocks. Producers enqueue event
// batches; a sealer thread packs whatever is waiting into one block (hash,
// Merkle root, signature) while a syncer thread writes sealed blocks and
// fdatasyncs once per group. An append completes only after its fdatasync.
// Any write or sync error puts the writer in a failed state for good.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ledger/block.h"
#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/metrics.h"
#include "ledger/recovery.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

struct WriterOptions {
  FileSystem* fs = FileSystem::Default();
  RecoveryMode recovery_mode = RecoveryMode::kTruncateTornTail;
  uint64_t segment_bytes = kSegmentBytesDefault;
  uint32_t signer_epoch = 0;
  // Ledger clock in microseconds since the epoch; tests substitute their own.
  std::function<int64_t()> clock_us;
  // Before sleeping on an empty queue the writer threads yield-spin this long.
  // A sleeping thread costs tens of microseconds to wake on a VM, and a lone
  // append crosses two of them; spinning with sched_yield gives the CPU away
  // whenever anything else is runnable. 0 disables.
  uint32_t idle_spin_us = 250;
  // Optional, owned by the caller (the service's /metrics): fdatasync
  // duration of each group in microseconds, events of each block.
  Histogram* fsync_us = nullptr;
  Histogram* block_events = nullptr;
  // Signed checkpoints of the shard tree (docs/proofs.md), written by the
  // syncer thread after durable blocks.
  CheckpointOptions checkpoints;
  // Replication (docs/replication.md): called on the syncer thread for every
  // block of a group, in log order, after the group's fdatasync and before
  // its appends complete. A failure fails the writer (fail closed), so no
  // append is answered as durable when its block could not be replicated.
  std::function<Status(const std::string& block, const BlockHeader& header)> on_durable_block;
  // When not 0, a block takes no further batch once its body would pass
  // this many bytes (a lone batch may still be bigger): a replicated block
  // is one NATS message, bounded by the server's max_payload.
  size_t block_body_bytes_target = 0;
};

struct AppendOutcome {
  Status status;
  Seq first_seq;  // seq of the batch's first event (the rest follow)
  int64_t ledger_time_us = 0;
};
using AppendCallback = std::function<void(const AppendOutcome&)>;

struct WriterStats {
  uint64_t blocks = 0;
  uint64_t events = 0;
  uint64_t fsyncs = 0;
  uint64_t bytes = 0;
  uint64_t segments_rolled = 0;
  uint64_t fsync_ns_total = 0;
  uint64_t checkpoints = 0;
};

class Writer {
 public:
  // Recovers the shard (see RecoveryMode) and starts the writer threads.
  static Result<std::unique_ptr<Writer>> Open(const std::string& shard_dir, ShardId shard,
                                              SigningKey key, WriterOptions options);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues a batch; `done` runs on the writer's thread once the batch is
  // durable (or failed). Blocks only when kPendingAppendsMax are queued.
  void Append(EventBatch batch, AppendCallback done);
  AppendOutcome AppendAndWait(EventBatch batch);
  // Appends a block sealed and signed elsewhere (a standby copying its
  // leader), byte for byte. The caller has checked it with CheckWholeBlock;
  // the writer checks that it continues this shard's chain (shard, first
  // seq, previous block hash, ledger time) and otherwise completes `done`
  // with DATA_LOSS without writing anything.
  void AppendVerifiedBlock(std::string block, const BlockHeader& header, const Hash32& hash,
                           std::vector<Hash32> leaves, AppendCallback done);

  // Names the leader in every block sealed from now on (header leader_epoch
  // and leader_node; both 0 = no lease). Set when this node takes a shard's
  // lease, before it accepts commands (docs/replication.md).
  void SetLeader(uint64_t epoch, uint32_t node);

  // Completes everything queued, stops the threads, closes the segment.
  // Returns the failure, if the writer failed.
  Status Close();

  Seq durable_next_seq() const { return Seq{durable_next_seq_.load()}; }
  // Status::Ok() while healthy; the first write/sync error once failed.
  Status health() const;
  WriterStats stats() const;
  const ShardScan& recovered() const { return recovered_; }

 private:
  struct Request {
    EventBatch batch;
    AppendCallback done;
    Seq first_seq;
    // A block sealed elsewhere (AppendVerifiedBlock), when not empty.
    std::string block;
    BlockHeader block_header;
    Hash32 block_hash{};
    std::vector<Hash32> block_leaves;
  };
  struct Sealed {
    std::string bytes;
    BlockHeader header;
    Hash32 hash{};
    std::vector<Hash32> leaves;  // for the checkpointer (empty when off)
    std::vector<Request> requests;
  };

  Writer(std::string shard_dir, ShardId shard, SigningKey key, WriterOptions options);
  Status OpenTail();
  void SpinWhileEmpty(const std::atomic<size_t>& count) const;
  void SealerLoop();
  void SyncerLoop();
  Sealed SealBlock(std::vector<Request> requests);
  // A verified block from elsewhere; DATA_LOSS when it does not continue the chain.
  Status AdoptBlock(Request request, Sealed* out);
  void Enqueue(Request request);
  Status WriteGroup(std::vector<Sealed>& group);
  Status RollSegment(Seq next_first_seq);
  // Writes a checkpoint when one is due (or `force` and anything is new).
  void MaybeCheckpoint(bool force);
  void Fail(const Status& st);
  static void Complete(std::vector<Request>& reqs, const Status& st, int64_t time_us);

  const std::string shard_dir_;
  const ShardId shard_;
  const SigningKey key_;
  const WriterOptions options_;
  ShardScan recovered_;

  // Sealer state (sealer thread only after Open).
  Seq next_seq_;
  Hash32 last_hash_{};
  int64_t last_time_us_ = 0;
  BlockEncoder encoder_;

  // Syncer state (syncer thread only after Open).
  std::unique_ptr<WritableFile> segment_;
  std::string segment_path_;
  uint64_t segment_offset_ = 0;
  std::unique_ptr<Checkpointer> checkpointer_;  // null when checkpoints are off

  mutable std::mutex mu_;
  std::condition_variable pending_cv_;  // sealer waits for requests
  std::condition_variable space_cv_;    // producers/sealer wait for room
  std::condition_variable sealed_cv_;   // syncer waits for sealed blocks
  std::deque<Request> pending_;
  std::deque<Sealed> sealed_;
  // Mirrors of the queue sizes, read without the lock while spinning.
  std::atomic<size_t> pending_count_{0};
  std::atomic<size_t> sealed_count_{0};
  bool closing_ = false;
  bool sealer_done_ = false;
  Status failed_;
  WriterStats stats_;

  std::atomic<uint64_t> durable_next_seq_{1};
  // The pair changes together: a block naming an epoch without its node
  // would not parse.
  mutable std::mutex leader_mu_;
  uint64_t leader_epoch_ = 0;
  uint32_t leader_node_ = 0;
  std::thread sealer_;
  std::thread syncer_;
  bool closed_ = false;
  int lock_fd_ = -1;  // flock on <shard>/LOCK: one writer per shard
};

}  // namespace giftledger

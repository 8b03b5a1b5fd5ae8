// The restart benchmark behind `giftledger bench recovery` (issue 4): builds
// a real log of N events through the shard engine, snapshots it before a
// tail, then times a restart (newest snapshot + tail replay) and a replay
// from seq 1, and measures the resident bytes of the state per account.
#pragma once

#include <cstdint>
#include <string>

#include "ledger/status.h"

namespace giftledger::commands {

struct RecoveryBenchOptions {
  // Formatted with one shard if it holds no ledger; otherwise the bench
  // appends to the one-shard ledger there (N more events); left in place.
  std::string data_dir;
  uint64_t events = 10'000'000;    // appended by this run
  uint64_t tail_events = 100'000;  // appended after the snapshot
  uint32_t users = 1'000'000;      // users of the mix that builds the log
  uint32_t batch_commands = 8190;
  uint64_t accounts = 1'000'000;  // for bytes_per_account
};

struct RecoveryBenchResult {
  uint64_t log_events = 0;      // events in the log at the restarts
  uint64_t snapshot_seq = 0;    // seq of the snapshot the restart loaded
  uint64_t tail_events = 0;     // events replayed after it
  uint64_t snapshot_bytes = 0;  // payload size
  double ready_ms = 0;          // Open with snapshots: recovery scan + snapshot + tail
  double replay_ms = 0;         // Open without snapshots: recovery scan + replay from 1
  double replay_events_per_s = 0;
  uint64_t accounts = 0;
  double bytes_per_account = 0;  // heap bytes in use (mallinfo2) per account
  // Idempotency tiers after the restart from the snapshot.
  uint64_t idempotency_memory_entries = 0;
  uint64_t idempotency_disk_entries = 0;
  uint64_t idempotency_runs = 0;
  // Closed orders after the restart from the snapshot.
  uint64_t closed_orders_memory = 0;
  uint64_t order_disk_records = 0;
  uint64_t order_runs = 0;
};

Result<RecoveryBenchResult> RunRecoveryBench(const RecoveryBenchOptions& options);

// Heap bytes of a state holding `accounts` wallets, each created by one
// top-up (wallet + the top-up's idempotency entry), divided by `accounts`:
// glibc mallinfo2().uordblks after minus before, so every hash-table node
// and bucket array is counted exactly.
double BytesPerAccount(uint64_t accounts);

}  // namespace giftledger::commands

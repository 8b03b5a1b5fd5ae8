// Reconciliation: every wallet (available, held) and host account (earned,
// paid out) of every shard is recomputed by replaying the log from seq 1
// with the money core's pure Apply, and compared with the shard's newest
// snapshot (at the snapshot's seq) and with the SQLite read models (at the
// positions the database records). Read-only on the ledger and the database,
// so it is safe while the service and the projector run. docs/operations.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ledger/status.h"

namespace giftledger {

// Mismatches kept in a report (the count covers all of them).
inline constexpr size_t kReconcileMismatchesMax = 1000;

enum class MismatchSource { kSnapshot, kReadModel };
const char* MismatchSourceName(MismatchSource source);  // "snapshot" | "read_model"

// One disagreement. For an account: `account` and `field` (available, held
// for a user; earned, paid_out for a host), expected = the log's value at
// last_seq, found = the source's. For the source itself (account_kind
// "source"): field "seq" (the source claims events the log does not have) or
// "file" (the snapshot does not pass its checks; `detail` says why).
struct Mismatch {
  MismatchSource source = MismatchSource::kSnapshot;
  uint32_t shard = 0;
  std::string account_kind;  // "user" | "host" | "source"
  uint64_t account = 0;
  std::string field;
  int64_t expected = 0;
  int64_t found = 0;
  uint64_t last_seq = 0;  // the seq at which both sides were compared
  std::string detail;
};

struct ShardReconcile {
  uint32_t shard = 0;
  uint64_t log_last_seq = 0;  // last event of the valid log (a torn tail is not read)
  uint64_t users = 0;         // wallets in the replayed state at log_last_seq
  uint64_t hosts = 0;
  std::optional<uint64_t> snapshot_seq;    // newest snapshot compared, if any
  std::optional<uint64_t> read_model_seq;  // database position compared, with --db
  uint64_t read_model_lag = 0;             // log_last_seq - read_model_seq when behind
  uint64_t mismatches = 0;
};

struct ReconcileReport {
  bool ok = false;  // no mismatch at all
  std::string ledger_id;
  uint64_t events = 0;  // replayed, all shards
  double seconds = 0;
  uint64_t mismatch_count = 0;
  std::vector<Mismatch> mismatches;  // the first kReconcileMismatchesMax, by shard
  std::vector<ShardReconcile> shards;
};

struct ReconcileOptions {
  std::string data_dir;
  std::string db_path;  // empty: compare with the snapshots only
  // (events replayed, events total) over all shards; may be called from
  // several threads.
  std::function<void(uint64_t, uint64_t)> progress;
};

// NOT_FOUND: no ledger or database; FAILED_PRECONDITION: the database belongs
// to another ledger; DATA_LOSS: the log fails its checks (run verify).
// Mismatches are not errors: they are in the report.
Result<ReconcileReport> Reconcile(const ReconcileOptions& options);

}  // namespace giftledger

// Tracing one tx id through the system ("where is my gift?"): every event it
// caused (shard, seq, block, ledger time, the checkpoint that covers it), the
// state history of its order (placed → consumed / voided / expired /
// refunded, with each step's tx id), the settlement credit each gift led to
// on the host's shard, and optionally whether the read models reflect it.
// Read-only on the ledger and the database. docs/operations.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "schemas/giftledger.pb.h"

namespace giftledger {

struct TraceEvent {
  uint32_t shard = 0;
  uint64_t seq = 0;
  uint64_t block_first_seq = 0;  // the signed block holding the event
  uint32_t block_events = 0;
  int64_t ledger_time_us = 0;
  std::optional<uint64_t> checkpoint;  // tree size of the oldest checkpoint covering seq
  std::string kind;                    // the event body: "gift_sent", "order_voided", ...
  schemas::Event event;
};

// One step of the order's life, in log order.
struct OrderStep {
  std::string state;  // "placed" | "consumed" | "voided" | "expired" | "refunded"
  std::string tx_id;  // 16 bytes: the command that made the step
  uint32_t shard = 0;
  uint64_t seq = 0;
  int64_t ledger_time_us = 0;
  int64_t amount = 0;
};

// The credit settlement owes the host for one gift.
struct Settlement {
  std::string gift_tx_id;    // the ConsumeOrder's tx id
  std::string credit_tx_id;  // derived (commands/routing.h)
  uint32_t host_shard = 0;
  uint64_t host = 0;
  int64_t host_share = 0;
  std::optional<TraceEvent> credit;  // absent: not settled yet
};

struct ReadModelCheck {
  std::string model;  // "position" | "gift_record" | "wallet" | "host_earnings" | "leaderboards"
  uint32_t shard = 0;
  uint64_t seq = 0;
  bool reflected = false;
  std::string detail;
};

struct TraceReport {
  std::string tx_id;               // 16 bytes, as asked
  std::vector<TraceEvent> events;  // everything found, by (ledger time, shard, seq)
  std::optional<std::string> order_id;
  uint32_t order_shard = 0;
  std::vector<OrderStep> history;
  std::vector<Settlement> settlements;  // one per gift of the order
  bool read_models_checked = false;
  std::vector<uint64_t> read_model_positions;  // per shard, with the database
  std::vector<ReadModelCheck> read_models;
};

struct TraceOptions {
  std::string data_dir;
  std::string tx_id;    // 16 bytes
  std::string db_path;  // empty: the log only
};

// NOT_FOUND: the ledger, the database, or no event names the tx id;
// INVALID_ARGUMENT: not 16 bytes; DATA_LOSS: the log fails its checks;
// FAILED_PRECONDITION: the database belongs to another ledger.
Result<TraceReport> TraceTx(const TraceOptions& options);

// "gift_sent", "order_placed", ... (the name of the event's body field).
std::string EventKind(const schemas::Event& e);

}  // namespace giftledger

// Settlement: credits hosts for their gifts (docs/read-models.md,
// "Settlement"). A durable JetStream pull consumer of the event stream that,
// for every GiftSent with host_share > 0, submits HostCredit{host,
// host_share, gift_tx_id, payer_shard, gift_seq} with the derived tx id
// (commands/routing.h) to the host's shard through the gateway client,
// batching many credits per request. Messages are acked, and the per-shard
// positions saved, only after the ledger answered every credit they caused;
// permanent idempotency of the derived id makes any redelivery or replay
// answer the original result, so every gift is credited exactly once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "commands/ingress/client.h"
#include "ledger/status.h"
#include "projections/stream_reader.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::projections {

struct SettlementOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string key_file;  // gateway key with the settlement role
  std::string stream = "GIFTLEDGER_EVENTS";
  std::string durable = "giftledger-settlement";
  // Per-shard positions (the last seq whose credits the ledger answered),
  // rewritten (temp + fsync + rename) after every answered batch. Absent:
  // settlement starts at seq 1 of every shard.
  std::string state_path;
  size_t batch_credits = 4096;  // credits pending before they are submitted
  int fetch_max = 1000;
  int64_t fetch_timeout_ms = 500;
  int64_t replay_timeout_ms = 5000;
  int64_t submit_timeout_ms = 5000;
  int64_t backoff_ms_max = 5000;  // transient failures: 100 ms doubling up to this
  bool exit_when_idle = false;    // return after the first empty pull
  const std::atomic<bool>* stop = nullptr;
};

// Counters, readable from another thread (metrics, progress logs).
struct SettlementStats {
  std::atomic<uint64_t> events{0};      // events read, any kind, duplicates excluded
  std::atomic<uint64_t> duplicates{0};  // events skipped as already settled
  std::atomic<uint64_t> gap_filled_events{0};
  std::atomic<uint64_t> gifts{0};            // GiftSent with host_share > 0
  std::atomic<uint64_t> refunds_ignored{0};  // Refunded: the host keeps the share
  std::atomic<uint64_t> credited{0};         // answered OK (first time or original result)
  std::atomic<uint64_t> credited_coins{0};
  std::atomic<uint64_t> rejected{0};  // permanent per-credit errors (logged)
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> retries{0};  // transient failures retried
  std::atomic<uint64_t> batches{0};  // answered batches (positions saved)
};

// Per-shard "settled through seq" positions on disk (JSON, docs/read-models.md).
struct SettlementState {
  std::string ledger_id;
  std::vector<uint64_t> settled_seq;  // by shard
};
// NOT_FOUND when the file does not exist; DATA_LOSS when it does not parse.
Result<SettlementState> LoadSettlementState(const std::string& path);
Status SaveSettlementState(const std::string& path, const SettlementState& state);

// The credit settlement submits for `gift` (a GiftSent event) logged at
// (payer_shard, seq).
schemas::Command HostCreditFor(uint32_t payer_shard, uint64_t seq, const schemas::Event& gift);

class Settlement : public SeqSink {
 public:
  // Connects the gateway client (learns the ledger) and loads the state.
  static Result<std::unique_ptr<Settlement>> Open(const SettlementOptions& options,
                                                  SettlementStats* stats);

  // Catches up from the replay service, then consumes the stream until idle
  // (exit_when_idle), *stop, or an error: UNAVAILABLE (NATS trouble),
  // CANCELLED (stopped while a batch waited for the ledger: nothing of it was
  // acked), FAILED_PRECONDITION (a credit refused for a reason that is not
  // the gift's: the key lacks the settlement role, a wrong shard count),
  // DATA_LOSS (an event that does not decode, a gap the ledger cannot fill).
  Status Run();

  uint32_t shard_count() const override { return uint32_t(positions_.size()); }
  uint64_t next_seq(ShardId shard) const override { return positions_[shard.value] + 1; }
  Status ApplyBytes(ShardId shard, uint64_t seq, std::string_view event_bytes) override;
  // Submits every pending credit and waits until the ledger answered each
  // (retrying transient failures), then saves the positions.
  Status Flush();

  const std::vector<uint64_t>& settled_positions() const { return settled_; }
  const ingress::LedgerInfo& ledger() const { return client_->info(); }

 private:
  Settlement(SettlementOptions options, SettlementStats* stats)
      : options_(std::move(options)), stats_(stats) {}
  // Submits the credits (by host shard) until every one has a definite answer.
  Status SubmitUntilAnswered(std::vector<std::vector<schemas::Command>> by_shard);
  bool Stopped() const { return options_.stop != nullptr && options_.stop->load(); }

  SettlementOptions options_;
  SettlementStats* stats_;
  std::unique_ptr<ingress::Client> client_;
  std::vector<uint64_t> positions_;                     // read through (pending included)
  std::vector<uint64_t> settled_;                       // answered and saved
  std::vector<std::vector<schemas::Command>> pending_;  // by host shard
  size_t pending_count_ = 0;
  schemas::Event scratch_;
};

}  // namespace giftledger::projections

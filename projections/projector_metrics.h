// The projector's counters for `project --metrics` (docs/metrics.md,
// "Projector"): relaxed atomics written by the projecting thread (and the
// query server's NATS thread), read at scrape time from the HTTP thread.
// Never a lock on the projection path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ledger/metrics.h"

namespace giftledger::projections {

// Event bodies by their oneof field number in schemas::Event (10..20 today);
// slot 0 counts events without a body or of a number past the table.
inline constexpr int kEventBodySlots = 32;

struct ShardProjectionGauges {
  std::atomic<uint64_t> seen_seq{0};       // highest seq the source has handed over
  std::atomic<uint64_t> projected_seq{0};  // last seq committed to the read models
  std::atomic<int64_t> projected_ledger_time_us{0};
};

class ProjectorMetrics {
 public:
  explicit ProjectorMetrics(uint32_t shard_count);
  ProjectorMetrics(const ProjectorMetrics&) = delete;
  ProjectorMetrics& operator=(const ProjectorMetrics&) = delete;

  void CountEvent(int body_case) {
    const int slot = body_case > 0 && body_case < kEventBodySlots ? body_case : 0;
    events_by_body_[size_t(slot)].fetch_add(1, std::memory_order_relaxed);
  }
  void Seen(uint32_t shard, uint64_t seq);
  void Committed(uint32_t shard, uint64_t seq, int64_t ledger_time_us);

  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> gap_filled_events{0};
  std::atomic<uint64_t> broadcasts{0};
  std::atomic<uint64_t> query_requests{0};
  std::atomic<uint64_t> query_errors{0};
  Histogram commit_latency_us{100,    200,    500,     1'000,   2'000,   5'000,    10'000,
                              20'000, 50'000, 100'000, 200'000, 500'000, 1'000'000};
  Histogram batch_events{1, 4, 16, 64, 256, 1024, 4096, 16384};

  // The exposition (Prometheus text 0.0.4); now_us: wall clock for the
  // seconds-behind gauge.
  std::string Text(int64_t now_us) const;

 private:
  std::array<std::atomic<uint64_t>, kEventBodySlots> events_by_body_{};
  std::vector<std::unique_ptr<ShardProjectionGauges>> shards_;
};

}  // namespace giftledger::projections

#include "projections/projector_metrics.h"

#include "ledger/status.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::projections {

ProjectorMetrics::ProjectorMetrics(uint32_t shard_count) {
  for (uint32_t s = 0; s < shard_count; ++s) {
    shards_.push_back(std::make_unique<ShardProjectionGauges>());
  }
}

void ProjectorMetrics::Seen(uint32_t shard, uint64_t seq) {
  if (shard >= shards_.size()) return;
  auto& seen = shards_[shard]->seen_seq;
  uint64_t cur = seen.load(std::memory_order_relaxed);
  while (seq > cur && !seen.compare_exchange_weak(cur, seq, std::memory_order_relaxed)) {
  }
}

void ProjectorMetrics::Committed(uint32_t shard, uint64_t seq, int64_t ledger_time_us) {
  if (shard >= shards_.size()) return;
  shards_[shard]->projected_seq.store(seq, std::memory_order_relaxed);
  shards_[shard]->projected_ledger_time_us.store(ledger_time_us, std::memory_order_relaxed);
  Seen(shard, seq);
}

std::string ProjectorMetrics::Text(int64_t now_us) const {
  PrometheusText t;
  const auto* desc = schemas::Event::descriptor();
  for (int slot = 0; slot < kEventBodySlots; ++slot) {
    const auto* field = slot == 0 ? nullptr : desc->FindFieldByNumber(slot);
    const bool is_body = field != nullptr && field->containing_oneof() != nullptr;
    if (slot != 0 && !is_body) continue;
    const std::string type = slot == 0 ? "other" : field->name();
    // Every body type is listed, zeros included.
    t.Counter("giftledger_projector_events_total",
              "events applied to the read models, by event type",
              double(events_by_body_[size_t(slot)].load(std::memory_order_relaxed)),
              PrometheusText::Label("type", type));
  }
  t.Counter("giftledger_projector_duplicates_total",
            "events skipped as duplicates (seq at or below the position)",
            double(duplicates.load(std::memory_order_relaxed)));
  t.Counter("giftledger_projector_batches_total",
            "batches committed (read models and positions in one SQLite transaction)",
            double(batches.load(std::memory_order_relaxed)));
  t.Histogram("giftledger_projector_commit_latency_us",
              "SQLite commit of one batch (read models and positions), microseconds",
              commit_latency_us.Read());
  t.Histogram("giftledger_projector_batch_events", "events per committed batch",
              batch_events.Read());
  t.Counter("giftledger_projector_gap_filled_events_total",
            "events fetched from the replay service to fill stream gaps",
            double(gap_filled_events.load(std::memory_order_relaxed)));
  t.Counter("giftledger_projector_broadcasts_total",
            "broadcasts published on NATS after their commit",
            double(broadcasts.load(std::memory_order_relaxed)));
  t.Counter("giftledger_projector_query_requests_total", "giftledger.q.* requests answered",
            double(query_requests.load(std::memory_order_relaxed)));
  t.Counter("giftledger_projector_query_errors_total",
            "giftledger.q.* requests answered with an error",
            double(query_errors.load(std::memory_order_relaxed)));
  for (size_t s = 0; s < shards_.size(); ++s) {
    const std::string l = PrometheusText::Label("shard", std::to_string(s));
    const uint64_t seen = shards_[s]->seen_seq.load(std::memory_order_relaxed);
    const uint64_t done = shards_[s]->projected_seq.load(std::memory_order_relaxed);
    const int64_t t_us = shards_[s]->projected_ledger_time_us.load(std::memory_order_relaxed);
    t.Gauge("giftledger_projector_seen_seq", "highest ledger seq the source has delivered",
            double(seen), l);
    t.Gauge("giftledger_projector_projected_seq", "last ledger seq committed to the read models",
            double(done), l);
    t.Gauge("giftledger_projector_lag_events", "seen seq minus projected seq",
            double(seen > done ? seen - done : 0), l);
    t.Gauge("giftledger_projector_behind_seconds",
            "wall clock minus the ledger time of the last projected event (0 before any)",
            t_us > 0 && now_us > t_us ? double(now_us - t_us) / 1e6 : 0.0, l);
  }
  return t.text();
}

}  // namespace giftledger::projections

#include "projections/projector.h"

#include <algorithm>
#include <chrono>

#include "projections/limits.h"

namespace giftledger::projections {

Projector::Projector(const ProjectionConfig& config, std::unique_ptr<Store> store,
                     size_t batch_events)
    : models_(config, store != nullptr),
      store_(std::move(store)),
      batch_events_(std::clamp<size_t>(batch_events, 1, kBatchEventsMax)),
      positions_(config.shard_count),
      committed_(config.shard_count) {
  if (store_) {
    Store* s = store_.get();
    models_.set_gift_lookup(
        [s](uint32_t shard, const std::string& order) { return s->FindGift(shard, order); });
  }
}

Result<std::unique_ptr<Projector>> Projector::Open(const std::string& db_path, OpenMode mode,
                                                   const ProjectionConfig& config,
                                                   size_t batch_events) {
  GL_ASSERT(mode != OpenMode::kReadOnly);
  auto store = Store::Open(db_path, mode, config);
  if (!store.ok()) return store.status();
  auto positions = store.value()->LoadPositions();
  if (!positions.ok()) return positions.status();
  std::unique_ptr<Projector> p(new Projector(config, std::move(store.value()), batch_events));
  GL_RETURN_IF_ERROR(p->store_->LoadModels(positions.value(), &p->models_));
  p->positions_ = positions.value();
  p->committed_ = positions.value();
  return p;
}

std::unique_ptr<Projector> Projector::InMemory(const ProjectionConfig& config) {
  return std::unique_ptr<Projector>(new Projector(config, nullptr, kBatchEventsMax));
}

Status Projector::Apply(ShardId shard, uint64_t seq, const schemas::Event& event) {
  if (!failed_.ok()) return failed_;
  if (shard.value >= positions_.size()) {
    return InvalidArgument("event of shard " + std::to_string(shard.value) + ", ledger has " +
                           std::to_string(positions_.size()));
  }
  Position& pos = positions_[shard.value];
  if (metrics_) metrics_->Seen(shard.value, seq);
  if (seq <= pos.seq) {
    stats_.skipped_duplicates += 1;
    if (metrics_) metrics_->duplicates.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }
  if (seq != pos.seq + 1) {
    return OutOfRange("gap in shard " + std::to_string(shard.value) + ": expected seq " +
                      std::to_string(pos.seq + 1) + ", got " + std::to_string(seq));
  }
  Status st = models_.Apply(shard, seq, event);
  if (!st.ok()) {
    // Part of the event may be in the models: only a reopen is safe now.
    failed_ = st;
    return st;
  }
  pos = Position{seq, event.ledger_time_us()};
  stats_.applied_events += 1;
  if (metrics_) metrics_->CountEvent(int(event.body_case()));
  if (++pending_ >= batch_events_) return Commit();
  return Status::Ok();
}

Status Projector::ApplyBytes(ShardId shard, uint64_t seq, std::string_view event_bytes) {
  if (!failed_.ok()) return failed_;
  if (shard.value < positions_.size() && seq <= positions_[shard.value].seq) {
    stats_.skipped_duplicates += 1;  // no need to decode
    if (metrics_) {
      metrics_->Seen(shard.value, seq);
      metrics_->duplicates.fetch_add(1, std::memory_order_relaxed);
    }
    return Status::Ok();
  }
  scratch_.Clear();
  if (!scratch_.ParseFromArray(event_bytes.data(), int(event_bytes.size()))) {
    return DataLoss("event at shard " + std::to_string(shard.value) + " seq " +
                    std::to_string(seq) + " does not decode");
  }
  return Apply(shard, seq, scratch_);
}

Status Projector::Commit() {
  if (!failed_.ok()) return failed_;
  if (pending_ == 0) return Status::Ok();
  const auto t0 = std::chrono::steady_clock::now();
  if (store_) {
    Status st = store_->Commit(models_, positions_);
    if (!st.ok()) {
      failed_ = st;
      return st;
    }
    models_.TrimGiftCache();
  }
  committed_ = positions_;
  if (metrics_) {
    metrics_->commit_latency_us.Observe(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    metrics_->batch_events.Observe(double(pending_));
    metrics_->batches.fetch_add(1, std::memory_order_relaxed);
    for (size_t s = 0; s < committed_.size(); ++s) {
      metrics_->Committed(uint32_t(s), committed_[s].seq, committed_[s].ledger_time_us);
    }
  }
  pending_ = 0;
  stats_.batches += 1;
  return Status::Ok();
}

}  // namespace giftledger::projections

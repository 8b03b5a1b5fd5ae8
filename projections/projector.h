// The projector: takes events of any shard in seq order, skips duplicates,
// refuses gaps, folds them into the read models and commits each batch with
// the per-shard positions in one SQLite transaction (docs/read-models.md,
// "Sources and exactly-once"). Without a database it builds the models in
// memory only (rebuild benchmarks, dry runs).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/status.h"
#include "ledger/types.h"
#include "projections/models.h"
#include "projections/projector_metrics.h"
#include "projections/store.h"
#include "projections/stream_reader.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::projections {

struct ProjectorStats {
  uint64_t applied_events = 0;
  uint64_t skipped_duplicates = 0;
  uint64_t batches = 0;
};

class Projector : public SeqSink {
 public:
  // Opens (or creates) the database and resumes from its positions.
  static Result<std::unique_ptr<Projector>> Open(const std::string& db_path, OpenMode mode,
                                                 const ProjectionConfig& config,
                                                 size_t batch_events = kBatchEventsMaxDefault);
  // Models in memory only; Commit just advances the positions.
  static std::unique_ptr<Projector> InMemory(const ProjectionConfig& config);

  // seq <= position: skipped (a duplicate). seq > position + 1: OUT_OF_RANGE
  // (a gap, nothing applied; fill it from the source first). A shard outside
  // the ledger: INVALID_ARGUMENT. Commits when the batch is full. After a
  // failed commit every call returns that failure: reopen.
  Status Apply(ShardId shard, uint64_t seq, const schemas::Event& event);
  // Decodes the event first (DATA_LOSS when it does not parse).
  Status ApplyBytes(ShardId shard, uint64_t seq, std::string_view event_bytes) override;
  // Commits what is pending (no-op when nothing is).
  Status Commit();

  // The seq this projector expects next from `shard`.
  uint64_t next_seq(ShardId shard) const override { return positions_[shard.value].seq + 1; }
  uint32_t shard_count() const override { return uint32_t(positions_.size()); }
  // Positions including the uncommitted batch / as last committed.
  const std::vector<Position>& positions() const { return positions_; }
  const std::vector<Position>& committed_positions() const { return committed_; }
  const ProjectorStats& stats() const { return stats_; }
  const ProjectionConfig& config() const { return models_.config(); }
  ReadModels& models() { return models_; }
  // Counters for /metrics (not owned; must outlive the projector); null = none.
  void set_metrics(ProjectorMetrics* metrics) { metrics_ = metrics; }
  ProjectorMetrics* metrics() const { return metrics_; }
  Store* store() { return store_.get(); }

  static constexpr size_t kBatchEventsMaxDefault = 16384;

 private:
  Projector(const ProjectionConfig& config, std::unique_ptr<Store> store, size_t batch_events);

  ReadModels models_;
  std::unique_ptr<Store> store_;
  size_t batch_events_;
  size_t pending_ = 0;
  std::vector<Position> positions_;
  std::vector<Position> committed_;
  ProjectorStats stats_;
  Status failed_;
  schemas::Event scratch_;
  ProjectorMetrics* metrics_ = nullptr;
};

}  // namespace giftledger::projections

// Reads events straight from a ledger's files (`--from-ledger`): every block
// is fully checked by LogReader before its events are projected. Resumes each
// shard after the projector's position.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "projections/levels.h"
#include "projections/models.h"
#include "projections/projector.h"

namespace giftledger::projections {

// Ledger id, shard count and UTC offset from the manifest, with `levels`.
Result<ProjectionConfig> ConfigFromLedger(const std::string& data_dir, const LevelTable& levels);

struct LedgerSourceOptions {
  // Stop after this many events were applied (tests: a half-consumed source).
  uint64_t max_events = std::numeric_limits<uint64_t>::max();
  // Shards to project (start --shards / project --shards); empty = all. The
  // others are neither opened nor moved: another projector owns them.
  std::vector<uint32_t> shards;
  // (events done, events total) over the projected shards.
  std::function<void(uint64_t, uint64_t)> progress;
};

// Feeds every event after the projector's positions, then commits. The
// ledger must be the projector's (FAILED_PRECONDITION otherwise).
Status ProjectFromLedger(const std::string& data_dir, Projector& projector,
                         const LedgerSourceOptions& options = {});

}  // namespace giftledger::projections

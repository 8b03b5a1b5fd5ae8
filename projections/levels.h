// Levels from experience (coins spent on gifts, net of refunds) with a
// configurable threshold table (docs/read-models.md, `levels`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/status.h"

namespace giftledger::projections {

class LevelTable {
 public:
  // The default table: 1000,5000,20000,100000,500000,2000000,10000000.
  LevelTable();
  // INVALID_ARGUMENT unless 1..kLevelThresholdsMax positive, strictly
  // ascending thresholds.
  static Result<LevelTable> Make(std::vector<int64_t> thresholds);
  // "1000,5000,..." as stored in meta and given on the command line.
  static Result<LevelTable> Parse(std::string_view text);

  // The number of thresholds <= experience.
  int32_t LevelOf(int64_t experience) const;
  std::string ToString() const;
  const std::vector<int64_t>& thresholds() const { return thresholds_; }

 private:
  std::vector<int64_t> thresholds_;
};

}  // namespace giftledger::projections

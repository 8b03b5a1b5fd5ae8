#include "projections/levels.h"

#include <algorithm>
#include <charconv>

#include "projections/limits.h"

namespace giftledger::projections {

LevelTable::LevelTable() : thresholds_{1000, 5000, 20000, 100000, 500000, 2000000, 10000000} {}

Result<LevelTable> LevelTable::Make(std::vector<int64_t> thresholds) {
  if (thresholds.empty() || thresholds.size() > kLevelThresholdsMax) {
    return InvalidArgument("level thresholds: between 1 and " +
                           std::to_string(kLevelThresholdsMax) + " entries");
  }
  for (size_t i = 0; i < thresholds.size(); ++i) {
    if (thresholds[i] <= 0 || (i > 0 && thresholds[i] <= thresholds[i - 1])) {
      return InvalidArgument("level thresholds must be positive and strictly ascending");
    }
  }
  LevelTable t;
  t.thresholds_ = std::move(thresholds);
  return t;
}

Result<LevelTable> LevelTable::Parse(std::string_view text) {
  std::vector<int64_t> v;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(pos, end - pos);
    int64_t x = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), x);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size()) {
      return InvalidArgument("level thresholds: '" + std::string(part) + "' is not an integer");
    }
    if (v.size() == kLevelThresholdsMax) return InvalidArgument("level thresholds: too many");
    v.push_back(x);
    pos = end + 1;
  }
  return Make(std::move(v));
}

int32_t LevelTable::LevelOf(int64_t experience) const {
  return int32_t(std::upper_bound(thresholds_.begin(), thresholds_.end(), experience) -
                 thresholds_.begin());
}

std::string LevelTable::ToString() const {
  std::string s;
  for (size_t i = 0; i < thresholds_.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(thresholds_[i]);
  }
  return s;
}

}  // namespace giftledger::projections

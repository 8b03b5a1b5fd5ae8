// Limits of the projections (docs/read-models.md), in one place.
#pragma once

#include <cstddef>
#include <cstdint>

namespace giftledger::projections {

// Events applied and committed as one SQLite transaction at most.
inline constexpr size_t kBatchEventsMax = 65536;
// Entries a hot top-N answer can hold, and the cached sorted list per board.
inline constexpr size_t kHotTopMax = 1000;
// Entries of a configurable level threshold table.
inline constexpr size_t kLevelThresholdsMax = 64;
// Rows a SQLite leaderboard query returns at most.
inline constexpr size_t kQueryTopMax = 10000;
// Gifts a projector with a store remembers for refunds; beyond, the store is asked.
inline constexpr size_t kGiftCacheMax = size_t(1) << 22;

static_assert(kHotTopMax <= kQueryTopMax);
static_assert(kBatchEventsMax >= 1);

}  // namespace giftledger::projections

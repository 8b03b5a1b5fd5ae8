// Shard lists as operators write them: "0-3", "0,2,5-7", or the items of a
// repeated option ("0" "1" "2"). `start --shards` and `project --shards`
// take one, so that a ledger's shards can be served by several processes
// on several machines and projected by several projectors (docs/operations.md,
// "Shard placement").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/status.h"

namespace giftledger::commands {

// The shards named by `items`, ascending. Each item is a comma-separated list
// of N or A-B (A ≤ B, both inclusive), decimal, below kShardsMax.
// INVALID_ARGUMENT for anything else, for an empty list and for a shard named
// twice (overlapping ranges are a placement mistake, not a request).
Result<std::vector<uint32_t>> ParseShardRanges(const std::vector<std::string>& items);

// The shortest form of an ascending list: {0,1,2,3,5} -> "0-3,5".
std::string FormatShardRanges(const std::vector<uint32_t>& shards);

}  // namespace giftledger::commands

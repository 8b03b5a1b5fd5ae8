// Snapshots of a shard's state, so a restart replays only the tail of the
// log. The file (header, shard, last_seq, checksum, temp + fsync + rename,
// <shard_dir>/snapshots/, newest two kept) is ledger/snapshot.h; this layer
// only turns a ShardState into the payload and back, and refuses a payload
// that does not belong to the shard's configuration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "commands/state.h"
#include "ledger/status.h"

namespace giftledger::commands {

// The payload: the canonical state serialization (SerializeState).
std::string EncodeSnapshotPayload(const ShardState& state);

// The inverse, with every check a restart relies on: parses strictly (every
// table in strictly ascending key order, every byte used: the payload is
// canonical), passes CheckInvariants, has last_seq equal
// to the file's and the same shard configuration. DATA_LOSS naming the check.
Result<ShardState> DecodeSnapshotPayload(std::string_view payload, const ShardConfig& config,
                                         uint64_t last_seq);

// Writes the snapshot of `state` (at state.last_seq) under shard_dir.
Status WriteStateSnapshot(const std::string& shard_dir, const ShardState& state);

// The newest snapshot under shard_dir whose file and payload pass every check,
// whose seq is ≤ max_seq (the log may not end before a snapshot) and whose
// idempotency_disk_seq is ≤ idempotency_covered_seq (the entries it leaves
// to the run files must be there), and the same for order_disk_seq and
// order_covered_seq; nullopt when there is none. Each skipped file is named
// in a warning. The state comes without its on-disk indexes
// (AttachIdempotencyIndex, idempotency_tier.h; AttachOrderIndex,
// order_tier.h).
std::optional<ShardState> LoadNewestStateSnapshot(const std::string& shard_dir,
                                                  const ShardConfig& config, uint64_t max_seq,
                                                  uint64_t idempotency_covered_seq = 0,
                                                  uint64_t order_covered_seq = 0);

}  // namespace giftledger::commands

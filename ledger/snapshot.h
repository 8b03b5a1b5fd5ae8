// Snapshot files of a shard's derived state: opaque payload bytes (the
// commands/ layer serializes its state) stamped with the shard and the last
// seq they include, checksummed, written temp + fsync + rename. Restart is
// the newest valid snapshot plus a replay of the log after it; a corrupt
// snapshot is skipped for an older one (docs/log-format.md, "Snapshots").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

inline constexpr size_t kSnapshotHeaderBytes = 64;
inline constexpr uint64_t kSnapshotPayloadBytesMax = 64ull << 30;
inline constexpr size_t kSnapshotsKept = 2;

struct Snapshot {
  ShardId shard;
  Seq last_seq;  // every event with seq <= last_seq is reflected
  std::string payload;
  std::string path;
};

std::string SnapshotDir(const std::string& shard_dir);
std::string SnapshotFileName(Seq last_seq);

// Writes DIR/snapshots/<last_seq>.snap atomically and durably, then removes
// all but the kSnapshotsKept newest.
Status WriteSnapshot(const std::string& shard_dir, ShardId shard, Seq last_seq,
                     std::string_view payload);

// Newest snapshot that passes its checks and has last_seq <= seq_max (the
// durable end of the log). Corrupt or unusable files are skipped with a
// warning naming them. nullopt when none is usable (replay from zero).
Result<std::optional<Snapshot>> LoadNewestSnapshot(const std::string& shard_dir, ShardId shard,
                                                   Seq seq_max);

// Reads and checks one snapshot file (DATA_LOSS on any mismatch).
Result<Snapshot> ReadSnapshot(const std::string& path, ShardId shard);

}  // namespace giftledger

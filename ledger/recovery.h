// Opening a shard: scan its segments, check the chain, build the sparse
// index, and tell a torn tail (the end of the log after a crash) from
// corruption (a bad block followed by valid data). docs/log-format.md.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ledger/block.h"
#include "ledger/file.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

enum class RecoveryMode {
  // A torn or partial block at the tail is the end of the log: truncate it
  // (with a warning naming shard, segment, offset and bytes dropped).
  kTruncateTornTail,
  // Any invalid byte, even a torn tail, refuses the open.
  kAbsoluteConsistency,
};

struct IndexEntry {
  Seq first_seq;        // first seq of the block at `offset`
  uint32_t segment = 0;  // index into ShardScan::segments
  uint64_t offset = 0;
};

struct SegmentState {
  Seq first_seq;
  std::string path;
  uint64_t data_bytes = 0;  // end of the last valid block
  uint64_t file_bytes = 0;
  uint64_t blocks = 0;
};

struct ShardScan {
  ShardId shard;
  std::vector<SegmentState> segments;
  std::vector<IndexEntry> index;  // sparse, ordered by first_seq
  Seq next_seq{1};
  Hash32 last_block_hash{};
  int64_t last_ledger_time_us = 0;
  uint64_t blocks = 0;
  uint64_t events = 0;
  uint64_t data_bytes = 0;
  // A torn tail found (and, in RecoverShard, truncated) in the last segment.
  bool torn_tail = false;
  uint64_t torn_offset = 0;
  uint64_t torn_bytes = 0;
  std::string torn_reason;
};

// Where a scan found corruption, for reports that need fields, not prose.
struct ScanFailure {
  std::string segment;
  uint64_t offset = 0;
  Seq seq;
  std::string reason;
};

struct ScanOptions {
  // Check event framing and Merkle roots of every segment, not only the last.
  bool check_all_bodies = false;
  // Called with bytes scanned so far (for progress bars); may be empty.
  std::function<void(uint64_t bytes)> progress;
  // Filled when the scan returns DATA_LOSS; may be null.
  ScanFailure* failure = nullptr;
  // Called, in log order, for every block whose body was checked (all of
  // them with check_all_bodies), with the events' leaf hashes. May be empty.
  std::function<void(const BlockView& block, const std::vector<Hash32>& leaves)> on_block;
};

// Read-only scan. DATA_LOSS names shard, segment file, offset and reason.
// A torn tail is reported in the result, not as an error.
Result<ShardScan> ScanShard(const std::string& shard_dir, ShardId shard, const PublicKey& key,
                            const ScanOptions& options);

// Scan, then apply the recovery mode: truncate a torn tail (kTruncateTornTail)
// or refuse (kAbsoluteConsistency).
Result<ShardScan> RecoverShard(FileSystem* fs, const std::string& shard_dir, ShardId shard,
                               const PublicKey& key, RecoveryMode mode, uint64_t segment_bytes);

}  // namespace giftledger

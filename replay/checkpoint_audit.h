// The checkpoint half of `verify`: every signed checkpoint of a shard is
// compared with the shard tree rebuilt from the log while the verifier walks
// it (event root, last block hash, ledger time, signature). docs/proofs.md,
// "What verify checks".
#pragma once

#include <string>
#include <vector>

#include "ledger/checkpoint.h"
#include "ledger/merkle_proof.h"
#include "ledger/recovery.h"

namespace giftledger {

class CheckpointAudit {
 public:
  // Lists the shard's checkpoint files; a file that cannot be read is
  // recorded as the failure (it still fails verify).
  CheckpointAudit(const std::string& shard_dir, ShardId shard, const PublicKey& key);

  // Each fully checked block, in log order, with its events' leaf hashes.
  void OnBlock(const BlockView& block, const std::vector<Hash32>& leaves);
  // After the walk: a checkpoint past the log's end means the log lost
  // events it had signed.
  void Finish();

  // Nothing to compare: the verifier then skips building the tree.
  bool empty() const { return entries_.empty(); }
  // A set-aside (".lost") checkpoint makes the shard fail from the start.
  bool ok() const { return failure_.reason.empty(); }
  // The first failure: segment = checkpoint file, seq = its tree size.
  const ScanFailure& failure() const { return failure_; }
  uint64_t matched() const { return matched_; }

 private:
  void Fail(const CheckpointEntry& e, const std::string& reason);
  void Check(const CheckpointEntry& e, const BlockView& block);

  ShardId shard_;
  PublicKey key_;
  std::vector<CheckpointEntry> entries_;
  size_t next_ = 0;
  MerkleFrontier tree_;
  int64_t last_time_us_ = 0;
  uint64_t matched_ = 0;
  ScanFailure failure_;
};

}  // namespace giftledger

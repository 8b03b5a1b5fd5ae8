// Reading a shard's log from any seq. The sparse index from the open scan
// finds the block to start at; every block handed out has been checked in
// full first (hash, signature, chain link, Merkle root).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ledger/block.h"
#include "ledger/recovery.h"

namespace giftledger {

class LogReader {
 public:
  // Scans the shard read-only (a torn tail is left alone and not read).
  static Result<std::unique_ptr<LogReader>> Open(const std::string& shard_dir, ShardId shard,
                                                 const PublicKey& key);

  // Calls on_block for each block holding events >= from, in order, until it
  // returns false or the log ends. Events before `from` in the first block are
  // the caller's to skip. DATA_LOSS on any failed check.
  Status ReadFrom(Seq from, const std::function<bool(const BlockView&)>& on_block);

  // Convenience: every event with seq >= from.
  Status ReadEvents(Seq from, const std::function<bool(Seq, std::string_view)>& on_event);

  const ShardScan& scan() const { return scan_; }

 private:
  LogReader(ShardId shard, PublicKey key, ShardScan scan)
      : shard_(shard), key_(key), scan_(std::move(scan)) {}
  ShardId shard_;
  PublicKey key_;
  ShardScan scan_;
};

}  // namespace giftledger

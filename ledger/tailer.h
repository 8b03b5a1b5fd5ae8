// Follows a live shard's log: reads forward from a seq, one checked block at a
// time, never past the durable end the caller names (the writer's
// durable_next_seq), and moves to the next segment when the writer rolls.
// Feeds the event publisher, the replay service and the projector's
// --from-ledger mode without rescanning the shard on every poll.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ledger/block.h"
#include "ledger/file.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

class LogTailer {
 public:
  // Positions at the block holding `from` (seq >= 1). The shard is scanned
  // once here; later polls only read new blocks.
  static Result<std::unique_ptr<LogTailer>> Open(const std::string& shard_dir, ShardId shard,
                                                 const PublicKey& key, Seq from);

  // Delivers events with seq in [next_seq(), durable_next) in order, whole
  // blocks at a time, stopping after the block that reaches events_max.
  // Returns the number of events delivered. DATA_LOSS when a block fails a
  // check or the chain breaks; UNAVAILABLE when a block the caller says is
  // durable is not visible (the caller's bound is wrong).
  Result<uint64_t> Poll(Seq durable_next, uint64_t events_max,
                        const std::function<void(Seq, std::string_view)>& on_event);

  // The next seq Poll will deliver.
  Seq next_seq() const { return next_seq_; }

 private:
  LogTailer(std::string shard_dir, ShardId shard, PublicKey key)
      : shard_dir_(std::move(shard_dir)), shard_(shard), key_(key) {}
  Status MapSegment(Seq first_seq);
  Status ReadBlockAt(BlockView* b);

  const std::string shard_dir_;
  const ShardId shard_;
  const PublicKey key_;
  std::unique_ptr<MappedFile> segment_;
  Seq segment_first_seq_;
  uint64_t offset_ = 0;
  Seq block_seq_{1};  // first seq of the block at offset_
  Seq next_seq_{1};   // next event to deliver (>= block_seq_)
  Hash32 prev_hash_{};
  bool have_prev_ = false;
};

}  // namespace giftledger

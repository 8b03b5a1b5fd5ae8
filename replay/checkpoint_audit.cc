#include "replay/checkpoint_audit.h"

namespace giftledger {

CheckpointAudit::CheckpointAudit(const std::string& shard_dir, ShardId shard, const PublicKey& key)
    : shard_(shard), key_(key) {
  auto list = ListCheckpoints(shard_dir);
  if (!list.ok()) {
    failure_ = {CheckpointDir(shard_dir), 0, Seq{}, list.status().message()};
    return;
  }
  entries_ = std::move(list.value());
  auto lost = ListLostCheckpoints(shard_dir);
  if (!lost.ok()) {
    failure_ = {CheckpointDir(shard_dir), 0, Seq{}, lost.status().message()};
  } else if (!lost->empty()) {
    auto f = ReadCheckpointFile(lost->front());
    Seq seq{f.ok() ? f->checkpoint.tree_size : 0};
    failure_ = {lost->front(), 0, seq,
                "checkpoint: set aside at open because it lay past the end of the log: the "
                "log lost events the shard had signed"};
  }
}

void CheckpointAudit::Fail(const CheckpointEntry& e, const std::string& reason) {
  if (ok()) failure_ = {e.path, 0, Seq{e.tree_size}, "checkpoint: " + reason};
}

void CheckpointAudit::Check(const CheckpointEntry& e, const BlockView& block) {
  auto f = ReadCheckpointFile(e.path);
  if (!f.ok()) return Fail(e, f.status().message());
  const Checkpoint& c = f->checkpoint;
  if (c.tree_size != e.tree_size) return Fail(e, "tree size differs from the file name");
  Status st = CheckCheckpoint(c, shard_, key_);
  if (!st.ok()) return Fail(e, st.message());
  if (c.tree_size != tree_.size()) return Fail(e, "tree size is not the end of a block");
  if (c.event_root != tree_.Root()) return Fail(e, "event root does not match the log");
  if (c.last_block_hash != block.stored_hash) return Fail(e, "last block hash does not match");
  if (c.ledger_time_us != block.header.ledger_time_us) return Fail(e, "ledger time differs");
  if (c.ledger_time_us < last_time_us_) return Fail(e, "ledger time went back");
  auto fr = MerkleFrontier::FromNodes(c.tree_size, f->frontier);
  if (!fr.ok() || fr->nodes() != tree_.nodes()) return Fail(e, "stored frontier is wrong");
  last_time_us_ = c.ledger_time_us;
  matched_++;
}

void CheckpointAudit::OnBlock(const BlockView& block, const std::vector<Hash32>& leaves) {
  tree_.AppendLeaves(leaves.data(), leaves.size());
  // Checkpoints are only written at block ends; one that falls inside this
  // block is checked (and fails) here too.
  while (next_ < entries_.size() && entries_[next_].tree_size <= tree_.size()) {
    Check(entries_[next_], block);
    ++next_;
  }
}

void CheckpointAudit::Finish() {
  if (next_ < entries_.size()) {
    Fail(entries_[next_], "covers seq " + std::to_string(entries_[next_].tree_size) +
                              " past the end of the log (seq " + std::to_string(tree_.size()) +
                              ")");
  }
}

}  // namespace giftledger

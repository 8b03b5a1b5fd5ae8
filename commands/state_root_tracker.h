// The state root of the live shard at any checkpoint, without stopping
// commits. The engine thread (which applies events ahead of durability)
// queues, at each batch it hands to the writer, the new leaves of the keys
// that batch touched; the writer's syncer asks for the root at a durable
// batch end and gets the queued changes up to exactly that seq folded into
// its own sorted copy of the leaves (leaf hashes cached, only changed leaves
// rehashed), then hashes the tree. docs/proofs.md, "The state tree".
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "commands/state.h"
#include "commands/state_tree.h"
#include "ledger/types.h"

namespace giftledger::commands {

// Queued changes beyond which the engine folds durable ones into the
// overlay (bounds the queue by distinct keys rather than by commands). At
// about 90 bytes a change, 1.5 MB per shard.
inline constexpr size_t kStateTreeQueuedChangesMax = 1 << 14;

struct StateRootTrackerStats {
  uint64_t roots = 0;
  uint64_t last_root_us = 0;
  uint64_t last_leaves = 0;
  uint64_t last_changed = 0;
  uint64_t overlay_keys = 0;  // now, folded and not yet in the leaf hashes
};

class StateRootTracker {
 public:
  explicit StateRootTracker(size_t queued_changes_max = kStateTreeQueuedChangesMax)
      : queued_changes_max_(queued_changes_max) {}

  // Engine thread: the mirror starts as `state` at state.last_seq. Until
  // then RootAt answers nullopt.
  void Reset(const ShardState& state);
  // Engine thread, after applying `event` (keys collected for EndBatch).
  void Touch(const schemas::Event& event);
  // Engine thread, when events up to `last_seq` go to the writer as one
  // batch: queues the current leaves of the touched keys. `durable_last_seq`
  // lets it fold what is already durable when the queue is long.
  void EndBatch(const ShardState& state, uint64_t last_seq, uint64_t durable_last_seq);
  // Syncer thread: the state root after event `seq`, a batch end at or
  // after the mirror's seq and with every batch up to it queued; nullopt
  // (and an error logged) otherwise.
  std::optional<Hash32> RootAt(uint64_t seq);

  StateRootTrackerStats stats() const;

 private:
  struct Change {
    StateKey key;
    StateLeafBytes leaf;  // size 0: the key has no leaf any more
  };
  struct Batch {
    uint64_t last_seq = 0;
    std::vector<Change> changes;
  };
  // Moves queued batches up to `seq` into overlay_; mirror_mu_ held.
  void FoldLocked(uint64_t seq);
  // Applies overlay_ to keys_/hashes_; mirror_mu_ held.
  void MergeOverlayLocked();

  const size_t queued_changes_max_;
  std::vector<StateKey> touched_;  // engine thread only

  mutable std::mutex mu_;  // guards ready_, queue_, queued_changes_
  bool ready_ = false;
  std::deque<Batch> queue_;
  size_t queued_changes_ = 0;

  mutable std::mutex mirror_mu_;  // guards everything below
  uint64_t mirror_seq_ = 0;       // overlay_ and the arrays: state after this seq
  std::map<StateKey, StateLeafBytes> overlay_;
  std::vector<StateKey> keys_;  // ascending
  std::vector<Hash32> hashes_;  // LEAF of each key's leaf
  StateRootTrackerStats stats_;
};

}  // namespace giftledger::commands

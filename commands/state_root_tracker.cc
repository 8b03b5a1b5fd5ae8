#include "commands/state_root_tracker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "ledger/merkle.h"

namespace giftledger::commands {

void StateRootTracker::Reset(const ShardState& state) {
  StateLeaves all = CollectStateLeaves(state);
  std::vector<Hash32> hashes = StateLeafHashes(all.leaves);
  std::scoped_lock lock(mu_, mirror_mu_);
  queue_.clear();
  queued_changes_ = 0;
  overlay_.clear();
  keys_ = std::move(all.keys);
  hashes_ = std::move(hashes);
  mirror_seq_ = state.last_seq;
  touched_.clear();
  ready_ = true;
}

void StateRootTracker::Touch(const schemas::Event& event) { TouchedStateKeys(event, &touched_); }

void StateRootTracker::EndBatch(const ShardState& state, uint64_t last_seq,
                                uint64_t durable_last_seq) {
  Batch b;
  b.last_seq = last_seq;
  std::sort(touched_.begin(), touched_.end());
  touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
  b.changes.reserve(touched_.size());
  for (const StateKey& k : touched_) b.changes.push_back(Change{k, EncodeStateLeaf(state, k)});
  touched_.clear();
  bool fold;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ready_) return;
    GL_ASSERT(queue_.empty() || queue_.back().last_seq < last_seq);
    queued_changes_ += b.changes.size();
    queue_.push_back(std::move(b));
    fold = queued_changes_ > queued_changes_max_;
  }
  // Never wait for the syncer while it hashes the tree: fold next time.
  if (!fold) return;
  std::unique_lock<std::mutex> mirror(mirror_mu_, std::try_to_lock);
  if (mirror.owns_lock() && durable_last_seq > mirror_seq_) FoldLocked(durable_last_seq);
}

void StateRootTracker::FoldLocked(uint64_t seq) {
  std::deque<Batch> take;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!queue_.empty() && queue_.front().last_seq <= seq) {
      queued_changes_ -= queue_.front().changes.size();
      take.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  for (Batch& b : take) {
    GL_ASSERT(b.last_seq > mirror_seq_);
    for (const Change& c : b.changes) {
      if (c.leaf.size == 0 && !std::binary_search(keys_.begin(), keys_.end(), c.key)) {
        // An order placed and settled since the last root: it was never a
        // leaf of a root and is none now. Kept, such keys were most of the
        // overlay (every gift's order between two checkpoints: 16 MB per
        // shard in the soak, freed at each checkpoint).
        overlay_.erase(c.key);
      } else {
        overlay_.insert_or_assign(c.key, c.leaf);
      }
    }
    mirror_seq_ = b.last_seq;
  }
}

void StateRootTracker::MergeOverlayLocked() {
  std::vector<StateLeafBytes> leaves;
  leaves.reserve(overlay_.size());
  for (const auto& [k, leaf] : overlay_) leaves.push_back(leaf);
  const std::vector<Hash32> fresh = StateLeafHashes(leaves);
  // Common case: every changed key already has a leaf and keeps one.
  std::vector<size_t> at;
  at.reserve(overlay_.size());
  bool in_place = true;
  for (const auto& [k, leaf] : overlay_) {
    auto it = std::lower_bound(keys_.begin(), keys_.end(), k);
    if (it == keys_.end() || *it != k || leaf.size == 0) {
      in_place = false;
      break;
    }
    at.push_back(size_t(it - keys_.begin()));
  }
  if (in_place) {
    for (size_t i = 0; i < at.size(); ++i) hashes_[at[i]] = fresh[i];
  } else {
    std::vector<StateKey> keys;
    std::vector<Hash32> hashes;
    keys.reserve(keys_.size() + overlay_.size());
    hashes.reserve(keys_.size() + overlay_.size());
    size_t i = 0, j = 0;
    auto ov = overlay_.begin();
    while (i < keys_.size() || ov != overlay_.end()) {
      if (ov == overlay_.end() || (i < keys_.size() && keys_[i] < ov->first)) {
        keys.push_back(keys_[i]);
        hashes.push_back(hashes_[i]);
        ++i;
        continue;
      }
      if (i < keys_.size() && keys_[i] == ov->first) ++i;  // replaced or removed
      if (ov->second.size != 0) {
        keys.push_back(ov->first);
        hashes.push_back(fresh[j]);
      }
      ++ov;
      ++j;
    }
    keys_ = std::move(keys);
    hashes_ = std::move(hashes);
  }
  overlay_.clear();
}

std::optional<Hash32> StateRootTracker::RootAt(uint64_t seq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ready_) return std::nullopt;  // a writer's checkpoint before the state is rebuilt
  }
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> mirror(mirror_mu_);
  FoldLocked(seq);
  if (mirror_seq_ != seq) {
    spdlog::error("state root at seq {}: the state tree is at seq {}, no state root", seq,
                  mirror_seq_);
    return std::nullopt;
  }
  const size_t changed = overlay_.size();
  MergeOverlayLocked();
  std::vector<Hash32> nodes = hashes_;
  const Hash32 root = StateRootOf(nodes.size(), MerkleRootInPlace(&nodes));
  stats_.roots++;
  stats_.last_root_us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - start)
                                     .count());
  stats_.last_leaves = hashes_.size();
  stats_.last_changed = changed;
  return root;
}

StateRootTrackerStats StateRootTracker::stats() const {
  std::lock_guard<std::mutex> lock(mirror_mu_);
  StateRootTrackerStats s = stats_;
  s.overlay_keys = overlay_.size();
  return s;
}

}  // namespace giftledger::commands

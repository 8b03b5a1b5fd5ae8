// The shard-wide RFC 9162 Merkle tree over all events of a shard: a compact
// range (frontier) that grows block by block in O(log n) memory, and
// inclusion / consistency proofs with their verification (docs/proofs.md).
// Leaves are the same event leaf hashes the blocks use; the tree is not a
// block's tree.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

// Roots of the perfect subtrees that make up the first size() leaves, largest
// (leftmost) first: one per set bit of size().
class MerkleFrontier {
 public:
  MerkleFrontier() = default;
  // INVALID_ARGUMENT unless nodes.size() == popcount(size).
  static Result<MerkleFrontier> FromNodes(uint64_t size, std::vector<Hash32> nodes);

  void Append(const Hash32& leaf);
  // Appends n leaves; aligned subtrees are hashed level by level in batches.
  void AppendLeaves(const Hash32* leaves, size_t n);
  // RFC 9162 MTH of the leaves so far (H("") when empty).
  Hash32 Root() const;
  uint64_t size() const { return size_; }
  const std::vector<Hash32>& nodes() const { return nodes_; }

 private:
  void Push(const Hash32& root, uint64_t width);
  uint64_t size_ = 0;
  std::vector<Hash32> nodes_;
};

// A leaf range [begin, end) whose MTH is one element of a proof.
struct LeafRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Ranges of RFC 9162 PATH(index, D[size]), in proof order (bottom-up).
// Requires index < size.
std::vector<LeafRange> InclusionProofRanges(uint64_t index, uint64_t size);
// Ranges of RFC 9162 PROOF(old_size, D[new_size]), in proof order.
// Requires 0 < old_size <= new_size; empty when equal.
std::vector<LeafRange> ConsistencyProofRanges(uint64_t old_size, uint64_t new_size);

// Computes the MTH of each of `ranges` (any order, pairwise disjoint) from a
// stream of leaves fed in index order from 0: O(log n) memory.
class RangeRootsBuilder {
 public:
  explicit RangeRootsBuilder(std::vector<LeafRange> ranges);
  // Feeds leaves [next_index(), next_index() + n).
  void Feed(const Hash32* leaves, size_t n);
  uint64_t next_index() const { return next_; }
  // Stops early: true once every range is complete.
  bool done() const;
  // Roots in the order of the ranges given; FAILED_PRECONDITION when not done.
  Result<std::vector<Hash32>> Roots() const;

 private:
  std::vector<LeafRange> ranges_;
  std::vector<size_t> order_;  // indices into ranges_, by begin
  size_t cursor_ = 0;          // position in order_
  MerkleFrontier current_;
  std::vector<Hash32> roots_;
  size_t completed_ = 0;
  uint64_t next_ = 0;
};

// In-memory proofs over all leaves (tests, small trees).
std::vector<Hash32> InclusionProof(const std::vector<Hash32>& leaves, uint64_t index,
                                   uint64_t size);
std::vector<Hash32> ConsistencyProof(const std::vector<Hash32>& leaves, uint64_t old_size,
                                     uint64_t new_size);

// RFC 9162 section 2.1.3.2.
bool VerifyInclusion(const Hash32& leaf_hash, uint64_t index, uint64_t size,
                     const std::vector<Hash32>& path, const Hash32& root);
// RFC 9162 section 2.1.4.2; equal sizes need equal roots and an empty proof.
bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash32& old_root,
                       const Hash32& new_root, const std::vector<Hash32>& proof);

}  // namespace giftledger

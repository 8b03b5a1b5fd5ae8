#include "ledger/merkle_proof.h"

#include <algorithm>
#include <bit>
#include <numeric>

#include "ledger/crypto.h"
#include "ledger/merkle.h"

namespace giftledger {
namespace {

// Largest power of two strictly below n (n >= 2): the RFC 9162 split point.
uint64_t SplitPoint(uint64_t n) {
  GL_ASSERT(n >= 2);
  return std::bit_floor(n - 1);
}

Hash32 RangeRoot(const std::vector<Hash32>& leaves, const LeafRange& r) {
  return MerkleRoot(std::vector<Hash32>(leaves.begin() + r.begin, leaves.begin() + r.end));
}

}  // namespace

Result<MerkleFrontier> MerkleFrontier::FromNodes(uint64_t size, std::vector<Hash32> nodes) {
  if (nodes.size() != size_t(std::popcount(size))) {
    return InvalidArgument("frontier of " + std::to_string(nodes.size()) +
                           " hashes does not fit tree size " + std::to_string(size));
  }
  MerkleFrontier f;
  f.size_ = size;
  f.nodes_ = std::move(nodes);
  return f;
}

// Adds the root of a perfect subtree of `width` leaves that starts at size_.
void MerkleFrontier::Push(const Hash32& root, uint64_t width) {
  GL_ASSERT(width > 0 && std::has_single_bit(width) && size_ % width == 0);
  Hash32 h = root;
  uint64_t s = size_, w = width;
  while ((s & w) != 0) {  // the last node has the same width: merge them
    h = NodeHash(nodes_.back(), h);
    nodes_.pop_back();
    s ^= w;
    w <<= 1;
  }
  nodes_.push_back(h);
  size_ += width;
  GL_ASSERT(nodes_.size() == size_t(std::popcount(size_)));
}

void MerkleFrontier::Append(const Hash32& leaf) { Push(leaf, 1); }

void MerkleFrontier::AppendLeaves(const Hash32* leaves, size_t n) {
  std::vector<Hash32> scratch;
  size_t i = 0;
  while (i < n) {
    uint64_t k = std::bit_floor(uint64_t(n - i));
    if (size_ != 0) k = std::min(k, size_ & (~size_ + 1));  // lowest set bit: alignment
    if (k == 1) {
      Push(leaves[i], 1);
    } else {
      scratch.assign(leaves + i, leaves + i + k);
      Push(MerkleRootInPlace(&scratch), k);  // a perfect tree: bottom-up pairing is exact
    }
    i += k;
  }
}

Hash32 MerkleFrontier::Root() const {
  if (nodes_.empty()) return Blake2b256(nullptr, 0);
  Hash32 r = nodes_.back();
  for (size_t i = nodes_.size() - 1; i-- > 0;) r = NodeHash(nodes_[i], r);
  return r;
}

std::vector<LeafRange> InclusionProofRanges(uint64_t index, uint64_t size) {
  GL_ASSERT(index < size);
  std::vector<LeafRange> out;
  uint64_t lo = 0, hi = size;
  while (hi - lo > 1) {
    uint64_t k = SplitPoint(hi - lo);
    if (index < lo + k) {
      out.push_back({lo + k, hi});
      hi = lo + k;
    } else {
      out.push_back({lo, lo + k});
      lo += k;
    }
  }
  std::reverse(out.begin(), out.end());  // collected top-down; proofs go bottom-up
  return out;
}

std::vector<LeafRange> ConsistencyProofRanges(uint64_t old_size, uint64_t new_size) {
  GL_ASSERT(old_size > 0 && old_size <= new_size);
  std::vector<LeafRange> out;
  uint64_t lo = 0, hi = new_size;
  bool whole_old_tree = true;  // RFC 9162 SUBPROOF's b
  for (;;) {
    uint64_t m = old_size - lo, n = hi - lo;
    if (m == n) {
      if (!whole_old_tree) out.push_back({lo, hi});
      break;
    }
    uint64_t k = SplitPoint(n);
    if (m <= k) {
      out.push_back({lo + k, hi});
      hi = lo + k;
    } else {
      out.push_back({lo, lo + k});
      lo += k;
      whole_old_tree = false;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

RangeRootsBuilder::RangeRootsBuilder(std::vector<LeafRange> ranges) : ranges_(std::move(ranges)) {
  order_.resize(ranges_.size());
  std::iota(order_.begin(), order_.end(), size_t{0});
  std::sort(order_.begin(), order_.end(),
            [&](size_t a, size_t b) { return ranges_[a].begin < ranges_[b].begin; });
  for (size_t i = 0; i < order_.size(); ++i) {
    GL_ASSERT(ranges_[order_[i]].begin < ranges_[order_[i]].end);
    if (i > 0) GL_ASSERT(ranges_[order_[i - 1]].end <= ranges_[order_[i]].begin);
  }
  roots_.resize(ranges_.size());
}

void RangeRootsBuilder::Feed(const Hash32* leaves, size_t n) {
  while (n > 0 && cursor_ < order_.size()) {
    const LeafRange& r = ranges_[order_[cursor_]];
    if (next_ < r.begin) {
      size_t skip = size_t(std::min<uint64_t>(n, r.begin - next_));
      leaves += skip;
      n -= skip;
      next_ += skip;
      continue;
    }
    size_t take = size_t(std::min<uint64_t>(n, r.end - next_));
    current_.AppendLeaves(leaves, take);
    leaves += take;
    n -= take;
    next_ += take;
    if (next_ == r.end) {
      roots_[order_[cursor_]] = current_.Root();
      current_ = MerkleFrontier();
      ++cursor_;
      ++completed_;
    }
  }
  next_ += n;
}

bool RangeRootsBuilder::done() const { return completed_ == ranges_.size(); }

Result<std::vector<Hash32>> RangeRootsBuilder::Roots() const {
  if (!done()) return FailedPrecondition("leaves ended before every proof range was complete");
  return roots_;
}

std::vector<Hash32> InclusionProof(const std::vector<Hash32>& leaves, uint64_t index,
                                   uint64_t size) {
  GL_ASSERT(size <= leaves.size());
  std::vector<Hash32> out;
  for (const auto& r : InclusionProofRanges(index, size)) out.push_back(RangeRoot(leaves, r));
  return out;
}

std::vector<Hash32> ConsistencyProof(const std::vector<Hash32>& leaves, uint64_t old_size,
                                     uint64_t new_size) {
  GL_ASSERT(new_size <= leaves.size());
  std::vector<Hash32> out;
  for (const auto& r : ConsistencyProofRanges(old_size, new_size)) {
    out.push_back(RangeRoot(leaves, r));
  }
  return out;
}

bool VerifyInclusion(const Hash32& leaf_hash, uint64_t index, uint64_t size,
                     const std::vector<Hash32>& path, const Hash32& root) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Hash32 r = leaf_hash;
  for (const Hash32& p : path) {
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash32& old_root,
                       const Hash32& new_root, const std::vector<Hash32>& proof) {
  if (old_size == 0 || old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  std::vector<Hash32> path;
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash32 fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash32& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace giftledger

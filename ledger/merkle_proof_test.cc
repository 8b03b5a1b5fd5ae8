#include "ledger/merkle_proof.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "ledger/crypto.h"
#include "ledger/merkle.h"

namespace giftledger {
namespace {

// RFC 9162 section 2.1.1, written as the RFC states it (recursive): the
// reference every fast path is compared with.
Hash32 ReferenceMth(const std::vector<Hash32>& leaves, uint64_t lo, uint64_t hi) {
  if (hi == lo) return Blake2b256(nullptr, 0);
  if (hi - lo == 1) return leaves[lo];
  uint64_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return NodeHash(ReferenceMth(leaves, lo, lo + k), ReferenceMth(leaves, lo + k, hi));
}

// RFC 9162 section 2.1.3.1 PATH, recursive.
std::vector<Hash32> ReferencePath(const std::vector<Hash32>& d, uint64_t m, uint64_t lo,
                                  uint64_t hi) {
  if (hi - lo <= 1) return {};
  uint64_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  std::vector<Hash32> out;
  if (m < k) {
    out = ReferencePath(d, m, lo, lo + k);
    out.push_back(ReferenceMth(d, lo + k, hi));
  } else {
    out = ReferencePath(d, m - k, lo + k, hi);
    out.push_back(ReferenceMth(d, lo, lo + k));
  }
  return out;
}

// RFC 9162 section 2.1.4.1 SUBPROOF, recursive.
std::vector<Hash32> ReferenceSubproof(const std::vector<Hash32>& d, uint64_t m, uint64_t lo,
                                      uint64_t hi, bool b) {
  uint64_t n = hi - lo;
  if (m == n) {
    if (b) return {};
    return {ReferenceMth(d, lo, hi)};
  }
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  std::vector<Hash32> out;
  if (m <= k) {
    out = ReferenceSubproof(d, m, lo, lo + k, b);
    out.push_back(ReferenceMth(d, lo + k, hi));
  } else {
    out = ReferenceSubproof(d, m - k, lo + k, hi, false);
    out.push_back(ReferenceMth(d, lo, lo + k));
  }
  return out;
}

std::vector<Hash32> RandomLeaves(size_t n, std::mt19937_64& rng) {
  std::vector<Hash32> out(n);
  for (auto& h : out) {
    std::string e = "event-" + std::to_string(rng());
    h = LeafHash(e);
  }
  return out;
}

class MerkleProofTest : public ::testing::Test {
 protected:
  void SetUp() override { CryptoInit(); }
  std::mt19937_64 rng_{20261125};
};

TEST_F(MerkleProofTest, FrontierRootEqualsReferenceForEverySizeAndChunking) {
  auto leaves = RandomLeaves(600, rng_);
  MerkleFrontier one_by_one;
  MerkleFrontier chunked;
  size_t fed = 0;
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    one_by_one.Append(leaves[n - 1]);
    ASSERT_EQ(one_by_one.Root(), ReferenceMth(leaves, 0, n)) << n;
    if (fed < n) {
      size_t chunk = std::min<size_t>(leaves.size() - fed, 1 + rng_() % 37);
      chunked.AppendLeaves(leaves.data() + fed, chunk);
      fed += chunk;
      ASSERT_EQ(chunked.Root(), ReferenceMth(leaves, 0, fed)) << fed;
    }
  }
  EXPECT_EQ(one_by_one.Root(), MerkleRoot(leaves));
}

TEST_F(MerkleProofTest, FrontierFromNodesRejectsWrongNodeCount) {
  EXPECT_FALSE(MerkleFrontier::FromNodes(5, std::vector<Hash32>(1)).ok());
  EXPECT_FALSE(MerkleFrontier::FromNodes(0, std::vector<Hash32>(1)).ok());
  auto leaves = RandomLeaves(13, rng_);
  MerkleFrontier f;
  f.AppendLeaves(leaves.data(), 13);
  auto g = MerkleFrontier::FromNodes(13, f.nodes());
  ASSERT_TRUE(g.ok());
  g->Append(leaves[0]);
  f.Append(leaves[0]);
  EXPECT_EQ(g->Root(), f.Root());
}

TEST_F(MerkleProofTest, InclusionProofsMatchReferenceAndVerify) {
  auto leaves = RandomLeaves(140, rng_);
  for (uint64_t size = 1; size <= leaves.size(); ++size) {
    Hash32 root = ReferenceMth(leaves, 0, size);
    for (uint64_t i = 0; i < size; ++i) {
      auto path = InclusionProof(leaves, i, size);
      ASSERT_EQ(path, ReferencePath(leaves, i, 0, size)) << i << "/" << size;
      ASSERT_TRUE(VerifyInclusion(leaves[i], i, size, path, root)) << i << "/" << size;
    }
  }
}

TEST_F(MerkleProofTest, InclusionProofRejectedAfterAnySingleChange) {
  auto leaves = RandomLeaves(1000, rng_);
  for (int trial = 0; trial < 60; ++trial) {
    uint64_t size = 1 + rng_() % leaves.size();
    uint64_t i = rng_() % size;
    Hash32 root = ReferenceMth(leaves, 0, size);
    auto path = InclusionProof(leaves, i, size);
    ASSERT_TRUE(VerifyInclusion(leaves[i], i, size, path, root));
    for (size_t k = 0; k < path.size(); ++k) {
      auto bad = path;
      bad[k][rng_() % 32] ^= uint8_t(1u << (rng_() % 8));
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, size, bad, root));
    }
    Hash32 bad_leaf = leaves[i];
    bad_leaf[0] ^= 1;
    EXPECT_FALSE(VerifyInclusion(bad_leaf, i, size, path, root));
    Hash32 bad_root = root;
    bad_root[31] ^= 0x80;
    EXPECT_FALSE(VerifyInclusion(leaves[i], i, size, path, bad_root));
    if (size > 1) {
      EXPECT_FALSE(VerifyInclusion(leaves[i], (i + 1) % size, size, path, root));
    }
    // The tree size alone is not bound by the path (RFC 9162: sizes whose
    // paths have the same shape verify alike); the signed checkpoint binds
    // size and root together. The path must not lead to another tree's root.
    if (size < leaves.size()) {
      EXPECT_FALSE(
          VerifyInclusion(leaves[i], i, size + 1, path, ReferenceMth(leaves, 0, size + 1)));
    }
    EXPECT_FALSE(VerifyInclusion(leaves[i], size, size, path, root));
    if (!path.empty()) {
      auto shorter = path;
      shorter.pop_back();
      EXPECT_FALSE(VerifyInclusion(leaves[i], i, size, shorter, root));
    }
    auto longer = path;
    longer.push_back(root);
    EXPECT_FALSE(VerifyInclusion(leaves[i], i, size, longer, root));
  }
}

TEST_F(MerkleProofTest, ConsistencyProofsMatchReferenceAndVerify) {
  auto leaves = RandomLeaves(90, rng_);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    Hash32 new_root = ReferenceMth(leaves, 0, n);
    for (uint64_t m = 1; m <= n; ++m) {
      auto proof = ConsistencyProof(leaves, m, n);
      ASSERT_EQ(proof, ReferenceSubproof(leaves, m, 0, n, true)) << m << "->" << n;
      ASSERT_TRUE(VerifyConsistency(m, n, ReferenceMth(leaves, 0, m), new_root, proof))
          << m << "->" << n;
    }
  }
}

TEST_F(MerkleProofTest, ConsistencyProofRejectedAfterAnySingleChange) {
  auto leaves = RandomLeaves(1000, rng_);
  for (int trial = 0; trial < 60; ++trial) {
    uint64_t n = 2 + rng_() % (leaves.size() - 1);
    uint64_t m = 1 + rng_() % (n - 1);
    Hash32 old_root = ReferenceMth(leaves, 0, m), new_root = ReferenceMth(leaves, 0, n);
    auto proof = ConsistencyProof(leaves, m, n);
    ASSERT_TRUE(VerifyConsistency(m, n, old_root, new_root, proof));
    for (size_t k = 0; k < proof.size(); ++k) {
      auto bad = proof;
      bad[k][rng_() % 32] ^= uint8_t(1u << (rng_() % 8));
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, bad)) << k;
    }
    Hash32 bad_old = old_root, bad_new = new_root;
    bad_old[5] ^= 4;
    bad_new[7] ^= 2;
    EXPECT_FALSE(VerifyConsistency(m, n, bad_old, new_root, proof));
    EXPECT_FALSE(VerifyConsistency(m, n, old_root, bad_new, proof));
    if (n < leaves.size()) {
      EXPECT_FALSE(VerifyConsistency(m, n + 1, old_root, ReferenceMth(leaves, 0, n + 1), proof));
    }
    EXPECT_FALSE(VerifyConsistency(n, m, new_root, old_root, proof));
    auto shorter = proof;
    shorter.pop_back();
    EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, shorter));
    // A history that differs in one old leaf cannot be proven consistent.
    auto forked = leaves;
    forked[rng_() % m][0] ^= 1;
    EXPECT_FALSE(VerifyConsistency(m, n, ReferenceMth(forked, 0, m), new_root, proof));
  }
  EXPECT_FALSE(VerifyConsistency(0, 5, Hash32{}, Hash32{}, {}));
  Hash32 r = ReferenceMth(leaves, 0, 9);
  EXPECT_TRUE(VerifyConsistency(9, 9, r, r, {}));
  EXPECT_FALSE(VerifyConsistency(9, 9, r, r, {r}));
}

TEST_F(MerkleProofTest, StreamedRangeRootsEqualInMemoryProofs) {
  auto leaves = RandomLeaves(3000, rng_);
  for (int trial = 0; trial < 40; ++trial) {
    uint64_t n = 2 + rng_() % (leaves.size() - 1);
    uint64_t i = rng_() % n, m = 1 + rng_() % (n - 1);
    for (int kind = 0; kind < 2; ++kind) {
      auto ranges = kind == 0 ? InclusionProofRanges(i, n) : ConsistencyProofRanges(m, n);
      auto expect = kind == 0 ? InclusionProof(leaves, i, n) : ConsistencyProof(leaves, m, n);
      RangeRootsBuilder b(ranges);
      size_t fed = 0;
      while (fed < leaves.size() && !b.done()) {
        size_t chunk = std::min<size_t>(leaves.size() - fed, 1 + rng_() % 700);
        b.Feed(leaves.data() + fed, chunk);
        fed += chunk;
      }
      auto roots = b.Roots();
      ASSERT_TRUE(roots.ok());
      EXPECT_EQ(roots.value(), expect);
    }
  }
}

TEST_F(MerkleProofTest, RangeRootsNotDoneWhenLeavesEndEarly) {
  auto leaves = RandomLeaves(10, rng_);
  RangeRootsBuilder b(InclusionProofRanges(3, 20));
  b.Feed(leaves.data(), leaves.size());
  EXPECT_FALSE(b.done());
  EXPECT_EQ(b.Roots().status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace giftledger

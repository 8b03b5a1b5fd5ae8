#include "ledger/merkle.h"

#include <gtest/gtest.h>

#include "ledger/crypto.h"

namespace giftledger {
namespace {

// The RFC 9162 definition, recursively, as the reference for the iterative one.
Hash32 ReferenceRoot(const std::vector<Hash32>& leaves, size_t lo, size_t hi) {
  size_t n = hi - lo;
  if (n == 1) return leaves[lo];
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return NodeHash(ReferenceRoot(leaves, lo, lo + k), ReferenceRoot(leaves, lo + k, hi));
}

TEST(Merkle, MatchesRfc9162RecursiveDefinitionForEverySizeUpTo70) {
  CryptoInit();
  std::vector<Hash32> leaves;
  for (int n = 1; n <= 70; ++n) {
    leaves.push_back(LeafHash("event-" + std::to_string(n)));
    EXPECT_EQ(MerkleRoot(leaves), ReferenceRoot(leaves, 0, leaves.size())) << "n=" << n;
  }
}

TEST(Merkle, EmptyTreeIsHashOfEmptyString) {
  CryptoInit();
  EXPECT_EQ(MerkleRoot({}), Blake2b256(nullptr, 0));
}

TEST(Merkle, SwappingTwoLeavesChangesTheRoot) {
  CryptoInit();
  std::vector<Hash32> a = {LeafHash("a"), LeafHash("b"), LeafHash("c")};
  std::vector<Hash32> b = {LeafHash("b"), LeafHash("a"), LeafHash("c")};
  EXPECT_NE(MerkleRoot(a), MerkleRoot(b));
}

TEST(Merkle, LeafAndNodeHashesAreDomainSeparated) {
  CryptoInit();
  Hash32 l = LeafHash("x"), r = LeafHash("y");
  std::string concat(reinterpret_cast<const char*>(l.data()), 32);
  concat.append(reinterpret_cast<const char*>(r.data()), 32);
  EXPECT_NE(NodeHash(l, r), LeafHash(concat));
}

}  // namespace
}  // namespace giftledger

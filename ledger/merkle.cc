#include "ledger/merkle.h"

#include "ledger/crypto.h"

namespace giftledger {

Hash32 MerkleRootInPlace(std::vector<Hash32>* nodes) {
  if (nodes->empty()) return Blake2b256(nullptr, 0);
  size_t n = nodes->size();
  while (n > 1) {
    size_t out = 0;
    for (size_t i = 0; i + 1 < n; i += 2) (*nodes)[out++] = NodeHash((*nodes)[i], (*nodes)[i + 1]);
    if (n % 2 == 1) (*nodes)[out++] = (*nodes)[n - 1];
    n = out;
  }
  return (*nodes)[0];
}

Hash32 MerkleRoot(std::vector<Hash32> leaves) { return MerkleRootInPlace(&leaves); }

}  // namespace giftledger

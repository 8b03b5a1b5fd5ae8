#include "ledger/merkle.h"

#include <algorithm>

#include "ledger/blake2b_x8.h"
#include "ledger/crypto.h"

namespace giftledger {

Hash32 MerkleRootInPlace(std::vector<Hash32>* nodes) {
  if (nodes->empty()) return Blake2b256(nullptr, 0);
  // Hash32 is a plain array, so neighbours left||right are 64 contiguous bytes.
  static_assert(sizeof(Hash32) == kHashBytes);
  std::vector<PrefixedMessage> msgs;
  std::vector<Hash32> next;
  size_t n = nodes->size();
  while (n > 1) {
    size_t pairs = n / 2;
    msgs.resize(pairs);
    for (size_t i = 0; i < pairs; ++i) msgs[i] = {0x01, (*nodes)[2 * i].data(), 2 * kHashBytes};
    next.resize(pairs + n % 2);
    Blake2b256Prefixed(msgs.data(), pairs, next.data());
    if (n % 2 == 1) next[pairs] = (*nodes)[n - 1];
    n = next.size();
    std::copy(next.begin(), next.end(), nodes->begin());
  }
  return (*nodes)[0];
}

Hash32 MerkleRoot(std::vector<Hash32> leaves) { return MerkleRootInPlace(&leaves); }

}  // namespace giftledger

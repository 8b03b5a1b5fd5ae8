// Merkle tree hashing in the shape of RFC 9162 (Certificate Transparency v2):
// leaves H(0x00||data), nodes H(0x01||l||r), left subtree = largest power of
// two below n. Used for a block's event root and for shard checkpoints.
#pragma once

#include <vector>

#include "ledger/types.h"

namespace giftledger {

// Root over the given leaf hashes; works in place (the vector is consumed).
// Bottom-up with the unpaired last node carried up unchanged, which equals the
// RFC's recursive definition without recursion. The root of zero leaves is
// H("") as in RFC 9162.
Hash32 MerkleRootInPlace(std::vector<Hash32>* nodes);
Hash32 MerkleRoot(std::vector<Hash32> leaves);

}  // namespace giftledger

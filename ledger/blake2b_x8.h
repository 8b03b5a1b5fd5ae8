// BLAKE2b-256 of eight independent messages at once, one per 64-bit lane of
// AVX-512 registers. Leaf and node hashing of Merkle trees is many small,
// independent hashes: one lane each gives several times libsodium's one-at-a-
// time speed. Output is bit-identical to crypto_generichash (32-byte, no key);
// machines without AVX-512F fall back to libsodium.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ledger/types.h"

namespace giftledger {

// One message: a one-byte domain prefix (RFC 9162: 0x00 leaf, 0x01 node)
// followed by `size` bytes at `data`.
struct PrefixedMessage {
  uint8_t prefix = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// Hashes n messages (any n) into out[0..n).
void Blake2b256Prefixed(const PrefixedMessage* msgs, size_t n, Hash32* out);

// True when the AVX-512 path is in use (for benchmarks and logs).
bool Blake2bX8Available();

}  // namespace giftledger

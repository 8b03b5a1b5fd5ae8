// Strong id types and the 32-byte hash used throughout the ledger, so that a
// shard number is never passed where a sequence number is expected.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "ledger/limits.h"

namespace giftledger {

struct ShardId {
  uint32_t value = 0;
  friend bool operator==(ShardId a, ShardId b) { return a.value == b.value; }
  friend bool operator!=(ShardId a, ShardId b) { return a.value != b.value; }
};

// Position of an event in its shard's log: 1, 2, 3, ... (0 = none yet).
struct Seq {
  uint64_t value = 0;
  friend bool operator==(Seq a, Seq b) { return a.value == b.value; }
  friend bool operator!=(Seq a, Seq b) { return a.value != b.value; }
  friend bool operator<(Seq a, Seq b) { return a.value < b.value; }
  friend bool operator<=(Seq a, Seq b) { return a.value <= b.value; }
  friend bool operator>(Seq a, Seq b) { return a.value > b.value; }
  friend bool operator>=(Seq a, Seq b) { return a.value >= b.value; }
};

using Hash32 = std::array<uint8_t, kHashBytes>;
using Signature64 = std::array<uint8_t, kSignatureBytes>;
using PublicKey = std::array<uint8_t, 32>;

std::string ToHex(const uint8_t* data, size_t size);
template <size_t N>
std::string ToHex(const std::array<uint8_t, N>& a) {
  return ToHex(a.data(), N);
}
// Parses exactly 2*N hex characters; returns false on anything else.
bool FromHex(const std::string& hex, uint8_t* out, size_t out_size);

}  // namespace giftledger

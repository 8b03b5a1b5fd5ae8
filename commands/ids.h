// Strong id types of the money core: users (and hosts), tx ids, command
// hashes. A user id is a u64 chosen by the gateway (docs/commands.md).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "commands/limits.h"

namespace giftledger::commands {

struct UserId {
  uint64_t value = 0;
  friend bool operator==(UserId a, UserId b) { return a.value == b.value; }
  friend bool operator!=(UserId a, UserId b) { return a.value != b.value; }
  friend bool operator<(UserId a, UserId b) { return a.value < b.value; }
};

struct UserIdHash {
  size_t operator()(UserId u) const {
    // splitmix64 finalizer: user ids are often sequential.
    uint64_t z = u.value + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return size_t(z ^ (z >> 31));
  }
};

// 128-bit id of a command chosen by the gateway; also names orders (an
// order's id is the tx id of its PlaceOrder).
struct TxId {
  std::array<uint8_t, kTxIdBytes> bytes{};

  // nullopt unless exactly 16 bytes.
  static std::optional<TxId> FromBytes(std::string_view b) {
    if (b.size() != kTxIdBytes) return std::nullopt;
    TxId t;
    std::memcpy(t.bytes.data(), b.data(), kTxIdBytes);
    return t;
  }
  std::string str() const { return std::string(reinterpret_cast<const char*>(bytes.data()), 16); }
  bool zero() const {
    for (uint8_t b : bytes) {
      if (b != 0) return false;
    }
    return true;
  }
  friend bool operator==(const TxId& a, const TxId& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const TxId& a, const TxId& b) { return a.bytes != b.bytes; }
  friend bool operator<(const TxId& a, const TxId& b) { return a.bytes < b.bytes; }
};

struct TxIdHash {
  size_t operator()(const TxId& t) const {
    // Tx ids are random (or hash-derived): their first bytes are a hash.
    uint64_t v;
    std::memcpy(&v, t.bytes.data(), 8);
    uint64_t w;
    std::memcpy(&w, t.bytes.data() + 8, 8);
    return size_t(v ^ (w * 0x9e3779b97f4a7c15ull));
  }
};

using CommandHash = std::array<uint8_t, kCommandHashBytes>;

}  // namespace giftledger::commands

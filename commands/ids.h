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

// Keyed hashing for the hash tables of the shard state. Ids are chosen by
// gateways, so a fixed (and invertible) hash would let one gateway pick ids
// that all land in one bucket and stall the shard (hash flooding). SipHash
// with a key drawn at random once per process makes collisions unguessable.
// The tables use SipHash-1-3, the variant Rust's std and CPython use against
// hash flooding: half the rounds of SipHash-2-4 matter on the hot path (a
// table lookup's latency, measured 2x on 1M-entry maps), and 1-3 is still a
// keyed PRF with no known key-recovery or collision attack.
// Table layout therefore differs between processes: nothing that reaches the
// log, a snapshot or a hash may depend on iteration order (SerializeState
// sorts every map).
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

// A fresh random key (getrandom); asserts on failure.
SipKey DrawProcessHashKey();

// The per-process key: drawn on first use, never written anywhere.
inline const SipKey& ProcessHashKey() {
  static const SipKey key = DrawProcessHashKey();
  return key;
}

namespace sip_internal {
inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
struct V {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
  template <int C>
  void Compress(uint64_t m) {
    v3 ^= m;
    for (int i = 0; i < C; ++i) Round();
    v0 ^= m;
  }
};
}  // namespace sip_internal

// SipHash-C-D (the reference algorithm) of N little-endian 64-bit words,
// i.e. of an 8·N-byte message. SipHash<2, 4> is libsodium's
// crypto_shorthash (the test checks it against libsodium).
template <int C, int D, size_t N>
inline uint64_t SipHash(const SipKey& k, const uint64_t (&words)[N]) {
  sip_internal::V s{k.k0 ^ 0x736f6d6570736575ull, k.k1 ^ 0x646f72616e646f6dull,
                    k.k0 ^ 0x6c7967656e657261ull, k.k1 ^ 0x7465646279746573ull};
  for (uint64_t m : words) s.Compress<C>(m);
  s.Compress<C>(uint64_t(8 * N) << 56);  // final block: length, no tail bytes
  s.v2 ^= 0xff;
  for (int i = 0; i < D; ++i) s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

struct UserIdHash {
  size_t operator()(UserId u) const {
    const uint64_t m[1] = {u.value};
    return size_t(SipHash<1, 3>(ProcessHashKey(), m));
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
    uint64_t m[2];
    std::memcpy(m, t.bytes.data(), 16);  // host byte order: any order is equally keyed
    return size_t(SipHash<1, 3>(ProcessHashKey(), m));
  }
};

using CommandHash = std::array<uint8_t, kCommandHashBytes>;

}  // namespace giftledger::commands

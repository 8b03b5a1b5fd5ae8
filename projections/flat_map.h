// An open-addressing hash map from a u64 id to a small value, for the
// projector's per-user tables: one probe sequence in one array instead of a
// node allocation and a pointer chase per entry (the node maps were the
// largest cost of a projection). Keys are hashed with the process's keyed
// SipHash (commands/ids.h), so gateway-chosen ids cannot flood one bucket.
// No erase: read-model rows only ever appear.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "commands/ids.h"

namespace giftledger::projections {

template <typename V>
class FlatMap {
 public:
  // The value of `key`, value-initialized and inserted when absent; true
  // when inserted. The pointer is valid until the next insertion.
  std::pair<V*, bool> try_emplace(uint64_t key) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) {
        s.used = true;
        s.key = key;
        s.value = V{};
        ++size_;
        return {&s.value, true};
      }
      if (s.key == key) return {&s.value, false};
    }
  }
  V& operator[](uint64_t key) { return *try_emplace(key).first; }
  V& operator[](commands::UserId key) { return (*this)[key.value]; }

  const V* find(uint64_t key) const {
    if (size_ == 0) return nullptr;
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  const V* find(commands::UserId key) const { return find(key.value); }

  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const Slot& s : slots_) {
      if (s.used) fn(s.key, s.value);
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    V value{};
    bool used = false;
  };

  size_t Home(uint64_t key) const {
    const uint64_t m[1] = {key};
    return size_t(commands::SipHash<1, 3>(commands::ProcessHashKey(), m)) & mask_;
  }

  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (Slot& s : old) {
      if (s.used) *try_emplace(s.key).first = std::move(s.value);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace giftledger::projections

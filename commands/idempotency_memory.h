// The in-memory tier of permanent idempotency (state.h, docs/commands.md,
// "Memory budget and the on-disk index"): the entries after
// idempotency_disk_seq, kept in seq order in a ring and found through a flat
// open-addressing table. An insert allocates nothing once the ring has its
// capacity, an eviction finds the oldest entries at the front without a
// scan, and entries that moved to disk are erased in slices, freeing
// nothing (a hash table of nodes freed a million nodes at once, which
// stalled a batch and left malloc fragmented).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>

#include "commands/idempotency_index.h"
#include "commands/ids.h"

namespace giftledger::commands {

class IdempotencyMemory {
 public:
  struct Slot {
    TxId tx;
    IdempotencyEntry entry;
  };

  IdempotencyMemory() = default;
  IdempotencyMemory(const IdempotencyMemory& other);
  IdempotencyMemory& operator=(const IdempotencyMemory& other);
  // A moved-from table is empty (capacity 0), like a new one.
  IdempotencyMemory(IdempotencyMemory&& other) noexcept { *this = std::move(other); }
  IdempotencyMemory& operator=(IdempotencyMemory&& other) noexcept;

  // Live entries: the tier's content. Dropped ones still taking slots do
  // not count and are never found.
  size_t size() const { return size_t(tail_ - live_); }
  bool empty() const { return size() == 0; }
  // Slots taken by entries dropped but not erased yet.
  size_t dropped() const { return size_t(live_ - head_); }
  size_t capacity() const { return capacity_; }

  // Capacity for at least `entries` live plus dropped entries. Grows only;
  // the memory is mapped lazily (calloc), so an unused capacity costs
  // address space, not resident memory.
  void Reserve(size_t entries);

  const IdempotencyEntry* Find(const TxId& tx) const;

  // Adds a new entry; its seq must be above every seq added before (Apply
  // adds in seq order). False, changing nothing, when `tx` is held (live or
  // dropped). A full ring first erases a dropped entry, else grows.
  bool Insert(const TxId& tx, const IdempotencyEntry& entry);

  // The i-th oldest live entry, i < size().
  const Slot& Oldest(size_t i) const;

  // Drops every live entry with seq <= `seq` (a prefix in seq order): they
  // stop being found at once and are erased later by EraseDropped or by
  // Insert. Returns how many were dropped.
  size_t DropThrough(uint64_t seq);
  // Erases up to `max` dropped entries; returns how many.
  size_t EraseDropped(size_t max);

  // Live entries, oldest first.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (uint64_t p = live_; p < tail_; ++p) {
      const Slot& s = ring_[RingIndex(p)];
      fn(s.tx, s.entry);
    }
  }

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  static uint32_t Hash(const TxId& tx);
  size_t RingIndex(uint64_t pos) const { return size_t(pos % capacity_); }
  // The table slot holding the ring index `ring`, whose key hashes to `h`.
  size_t SlotOf(uint32_t h, size_t ring) const;
  void EraseOldest();
  void Grow(size_t capacity);
  void IndexInsert(uint32_t h, size_t ring);

  // Ring of capacity_ slots; positions count up forever, the entry at
  // position p lives in ring_[p % capacity_]. [head_, live_) dropped,
  // [live_, tail_) live, both in seq order.
  std::unique_ptr<Slot[], FreeDeleter> ring_;
  size_t capacity_ = 0;
  uint64_t head_ = 0;
  uint64_t live_ = 0;
  uint64_t tail_ = 0;
  uint64_t last_seq_ = 0;  // of the newest insert
  // Linear probing, at most half full: 0 = empty, else (hash << 32) |
  // (ring index + 1). Erasure shifts later slots back (no tombstones).
  std::unique_ptr<uint64_t[], FreeDeleter> table_;
  size_t table_mask_ = 0;
};

}  // namespace giftledger::commands

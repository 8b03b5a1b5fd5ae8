#include "commands/idempotency_memory.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "ledger/status.h"

namespace giftledger::commands {

namespace {

constexpr size_t kCapacityMin = 16;
constexpr size_t kIndexBits = 32;  // ring indexes (+1) in the low half of a table slot

template <typename T>
T* CallocArray(size_t n) {
  // Fresh pages of a large calloc are the kernel's zero pages: resident only
  // once touched.
  void* p = std::calloc(n, sizeof(T));
  GL_ASSERT(p != nullptr);
  return static_cast<T*>(p);
}

size_t TableSizeFor(size_t capacity) {
  size_t n = 16;
  while (n < 2 * capacity) n *= 2;
  return n;
}

}  // namespace

IdempotencyMemory::IdempotencyMemory(const IdempotencyMemory& other) { *this = other; }

IdempotencyMemory& IdempotencyMemory::operator=(const IdempotencyMemory& other) {
  if (this == &other) return *this;
  ring_.reset();
  table_.reset();
  capacity_ = 0;
  head_ = live_ = tail_ = 0;
  table_mask_ = 0;
  last_seq_ = 0;
  if (other.capacity_ == 0) return *this;
  capacity_ = other.capacity_;
  ring_.reset(CallocArray<Slot>(capacity_));
  std::memcpy(static_cast<void*>(ring_.get()), other.ring_.get(), capacity_ * sizeof(Slot));
  const size_t table_size = other.table_mask_ + 1;
  table_.reset(CallocArray<uint64_t>(table_size));
  std::memcpy(table_.get(), other.table_.get(), table_size * sizeof(uint64_t));
  table_mask_ = other.table_mask_;
  head_ = other.head_;
  live_ = other.live_;
  tail_ = other.tail_;
  last_seq_ = other.last_seq_;
  return *this;
}

IdempotencyMemory& IdempotencyMemory::operator=(IdempotencyMemory&& other) noexcept {
  if (this == &other) return *this;
  ring_ = std::move(other.ring_);
  table_ = std::move(other.table_);
  capacity_ = std::exchange(other.capacity_, 0);
  head_ = std::exchange(other.head_, 0);
  live_ = std::exchange(other.live_, 0);
  tail_ = std::exchange(other.tail_, 0);
  last_seq_ = std::exchange(other.last_seq_, 0);
  table_mask_ = std::exchange(other.table_mask_, 0);
  return *this;
}

uint32_t IdempotencyMemory::Hash(const TxId& tx) { return uint32_t(TxIdHash()(tx)); }

void IdempotencyMemory::Reserve(size_t entries) {
  if (entries > capacity_) Grow(entries);
}

const IdempotencyEntry* IdempotencyMemory::Find(const TxId& tx) const {
  if (capacity_ == 0) return nullptr;
  const uint32_t h = Hash(tx);
  for (size_t i = h & table_mask_;; i = (i + 1) & table_mask_) {
    const uint64_t s = table_[i];
    if (s == 0) return nullptr;
    if (uint32_t(s >> kIndexBits) != h) continue;
    const size_t ring = size_t(uint32_t(s)) - 1;
    const Slot& slot = ring_[ring];
    if (slot.tx == tx) {
      // Position of ring index `ring` within [head_, tail_): dropped ones
      // are on disk, where the caller finds them.
      const uint64_t pos = head_ + (ring + capacity_ - RingIndex(head_)) % capacity_;
      return pos >= live_ ? &slot.entry : nullptr;
    }
  }
}

bool IdempotencyMemory::Insert(const TxId& tx, const IdempotencyEntry& entry) {
  GL_ASSERT(entry.seq > last_seq_ || last_seq_ == 0);
  if (tail_ - head_ == capacity_) {
    if (head_ < live_) {
      EraseOldest();
    } else {
      Grow(std::max(kCapacityMin, 2 * capacity_));
    }
  }
  const uint32_t h = Hash(tx);
  size_t i = h & table_mask_;
  for (;; i = (i + 1) & table_mask_) {
    const uint64_t s = table_[i];
    if (s == 0) break;
    if (uint32_t(s >> kIndexBits) == h && ring_[size_t(uint32_t(s)) - 1].tx == tx) return false;
  }
  const size_t ring = RingIndex(tail_);
  ring_[ring] = Slot{tx, entry};
  table_[i] = (uint64_t(h) << kIndexBits) | uint64_t(ring + 1);
  ++tail_;
  last_seq_ = entry.seq;
  return true;
}

const IdempotencyMemory::Slot& IdempotencyMemory::Oldest(size_t i) const {
  GL_ASSERT(i < size());
  return ring_[RingIndex(live_ + i)];
}

size_t IdempotencyMemory::DropThrough(uint64_t seq) {
  // Binary search: seqs ascend along the ring.
  uint64_t lo = live_, hi = tail_;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (ring_[RingIndex(mid)].entry.seq <= seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const size_t n = size_t(lo - live_);
  live_ = lo;
  return n;
}

size_t IdempotencyMemory::EraseDropped(size_t max) {
  size_t n = 0;
  for (; n < max && head_ < live_; ++n) EraseOldest();
  return n;
}

size_t IdempotencyMemory::SlotOf(uint32_t h, size_t ring) const {
  const uint64_t want = (uint64_t(h) << kIndexBits) | uint64_t(ring + 1);
  for (size_t i = h & table_mask_;; i = (i + 1) & table_mask_) {
    GL_ASSERT(table_[i] != 0);  // every ring entry is indexed
    if (table_[i] == want) return i;
  }
}

void IdempotencyMemory::EraseOldest() {
  GL_ASSERT(head_ < live_);  // only dropped entries are erased
  const size_t ring = RingIndex(head_);
  size_t hole = SlotOf(Hash(ring_[ring].tx), ring);
  // Backward-shift deletion: move each later slot of the probe run into the
  // hole unless its home lies cyclically in (hole, j].
  for (size_t j = (hole + 1) & table_mask_; table_[j] != 0; j = (j + 1) & table_mask_) {
    const size_t home = uint32_t(table_[j] >> kIndexBits) & table_mask_;
    if (((j - home) & table_mask_) >= ((j - hole) & table_mask_)) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = 0;
  ++head_;
}

void IdempotencyMemory::IndexInsert(uint32_t h, size_t ring) {
  size_t i = h & table_mask_;
  while (table_[i] != 0) i = (i + 1) & table_mask_;
  table_[i] = (uint64_t(h) << kIndexBits) | uint64_t(ring + 1);
}

void IdempotencyMemory::Grow(size_t capacity) {
  GL_ASSERT(capacity >= tail_ - head_ && capacity < (size_t{1} << kIndexBits) - 1);
  std::unique_ptr<Slot[], FreeDeleter> ring(CallocArray<Slot>(capacity));
  const size_t table_size = TableSizeFor(capacity);
  std::unique_ptr<uint64_t[], FreeDeleter> table(CallocArray<uint64_t>(table_size));
  // Positions restart at 0; the ring keeps its order.
  const uint64_t count = tail_ - head_;
  for (uint64_t k = 0; k < count; ++k) ring[k] = ring_[RingIndex(head_ + k)];
  live_ -= head_;
  tail_ = count;
  head_ = 0;
  ring_ = std::move(ring);
  table_ = std::move(table);
  capacity_ = capacity;
  table_mask_ = table_size - 1;
  for (uint64_t k = 0; k < count; ++k) IndexInsert(Hash(ring_[k].tx), size_t(k));
}

}  // namespace giftledger::commands

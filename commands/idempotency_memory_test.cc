// The in-memory idempotency tier: dropped entries are never found and are
// erased in slices, a full ring erases a dropped entry instead of growing,
// and random inserts, drops and erasures (wrapping the ring, growing it,
// shifting probe runs back) keep every live entry findable; a moved-from
// table is empty and usable.
#include "commands/idempotency_memory.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "commands/test_util.h"

namespace giftledger::commands {
namespace {

TxId Id(uint64_t n) { return *TxId::FromBytes(testing::Tx(n)); }

IdempotencyEntry Entry(uint64_t seq) {
  IdempotencyEntry e;
  e.hash.fill(uint8_t(seq));
  e.seq = seq;
  return e;
}

TEST(IdempotencyMemory, DroppedEntriesAreNotFoundWhileErasedInSlices) {
  IdempotencyMemory m;
  for (uint64_t n = 1; n <= 100; ++n) ASSERT_TRUE(m.Insert(Id(n), Entry(n)));
  EXPECT_EQ(m.DropThrough(60), 60u);
  EXPECT_EQ(m.size(), 40u);
  EXPECT_EQ(m.Oldest(0).entry.seq, 61u);
  for (size_t slice : {size_t{0}, size_t{25}, size_t{35}}) {
    EXPECT_EQ(m.EraseDropped(slice), slice);
    for (uint64_t n = 1; n <= 100; ++n) {
      const IdempotencyEntry* e = m.Find(Id(n));
      if (n <= 60) {
        EXPECT_EQ(e, nullptr) << n;
      } else {
        ASSERT_NE(e, nullptr) << n;
        EXPECT_EQ(*e, Entry(n));
      }
    }
  }
  EXPECT_EQ(m.dropped(), 0u);
  EXPECT_EQ(m.EraseDropped(10), 0u);
}

TEST(IdempotencyMemory, HeldIdIsNotInsertedTwiceLiveOrDropped) {
  IdempotencyMemory m;
  ASSERT_TRUE(m.Insert(Id(1), Entry(1)));
  ASSERT_TRUE(m.Insert(Id(2), Entry(2)));
  EXPECT_FALSE(m.Insert(Id(2), Entry(3)));
  m.DropThrough(1);
  EXPECT_FALSE(m.Insert(Id(1), Entry(4)));
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(*m.Find(Id(2)), Entry(2));
}

TEST(IdempotencyMemory, FullRingErasesADroppedEntryInsteadOfGrowing) {
  IdempotencyMemory m;
  m.Reserve(16);
  const size_t capacity = m.capacity();
  for (uint64_t n = 1; n <= capacity; ++n) ASSERT_TRUE(m.Insert(Id(n), Entry(n)));
  m.DropThrough(capacity / 2);
  for (uint64_t n = capacity + 1; n <= capacity + capacity / 2; ++n) {
    ASSERT_TRUE(m.Insert(Id(n), Entry(n)));
  }
  EXPECT_EQ(m.capacity(), capacity);
  EXPECT_EQ(m.dropped(), 0u);
  for (uint64_t n = capacity / 2 + 1; n <= capacity + capacity / 2; ++n) {
    EXPECT_NE(m.Find(Id(n)), nullptr) << n;
  }
}

TEST(IdempotencyMemory, MovedFromTableIsEmptyAndUsable) {
  IdempotencyMemory a;
  ASSERT_TRUE(a.Insert(Id(1), Entry(1)));
  IdempotencyMemory b = std::move(a);
  EXPECT_EQ(*b.Find(Id(1)), Entry(1));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): the state is specified
  EXPECT_EQ(a.Find(Id(1)), nullptr);
  EXPECT_TRUE(a.Insert(Id(2), Entry(2)));
  EXPECT_EQ(*a.Find(Id(2)), Entry(2));
}

TEST(IdempotencyMemory, RandomInsertsDropsAndErasuresKeepEveryLiveEntryFindable) {
  std::mt19937_64 rng(7);
  IdempotencyMemory m;
  std::map<uint64_t, uint64_t> live;  // seq -> id number
  uint64_t seq = 0;
  for (int step = 0; step < 20000; ++step) {
    const uint64_t r = rng() % 100;
    if (r < 70) {
      ++seq;
      const uint64_t n = rng();  // random ids: long probe runs mix
      if (m.Insert(Id(n), Entry(seq))) live[seq] = n;
    } else if (r < 80 && !live.empty()) {
      const uint64_t cut = live.begin()->first + rng() % 8;
      m.DropThrough(cut);
      live.erase(live.begin(), live.upper_bound(cut));
    } else {
      m.EraseDropped(rng() % 16);
    }
    ASSERT_EQ(m.size(), live.size());
    if (step % 1000 == 0 || step == 19999) {
      IdempotencyMemory copy = m;
      for (const auto& [s, n] : live) {
        const IdempotencyEntry* e = copy.Find(Id(n));
        ASSERT_NE(e, nullptr) << step;
        EXPECT_EQ(e->seq, s);
      }
    }
  }
}

}  // namespace
}  // namespace giftledger::commands

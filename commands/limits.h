// Every limit of the money core in one place (docs/commands.md, "Accounts and
// money"). Relations are checked at compile time so that checked arithmetic
// can rely on them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ledger/limits.h"

namespace giftledger::commands {

// Largest amount of one command (top-up, order, host credit, payout).
inline constexpr int64_t kAmountMax = 1'000'000'000'000;  // 10^12
// Largest value of any account field (available, held, earned, paid_out).
inline constexpr int64_t kBalanceMax = 1'000'000'000'000'000;  // 10^15
inline constexpr int64_t kPriceMax = 1'000'000'000;            // 10^9
inline constexpr uint32_t kOrderCountMax = 10'000;
inline constexpr int64_t kOrderTtlMinUs = 1'000'000;      // 1 s
inline constexpr int64_t kOrderTtlMaxUs = 3'600'000'000;  // 1 h
inline constexpr uint32_t kPendingOrdersPerUserMax = 256;
inline constexpr uint32_t kExpireOrdersBatchMax = 1024;
inline constexpr size_t kPaymentRefBytesMax = 128;
inline constexpr size_t kNameBytesMax = 64;
inline constexpr size_t kReasonBytesMax = 256;
inline constexpr size_t kComboIdBytesMax = 16;
inline constexpr uint32_t kHostShareBpsMax = 10'000;
inline constexpr size_t kTxIdBytes = 16;
inline constexpr size_t kCommandHashBytes = 16;
// Default budget of the in-memory idempotency tier per shard (its ring and
// table take ≈ 250 MB, idempotency_memory.h);
// older entries move to run files (docs/commands.md, "Memory budget and the
// on-disk index"; EngineOptions::idempotency_memory_entries_max).
inline constexpr size_t kIdempotencyMemoryEntriesMax = size_t{1} << 21;
// Slots of idempotency entries already moved to a run that the engine erases
// from memory between two batches (idempotency_memory.h): a million at once
// held a batch for tens of ms; in slices the table is clean again within
// about 64 batches, and a full ring erases one per insert meanwhile.
inline constexpr size_t kIdempotencyEraseSliceMax = size_t{1} << 14;
// Default budget of closed orders held in memory per shard (≈ 40 MiB at
// ~150 bytes a table entry); the oldest move to run files (docs/commands.md,
// "Closed orders on disk"; EngineOptions::closed_orders_memory_max). Only a
// replayed or late order command reads an evicted one. Pending orders are
// never evicted.
inline constexpr size_t kClosedOrdersMemoryMax = size_t{1} << 18;
// Size-tiered merging of run files (run_index.h, docs/commands.md "Merging"):
// the newest kRunMergeFanIn runs merge into one when the largest holds at
// most kRunMergeSizeRatio times the smallest; above kRunsMax runs per index
// the smallest adjacent pair merges whatever the sizes. Every lookup of an
// id not in memory probes one Bloom filter per run: kRunsMax bounds that.
inline constexpr size_t kRunMergeFanIn = 4;
inline constexpr size_t kRunMergeSizeRatio = 2;
inline constexpr size_t kRunsMax = 24;

// Any two balances or a balance and an amount add without int64 overflow.
static_assert(kBalanceMax <= INT64_MAX / 4);
static_assert(kAmountMax <= kBalanceMax);
// price × count fits int64 before it is checked against kAmountMax.
static_assert(kPriceMax <= INT64_MAX / kOrderCountMax);
// amount × basis points fits int64.
static_assert(kAmountMax <= INT64_MAX / kHostShareBpsMax);
// One ExpireOrders command's events fit in one block.
static_assert(kExpireOrdersBatchMax <= kBlockEventsMax);
// An eviction keeps half the budget: at least one closed order stays, and one
// expiry sweep's closures fit before the next eviction is due.
static_assert(kClosedOrdersMemoryMax / 2 >= kExpireOrdersBatchMax);
static_assert(kIdempotencyMemoryEntriesMax / 2 >= kExpireOrdersBatchMax);
// Fewer than kRunMergeFanIn runs per tier of 4x: 10^9 ids in runs of 2^20
// take 5 tiers, 15 runs, below kRunsMax.
static_assert(kRunsMax >= 5 * (kRunMergeFanIn - 1) && kRunMergeFanIn >= 2);
// A user's pending orders can all be expired by one sweep.
static_assert(kPendingOrdersPerUserMax <= kExpireOrdersBatchMax);

}  // namespace giftledger::commands

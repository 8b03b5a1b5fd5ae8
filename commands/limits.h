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
// Default budget of the in-memory idempotency tier per shard (≈ 160 MiB);
// older entries move to run files (docs/commands.md, "Memory budget and the
// on-disk index"; EngineOptions::idempotency_memory_entries_max).
inline constexpr size_t kIdempotencyMemoryEntriesMax = size_t{1} << 21;
// Default budget of closed orders held in memory per shard (≈ 40 MiB at
// ~150 bytes a table entry); the oldest move to run files (docs/commands.md,
// "Closed orders on disk"; EngineOptions::closed_orders_memory_max). Only a
// replayed or late order command reads an evicted one. Pending orders are
// never evicted.
inline constexpr size_t kClosedOrdersMemoryMax = size_t{1} << 18;

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
// A user's pending orders can all be expired by one sweep.
static_assert(kPendingOrdersPerUserMax <= kExpireOrdersBatchMax);

}  // namespace giftledger::commands

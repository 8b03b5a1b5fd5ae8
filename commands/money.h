// Checked int64 arithmetic for money in minor units. Nothing here wraps: an
// overflow, a result above kBalanceMax or below zero is reported, and the
// caller turns it into a typed result (AMOUNT_OUT_OF_RANGE or
// INSUFFICIENT_FUNDS).
#pragma once

#include <cstdint>
#include <optional>

#include "commands/limits.h"

namespace giftledger::commands {

// An amount a single command may move: 1 .. kAmountMax.
inline bool AmountInRange(int64_t amount) { return amount >= 1 && amount <= kAmountMax; }

// a + b as a balance: nullopt on overflow, or when the sum leaves [0, kBalanceMax].
inline std::optional<int64_t> BalanceAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  if (r < 0 || r > kBalanceMax) return std::nullopt;
  return r;
}

// a - b as a balance: nullopt on overflow or when the result is negative.
inline std::optional<int64_t> BalanceSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
  if (r < 0 || r > kBalanceMax) return std::nullopt;
  return r;
}

// a × b: nullopt on overflow or a negative product.
inline std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  if (r < 0) return std::nullopt;
  return r;
}

// ⌊amount × bps / 10000⌋, the host's part of a gift. Requires a valid amount
// and bps ≤ kHostShareBpsMax (limits.h guarantees no overflow).
inline int64_t HostShare(int64_t amount, uint32_t bps) {
  return amount * int64_t(bps) / int64_t(kHostShareBpsMax);
}

}  // namespace giftledger::commands

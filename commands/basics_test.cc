// Checked money arithmetic, ledger-time calendar periods, shard routing and
// the HostCredit tx id derivation.
#include <gtest/gtest.h>

#include <set>

#include "commands/ledger_time.h"
#include "commands/money.h"
#include "commands/routing.h"
#include "commands/test_util.h"

namespace giftledger::commands {
namespace {

using testing::kT0;
using testing::Tx;

TEST(Money, BalanceAddOverflowIsNotAWrap) {
  EXPECT_EQ(BalanceAdd(1, 2), 3);
  EXPECT_EQ(BalanceAdd(kBalanceMax - 1, 1), kBalanceMax);
  EXPECT_FALSE(BalanceAdd(kBalanceMax, 1).has_value());
  EXPECT_FALSE(BalanceAdd(INT64_MAX, 1).has_value());
  EXPECT_FALSE(BalanceAdd(0, -1).has_value());
}

TEST(Money, BalanceSubBelowZeroIsRefused) {
  EXPECT_EQ(BalanceSub(5, 5), 0);
  EXPECT_FALSE(BalanceSub(4, 5).has_value());
  EXPECT_FALSE(BalanceSub(INT64_MIN, 1).has_value());
}

TEST(Money, CheckedMulOverflow) {
  EXPECT_EQ(CheckedMul(kPriceMax, kOrderCountMax), kPriceMax * kOrderCountMax);
  EXPECT_FALSE(CheckedMul(INT64_MAX, 2).has_value());
  EXPECT_FALSE(CheckedMul(-1, 2).has_value());
}

TEST(Money, AmountRangeAndHostShare) {
  EXPECT_FALSE(AmountInRange(0));
  EXPECT_TRUE(AmountInRange(1));
  EXPECT_TRUE(AmountInRange(kAmountMax));
  EXPECT_FALSE(AmountInRange(kAmountMax + 1));
  EXPECT_EQ(HostShare(999, 5000), 499);  // floor
  EXPECT_EQ(HostShare(kAmountMax, kHostShareBpsMax), kAmountMax);
}

TEST(LedgerTime, DayBoundaryFollowsUtcOffset) {
  const int64_t midnight_utc = 1'710'028'800'000'000;  // 2024-03-10T00:00:00Z
  EXPECT_EQ(DayIndex(midnight_utc, 0), DayIndex(midnight_utc - 1, 0) + 1);
  // At UTC+8 the local day changed 8 hours earlier.
  const int64_t eight_h = 8ll * 3600 * 1'000'000;
  EXPECT_EQ(DayIndex(midnight_utc - eight_h, 480), DayIndex(midnight_utc - eight_h - 1, 480) + 1);
  EXPECT_EQ(DayIndex(-1, 0), -1);  // floor division before the epoch
}

TEST(LedgerTime, MonthIndexOfKnownDates) {
  EXPECT_EQ(MonthIndex(kT0, 0), 2024 * 12 + 2);                      // March 2024
  EXPECT_EQ(MonthIndex(1'709'164'800'000'000, 0), 2024 * 12 + 1);    // 2024-02-29
  EXPECT_EQ(MonthIndex(1'709'251'199'999'999, 0), 2024 * 12 + 1);    // last µs of Feb
  EXPECT_EQ(MonthIndex(1'709'251'200'000'000, 0), 2024 * 12 + 2);    // 2024-03-01
  EXPECT_EQ(MonthIndex(1'709'251'200'000'000, -60), 2024 * 12 + 1);  // UTC-1: still Feb
  EXPECT_EQ(MonthIndex(0, 0), 1970 * 12);
  EXPECT_EQ(MonthIndex(-1, 0), 1969 * 12 + 11);
}

TEST(Routing, ShardOfIsStableAndSpreads) {
  EXPECT_EQ(ShardOf(UserId{42}, 1).value, 0u);
  std::set<uint32_t> seen;
  for (uint64_t u = 1; u <= 200; ++u) {
    const ShardId s = ShardOf(UserId{u}, 8);
    EXPECT_LT(s.value, 8u);
    EXPECT_EQ(s, ShardOf(UserId{u}, 8));
    seen.insert(s.value);
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(Routing, HostCreditTxIdIsDerivedFromTheGift) {
  const TxId a = *TxId::FromBytes(Tx(1));
  const TxId b = *TxId::FromBytes(Tx(2));
  EXPECT_EQ(DeriveHostCreditTxId(a), DeriveHostCreditTxId(a));
  EXPECT_NE(DeriveHostCreditTxId(a), DeriveHostCreditTxId(b));
  EXPECT_NE(DeriveHostCreditTxId(a), a);
}

}  // namespace
}  // namespace giftledger::commands

// Checked money arithmetic, ledger-time calendar periods, shard routing and
// the HostCredit tx id derivation.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <set>

#include "commands/ledger_time.h"
#include "commands/money.h"
#include "commands/routing.h"
#include "commands/test_util.h"
#include "ledger/crypto.h"

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

TEST(Routing, HostCreditTxIdIsDerivedFromTheGiftAndItsShard) {
  const TxId a = *TxId::FromBytes(Tx(1));
  const TxId b = *TxId::FromBytes(Tx(2));
  EXPECT_EQ(DeriveHostCreditTxId(ShardId{0}, a), DeriveHostCreditTxId(ShardId{0}, a));
  EXPECT_NE(DeriveHostCreditTxId(ShardId{0}, a), DeriveHostCreditTxId(ShardId{0}, b));
  EXPECT_NE(DeriveHostCreditTxId(ShardId{0}, a), a);
}

// Tx ids are unique per shard only: the same gateway tx id on two payer
// shards must give two different credits.
TEST(Routing, SameGiftTxIdOnTwoPayerShardsDerivesTwoCreditIds) {
  const TxId a = *TxId::FromBytes(Tx(1));
  EXPECT_NE(DeriveHostCreditTxId(ShardId{0}, a), DeriveHostCreditTxId(ShardId{1}, a));
}

TEST(Routing, DerivedCreditIdIsInTheReservedVersion8Space) {
  for (uint64_t n = 1; n <= 64; ++n) {
    const TxId d = DeriveHostCreditTxId(ShardId{uint32_t(n % 3)}, *TxId::FromBytes(Tx(n)));
    EXPECT_EQ(d.bytes[6] >> 4, 0x8);
    EXPECT_EQ(d.bytes[8] >> 6, 0x2);  // RFC 9562 variant 10
    EXPECT_TRUE(IsReservedTxId(d));
    EXPECT_FALSE(IsReservedTxId(*TxId::FromBytes(Tx(n))));
  }
}

// The reference value of the v2 derivation, so that settlement in another
// language can check its implementation against this one.
TEST(Routing, DerivedCreditIdMatchesTheDocumentedFormula) {
  const TxId gift = *TxId::FromBytes(std::string(16, '\x11'));
  std::string in = "giftledger/host-credit/v2";
  in += std::string("\x03\x00\x00\x00", 4);
  in += std::string(16, '\x11');
  const Hash32 h = Blake2b256(reinterpret_cast<const uint8_t*>(in.data()), in.size());
  std::array<uint8_t, 16> want;
  std::memcpy(want.data(), h.data(), 16);
  want[6] = uint8_t((want[6] & 0x0f) | 0x80);
  want[8] = uint8_t((want[8] & 0x3f) | 0x80);
  EXPECT_EQ(DeriveHostCreditTxId(ShardId{3}, gift).bytes, want);
}

// The SipHash code must be the reference algorithm: SipHash<2, 4> equals
// libsodium's crypto_shorthash (the tables use SipHash<1, 3>, the same code
// with other round counts), and the table hash differs between keys, so a
// gateway cannot precompute collisions.
TEST(KeyedHash, SipHashMatchesLibsodiumShorthash) {
  for (int i = 0; i < 32; ++i) {
    uint8_t key[crypto_shorthash_KEYBYTES];
    uint8_t msg[16];
    randombytes_buf(key, sizeof(key));
    randombytes_buf(msg, sizeof(msg));
    SipKey k{GetU64(key), GetU64(key + 8)};
    for (size_t words : {1, 2}) {
      uint8_t want[crypto_shorthash_BYTES];
      crypto_shorthash(want, msg, 8 * words, key);
      const uint64_t m[2] = {GetU64(msg), GetU64(msg + 8)};
      const uint64_t m1[1] = {m[0]};
      const uint64_t got = words == 1 ? SipHash<2, 4>(k, m1) : SipHash<2, 4>(k, m);
      EXPECT_EQ(got, GetU64(want));
    }
  }
}

TEST(KeyedHash, TableHashDependsOnTheProcessKey) {
  const SipKey other{ProcessHashKey().k0 ^ 1, ProcessHashKey().k1};
  const uint64_t m[1] = {42};
  EXPECT_EQ(UserIdHash{}(UserId{42}), size_t(SipHash<1, 3>(ProcessHashKey(), m)));
  EXPECT_NE((SipHash<1, 3>(other, m)), (SipHash<1, 3>(ProcessHashKey(), m)));
  // The round counts are honoured (1-3 is not silently 2-4).
  SipKey ref{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  const uint64_t msg[1] = {0x0706050403020100ull};
  EXPECT_NE((SipHash<1, 3>(ref, msg)), (SipHash<2, 4>(ref, msg)));
}

}  // namespace
}  // namespace giftledger::commands

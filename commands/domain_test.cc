// Every command and every error of docs/commands.md, decided and applied
// through the in-memory harness.
#include <gtest/gtest.h>

#include "commands/test_util.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders
using schemas::ResultCode;

constexpr uint64_t kAlice = 1001;
constexpr uint64_t kBob = 1002;
constexpr uint64_t kHost = 2001;
constexpr uint32_t kRose = 7;

class DomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(h.Run(CatalogCmd(Tx(900), kRose, 100, true, 5000)).code, schemas::OK);
    ASSERT_EQ(h.Run(TopUpCmd(Tx(901), kAlice, 10'000)).code, schemas::OK);
  }
  void TearDown() override { EXPECT_TRUE(CheckInvariants(h.state).ok()); }

  Harness h;
};

TEST_F(DomainTest, TopUpCreditsAvailable) {
  auto o = h.Run(TopUpCmd(Tx(1), kAlice, 500));
  EXPECT_EQ(o.code, schemas::OK);
  ASSERT_EQ(o.events, 1u);
  EXPECT_TRUE(o.produced[0].has_topped_up());
  EXPECT_EQ(o.produced[0].tx_id(), Tx(1));
  EXPECT_EQ(o.produced[0].ledger_time_us(), kT0);
  EXPECT_EQ(h.W(kAlice).available, 10'500);
}

TEST_F(DomainTest, TopUpAmountOutOfRangeIsLoggedRejection) {
  auto zero = h.Run(TopUpCmd(Tx(1), kAlice, 0));
  EXPECT_EQ(zero.code, schemas::AMOUNT_OUT_OF_RANGE);
  ASSERT_EQ(zero.events, 1u);
  EXPECT_TRUE(zero.produced[0].has_command_rejected());
  EXPECT_EQ(h.Run(TopUpCmd(Tx(2), kAlice, kAmountMax + 1)).code, schemas::AMOUNT_OUT_OF_RANGE);
  EXPECT_EQ(h.W(kAlice).available, 10'000);
}

TEST_F(DomainTest, TopUpBeyondBalanceMaxIsAmountOutOfRange) {
  uint64_t tx = 10'000;
  while (h.W(kBob).available + kAmountMax <= kBalanceMax) {
    ASSERT_EQ(h.Run(TopUpCmd(Tx(tx++), kBob, kAmountMax)).code, schemas::OK);
  }
  EXPECT_EQ(h.Run(TopUpCmd(Tx(tx++), kBob, kAmountMax)).code, schemas::AMOUNT_OUT_OF_RANGE);
  EXPECT_LE(h.W(kBob).available, kBalanceMax);
}

TEST_F(DomainTest, TopUpPaymentRefTooLongIsInvalidArgumentAndNotLogged) {
  auto c = TopUpCmd(Tx(1), kAlice, 5);
  c.mutable_top_up()->set_payment_ref(std::string(kPaymentRefBytesMax + 1, 'x'));
  auto o = h.Run(c);
  EXPECT_EQ(o.code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(o.events, 0u);
  EXPECT_EQ(h.Run(TopUpCmd(Tx(1), kAlice, 5)).code, schemas::OK);  // tx id still free
}

TEST_F(DomainTest, PlaceOrderHoldsCountTimesPrice) {
  auto o = h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 3));
  EXPECT_EQ(o.code, schemas::OK);
  const auto& p = o.produced.at(0).order_placed();
  EXPECT_EQ(p.amount(), 300);
  EXPECT_EQ(p.host_share(), 150);
  EXPECT_EQ(p.expires_at_us(), kT0 + 60 * kSecond);
  EXPECT_EQ(h.W(kAlice).available, 9'700);
  EXPECT_EQ(h.W(kAlice).held, 300);
  EXPECT_EQ(h.state.FindOrder(*TxId::FromBytes(Tx(1)))->status, OrderStatus::kPending);
}

TEST_F(DomainTest, PlaceOrderUnknownGift) {
  EXPECT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, 99, 1)).code, schemas::UNKNOWN_GIFT);
}

TEST_F(DomainTest, PlaceOrderGiftInactive) {
  ASSERT_EQ(h.Run(CatalogCmd(Tx(1), kRose, 100, false)).code, schemas::OK);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 1)).code, schemas::GIFT_INACTIVE);
}

TEST_F(DomainTest, PlaceOrderInsufficientFunds) {
  EXPECT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 101)).code, schemas::INSUFFICIENT_FUNDS);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(2), kBob, kHost, kRose, 1)).code, schemas::INSUFFICIENT_FUNDS);
  EXPECT_EQ(h.W(kAlice).held, 0);
}

TEST_F(DomainTest, PlaceOrderAmountOutOfRange) {
  ASSERT_EQ(h.Run(CatalogCmd(Tx(1), 8, kPriceMax)).code, schemas::OK);
  // 10^9 × 10^4 = 10^13 > kAmountMax.
  EXPECT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, 8, kOrderCountMax)).code,
            schemas::AMOUNT_OUT_OF_RANGE);
}

TEST_F(DomainTest, PlaceOrderInvalidArguments) {
  EXPECT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 0)).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 1, 10)).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(3), kAlice, 0, kRose, 1)).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(4), 0, kHost, kRose, 1)).code, schemas::INVALID_ARGUMENT);
}

TEST_F(DomainTest, PlaceOrderTooManyPendingIsLimitExceeded) {
  ASSERT_EQ(h.Run(TopUpCmd(Tx(99), kAlice, 100'000)).code, schemas::OK);
  for (uint32_t i = 0; i < kPendingOrdersPerUserMax; ++i) {
    ASSERT_EQ(h.Run(PlaceCmd(Tx(100 + i), kAlice, kHost, kRose, 1)).code, schemas::OK);
  }
  EXPECT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1)).code, schemas::LIMIT_EXCEEDED);
}

TEST_F(DomainTest, ConsumeOrderSendsTheGift) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 2)).code, schemas::OK);
  auto o = h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1), "combo-1", 5));
  ASSERT_EQ(o.code, schemas::OK);
  const auto& g = o.produced.at(0).gift_sent();
  EXPECT_EQ(g.payer(), kAlice);
  EXPECT_EQ(g.host(), kHost);
  EXPECT_EQ(g.room(), 77u);
  EXPECT_EQ(g.gift(), kRose);
  EXPECT_EQ(g.count(), 2u);
  EXPECT_EQ(g.amount(), 200);
  EXPECT_EQ(g.host_share(), 100);
  EXPECT_EQ(g.order_id(), Tx(1));
  EXPECT_EQ(g.combo_id(), "combo-1");
  EXPECT_EQ(g.combo_count(), 5u);
  EXPECT_EQ(h.W(kAlice).held, 0);
  EXPECT_EQ(h.W(kAlice).available, 9'800);
  EXPECT_EQ(h.state.totals.gifted, 200);
}

TEST_F(DomainTest, ConsumeOrderNotFound) {
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1))).code, schemas::ORDER_NOT_FOUND);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1)).code, schemas::OK);
  // Bob cannot consume Alice's order, nor learn that it exists.
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(3), kBob, Tx(1))).code, schemas::ORDER_NOT_FOUND);
}

TEST_F(DomainTest, ReplayedConsumeOrderNeverDebitsTwice) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1)).code, schemas::OK);
  ASSERT_EQ(h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1))).code, schemas::OK);
  const Wallet before = h.W(kAlice);
  // Same command again: the original answer.
  auto dup = h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1)));
  EXPECT_EQ(dup.code, schemas::OK);
  EXPECT_TRUE(dup.duplicate);
  // A new tx id for the same order: rejected by state.
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(3), kAlice, Tx(1))).code, schemas::ORDER_ALREADY_CONSUMED);
  EXPECT_EQ(h.W(kAlice).available, before.available);
  EXPECT_EQ(h.W(kAlice).held, before.held);
  EXPECT_EQ(h.state.totals.gifted, 100);
}

TEST_F(DomainTest, ConsumeOrderAfterExpiryIsOrderExpired) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1, 5 * kSecond)).code, schemas::OK);
  h.now_us += 5 * kSecond;  // expires_at ≤ now: expired even before the sweep
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1))).code, schemas::ORDER_EXPIRED);
  EXPECT_EQ(h.W(kAlice).held, 100);
  auto sweep = h.Sweep();
  EXPECT_EQ(sweep.code, schemas::OK);
  ASSERT_EQ(sweep.events, 1u);
  EXPECT_EQ(sweep.produced[0].order_voided().reason(), schemas::EXPIRED);
  EXPECT_EQ(h.W(kAlice).held, 0);
  EXPECT_EQ(h.W(kAlice).available, 10'000);
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(3), kAlice, Tx(1))).code, schemas::ORDER_EXPIRED);
}

TEST_F(DomainTest, CancelOrderReleasesTheHold) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 4)).code, schemas::OK);
  auto o = h.Run(CancelCmd(Tx(2), kAlice, Tx(1)));
  ASSERT_EQ(o.code, schemas::OK);
  EXPECT_EQ(o.produced.at(0).order_voided().reason(), schemas::CANCELLED);
  EXPECT_EQ(h.W(kAlice).held, 0);
  EXPECT_EQ(h.W(kAlice).available, 10'000);
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(3), kAlice, Tx(1))).code, schemas::ORDER_VOIDED);
  EXPECT_EQ(h.Run(CancelCmd(Tx(4), kAlice, Tx(1))).code, schemas::ORDER_VOIDED);
}

TEST_F(DomainTest, CancelConsumedOrderIsAlreadyConsumed) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1)).code, schemas::OK);
  ASSERT_EQ(h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1))).code, schemas::OK);
  EXPECT_EQ(h.Run(CancelCmd(Tx(3), kAlice, Tx(1))).code, schemas::ORDER_ALREADY_CONSUMED);
  EXPECT_EQ(h.Run(CancelCmd(Tx(4), kAlice, Tx(99))).code, schemas::ORDER_NOT_FOUND);
}

TEST_F(DomainTest, ExpireOrdersVoidsOnlyDueOrdersOldestFirst) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1, 20 * kSecond)).code, schemas::OK);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 1, 10 * kSecond)).code, schemas::OK);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(3), kAlice, kHost, kRose, 1, 60 * kSecond)).code, schemas::OK);
  h.now_us += 30 * kSecond;
  auto o = h.Sweep();
  ASSERT_EQ(o.events, 2u);
  EXPECT_EQ(o.produced[0].order_voided().order_id(), Tx(2));
  EXPECT_EQ(o.produced[1].order_voided().order_id(), Tx(1));
  EXPECT_TRUE(o.produced[0].command_hash().empty());  // not an idempotency entry
  EXPECT_EQ(h.W(kAlice).held, 100);
  EXPECT_EQ(h.Sweep().events, 0u);
}

TEST_F(DomainTest, ExpireOrdersFromAGatewayIsPermissionDenied) {
  schemas::Command c;
  c.set_tx_id(Tx(1));
  c.mutable_expire_orders();
  EXPECT_EQ(h.Run(c).code, schemas::PERMISSION_DENIED);
}

TEST_F(DomainTest, RefundReturnsTheGiftOnce) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 3)).code, schemas::OK);
  ASSERT_EQ(h.Run(ConsumeCmd(Tx(2), kAlice, Tx(1))).code, schemas::OK);
  auto o = h.Run(RefundCmd(Tx(3), kAlice, Tx(1)));
  ASSERT_EQ(o.code, schemas::OK);
  EXPECT_EQ(o.produced.at(0).refunded().amount(), 300);
  EXPECT_EQ(h.W(kAlice).available, 10'000);
  EXPECT_EQ(h.state.totals.refunded, 300);
  EXPECT_EQ(h.Run(RefundCmd(Tx(4), kAlice, Tx(1))).code, schemas::ALREADY_REFUNDED);
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(5), kAlice, Tx(1))).code, schemas::ORDER_ALREADY_CONSUMED);
}

TEST_F(DomainTest, RefundErrors) {
  EXPECT_EQ(h.Run(RefundCmd(Tx(1), kAlice, Tx(50))).code, schemas::ORDER_NOT_FOUND);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(51), kAlice, kHost, kRose, 1)).code, schemas::OK);
  EXPECT_EQ(h.Run(RefundCmd(Tx(2), kAlice, Tx(51))).code, schemas::ORDER_PENDING);
  ASSERT_EQ(h.Run(CancelCmd(Tx(3), kAlice, Tx(51))).code, schemas::OK);
  EXPECT_EQ(h.Run(RefundCmd(Tx(4), kAlice, Tx(51))).code, schemas::ORDER_VOIDED);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(52), kAlice, kHost, kRose, 1, kSecond)).code, schemas::OK);
  h.now_us += kSecond;
  ASSERT_EQ(h.Sweep().events, 1u);
  EXPECT_EQ(h.Run(RefundCmd(Tx(5), kAlice, Tx(52))).code, schemas::ORDER_EXPIRED);
  // Refund is an ops command.
  EXPECT_EQ(h.Run(RefundCmd(Tx(6), kAlice, Tx(52)), kRoleGifts).code, schemas::PERMISSION_DENIED);
}

TEST_F(DomainTest, SetCatalogReplacesAndValidates) {
  ASSERT_EQ(h.Run(CatalogCmd(Tx(1), kRose, 250, true, 7000)).code, schemas::OK);
  EXPECT_EQ(h.state.catalog.at(kRose).price, 250);
  EXPECT_EQ(h.state.catalog.at(kRose).host_share_bps, 7000u);
  EXPECT_EQ(h.Run(CatalogCmd(Tx(2), kRose, 0)).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(CatalogCmd(Tx(3), kRose, kPriceMax + 1)).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(CatalogCmd(Tx(4), kRose, 10, true, 10'001)).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(CatalogCmd(Tx(5), 0, 10)).code, schemas::INVALID_ARGUMENT);
}

TEST_F(DomainTest, PlacedOrderKeepsItsPriceAfterCatalogChange) {
  ASSERT_EQ(h.Run(PlaceCmd(Tx(1), kAlice, kHost, kRose, 1)).code, schemas::OK);
  ASSERT_EQ(h.Run(CatalogCmd(Tx(2), kRose, 999)).code, schemas::OK);
  auto o = h.Run(ConsumeCmd(Tx(3), kAlice, Tx(1)));
  EXPECT_EQ(o.produced.at(0).gift_sent().amount(), 100);
}

TEST_F(DomainTest, HostCreditWithDerivedTxId) {
  auto o = h.Run(HostCreditCmd(Tx(500), kHost, 150));
  ASSERT_EQ(o.code, schemas::OK);
  EXPECT_EQ(h.H(kHost).earned, 150);
  // Settlement retries: the original answer, no second credit.
  auto again = h.Run(HostCreditCmd(Tx(500), kHost, 150));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, o.seq);
  EXPECT_EQ(h.H(kHost).earned, 150);
}

TEST_F(DomainTest, HostCreditErrors) {
  auto c = HostCreditCmd(Tx(500), kHost, 150);
  c.set_tx_id(Tx(501));  // not derived from the gift's tx id
  EXPECT_EQ(h.Run(c).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(HostCreditCmd(Tx(502), kHost, 0)).code, schemas::AMOUNT_OUT_OF_RANGE);
  EXPECT_EQ(h.Run(HostCreditCmd(Tx(503), kHost, 1), kRoleGifts).code, schemas::PERMISSION_DENIED);
}

TEST_F(DomainTest, PayoutDebitsPayableEarnings) {
  ASSERT_EQ(h.Run(HostCreditCmd(Tx(500), kHost, 150)).code, schemas::OK);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(1), kHost, 151)).code, schemas::INSUFFICIENT_FUNDS);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(2), kHost, 100)).code, schemas::OK);
  EXPECT_EQ(h.H(kHost).paid_out, 100);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(3), kHost, 51)).code, schemas::INSUFFICIENT_FUNDS);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(4), kHost, 0)).code, schemas::AMOUNT_OUT_OF_RANGE);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(5), kBob, 1)).code, schemas::INSUFFICIENT_FUNDS);
}

TEST_F(DomainTest, PerGiftCap) {
  ASSERT_EQ(h.Run(LimitsCmd(Tx(1), kAlice, 250, 0, 0)).code, schemas::OK);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 3)).code, schemas::LIMIT_EXCEEDED);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(3), kAlice, kHost, kRose, 2)).code, schemas::OK);
}

TEST_F(DomainTest, DailyCapResetsAtLocalMidnight) {
  // UTC+8: kT0 (12:00Z) is 20:00 local; local midnight is 4 h later.
  h.state.config.utc_offset_minutes = 480;
  ASSERT_EQ(h.Run(LimitsCmd(Tx(1), kAlice, 0, 300, 0)).code, schemas::OK);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 3)).code, schemas::OK);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(3), kAlice, kHost, kRose, 1)).code, schemas::LIMIT_EXCEEDED);
  ASSERT_EQ(h.Run(ConsumeCmd(Tx(4), kAlice, Tx(2))).code, schemas::OK);
  h.now_us += 4 * 3600 * kSecond - 1;  // 23:59:59.999999 local
  EXPECT_EQ(h.Run(PlaceCmd(Tx(5), kAlice, kHost, kRose, 1)).code, schemas::LIMIT_EXCEEDED);
  h.now_us += 1;  // local midnight
  EXPECT_EQ(h.Run(PlaceCmd(Tx(6), kAlice, kHost, kRose, 3)).code, schemas::OK);
}

TEST_F(DomainTest, MonthlyCapAndVoidGivesBack) {
  ASSERT_EQ(h.Run(LimitsCmd(Tx(1), kAlice, 0, 0, 500)).code, schemas::OK);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 5)).code, schemas::OK);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(3), kAlice, kHost, kRose, 1)).code, schemas::LIMIT_EXCEEDED);
  ASSERT_EQ(h.Run(CancelCmd(Tx(4), kAlice, Tx(2))).code, schemas::OK);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(5), kAlice, kHost, kRose, 5)).code, schemas::OK);
  h.now_us += 25ll * 24 * 3600 * kSecond;  // April
  ASSERT_EQ(h.Sweep().events, 1u);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(6), kAlice, kHost, kRose, 5)).code, schemas::OK);
}

TEST_F(DomainTest, SetLimitsValidates) {
  EXPECT_EQ(h.Run(LimitsCmd(Tx(1), kAlice, -1, 0, 0)).code, schemas::INVALID_ARGUMENT);
  ASSERT_EQ(h.Run(LimitsCmd(Tx(2), kAlice, 5, 0, 0)).code, schemas::OK);
  ASSERT_EQ(h.Run(LimitsCmd(Tx(3), kAlice, 0, 0, 0)).code, schemas::OK);
  EXPECT_EQ(h.state.limits.count(UserId{kAlice}), 0u);
}

TEST_F(DomainTest, SetPrivacyHidesAndShows) {
  ASSERT_EQ(h.Run(PrivacyCmd(Tx(1), kAlice, true)).code, schemas::OK);
  EXPECT_EQ(h.state.hidden.count(UserId{kAlice}), 1u);
  ASSERT_EQ(h.Run(PrivacyCmd(Tx(2), kAlice, false)).code, schemas::OK);
  EXPECT_EQ(h.state.hidden.count(UserId{kAlice}), 0u);
  EXPECT_EQ(h.Run(PrivacyCmd(Tx(3), kAlice, true), kRolePayments).code, schemas::PERMISSION_DENIED);
}

TEST_F(DomainTest, RolesAreEnforcedPerCommand) {
  EXPECT_EQ(h.Run(TopUpCmd(Tx(1), kAlice, 1), kRoleGifts).code, schemas::PERMISSION_DENIED);
  EXPECT_EQ(h.Run(PlaceCmd(Tx(2), kAlice, kHost, kRose, 1), kRolePayments).code,
            schemas::PERMISSION_DENIED);
  EXPECT_EQ(h.Run(CatalogCmd(Tx(3), kRose, 1), kRoleGifts).code, schemas::PERMISSION_DENIED);
  EXPECT_EQ(h.Run(LimitsCmd(Tx(4), kAlice, 1, 1, 1), kRoleAudit).code, schemas::PERMISSION_DENIED);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(5), kHost, 1), kRoleOps).code, schemas::PERMISSION_DENIED);
  EXPECT_EQ(h.log.size(), 2u);  // nothing was logged beyond SetUp
}

TEST_F(DomainTest, MalformedCommandsAreInvalidArgument) {
  schemas::Command no_body;
  no_body.set_tx_id(Tx(1));
  EXPECT_EQ(h.Run(no_body).code, schemas::INVALID_ARGUMENT);
  auto short_tx = TopUpCmd("short", kAlice, 1);
  EXPECT_EQ(h.Run(short_tx).code, schemas::INVALID_ARGUMENT);
  auto zero_tx = TopUpCmd(std::string(16, '\0'), kAlice, 1);
  EXPECT_EQ(h.Run(zero_tx).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(2), kAlice, "bad")).code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.Run(ConsumeCmd(Tx(3), kAlice, Tx(9), "", 3)).code, schemas::INVALID_ARGUMENT);
}

TEST(WrongShard, CommandForAnotherShardsUserChangesNothing) {
  Harness h(ShardConfig{ShardId{0}, 4, 0});
  uint64_t mine = 0, other = 0;
  for (uint64_t u = 1; mine == 0 || other == 0; ++u) {
    (ShardOf(UserId{u}, 4).value == 0 ? mine : other) = u;
  }
  EXPECT_EQ(h.Run(TopUpCmd(Tx(1), mine, 5)).code, schemas::OK);
  auto o = h.Run(TopUpCmd(Tx(2), other, 5));
  EXPECT_EQ(o.code, schemas::WRONG_SHARD);
  EXPECT_EQ(o.events, 0u);
  EXPECT_EQ(h.Run(HostCreditCmd(Tx(3), other, 5)).code, schemas::WRONG_SHARD);
  EXPECT_EQ(h.state.wallets.size(), 1u);
  // SetCatalog is accepted by every shard.
  EXPECT_EQ(h.Run(CatalogCmd(Tx(4), 1, 5)).code, schemas::OK);
}

}  // namespace
}  // namespace giftledger::commands

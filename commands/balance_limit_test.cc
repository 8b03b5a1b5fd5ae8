// A wallet's available + held is bounded by kBalanceMax, because releasing a
// hold moves held back to available and Apply must never overflow.
#include <gtest/gtest.h>

#include "commands/limits.h"
#include "commands/test_util.h"

namespace giftledger::commands {
namespace {

using namespace testing;

TEST(BalanceLimit, TopUpThatWouldOverflowAReleasedHoldIsRejected) {
  Harness h;
  ASSERT_EQ(h.Run(CatalogCmd(Tx(1), 1, 1)).code, schemas::OK);
  ASSERT_EQ(h.Run(TopUpCmd(Tx(2), 5, 1)).code, schemas::OK);
  ASSERT_EQ(h.Run(PlaceCmd(Tx(3), 5, 9, 1, 1)).code, schemas::OK);
  ASSERT_EQ(h.W(5).held, 1);
  // Fill available up to kBalanceMax - held with the largest top-ups allowed.
  uint64_t tx = 100;
  int64_t room = kBalanceMax - 1;
  while (room > 0) {
    int64_t amount = std::min<int64_t>(room, kAmountMax);
    ASSERT_EQ(h.Run(TopUpCmd(Tx(tx++), 5, amount)).code, schemas::OK);
    room -= amount;
  }
  EXPECT_EQ(h.W(5).available + h.W(5).held, kBalanceMax);
  Outcome over = h.Run(TopUpCmd(Tx(tx++), 5, 1));
  EXPECT_EQ(over.code, schemas::AMOUNT_OUT_OF_RANGE);
  // Releasing the hold now lands exactly on the limit instead of past it.
  EXPECT_EQ(h.Run(CancelCmd(Tx(tx++), 5, Tx(3))).code, schemas::OK);
  EXPECT_EQ(h.W(5).available, kBalanceMax);
  EXPECT_EQ(h.W(5).held, 0);
  EXPECT_TRUE(CheckInvariants(h.state).ok());
}

}  // namespace
}  // namespace giftledger::commands

// Permanent idempotency: same tx id + same content → the original result and
// seq; different content → TX_ID_REUSED; entries survive replay.
#include <gtest/gtest.h>

#include "commands/test_util.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders

constexpr uint64_t kAlice = 1001;
constexpr uint64_t kHost = 2001;

TEST(Idempotency, SameCommandReturnsOriginalResultAndSeq) {
  Harness h;
  auto first = h.Run(TopUpCmd(Tx(1), kAlice, 50));
  ASSERT_EQ(first.code, schemas::OK);
  const Hash32 before = StateHash(h.state);
  auto again = h.Run(TopUpCmd(Tx(1), kAlice, 50));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.code, schemas::OK);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(again.events, 0u);
  EXPECT_EQ(StateHash(h.state), before);
  EXPECT_EQ(h.W(kAlice).available, 50);
}

TEST(Idempotency, DifferentContentIsTxIdReused) {
  Harness h;
  ASSERT_EQ(h.Run(TopUpCmd(Tx(1), kAlice, 50)).code, schemas::OK);
  auto o = h.Run(TopUpCmd(Tx(1), kAlice, 51));
  EXPECT_EQ(o.code, schemas::TX_ID_REUSED);
  EXPECT_EQ(o.events, 0u);
  EXPECT_EQ(h.Run(PayoutCmd(Tx(1), kHost, 1)).code, schemas::TX_ID_REUSED);
  EXPECT_EQ(h.W(kAlice).available, 50);
}

TEST(Idempotency, LoggedRejectionIsFinalForTheTxId) {
  Harness h;
  ASSERT_EQ(h.Run(CatalogCmd(Tx(100), 7, 100)).code, schemas::OK);
  auto first = h.Run(PlaceCmd(Tx(1), kAlice, kHost, 7, 1));
  ASSERT_EQ(first.code, schemas::INSUFFICIENT_FUNDS);
  ASSERT_EQ(h.Run(TopUpCmd(Tx(2), kAlice, 1000)).code, schemas::OK);
  // Funds are there now, but the tx id keeps its original answer.
  auto again = h.Run(PlaceCmd(Tx(1), kAlice, kHost, 7, 1));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.code, schemas::INSUFFICIENT_FUNDS);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(h.W(kAlice).held, 0);
}

TEST(Idempotency, UnloggedRejectionLeavesTheTxIdFree) {
  Harness h;
  EXPECT_EQ(h.Run(TopUpCmd(Tx(1), kAlice, 5), kRoleGifts).code, schemas::PERMISSION_DENIED);
  EXPECT_EQ(h.log.size(), 0u);
  EXPECT_EQ(h.Run(TopUpCmd(Tx(1), kAlice, 5)).code, schemas::OK);
}

TEST(Idempotency, EntriesSurviveReplay) {
  Harness h;
  auto first = h.Run(TopUpCmd(Tx(1), kAlice, 50));
  ASSERT_EQ(h.Run(PayoutCmd(Tx(2), kHost, 5)).code, schemas::INSUFFICIENT_FUNDS);
  ShardState replayed = h.Replay();
  EXPECT_EQ(StateHash(replayed), StateHash(h.state));
  Decision d =
      Decide(replayed, TopUpCmd(Tx(1), kAlice, 50), DecideContext{kT0 + 1, kRolesAllGateway});
  EXPECT_TRUE(d.duplicate);
  EXPECT_EQ(d.original_seq, first.seq);
  EXPECT_EQ(
      Decide(replayed, TopUpCmd(Tx(1), kAlice, 49), DecideContext{kT0, kRolesAllGateway}).code,
      schemas::TX_ID_REUSED);
  Decision rej = Decide(replayed, PayoutCmd(Tx(2), kHost, 5), DecideContext{kT0, kRolesAllGateway});
  EXPECT_TRUE(rej.duplicate);
  EXPECT_EQ(rej.code, schemas::INSUFFICIENT_FUNDS);
}

// Role and shard are checked before the tx id lookup: a caller without the
// role learns nothing about which tx ids exist (not even its own, once its
// role is revoked).
TEST(Idempotency, DuplicateFromCallerWithoutTheRoleIsPermissionDenied) {
  Harness h;
  ASSERT_EQ(h.Run(TopUpCmd(Tx(1), kAlice, 50)).code, schemas::OK);
  auto o = h.Run(TopUpCmd(Tx(1), kAlice, 50), kRoleGifts);
  EXPECT_EQ(o.code, schemas::PERMISSION_DENIED);
  EXPECT_FALSE(o.duplicate);
  EXPECT_EQ(o.seq, 0u);
  auto reused = h.Run(TopUpCmd(Tx(1), kAlice, 51), kRoleGifts);
  EXPECT_EQ(reused.code, schemas::PERMISSION_DENIED);
}

// The lookup comes before field validation: a command logged before a rule
// became stricter keeps its original answer forever. Here: a top-up logged
// with a UUID-version-8 tx id before that space was reserved for settlement.
TEST(Idempotency, CommandLoggedBeforeAStricterRuleKeepsItsOriginalResult) {
  Harness h;
  std::string tx = Tx(3);
  tx[6] = char(0x84);
  const Command cmd = TopUpCmd(tx, kAlice, 50);
  Event e;
  e.set_tx_id(tx);
  e.set_ledger_time_us(kT0);
  const CommandHash hash = HashCommand(cmd);
  e.set_command_hash(std::string(reinterpret_cast<const char*>(hash.data()), hash.size()));
  e.mutable_topped_up()->set_user(kAlice);
  e.mutable_topped_up()->set_amount(50);
  Apply(h.state, e, 1);
  h.next_seq = 2;
  auto again = h.Run(cmd);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.code, schemas::OK);
  EXPECT_EQ(again.seq, 1u);
  EXPECT_EQ(h.Run(TopUpCmd(tx, kAlice, 51)).code, schemas::TX_ID_REUSED);
  EXPECT_EQ(h.W(kAlice).available, 50);
}

TEST(Idempotency, CommandHashCoversEveryField) {
  auto a = TopUpCmd(Tx(1), kAlice, 50);
  auto b = a;
  b.mutable_top_up()->set_payment_ref("other");
  EXPECT_NE(HashCommand(a), HashCommand(b));
  EXPECT_EQ(HashCommand(a), HashCommand(TopUpCmd(Tx(1), kAlice, 50)));
}

TEST(StateHashTest, ChangesWithStateAndIgnoresInsertionOrder) {
  Harness a, b;
  ASSERT_EQ(a.Run(TopUpCmd(Tx(1), 1, 5)).code, schemas::OK);
  ASSERT_EQ(a.Run(TopUpCmd(Tx(2), 2, 5)).code, schemas::OK);
  ASSERT_EQ(b.Run(TopUpCmd(Tx(1), 1, 5)).code, schemas::OK);
  EXPECT_NE(StateHash(a.state), StateHash(b.state));
  ASSERT_EQ(b.Run(TopUpCmd(Tx(2), 2, 5)).code, schemas::OK);
  EXPECT_EQ(StateHash(a.state), StateHash(b.state));
  // Another bucket layout of the same maps hashes the same.
  ShardState c = a.state;
  c.wallets.rehash(4096);
  c.idempotency.Reserve(4096);
  EXPECT_EQ(StateHash(c), StateHash(a.state));
  c.wallets[UserId{1}].available += 1;
  EXPECT_NE(StateHash(c), StateHash(a.state));
}

}  // namespace
}  // namespace giftledger::commands

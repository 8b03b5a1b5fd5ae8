// Settlement's HostCredit: its tx id is derived from (payer shard, gift tx
// id) and lives in the reserved UUID-version-8 space, so no credit can be
// lost to a tx id collision or taken ahead of settlement by a gateway.
#include <gtest/gtest.h>

#include "commands/test_util.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders

// The first `n` user ids ≥ `from` that live on `shard` of `shard_count`.
std::vector<uint64_t> UsersOn(uint32_t shard, uint32_t shard_count, size_t n, uint64_t from) {
  std::vector<uint64_t> out;
  for (uint64_t u = from; out.size() < n; ++u) {
    if (ShardOf(UserId{u}, shard_count).value == shard) out.push_back(u);
  }
  return out;
}

// Gateway tx ids are unique per shard only: two gifts on two payer shards
// may share the gateway tx id T. When both hosts live on one shard, both
// credits must be paid (v1 derived the same id from T alone, and the second
// credit was TX_ID_REUSED forever).
TEST(HostCredit, SameGiftTxIdFromTwoPayerShardsCreditsBothHosts) {
  Harness h(ShardConfig{ShardId{0}, 2, 0});
  const auto hosts = UsersOn(0, 2, 2, 5000);
  const std::string gift_tx = Tx(77);
  auto first = h.Run(HostCreditCmd(gift_tx, hosts[0], 100, /*payer_shard=*/0));
  auto second = h.Run(HostCreditCmd(gift_tx, hosts[1], 70, /*payer_shard=*/1));
  ASSERT_EQ(first.code, schemas::OK);
  ASSERT_EQ(second.code, schemas::OK);
  EXPECT_FALSE(second.duplicate);
  EXPECT_EQ(h.H(hosts[0]).earned, 100);
  EXPECT_EQ(h.H(hosts[1]).earned, 70);
}

// A gateway that sends any command with the credit's derived tx id before
// settlement does must be refused without logging, so the real credit is
// still paid.
TEST(HostCredit, GatewayCannotPreemptTheDerivedTxId) {
  Harness h;
  const uint64_t host = 2001;
  const std::string derived = DeriveHostCreditTxId(ShardId{0}, *TxId::FromBytes(Tx(500))).str();
  auto privacy = h.Run(PrivacyCmd(derived, host, true));
  EXPECT_EQ(privacy.code, schemas::INVALID_ARGUMENT);
  auto topup = h.Run(TopUpCmd(derived, host, 5));
  EXPECT_EQ(topup.code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.log.size(), 0u);
  auto credit = h.Run(HostCreditCmd(Tx(500), host, 150));
  ASSERT_EQ(credit.code, schemas::OK);
  EXPECT_FALSE(credit.duplicate);
  EXPECT_EQ(h.H(host).earned, 150);
}

TEST(HostCredit, AnyVersion8TxIdIsReservedForSettlement) {
  Harness h;
  std::string tx = Tx(9);
  tx[6] = char(0x8f);  // version 8 whatever the other bits
  Decision d = Decide(h.state, TopUpCmd(tx, 1001, 5), DecideContext{kT0, kRolesAllGateway});
  EXPECT_EQ(d.code, schemas::INVALID_ARGUMENT);
  EXPECT_EQ(d.message, "tx ids of UUID version 8 are reserved for settlement");
  EXPECT_TRUE(d.events.empty());
}

TEST(HostCredit, CreditNamingAPayerShardPastTheShardCountIsInvalid) {
  Harness h(ShardConfig{ShardId{0}, 2, 0});
  const uint64_t host = UsersOn(0, 2, 1, 5000)[0];
  EXPECT_EQ(h.Run(HostCreditCmd(Tx(1), host, 10, /*payer_shard=*/2)).code,
            schemas::INVALID_ARGUMENT);
  EXPECT_EQ(h.log.size(), 0u);
}

TEST(HostCredit, CreditWithTheIdOfAnotherPayerShardIsInvalid) {
  Harness h(ShardConfig{ShardId{0}, 2, 0});
  const uint64_t host = UsersOn(0, 2, 1, 5000)[0];
  Command c = HostCreditCmd(Tx(1), host, 10, /*payer_shard=*/1);
  c.mutable_host_credit()->set_payer_shard(0);  // id still derived for shard 1
  EXPECT_EQ(h.Run(c).code, schemas::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace giftledger::commands

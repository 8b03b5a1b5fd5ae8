// Broadcast lines from a committed batch: combos folded into one streak line,
// the banner above its threshold, the highest level-up per user, hidden
// payers as null.
#include "projections/broadcasts.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "commands/test_util.h"

namespace giftledger::projections {
namespace {

using commands::testing::Tx;

schemas::Event GiftEvent(uint64_t n, uint64_t payer, uint64_t room, int64_t amount,
                         const std::string& combo = "", uint32_t combo_count = 0) {
  schemas::Event e;
  e.set_tx_id(Tx(1000 + n));
  e.set_ledger_time_us(commands::testing::kT0);
  auto* g = e.mutable_gift_sent();
  g->set_payer(payer);
  g->set_host(900);
  g->set_room(room);
  g->set_gift(1);
  g->set_count(1);
  g->set_amount(amount);
  g->set_order_id(Tx(n));
  g->set_combo_id(combo);
  g->set_combo_count(combo_count);
  return e;
}

TEST(BroadcastsTest, ComboStreakFoldsIntoOneLineAndBannerAndLevelUpFollow) {
  ProjectionConfig c;
  c.levels = LevelTable::Make({50, 100}).value();
  ReadModels m(c, false);
  m.set_collect_notices(true);
  uint64_t seq = 1;
  for (uint32_t k = 1; k <= 3; ++k) {
    ASSERT_TRUE(m.Apply(ShardId{0}, seq, GiftEvent(seq, 7, 5, 20, "combo-a", k)).ok());
    ++seq;
  }
  ASSERT_TRUE(m.Apply(ShardId{0}, seq, GiftEvent(seq, 8, 5, 10)).ok());
  ++seq;
  ASSERT_TRUE(m.Apply(ShardId{0}, seq, GiftEvent(seq, 8, 6, 20'000)).ok());
  BroadcastOptions o;
  o.banner_amount_min = 10'000;
  auto out = TakeBroadcasts(m, o);
  // combo line, plain line, big line + banner, level-ups of 7 (2) and 8 (2).
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0].subject, "giftledger.room.5.gifts");
  auto combo = nlohmann::json::parse(out[0].json);
  EXPECT_EQ(combo["count"], 3);
  EXPECT_EQ(combo["amount"], 60);
  EXPECT_EQ(combo["streak"], 3);
  EXPECT_EQ(combo["seq"], 3);
  EXPECT_EQ(nlohmann::json::parse(out[1].json)["amount"], 10);
  EXPECT_EQ(out[2].subject, "giftledger.room.6.gifts");
  EXPECT_EQ(out[3].subject, "giftledger.banner");
  EXPECT_EQ(out[4].subject, "giftledger.user.7.level");
  EXPECT_EQ(nlohmann::json::parse(out[4].json)["level"], 1);
  EXPECT_EQ(out[5].subject, "giftledger.user.8.level");
  EXPECT_EQ(nlohmann::json::parse(out[5].json)["level"], 2);
  EXPECT_TRUE(TakeBroadcasts(m, o).empty());
}

TEST(BroadcastsTest, HiddenPayerIsNull) {
  ReadModels m(ProjectionConfig{}, false);
  m.set_collect_notices(true);
  schemas::Event hide;
  hide.set_tx_id(Tx(1));
  hide.mutable_privacy_set()->set_user(7);
  hide.mutable_privacy_set()->set_hidden(true);
  ASSERT_TRUE(m.Apply(ShardId{0}, 1, hide).ok());
  ASSERT_TRUE(m.Apply(ShardId{0}, 2, GiftEvent(2, 7, 5, 20)).ok());
  auto out = TakeBroadcasts(m, BroadcastOptions{});
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(nlohmann::json::parse(out[0].json)["payer"].is_null());
}

}  // namespace
}  // namespace giftledger::projections

// The in-memory top-N: order, the current period only, lagging shards'
// old periods left out, the cached list refreshed after a change.
#include "projections/hot_boards.h"

#include <gtest/gtest.h>

#include "projections/levels.h"

namespace giftledger::projections {
namespace {

Periods At(int64_t hour) { return PeriodsOfHour(hour); }

std::vector<RankEntry> Top(HotBoards& h, Window w, size_t n = 10, int64_t* period = nullptr) {
  std::vector<RankEntry> out;
  int64_t p = 0;
  EXPECT_TRUE(h.Top(Board::kRoom, 5, w, n, &out, &p));
  if (period) *period = p;
  return out;
}

TEST(HotBoardsTest, TiesRankByMemberAndNonPositiveScoresAreLeftOut) {
  HotBoards h;
  const int64_t hour = 480'000;
  h.Add(Board::kRoom, 5, At(hour), 3, 10);
  h.Add(Board::kRoom, 5, At(hour), 1, 10);
  h.Add(Board::kRoom, 5, At(hour), 2, 30);
  h.Add(Board::kRoom, 5, At(hour), 4, 5);
  h.Add(Board::kRoom, 5, At(hour), 4, -5);  // refunded to zero
  EXPECT_EQ(Top(h, Window::kHour), (std::vector<RankEntry>{{2, 30}, {1, 10}, {3, 10}}));
  EXPECT_EQ(Top(h, Window::kAll, 2), (std::vector<RankEntry>{{2, 30}, {1, 10}}));
}

TEST(HotBoardsTest, NewPeriodStartsEmptyAndLaggingEventsAreIgnored) {
  HotBoards h;
  const int64_t hour = 480'000;  // a day boundary: 480000 = 20000 × 24
  h.Add(Board::kRoom, 5, At(hour - 1), 1, 10);
  h.Add(Board::kRoom, 5, At(hour), 2, 7);
  h.Add(Board::kRoom, 5, At(hour - 1), 3, 99);  // a lagging shard: the old day
  int64_t period = 0;
  EXPECT_EQ(Top(h, Window::kDay, 10, &period), (std::vector<RankEntry>{{2, 7}}));
  EXPECT_EQ(period, 20000);
  EXPECT_EQ(Top(h, Window::kAll), (std::vector<RankEntry>{{3, 99}, {1, 10}, {2, 7}}));
  h.Add(Board::kRoom, 5, At(hour), 1, 20);  // member 1 again, in the new day
  EXPECT_EQ(Top(h, Window::kDay), (std::vector<RankEntry>{{1, 20}, {2, 7}}));
}

TEST(HotBoardsTest, UnknownBoardHasNoAnswer) {
  HotBoards h;
  std::vector<RankEntry> out;
  int64_t p = 0;
  EXPECT_FALSE(h.Top(Board::kHosts, 0, Window::kAll, 10, &out, &p));
}

TEST(LevelTableTest, BadThresholdsAreRefused) {
  EXPECT_FALSE(LevelTable::Parse("").ok());
  EXPECT_FALSE(LevelTable::Parse("10,10").ok());
  EXPECT_FALSE(LevelTable::Parse("10,5").ok());
  EXPECT_FALSE(LevelTable::Parse("0,5").ok());
  EXPECT_FALSE(LevelTable::Parse("5,x").ok());
  auto t = LevelTable::Parse("10,20");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->LevelOf(9), 0);
  EXPECT_EQ(t->LevelOf(10), 1);
  EXPECT_EQ(t->LevelOf(20), 2);
  EXPECT_EQ(t->ToString(), "10,20");
}

}  // namespace
}  // namespace giftledger::projections

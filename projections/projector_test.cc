// The projector against ledgers written by the real shard engines:
// leaderboard order, window boundaries in the configured offset, refunds,
// privacy, levels, exactly-once (duplicates, gaps, resume) and the state
// hash of live-incremental vs one-shot rebuild.
#include "projections/projector.h"

#include <gtest/gtest.h>

#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "projections/ledger_source.h"
#include "projections/query.h"
#include "projections/state_hash.h"
#include "projections/test_ledger.h"

namespace giftledger::projections {
namespace {

using namespace commands::testing;  // NOLINT: builders
using testing::EngineLedger;
using testing::Gift;

constexpr uint64_t kRoom = 5;
constexpr uint64_t kHost = 900;
constexpr int64_t kHourUs = 3'600'000'000;

class ProjectorTest : public ::testing::Test {
 protected:
  void Make(uint32_t shards, int32_t offset = 0) {
    ledger_ = std::make_unique<EngineLedger>(dir_.Sub("ledger"), shards, offset);
    ledger_->Run(CatalogCmd(Tx(next_tx_++), 1, 10));  // gift 1 costs 10
    ledger_->Run(CatalogCmd(Tx(next_tx_++), 2, 1));   // gift 2 costs 1
  }
  void TopUp(uint64_t user, int64_t amount) {
    ledger_->Run(TopUpCmd(Tx(next_tx_++), user, amount));
  }
  std::string Send(uint64_t payer, uint64_t host, uint64_t room, uint32_t gift, uint32_t count,
                   std::string* order = nullptr) {
    return Gift(*ledger_, &next_tx_, payer, host, room, gift, count, order);
  }
  Result<std::unique_ptr<Projector>> Open(const std::string& db, OpenMode mode,
                                          LevelTable levels = LevelTable(),
                                          size_t batch = Projector::kBatchEventsMaxDefault) {
    auto c = ConfigFromLedger(ledger_->dir(), levels);
    if (!c.ok()) return c.status();
    return Projector::Open(db, mode, c.value(), batch);
  }
  // Projects everything new into `db`; returns the state hash.
  std::string Project(const std::string& db, LevelTable levels = LevelTable(),
                      size_t batch = Projector::kBatchEventsMaxDefault) {
    auto p = Open(db, OpenMode::kOpenOrCreate, levels, batch);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return "";
    Status st = ProjectFromLedger(ledger_->dir(), *p.value());
    EXPECT_TRUE(st.ok()) << st.ToString();
    return Hash(*p.value());
  }
  static std::string Hash(Projector& p) {
    auto h = ReadModelStateHash(*p.store());
    EXPECT_TRUE(h.ok());
    return h.ok() ? ToHex(h.value()) : "";
  }
  std::vector<LeaderboardEntry> Board(const std::string& db, Board b, uint64_t key, Window w,
                                      std::optional<int64_t> period = std::nullopt) {
    auto s = Store::Open(db, OpenMode::kReadOnly, {});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return {};
    auto a = QueryLeaderboard(*s.value(), b, key, w, period, 100);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->entries : std::vector<LeaderboardEntry>{};
  }
  AccountAnswer Account(const std::string& db, uint64_t user) {
    auto s = Store::Open(db, OpenMode::kReadOnly, {});
    EXPECT_TRUE(s.ok());
    auto a = QueryAccount(*s.value(), user);
    EXPECT_TRUE(a.ok());
    return a.value();
  }

  ::giftledger::testing::TempDir dir_;
  std::unique_ptr<EngineLedger> ledger_;
  uint64_t next_tx_ = 1;
};

std::vector<std::pair<uint64_t, int64_t>> Pairs(const std::vector<LeaderboardEntry>& v) {
  std::vector<std::pair<uint64_t, int64_t>> out;
  for (const auto& e : v) out.emplace_back(e.member, e.score);
  return out;
}

TEST_F(ProjectorTest, LeaderboardsOrderByScoreThenMember) {
  Make(2);
  for (uint64_t u : {101, 102, 103}) TopUp(u, 10'000);
  Send(101, kHost, kRoom, 1, 2);      // 20
  Send(102, kHost, kRoom, 1, 5);      // 50
  Send(103, kHost, kRoom, 2, 20);     // 20: ties with 101, member order
  Send(103, kHost + 1, kRoom, 1, 1);  // 10 to another host, same room
  const std::string db = dir_.Sub("rm.sqlite");
  Project(db);
  using P = std::vector<std::pair<uint64_t, int64_t>>;
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kAll)),
            (P{{102, 50}, {103, 30}, {101, 20}}));
  EXPECT_EQ(Pairs(Board(db, Board::kHost, kHost, Window::kDay)),
            (P{{102, 50}, {101, 20}, {103, 20}}));
  EXPECT_EQ(Pairs(Board(db, Board::kHosts, 0, Window::kHour)), (P{{kHost, 90}, {kHost + 1, 10}}));
  EXPECT_EQ(Pairs(Board(db, Board::kGifters, 0, Window::kMonth)),
            (P{{102, 50}, {103, 30}, {101, 20}}));
  // The hot in-memory top-N agrees with SQLite.
  auto p = Open(db, OpenMode::kOpenOrCreate);
  ASSERT_TRUE(p.ok());
  std::vector<RankEntry> top;
  int64_t period = 0;
  ASSERT_TRUE(p.value()->models().hot().Top(Board::kRoom, kRoom, Window::kWeek, 10, &top, &period));
  EXPECT_EQ(top, (std::vector<RankEntry>{{102, 50}, {103, 30}, {101, 20}}));
  EXPECT_EQ(Account(db, 102).wallet->available, 10'000 - 50);
  EXPECT_EQ(Account(db, 102).wallet->held, 0);
}

TEST_F(ProjectorTest, GiftAtLastMillisecondOfTheLocalDayCountsForThatDay) {
  const int32_t offset = 330;  // +05:30
  Make(1, offset);
  TopUp(101, 10'000);
  TopUp(102, 10'000);
  // Local midnight 2024-03-11 00:00 +05:30 is 2024-03-10T18:30Z.
  const int64_t midnight_us = kT0 + 6 * kHourUs + 30 * 60 * kSecond;
  ledger_->now_us = midnight_us - 1000 - kSecond;
  std::string order;
  auto place = PlaceCmd(Tx(next_tx_++), 101, kHost, 1, 1);
  place.mutable_place_order()->set_room(kRoom);
  ledger_->Run(place);
  ledger_->now_us = midnight_us - 1000;  // 23:59:59.999 local
  ledger_->Run(ConsumeCmd(Tx(next_tx_++), 101, place.tx_id()));
  ledger_->now_us = midnight_us;  // 00:00:00.000 local, the next day
  Send(102, kHost, kRoom, 1, 2);
  const std::string db = dir_.Sub("rm.sqlite");
  Project(db);
  const int64_t day_before = PeriodOfHour(Window::kDay, HourIndex(midnight_us - 1000, offset));
  const int64_t day_after = PeriodOfHour(Window::kDay, HourIndex(midnight_us, offset));
  ASSERT_EQ(day_before + 1, day_after);
  using P = std::vector<std::pair<uint64_t, int64_t>>;
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kDay, day_before)), (P{{101, 10}}));
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kDay, day_after)), (P{{102, 20}}));
  // Default period: the newest ledger time's, i.e. the new day.
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kDay)), (P{{102, 20}}));
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kAll)), (P{{102, 20}, {101, 10}}));
  // The hot board holds the new day only.
  auto p = Open(db, OpenMode::kOpenOrCreate);
  ASSERT_TRUE(p.ok());
  std::vector<RankEntry> top;
  int64_t period = 0;
  ASSERT_TRUE(p.value()->models().hot().Top(Board::kRoom, kRoom, Window::kDay, 10, &top, &period));
  EXPECT_EQ(period, day_after);
  EXPECT_EQ(top, (std::vector<RankEntry>{{102, 20}}));
}

TEST_F(ProjectorTest, RefundSubtractsInTheGiftsPeriodLevelAndWallet) {
  Make(1);
  TopUp(101, 10'000);
  TopUp(102, 10'000);
  std::string order;
  const std::string gift_tx = Send(101, kHost, kRoom, 1, 3, &order);  // 30
  Send(102, kHost, kRoom, 1, 1);                                      // 10
  const std::string db = dir_.Sub("rm.sqlite");
  Project(db);  // the refund below finds its gift in SQLite, not in memory
  const int64_t gift_day = PeriodOfHour(Window::kDay, HourIndex(ledger_->now_us, 0));
  ledger_->now_us += 30 * kHourUs;  // refunded the next day
  ledger_->Run(RefundCmd(Tx(next_tx_++), 101, order));
  Project(db);
  using P = std::vector<std::pair<uint64_t, int64_t>>;
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kDay, gift_day)), (P{{102, 10}}));
  EXPECT_EQ(Pairs(Board(db, Board::kRoom, kRoom, Window::kAll)), (P{{102, 10}}));
  EXPECT_EQ(Pairs(Board(db, Board::kHosts, 0, Window::kAll)), (P{{kHost, 10}}));
  EXPECT_TRUE(Board(db, Board::kRoom, kRoom, Window::kDay, gift_day + 1).empty());
  const AccountAnswer a = Account(db, 101);
  EXPECT_EQ(a.wallet->available, 10'000);
  EXPECT_EQ(a.level->experience, 0);
  auto s = Store::Open(db, OpenMode::kReadOnly, {});
  ASSERT_TRUE(s.ok());
  auto g = QueryGift(*s.value(), gift_tx);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->rows.size(), 2u);
  EXPECT_FALSE(g->rows[0].refund);
  EXPECT_EQ(g->rows[0].amount, 30);
  EXPECT_TRUE(g->rows[1].refund);
  EXPECT_EQ(g->rows[1].amount, -30);
  EXPECT_EQ(g->rows[1].room, kRoom);
}

TEST_F(ProjectorTest, HiddenUserShowsAsAnonymousAndKeepsTheirPlace) {
  Make(2);
  TopUp(101, 10'000);
  TopUp(102, 10'000);
  Send(101, kHost, kRoom, 1, 5);
  Send(102, kHost, kRoom, 1, 1);
  ledger_->Run(PrivacyCmd(Tx(next_tx_++), 101, true));
  const std::string db = dir_.Sub("rm.sqlite");
  Project(db);
  auto b = Board(db, Board::kRoom, kRoom, Window::kAll);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_TRUE(b[0].anonymous);
  EXPECT_EQ(b[0].score, 50);
  EXPECT_FALSE(b[1].anonymous);
  EXPECT_TRUE(Account(db, 101).hidden);
  ledger_->Run(PrivacyCmd(Tx(next_tx_++), 101, false));
  Project(db);
  EXPECT_FALSE(Board(db, Board::kRoom, kRoom, Window::kAll)[0].anonymous);
}

TEST_F(ProjectorTest, LevelChangesExactlyAtEachThreshold) {
  Make(1);
  TopUp(101, 10'000);
  auto levels = LevelTable::Make({100, 200});
  ASSERT_TRUE(levels.ok());
  const std::string db = dir_.Sub("rm.sqlite");
  struct Step {
    uint32_t count;  // of gift 2 (price 1)
    int64_t experience;
    int32_t level;
  };
  for (Step s : {Step{99, 99, 0}, Step{1, 100, 1}, Step{99, 199, 1}, Step{1, 200, 2}}) {
    Send(101, kHost, kRoom, 2, s.count);
    Project(db, levels.value());
    const AccountAnswer a = Account(db, 101);
    ASSERT_TRUE(a.level.has_value());
    EXPECT_EQ(a.level->experience, s.experience);
    EXPECT_EQ(a.level->level, s.level);
  }
}

TEST_F(ProjectorTest, DatabaseOfOtherLevelTableIsRefused) {
  Make(1);
  const std::string db = dir_.Sub("rm.sqlite");
  Project(db);
  auto other = LevelTable::Make({7});
  ASSERT_TRUE(other.ok());
  auto p = Open(db, OpenMode::kOpenOrCreate, other.value());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
}

TEST_F(ProjectorTest, RebuildRefusesAnExistingDatabase) {
  Make(1);
  const std::string db = dir_.Sub("rm.sqlite");
  Project(db);
  auto p = Open(db, OpenMode::kCreateNew);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kAlreadyExists);
}

TEST_F(ProjectorTest, SameEventsTwiceCountOnce) {
  Make(1);
  TopUp(101, 10'000);
  Send(101, kHost, kRoom, 1, 3);
  ledger_->Close();
  auto events =
      ::giftledger::testing::ReadAllEvents(ShardDir(ledger_->dir(), ShardId{0}), ShardId{0},
                                           LoadManifest(ledger_->dir()).value().public_keys[0]);
  ASSERT_TRUE(events.ok());
  const std::string db = dir_.Sub("rm.sqlite");
  auto p = Open(db, OpenMode::kOpenOrCreate);
  ASSERT_TRUE(p.ok());
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < events->size(); ++i) {
      ASSERT_TRUE(p.value()->ApplyBytes(ShardId{0}, i + 1, (*events)[i]).ok());
    }
    ASSERT_TRUE(p.value()->Commit().ok());
  }
  EXPECT_EQ(p.value()->stats().skipped_duplicates, events->size());
  const std::string twice = Hash(*p.value());
  p.value().reset();
  EXPECT_EQ(Account(db, 101).wallet->available, 10'000 - 30);
  EXPECT_EQ(Project(dir_.Sub("once.sqlite")), twice);
}

TEST_F(ProjectorTest, GapIsRefusedAndChangesNothing) {
  Make(1);
  TopUp(101, 10'000);
  TopUp(101, 5);
  TopUp(101, 7);
  ledger_->Close();
  auto events =
      ::giftledger::testing::ReadAllEvents(ShardDir(ledger_->dir(), ShardId{0}), ShardId{0},
                                           LoadManifest(ledger_->dir()).value().public_keys[0]);
  ASSERT_TRUE(events.ok());
  const size_t n = events->size();
  auto p = Open(dir_.Sub("rm.sqlite"), OpenMode::kOpenOrCreate);
  ASSERT_TRUE(p.ok());
  Projector& pr = *p.value();
  ASSERT_TRUE(pr.ApplyBytes(ShardId{0}, 1, (*events)[0]).ok());
  Status gap = pr.ApplyBytes(ShardId{0}, n, (*events)[n - 1]);
  EXPECT_EQ(gap.code(), Code::kOutOfRange) << gap.ToString();
  EXPECT_EQ(pr.next_seq(ShardId{0}), 2u);
  EXPECT_EQ(pr.ApplyBytes(ShardId{1}, 1, (*events)[0]).code(), Code::kInvalidArgument);
  for (size_t i = 1; i < n; ++i) ASSERT_TRUE(pr.ApplyBytes(ShardId{0}, i + 1, (*events)[i]).ok());
  ASSERT_TRUE(pr.Commit().ok());
  EXPECT_EQ(pr.committed_positions()[0].seq, n);
  EXPECT_EQ(pr.models().wallets[commands::UserId{101}].available, 10'012);
}

// A mixed history over three shards: gifts, a refund, a cancel, privacy,
// host credits and a payout, across several hours.
void WriteHistory(EngineLedger& l, uint64_t* tx, int part) {
  for (uint64_t u = 100; u < 110; ++u) {
    l.Run(TopUpCmd(Tx((*tx)++), u + 100 * uint64_t(part), 5'000));
  }
  for (int i = 0; i < 12; ++i) {
    const uint64_t payer = 100 + uint64_t(i % 10) + 100 * uint64_t(part);
    std::string order;
    const std::string g = Gift(l, tx, payer, kHost + uint64_t(i % 3), kRoom + uint64_t(i % 2),
                               1 + uint32_t(i % 2), 1 + uint32_t(i), &order);
    if (i % 5 == 0) l.Run(RefundCmd(Tx((*tx)++), payer, order));
    if (i % 4 == 0) l.Run(HostCreditCmd(g, kHost + uint64_t(i % 3), 3, l.ShardOfUser(payer)));
    l.now_us += kHourUs / 3;
  }
  const std::string order = Tx((*tx)++);
  l.Run(PlaceCmd(order, 100 + 100 * uint64_t(part), kHost, 1, 1));
  l.Run(CancelCmd(Tx((*tx)++), 100 + 100 * uint64_t(part), order));
  l.Run(PrivacyCmd(Tx((*tx)++), 103 + 100 * uint64_t(part), true));
  l.Run(PayoutCmd(Tx((*tx)++), kHost, 1));
}

TEST_F(ProjectorTest, LiveIncrementalStateHashEqualsOneShotRebuild) {
  Make(3);
  const std::string live = dir_.Sub("live.sqlite");
  std::string live_hash;
  for (int part = 0; part < 3; ++part) {
    WriteHistory(*ledger_, &next_tx_, part);
    live_hash = Project(live, LevelTable(), /*batch=*/7);
  }
  auto p = Open(dir_.Sub("rebuilt.sqlite"), OpenMode::kCreateNew);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(ProjectFromLedger(ledger_->dir(), *p.value()).ok());
  EXPECT_EQ(Hash(*p.value()), live_hash);
  EXPECT_EQ(p.value()->stats().batches, 1u);
  // Something was projected: wallets and both kinds of gift rows exist.
  const AccountAnswer a = Account(live, kHost);
  ASSERT_TRUE(a.host.has_value());
  EXPECT_EQ(a.host->paid_out, 3);
  EXPECT_GT(a.host->earned, 0);
}

TEST_F(ProjectorTest, ResumeFromHalfConsumedSourceEqualsOneShot) {
  Make(2);
  WriteHistory(*ledger_, &next_tx_, 0);
  ledger_->Close();
  auto full = Open(dir_.Sub("full.sqlite"), OpenMode::kCreateNew);
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(ProjectFromLedger(ledger_->dir(), *full.value()).ok());
  const std::string want = Hash(*full.value());
  const uint64_t total = full.value()->stats().applied_events;
  ASSERT_GT(total, 40u);
  // Stop after k events (as if killed after the commit), reopen, go on.
  for (uint64_t k : {uint64_t(1), uint64_t(17), total / 2, total - 1}) {
    const std::string db = dir_.Sub("half" + std::to_string(k) + ".sqlite");
    {
      auto p = Open(db, OpenMode::kCreateNew, LevelTable(), 5);
      ASSERT_TRUE(p.ok());
      LedgerSourceOptions o;
      o.max_events = k;
      ASSERT_TRUE(ProjectFromLedger(ledger_->dir(), *p.value(), o).ok());
      EXPECT_EQ(p.value()->stats().applied_events, k);
    }
    auto p = Open(db, OpenMode::kOpenOrCreate, LevelTable(), 5);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(ProjectFromLedger(ledger_->dir(), *p.value()).ok());
    EXPECT_EQ(p.value()->stats().applied_events, total - k);
    EXPECT_EQ(Hash(*p.value()), want) << k;
  }
}

TEST_F(ProjectorTest, UncommittedBatchIsNotCountedAfterRestart) {
  Make(1);
  WriteHistory(*ledger_, &next_tx_, 0);
  ledger_->Close();
  const std::string db = dir_.Sub("rm.sqlite");
  auto events =
      ::giftledger::testing::ReadAllEvents(ShardDir(ledger_->dir(), ShardId{0}), ShardId{0},
                                           LoadManifest(ledger_->dir()).value().public_keys[0]);
  ASSERT_TRUE(events.ok());
  {
    auto p = Open(db, OpenMode::kCreateNew, LevelTable(), 10);
    ASSERT_TRUE(p.ok());
    // 25 events: two batches of 10 commit, 5 are pending when it "dies".
    for (size_t i = 0; i < 25; ++i) {
      ASSERT_TRUE(p.value()->ApplyBytes(ShardId{0}, i + 1, (*events)[i]).ok());
    }
    EXPECT_EQ(p.value()->committed_positions()[0].seq, 20u);
  }
  auto p = Open(db, OpenMode::kOpenOrCreate);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value()->next_seq(ShardId{0}), 21u);
  ASSERT_TRUE(ProjectFromLedger(ledger_->dir(), *p.value()).ok());
  EXPECT_EQ(Hash(*p.value()), Project(dir_.Sub("once.sqlite")));
}

}  // namespace
}  // namespace giftledger::projections

// Tracing a gift through a ledger written by the real shard engines: every
// step of its order with each step's tx id, the settlement credit on the
// host's shard (or its absence), a cancel, the read models, and an unknown
// tx id.
#include "replay/trace.h"

#include <gtest/gtest.h>

#include "commands/routing.h"
#include "ledger/testing/temp_dir.h"
#include "projections/ledger_source.h"
#include "projections/test_ledger.h"

namespace giftledger {
namespace {

using namespace commands::testing;  // NOLINT: builders
using projections::testing::EngineLedger;

constexpr uint32_t kShards = 2;
constexpr uint64_t kPayer = 1;
constexpr uint64_t kHost = 900;
constexpr uint64_t kRoom = 5;

// One ledger for the suite, read only by every test: gift A placed,
// consumed, credited to the host and refunded; gift B consumed and not
// credited yet; order C placed and cancelled. Projected into a database.
struct Story {
  std::string order_a = Tx(10), gift_a = Tx(11), refund_a = Tx(12), credit_a;
  std::string order_b = Tx(20), gift_b = Tx(21);
  std::string order_c = Tx(30), cancel_c = Tx(31);
  uint32_t payer_shard = 0, host_shard = 0;
};

class TraceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ::giftledger::testing::TempDir();
    EngineLedger l(ledger(), kShards);
    Story& t = story_;
    t.payer_shard = l.ShardOfUser(kPayer);
    t.host_shard = l.ShardOfUser(kHost);
    t.credit_a = commands::DeriveHostCreditTxId(ShardId{t.payer_shard},
                                                *commands::TxId::FromBytes(t.gift_a))
                     .str();
    std::vector<schemas::Command> cmds = {CatalogCmd(Tx(1), 1, 10), TopUpCmd(Tx(2), kPayer, 1000)};
    for (const auto& [order, count] : {std::pair{t.order_a, 3}, {t.order_b, 1}, {t.order_c, 1}}) {
      cmds.push_back(PlaceCmd(order, kPayer, kHost, 1, uint32_t(count)));
      cmds.back().mutable_place_order()->set_room(kRoom);
    }
    cmds.push_back(ConsumeCmd(t.gift_a, kPayer, t.order_a));
    cmds.push_back(ConsumeCmd(t.gift_b, kPayer, t.order_b));
    cmds.push_back(CancelCmd(t.cancel_c, kPayer, t.order_c));
    cmds.push_back(HostCreditCmd(t.gift_a, kHost, 15, t.payer_shard));
    cmds.push_back(RefundCmd(t.refund_a, kPayer, t.order_a));
    l.RunBatched(cmds);
    l.Close();
    auto c = projections::ConfigFromLedger(ledger(), projections::LevelTable());
    ASSERT_TRUE(c.ok());
    auto p = projections::Projector::Open(db(), projections::OpenMode::kOpenOrCreate, c.value());
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(projections::ProjectFromLedger(ledger(), *p.value()).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string ledger() { return dir_->Sub("ledger"); }
  static std::string db() { return dir_->Sub("read.sqlite"); }

  TraceReport Trace(const std::string& tx, const std::string& db = "") {
    TraceOptions o;
    o.data_dir = ledger();
    o.tx_id = tx;
    o.db_path = db;
    auto r = TraceTx(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : TraceReport{};
  }

  static ::giftledger::testing::TempDir* dir_;
  static Story story_;
};

::giftledger::testing::TempDir* TraceTest::dir_ = nullptr;
Story TraceTest::story_;

TEST_F(TraceTest, PlacedConsumedRefundedShowsEveryStepAndTheCredit) {
  const Story& t = story_;
  // Whichever id support is given — the gift's, the order's, the refund's or
  // the credit's — the same story comes out.
  for (const std::string& id : {t.gift_a, t.order_a, t.refund_a, t.credit_a}) {
    const TraceReport r = Trace(id);
    ASSERT_TRUE(r.order_id.has_value());
    EXPECT_EQ(*r.order_id, t.order_a);
    EXPECT_EQ(r.order_shard, t.payer_shard);
    ASSERT_EQ(r.history.size(), 3u);
    EXPECT_EQ(r.history[0].state, "placed");
    EXPECT_EQ(r.history[0].tx_id, t.order_a);
    EXPECT_EQ(r.history[0].amount, 30);
    EXPECT_EQ(r.history[1].state, "consumed");
    EXPECT_EQ(r.history[1].tx_id, t.gift_a);
    EXPECT_EQ(r.history[2].state, "refunded");
    EXPECT_EQ(r.history[2].tx_id, t.refund_a);
    EXPECT_LT(r.history[0].seq, r.history[1].seq);
    EXPECT_LT(r.history[1].seq, r.history[2].seq);
    ASSERT_EQ(r.settlements.size(), 1u);
    const Settlement& s = r.settlements[0];
    EXPECT_EQ(s.gift_tx_id, t.gift_a);
    EXPECT_EQ(s.credit_tx_id, t.credit_a);
    EXPECT_EQ(s.host_shard, t.host_shard);
    ASSERT_TRUE(s.credit.has_value());
    EXPECT_EQ(s.credit->shard, t.host_shard);
    EXPECT_EQ(s.credit->event.host_credited().amount(), 15);
    // placed, consumed, refunded, credited.
    EXPECT_EQ(r.events.size(), 4u);
    for (const auto& e : r.events) {
      EXPECT_GE(e.seq, e.block_first_seq);
      EXPECT_LT(e.seq, e.block_first_seq + e.block_events);
    }
  }
}

TEST_F(TraceTest, GiftNotCreditedYetHasNoSettlementCredit) {
  const TraceReport r = Trace(story_.gift_b);
  ASSERT_EQ(r.history.size(), 2u);
  ASSERT_EQ(r.settlements.size(), 1u);
  EXPECT_FALSE(r.settlements[0].credit.has_value());
  EXPECT_EQ(r.settlements[0].host_share, 5);
}

TEST_F(TraceTest, CancelledOrderIsVoidedWithTheCancelsTxId) {
  const TraceReport r = Trace(story_.order_c);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[1].state, "voided");
  EXPECT_EQ(r.history[1].tx_id, story_.cancel_c);
  EXPECT_TRUE(r.settlements.empty());
}

TEST_F(TraceTest, ReadModelsReflectTheGiftOnceProjected) {
  const TraceReport r = Trace(story_.gift_b, db());
  ASSERT_TRUE(r.read_models_checked);
  bool record = false, boards = false;
  for (const auto& m : r.read_models) {
    EXPECT_TRUE(m.reflected) << m.model << " at seq " << m.seq << ": " << m.detail;
    record = record || m.model == "gift_record";
    boards = boards || m.model == "leaderboards";
  }
  EXPECT_TRUE(record);
  EXPECT_TRUE(boards);
}

TEST_F(TraceTest, UnknownTxIdIsNotFound) {
  TraceOptions o;
  o.data_dir = ledger();
  o.tx_id = Tx(987654);
  auto r = TraceTx(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  o.tx_id = "short";
  EXPECT_EQ(TraceTx(o).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace giftledger

// Property tests (rapidcheck) over random command sequences: money is
// conserved, no balance goes negative, replay from zero is hash-equal,
// resubmission returns the original result, a replayed ConsumeOrder never
// debits twice.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/snapshot.h"
#include "commands/test_util.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

using namespace testing;  // NOLINT: builders
using ::giftledger::testing::TempDir;

const std::vector<uint64_t> kUsers = {1, 2, 3, 4, 5};
const std::vector<uint64_t> kHosts = {11, 12};

// Uniform in [lo, hi) whatever rapidcheck's current size: a random run
// should be long and varied from the first case on. Still shrinks towards lo.
template <typename T>
T Pick(T lo, T hi) {
  return *rc::gen::resize(100, rc::gen::inRange<T>(lo, hi));
}

int64_t GenAmount() {
  const std::vector<int64_t> extremes = {kAmountMax, kAmountMax + 1, kBalanceMax, INT64_MAX,
                                         INT64_MIN};
  const int pick = Pick(0, 10);
  if (pick < 8) return Pick<int64_t>(1, 2000);
  if (pick == 8) return Pick<int64_t>(-3, 1);
  return extremes[Pick<size_t>(0, extremes.size())];
}

uint64_t GenUser() { return kUsers[Pick<size_t>(0, kUsers.size())]; }
uint64_t GenHost() { return kHosts[Pick<size_t>(0, kHosts.size())]; }

// A random run: the history of commands sent and what each got back. With
// memory budgets, idempotency entries and closed orders beyond them go to run
// files in a temporary directory (orders in its "orders" subdirectory; not
// fsynced: logic only) after every command.
struct RandomRun {
  RandomRun() = default;
  RandomRun(size_t memory_max, size_t closed_max) : dir(std::make_unique<TempDir>()) {
    h.EnableDiskTier(dir->path(), memory_max, kNoSync);
    h.EnableOrderTier(order_dir(), closed_max, kNoSync);
  }
  std::string order_dir() const { return JoinPath(dir->path(), "orders"); }
  static constexpr IdempotencyIndexOptions kNoSync{10, false};
  std::unique_ptr<TempDir> dir;
  Harness h;
  std::vector<Command> sent;
  std::vector<Outcome> got;
  std::vector<Command> placed;  // PlaceOrder commands, for order references
  std::vector<std::string> gift_txs;
  uint64_t next_tx = 1;
};

Command GenOrderCommand(RandomRun& r, int kind) {
  const std::string tx = Tx(r.next_tx++);
  std::string order = Tx(1'000'000 + Pick(0, 5));  // usually unknown
  uint64_t payer = GenUser();
  if (!r.placed.empty() && Pick(0, 10) < 9) {
    // Mostly one of the last few orders, which are likely still pending.
    const size_t n = r.placed.size();
    const size_t back = Pick<size_t>(0, Pick(0, 4) == 0 ? n : std::min<size_t>(n, 4));
    const Command& p = r.placed[n - 1 - back];
    order = p.tx_id();
    if (Pick(0, 10) < 9) payer = p.place_order().payer();
  }
  if (kind == 2) return ConsumeCmd(tx, payer, order);
  if (kind == 3) return CancelCmd(tx, payer, order);
  return RefundCmd(tx, payer, order);
}

Command GenCommand(RandomRun& r) {
  // Order traffic dominates, as in production: 13..16 map to place/consume.
  static constexpr int kKinds[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2, 1, 2, 0};
  const int kind = kKinds[Pick(0, 17)];
  const std::string tx = Tx(r.next_tx++);
  switch (kind) {
    case 0:
      return TopUpCmd(tx, GenUser(), GenAmount());
    case 1: {
      Command c = PlaceCmd(tx, GenUser(), GenHost(), Pick<uint32_t>(1, 5), Pick<uint32_t>(1, 20),
                           Pick<int64_t>(kOrderTtlMinUs, 60 * kSecond));
      r.placed.push_back(c);
      return c;
    }
    case 2:
    case 3:
    case 4:
      return GenOrderCommand(r, kind);
    case 5: {
      std::string gift = Tx(2'000'000 + r.next_tx);
      if (!r.gift_txs.empty() && Pick(0, 2) == 0) {
        gift = r.gift_txs[Pick<size_t>(0, r.gift_txs.size())];
      }
      return HostCreditCmd(gift, GenHost(), GenAmount());
    }
    case 6:
      return PayoutCmd(tx, GenHost(), GenAmount());
    case 7:
      return LimitsCmd(tx, GenUser(), Pick<int64_t>(0, 3000), Pick<int64_t>(0, 5000),
                       Pick<int64_t>(0, 20000));
    case 8:
      return PrivacyCmd(tx, GenUser(), *rc::gen::arbitrary<bool>());
    case 9:
      return CatalogCmd(tx, Pick<uint32_t>(1, 5), Pick<int64_t>(1, 300), Pick(0, 4) != 0,
                        Pick<uint32_t>(0, 10001));
    case 10:  // resubmit an earlier command exactly
      if (!r.sent.empty()) return r.sent[Pick<size_t>(0, r.sent.size())];
      return TopUpCmd(tx, GenUser(), 1);
    default: {  // an earlier tx id with different content
      if (r.sent.empty()) return TopUpCmd(tx, GenUser(), 2);
      Command c = TopUpCmd(r.sent[Pick<size_t>(0, r.sent.size())].tx_id(), GenUser(), 1);
      c.mutable_top_up()->set_payment_ref("different");
      return c;
    }
  }
}

// Runs a random sequence, checking the invariants after every step;
// `after_step` (if any) sees the run after each random command.
void RunRandom(RandomRun& r, const std::function<void()>& after_step = nullptr) {
  // A catalog and some coins first, so that most random orders can succeed.
  for (uint32_t gift = 1; gift <= 4; ++gift) {
    RC_ASSERT(r.h.Run(CatalogCmd(Tx(r.next_tx++), gift, Pick<int64_t>(1, 50))).code == schemas::OK);
  }
  for (uint64_t u : kUsers) {
    RC_ASSERT(r.h.Run(TopUpCmd(Tx(r.next_tx++), u, Pick<int64_t>(0, 3000) + 1)).code ==
              schemas::OK);
  }
  const int steps = Pick(1, 120);
  for (int i = 0; i < steps; ++i) {
    // Mostly short steps, sometimes a jump past every order's expiry.
    r.h.now_us +=
        Pick(0, 20) == 0 ? Pick<int64_t>(0, 120 * kSecond) : Pick<int64_t>(0, 2 * kSecond);
    if (Pick(0, 6) == 0) {
      RC_ASSERT(r.h.Sweep().code == schemas::OK);
    }
    const Command c = GenCommand(r);
    Outcome o = r.h.Run(c);
    for (const Event& e : o.produced) {
      if (e.has_gift_sent()) r.gift_txs.push_back(e.tx_id());
    }
    const Status inv = CheckInvariants(r.h.state);
    RC_ASSERT(inv.ok());
    r.sent.push_back(c);
    r.got.push_back(std::move(o));
    if (after_step) after_step();
  }
}

// Every command sent gets its original answer again from `state`, which
// must not change.
void CheckResubmissions(const RandomRun& r, const ShardState& state) {
  const Hash32 before = StateHash(state);
  for (size_t i = 0; i < r.sent.size(); ++i) {
    const Outcome& orig = r.got[i];
    Decision d = Decide(state, r.sent[i], DecideContext{r.h.now_us, kRolesAllGateway});
    RC_ASSERT(d.events.empty());
    RC_ASSERT(d.code == orig.code);
    if (orig.events > 0 || orig.duplicate) {
      RC_ASSERT(d.duplicate);
      RC_ASSERT(d.original_seq == orig.seq);
    }
  }
  RC_ASSERT(StateHash(state) == before);
}

TEST(Properties, MoneyConservedAndNoBalanceNegative) {
  EXPECT_TRUE(rc::check("conservation holds after every command", [] {
    RandomRun r;
    RunRandom(r);
    // The totals agree with the events themselves, not only with the state.
    __int128 topped = 0, gifted = 0, refunded = 0, credited = 0, paid = 0;
    for (const auto& [seq, e] : r.h.log) {
      if (e.has_topped_up()) topped += e.topped_up().amount();
      if (e.has_gift_sent()) gifted += e.gift_sent().amount();
      if (e.has_refunded()) refunded += e.refunded().amount();
      if (e.has_host_credited()) credited += e.host_credited().amount();
      if (e.has_paid_out()) paid += e.paid_out().amount();
    }
    __int128 wallets = 0;
    for (const auto& [u, w] : r.h.state.wallets) {
      RC_ASSERT(w.available >= 0);
      RC_ASSERT(w.held >= 0);
      wallets += __int128(w.available) + w.held;
    }
    __int128 payable = 0;
    for (const auto& [u, hst] : r.h.state.hosts) {
      RC_ASSERT(hst.paid_out <= hst.earned);
      payable += __int128(hst.earned) - hst.paid_out;
    }
    RC_ASSERT(wallets == topped - gifted + refunded);
    RC_ASSERT(payable == credited - paid);
  }));
}

TEST(Properties, ReplayFromZeroIsHashEqual) {
  EXPECT_TRUE(rc::check("replay of the produced events equals the live state", [] {
    RandomRun r;
    RunRandom(r);
    size_t gifts = 0;
    for (const auto& [seq, e] : r.h.log) gifts += e.has_gift_sent() ? 1 : 0;
    RC_CLASSIFY(gifts > 0, "some gifts sent");
    RC_CLASSIFY(r.h.state.hosts.size() > 0, "some host credited");
    const ShardState replayed = r.h.Replay();
    RC_ASSERT(StateHash(replayed) == StateHash(r.h.state));
    RC_ASSERT(CheckInvariants(replayed).ok());
  }));
}

TEST(Properties, RestartFromSnapshotEqualsRestartFromZero) {
  EXPECT_TRUE(rc::check("snapshot at any seq + tail replay equals the live state", [] {
    RandomRun r;
    RunRandom(r);
    const size_t cut = Pick<size_t>(0, r.h.log.size() + 1);
    ShardState upto(r.h.state.config);
    for (size_t i = 0; i < cut; ++i) Apply(upto, r.h.log[i].second, r.h.log[i].first);
    auto restored = DecodeSnapshotPayload(EncodeSnapshotPayload(upto), upto.config, upto.last_seq);
    RC_ASSERT(restored.ok());
    for (size_t i = cut; i < r.h.log.size(); ++i) {
      Apply(restored.value(), r.h.log[i].second, r.h.log[i].first);
    }
    RC_ASSERT(StateHash(restored.value()) == StateHash(r.h.state));
  }));
}

TEST(Properties, ResubmissionReturnsTheOriginalResultAndChangesNothing) {
  EXPECT_TRUE(rc::check("same tx id + same content → original result", [] {
    RandomRun r;
    RunRandom(r);
    CheckResubmissions(r, r.h.state);
  }));
}

// ---- The same properties with tiny memory budgets ----------------------------
// Most idempotency entries and closed orders live in run files; answers,
// conservation and hashes must not notice where an entry or order lives.

size_t GenTinyBudget() { return Pick<size_t>(1, 9); }

TEST(Properties, EvictedIdsAnswerTheOriginalResultWithATinyMemoryBudget) {
  EXPECT_TRUE(rc::check("resubmission answers come from memory and runs alike", [] {
    RandomRun r(GenTinyBudget(), GenTinyBudget());
    RunRandom(r);
    RC_CLASSIFY(r.h.state.idempotency_disk_seq > 0, "entries on disk");
    RC_CLASSIFY(r.h.state.idempotency_disk->runs() > 1, "several runs");
    RC_CLASSIFY(r.h.state.order_disk_seq > 0, "closed orders on disk");
    RC_ASSERT(CheckInvariants(r.h.state).ok());
    CheckResubmissions(r, r.h.state);
  }));
}

TEST(Properties, ReplayFromZeroIsHashEqualWithATinyMemoryBudget) {
  EXPECT_TRUE(rc::check("live (memory + runs) = replay without runs = replay re-evicting", [] {
    const size_t budget = GenTinyBudget();
    const size_t closed_budget = GenTinyBudget();
    RandomRun r(budget, closed_budget);
    RunRandom(r);
    const Hash32 live = StateHash(r.h.state);
    // All in memory.
    RC_ASSERT(StateHash(r.h.Replay()) == live);
    // From zero into an empty directory, evicting with other budgets.
    TempDir fresh;
    const ShardState rebuilt =
        r.h.ReplayWithDiskTier(fresh.path(), GenTinyBudget(), RandomRun::kNoSync,
                               JoinPath(fresh.path(), "orders"), GenTinyBudget());
    RC_ASSERT(StateHash(rebuilt) == live);
    RC_ASSERT(CheckInvariants(rebuilt).ok());
    CheckResubmissions(r, rebuilt);
    // From zero over the live run's own runs: entries and closed orders they
    // hold stay on disk.
    const ShardState over = r.h.ReplayWithDiskTier(r.dir->path(), budget, RandomRun::kNoSync,
                                                   r.order_dir(), closed_budget);
    RC_ASSERT(StateHash(over) == live);
    RC_ASSERT(CheckInvariants(over).ok());
    RC_ASSERT(over.idempotency.size() <= budget);
    RC_ASSERT(over.closed_orders_in_memory() <= closed_budget);
  }));
}

// Restart = a snapshot taken at a random step (memory part) + the runs as
// they are at the end (some written after the snapshot, as after a crash
// between a run write and the next snapshot) + the tail of the log.
TEST(Properties, RestartFromSnapshotAndRunsEqualsLiveWithATinyMemoryBudget) {
  EXPECT_TRUE(rc::check("snapshot + runs + tail = live", [] {
    const size_t budget = GenTinyBudget();
    const size_t closed_budget = GenTinyBudget();
    RandomRun r(budget, closed_budget);
    std::string payload;
    uint64_t snap_seq = 0;
    const int snap_step = Pick(0, 60);
    int step = 0;
    RunRandom(r, [&] {
      if (step++ != snap_step) return;
      payload = EncodeSnapshotPayload(r.h.state);
      snap_seq = r.h.state.last_seq;
    });
    if (payload.empty()) {
      payload = EncodeSnapshotPayload(r.h.state);
      snap_seq = r.h.state.last_seq;
    }
    auto restored = DecodeSnapshotPayload(payload, r.h.state.config, snap_seq);
    RC_ASSERT(restored.ok());
    auto index = IdempotencyIndex::Open(r.dir->path(), RandomRun::kNoSync);
    RC_ASSERT(index.ok());
    RC_CLASSIFY(index.value()->covered_seq() > snap_seq, "runs newer than the snapshot");
    RC_ASSERT(AttachIdempotencyIndex(restored.value(), index.value()).ok());
    auto orders = OrderIndex::Open(r.order_dir(), RandomRun::kNoSync);
    RC_ASSERT(orders.ok());
    RC_CLASSIFY(orders.value()->covered_seq() > snap_seq, "order runs newer than the snapshot");
    RC_ASSERT(AttachOrderIndex(restored.value(), orders.value()).ok());
    for (const auto& [seq, e] : r.h.log) {
      if (seq <= snap_seq) continue;
      Apply(restored.value(), e, seq);
      RC_ASSERT(EvictIdempotency(restored.value(), budget, seq).ok());
      RC_ASSERT(EvictClosedOrders(restored.value(), closed_budget, seq).ok());
    }
    RC_ASSERT(StateHash(restored.value()) == StateHash(r.h.state));
    RC_ASSERT(CheckInvariants(restored.value()).ok());
    CheckResubmissions(r, restored.value());
  }));
}

TEST(Properties, MoneyConservedWithATinyMemoryBudget) {
  EXPECT_TRUE(rc::check("invariants hold after every command while evicting", [] {
    RandomRun r(GenTinyBudget(), GenTinyBudget());
    RunRandom(r);  // checks CheckInvariants after every step
    RC_ASSERT(CheckInvariants(r.h.state).ok());
  }));
}

// Every order ever placed, wherever it lives: a consumed or refunded one
// cannot be consumed again, a refunded one cannot be refunded again, and
// neither attempt moves money.
TEST(Properties, EvictedClosedOrdersNeverMoveMoneyTwiceWithATinyBudget) {
  EXPECT_TRUE(rc::check("closed orders on disk answer like closed orders in memory", [] {
    RandomRun r(GenTinyBudget(), GenTinyBudget());
    RunRandom(r);
    size_t on_disk = 0;
    for (const Command& placed : r.placed) {
      const TxId id = *TxId::FromBytes(placed.tx_id());
      const std::optional<Order> order = r.h.state.FindOrder(id);
      if (!order || order->status == OrderStatus::kPending) continue;
      if (r.h.state.orders.count(id) == 0) ++on_disk;
      const uint64_t payer = order->payer.value;
      const Wallet wallet = r.h.W(payer);
      const Totals totals = r.h.state.totals;
      const Outcome consume = r.h.Run(ConsumeCmd(Tx(r.next_tx++), payer, id.str()));
      const Outcome cancel = r.h.Run(CancelCmd(Tx(r.next_tx++), payer, id.str()));
      RC_ASSERT(consume.events == 1 && consume.produced[0].has_command_rejected());
      RC_ASSERT(cancel.events == 1 && cancel.produced[0].has_command_rejected());
      switch (order->status) {
        case OrderStatus::kConsumed:
        case OrderStatus::kRefunded:
          RC_ASSERT(consume.code == schemas::ORDER_ALREADY_CONSUMED);
          break;
        case OrderStatus::kVoided:
          RC_ASSERT(consume.code == schemas::ORDER_VOIDED);
          break;
        default:
          RC_ASSERT(consume.code == schemas::ORDER_EXPIRED);
      }
      RC_ASSERT(cancel.code == consume.code);
      if (order->status == OrderStatus::kRefunded) {
        const Outcome refund = r.h.Run(RefundCmd(Tx(r.next_tx++), payer, id.str()));
        RC_ASSERT(refund.code == schemas::ALREADY_REFUNDED);
      }
      // Only rejections were logged: neither the payer's wallet nor a total moved.
      RC_ASSERT(r.h.W(payer).available == wallet.available);
      RC_ASSERT(r.h.W(payer).held == wallet.held);
      RC_ASSERT(r.h.state.totals.gifted == totals.gifted);
      RC_ASSERT(r.h.state.totals.refunded == totals.refunded);
      RC_ASSERT(CheckInvariants(r.h.state).ok());
    }
    RC_CLASSIFY(on_disk > 0, "some closed orders only on disk");
  }));
}

TEST(Properties, ReplayedConsumeOrderNeverDebitsTwice) {
  EXPECT_TRUE(rc::check("a consumed order cannot be consumed again", [] {
    RandomRun r;
    RunRandom(r);
    for (const auto& [id, order] : ShardState(r.h.state).orders) {
      if (order.status != OrderStatus::kConsumed && order.status != OrderStatus::kRefunded) {
        continue;
      }
      const Wallet w = r.h.W(order.payer.value);
      const __int128 gifted = r.h.state.totals.gifted;
      Outcome o = r.h.Run(ConsumeCmd(Tx(r.next_tx++), order.payer.value, id.str()));
      RC_ASSERT(o.code == schemas::ORDER_ALREADY_CONSUMED);
      RC_ASSERT(r.h.W(order.payer.value).available == w.available);
      RC_ASSERT(r.h.W(order.payer.value).held == w.held);
      RC_ASSERT(r.h.state.totals.gifted == gifted);
    }
  }));
}

}  // namespace
}  // namespace giftledger::commands

// The state tree end to end: the live engine's checkpoint state roots equal
// the roots recomputed by replaying the log to each checkpoint, and account
// proofs (present and absent) verify with the manifest alone and fail after
// any change (docs/proofs.md, "The state tree", "Account proof").
#include <gtest/gtest.h>

#include <random>

#include "commands/engine.h"
#include "commands/state_root_tracker.h"
#include "commands/state_tree.h"
#include "commands/test_util.h"
#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/merkle.h"
#include "ledger/merkle_proof.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "replay/account_proof.h"

namespace giftledger {
namespace {

using commands::testing::CancelCmd;
using commands::testing::CatalogCmd;
using commands::testing::ConsumeCmd;
using commands::testing::HostCreditCmd;
using commands::testing::PayoutCmd;
using commands::testing::PlaceCmd;
using commands::testing::RefundCmd;
using commands::testing::TopUpCmd;
using commands::testing::Tx;
using nlohmann::json;

// Users are even ids 2..80 (hosts 1001..1005), so odd ids below 80 are absent
// between two accounts.
constexpr uint64_t kUsers = 40;

class StateProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger"));
  }

  std::unique_ptr<commands::ShardEngine> OpenEngine() {
    commands::EngineOptions eo;
    eo.writer = testing::SmallSegmentOptions();
    eo.writer.checkpoints.every_blocks = 1;
    eo.snapshots = true;
    eo.clock_us = [this] { return clock_us_ += 1000; };
    auto e = commands::ShardEngine::Open(ledger_.shard_dir, commands::ShardConfig{ShardId{0}, 1, 0},
                                         ledger_.key, eo);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e.value());
  }

  // Random batches of every command that changes a leaf.
  void RunRandomBatches(commands::ShardEngine& e, int batches, std::mt19937_64& rng) {
    for (int b = 0; b < batches; ++b) {
      std::vector<schemas::Command> cmds;
      const int n = 1 + int(rng() % 24);
      for (int i = 0; i < n; ++i) {
        const uint64_t user = 2 * (1 + rng() % kUsers);
        const uint64_t host = 1001 + rng() % 5;
        switch (rng() % 7) {
          case 0:
          case 1:
            cmds.push_back(TopUpCmd(Tx(++tx_), user, int64_t(100 + rng() % 900)));
            break;
          case 2: {
            const std::string id = Tx(++tx_);
            cmds.push_back(PlaceCmd(id, user, host, 1, 1 + uint32_t(rng() % 3)));
            orders_.push_back({id, user, host});
            break;
          }
          case 3:
          case 4:
            if (!orders_.empty()) {
              const Placed& o = orders_[rng() % orders_.size()];
              cmds.push_back(rng() % 2 ? ConsumeCmd(Tx(++tx_), o.payer, o.id)
                                       : CancelCmd(Tx(++tx_), o.payer, o.id));
            }
            break;
          case 5:
            if (!orders_.empty()) {
              const Placed& o = orders_[rng() % orders_.size()];
              cmds.push_back(rng() % 2 ? RefundCmd(Tx(++tx_), o.payer, o.id)
                                       : HostCreditCmd(o.id, o.host, 5));
            }
            break;
          default:
            cmds.push_back(PayoutCmd(Tx(++tx_), host, 1 + int64_t(rng() % 8)));
        }
      }
      e.SubmitAndWait(cmds, commands::kRolesAllGateway | commands::kRoleSystem);
    }
  }

  // A ledger with checkpoints (state roots) after every block, a snapshot
  // in the middle and a restart.
  void BuildLedger() {
    std::mt19937_64 rng(7);
    {
      auto e = OpenEngine();
      std::vector<schemas::Command> setup = {CatalogCmd(Tx(++tx_), 1, 10)};
      for (uint64_t u = 1; u <= kUsers; ++u) setup.push_back(TopUpCmd(Tx(++tx_), 2 * u, 1000));
      e->SubmitAndWait(setup, commands::kRolesAllGateway);
      RunRandomBatches(*e, 10, rng);
      ASSERT_TRUE(e->WriteSnapshotNow().ok());
      RunRandomBatches(*e, 5, rng);
      ASSERT_TRUE(e->Close().ok());
    }
    auto e = OpenEngine();
    RunRandomBatches(*e, 5, rng);
    ASSERT_TRUE(e->Close().ok());
  }

  json Prove(uint64_t account) {
    ProveAccountOptions o;
    o.data_dir = ledger_.dir;
    o.account = account;
    auto p = ProveAccount(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? p.value() : json();
  }

  bool Verifies(const json& proof) { return VerifyProof(ledger_.manifest, proof).ok; }

  struct Placed {
    std::string id;
    uint64_t payer;
    uint64_t host;
  };
  testing::TempDir tmp_;
  testing::TestLedger ledger_;
  int64_t clock_us_ = commands::testing::kT0;
  uint64_t tx_ = 0;
  std::vector<Placed> orders_;
};

std::string FlipHexDigit(const std::string& hex, size_t at) {
  std::string out = hex;
  out[at] = out[at] == '0' ? '1' : '0';
  return out;
}

TEST_F(StateProofTest, LiveCheckpointStateRootsEqualReplayedRoots) {
  BuildLedger();
  auto list = ListCheckpoints(ledger_.shard_dir);
  ASSERT_TRUE(list.ok());
  int with_root = 0;
  for (const auto& entry : list.value()) {
    auto f = ReadCheckpointFile(entry.path);
    ASSERT_TRUE(f.ok());
    if ((f->checkpoint.flags & kCheckpointFlagStateRoot) == 0) continue;
    ++with_root;
    auto state = ReplayShardTo(ledger_.dir, ledger_.manifest, ShardId{0}, entry.tree_size);
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    EXPECT_EQ(commands::ComputeStateRoot(state.value()), f->checkpoint.state_root)
        << "checkpoint at seq " << entry.tree_size;
  }
  // One per block: every batch of the three engine runs.
  EXPECT_GE(with_root, 15);
}

TEST_F(StateProofTest, AccountProofVerifiesAndFailsAfterAnyChange) {
  BuildLedger();
  const json p = Prove(4);
  ASSERT_TRUE(p.value("found", false));
  ASSERT_TRUE(Verifies(p)) << VerifyProof(ledger_.manifest, p).reason;
  EXPECT_EQ(p["leaf"].get<std::string>().size(), 2 * commands::kAccountLeafBytes);

  json bad = p;
  bad["leaf"] = FlipHexDigit(p["leaf"], 2 * 10 + 1);  // available
  EXPECT_FALSE(Verifies(bad)) << "balance";
  bad = p;
  bad["leaf_index"] = p["leaf_index"].get<uint64_t>() + 1;
  EXPECT_FALSE(Verifies(bad)) << "leaf index";
  ASSERT_FALSE(p["audit_path"].empty());
  bad = p;
  bad["audit_path"][0] = FlipHexDigit(p["audit_path"][0], 5);
  EXPECT_FALSE(Verifies(bad)) << "sibling";
  bad = p;
  bad["checkpoint"] = FlipHexDigit(p["checkpoint"], 2 * 150);  // signature
  EXPECT_FALSE(Verifies(bad)) << "signature";
  bad = p;
  bad["checkpoint"] = FlipHexDigit(p["checkpoint"], 2 * 80);  // state root
  EXPECT_FALSE(Verifies(bad)) << "state root";
  bad = p;
  bad["state_leaves"] = p["state_leaves"].get<uint64_t>() + 1;
  EXPECT_FALSE(Verifies(bad)) << "leaf count";
  bad = p;
  bad["state_tree_root"] = FlipHexDigit(p["state_tree_root"], 0);
  EXPECT_FALSE(Verifies(bad)) << "tree root";
  bad = p;
  bad["account"] = 6;
  EXPECT_FALSE(Verifies(bad)) << "another account";
}

TEST_F(StateProofTest, AbsentAccountIsProvenByItsNeighbours) {
  BuildLedger();
  for (uint64_t absent : {uint64_t{1}, uint64_t{41}, uint64_t{999}, uint64_t{1} << 40}) {
    const json p = Prove(absent);
    ASSERT_FALSE(p.value("found", true)) << absent;
    EXPECT_TRUE(Verifies(p)) << absent << ": " << VerifyProof(ledger_.manifest, p).reason;
    if (p["neighbours"].size() == 2) {
      json bad = p;
      bad["neighbours"].erase(1);
      EXPECT_FALSE(Verifies(bad)) << absent << ": one neighbour dropped";
      bad = p;
      bad["neighbours"][1]["leaf_index"] = p["neighbours"][1]["leaf_index"].get<uint64_t>() + 1;
      EXPECT_FALSE(Verifies(bad)) << absent << ": neighbours not adjacent";
    }
    // The neighbours of one absent id do not prove another present one absent.
    json bad = p;
    bad["account"] = 4;
    EXPECT_FALSE(Verifies(bad)) << absent;
  }
  // Present accounts cannot be proven absent with their own neighbours.
  const json present = Prove(4);
  json fake = present;
  fake["found"] = false;
  fake["neighbours"] = json::array({json{{"leaf_index", present["leaf_index"]},
                                         {"leaf", present["leaf"]},
                                         {"audit_path", present["audit_path"]}}});
  EXPECT_FALSE(Verifies(fake));
}

// Random trees: the tracker's incremental root (cached leaf hashes, changes
// folded at batch ends) equals the root computed directly from the state.
TEST(StateRootTrackerTest, IncrementalRootEqualsDirectRecomputation) {
  CryptoInit();
  std::mt19937_64 rng(11);
  commands::ShardState s(commands::ShardConfig{ShardId{0}, 1, 0});
  commands::StateRootTracker t;
  t.Reset(s);
  uint64_t seq = 0;
  for (int round = 0; round < 200; ++round) {
    const int events = 1 + int(rng() % 20);
    for (int i = 0; i < events; ++i) {
      schemas::Event e;
      e.set_tx_id(Tx(1'000'000 + seq));
      e.set_ledger_time_us(commands::testing::kT0);
      const uint64_t user = rng() % 300;
      if (rng() % 2) {
        e.mutable_topped_up()->set_user(user);
        e.mutable_topped_up()->set_amount(int64_t(1 + rng() % 50));
      } else {
        e.mutable_host_credited()->set_host(user);
        e.mutable_host_credited()->set_amount(int64_t(1 + rng() % 50));
        e.mutable_host_credited()->set_gift_tx_id(Tx(seq));
      }
      ++seq;
      commands::Apply(s, e, seq);
      t.Touch(e);
    }
    t.EndBatch(s, seq, seq);
    if (round % 7 == 0) {
      auto root = t.RootAt(seq);
      ASSERT_TRUE(root.has_value());
      EXPECT_EQ(*root, commands::ComputeStateRoot(s)) << "round " << round;
    }
  }
  // A seq that is not a batch end has no root.
  EXPECT_FALSE(t.RootAt(seq - 1).has_value());
}

// Orders placed and voided between two roots never reach the overlay (they
// were most of its memory under load), while orders still pending at the
// root do; the roots stay those computed directly.
TEST(StateRootTrackerTest, OrdersSettledBetweenRootsDoNotAccumulateInTheOverlay) {
  CryptoInit();
  commands::ShardState s(commands::ShardConfig{ShardId{0}, 1, 0});
  commands::StateRootTracker t(/*queued_changes_max=*/0);  // fold at every batch end
  t.Reset(s);
  uint64_t seq = 0;
  auto apply = [&](schemas::Event e) {
    e.set_ledger_time_us(commands::testing::kT0);
    ++seq;
    commands::Apply(s, e, seq);
    t.Touch(e);
    t.EndBatch(s, seq, seq);
  };
  constexpr uint64_t kPayers = 4;
  for (uint64_t u = 1; u <= kPayers; ++u) {
    schemas::Event e;
    e.set_tx_id(Tx(u));
    e.mutable_topped_up()->set_user(u);
    e.mutable_topped_up()->set_amount(1'000'000);
    apply(e);
  }
  auto place = [&](uint64_t id, uint64_t payer) {
    schemas::Event e;
    e.set_tx_id(Tx(id));
    auto* o = e.mutable_order_placed();
    o->set_payer(payer);
    o->set_host(1001);
    o->set_room(1001);
    o->set_gift(1);
    o->set_count(1);
    o->set_amount(10);
    o->set_host_share(5);
    o->set_expires_at_us(commands::testing::kT0 + 60'000'000);
    apply(e);
  };
  auto cancel = [&](uint64_t id, uint64_t payer) {
    schemas::Event e;
    e.set_tx_id(Tx(id + 500'000));
    auto* v = e.mutable_order_voided();
    v->set_payer(payer);
    v->set_order_id(Tx(id));
    v->set_amount(10);
    v->set_reason(schemas::CANCELLED);
    apply(e);
  };
  constexpr uint64_t kOrders = 2'000;
  for (uint64_t i = 0; i < kOrders; ++i) {
    place(100'000 + i, 1 + i % kPayers);
    cancel(100'000 + i, 1 + i % kPayers);
  }
  // Only the payers' account leaves changed since Reset.
  EXPECT_EQ(t.stats().overlay_keys, kPayers);
  // Pending at the root: in the overlay, and in the root.
  place(900'000, 1);
  place(900'001, 2);
  EXPECT_EQ(t.stats().overlay_keys, kPayers + 2);
  auto root = t.RootAt(seq);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(*root, commands::ComputeStateRoot(s));
  EXPECT_EQ(t.stats().last_leaves, kPayers + 2);
  // Settled after that root: a removal the next root must apply.
  cancel(900'000, 1);
  place(900'002, 3);
  cancel(900'002, 3);
  EXPECT_EQ(t.stats().overlay_keys, 3u);  // payers 1 and 3, order 900'000 removed
  root = t.RootAt(seq);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(*root, commands::ComputeStateRoot(s));
  EXPECT_EQ(t.stats().last_leaves, kPayers + 1);
}

TEST(StateTreeTest, EmptyStateRootIsCountZeroOverEmptyHash) {
  commands::ShardState s;
  EXPECT_EQ(commands::ComputeStateRoot(s), commands::StateRootOf(0, Blake2b256(nullptr, 0)));
}

}  // namespace
}  // namespace giftledger

// Tamper detection and proofs end to end: a ledger written by the real
// writer (checkpoints on), then damaged in one way per test; `verify` must
// fail and name where. Inclusion and consistency proofs from the ledger are
// checked with the manifest alone, and rejected after any change.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "ledger/checkpoint.h"
#include "ledger/manifest.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "replay/proofs.h"
#include "replay/verifier.h"
#include "schemas/giftledger.pb.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::EventFor;
namespace fs = std::filesystem;

// 8 events of 64 KiB make a 524 544-byte block: 31 blocks fill a 16 MiB
// segment, so 70 blocks give three segments (31, 31, 8 blocks).
constexpr size_t kBigEventBytes = kEventBytesMax;
constexpr uint32_t kEventsPerBlock = 8;
constexpr int kBlocks = 70;

class TamperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pristine_ = new testing::TempDir();
    ledger_ = new testing::TestLedger(testing::FormatTestLedger(pristine_->Sub("ledger")));
    Fill(*ledger_, 1);
  }
  static void TearDownTestSuite() {
    delete ledger_;
    delete pristine_;
  }

  // Appends kBlocks blocks; checkpoints every 8 blocks and at close.
  static void Fill(const testing::TestLedger& l, uint64_t first_id) {
    WriterOptions o = testing::SmallSegmentOptions();
    o.checkpoints.every_blocks = 8;
    auto w = testing::OpenTestWriter(l, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    uint64_t id = first_id;
    for (int b = 0; b < kBlocks; ++b) {
      std::vector<std::string> events;
      for (uint32_t i = 0; i < kEventsPerBlock; ++i)
        events.push_back(EventFor(id++, kBigEventBytes));
      ASSERT_TRUE(w.value()->AppendAndWait(BatchOf(events)).status.ok());
    }
    ASSERT_TRUE(w.value()->Close().ok());
  }

  void SetUp() override {
    fs::copy(ledger_->dir, dir_, fs::copy_options::recursive);
    shard_dir_ = ShardDir(dir_, ShardId{0});
    segments_ = testing::SegmentPaths(shard_dir_);
    ASSERT_EQ(segments_.size(), 3u);
  }

  ShardVerifyReport Verify() {
    auto rep = VerifyLedger(dir_, nullptr);
    EXPECT_TRUE(rep.ok()) << rep.status().ToString();
    return rep.ok() ? rep->shards.at(0) : ShardVerifyReport{};
  }

  // Verify fails and names this file, offset and reason.
  void ExpectFailureAt(const std::string& file, uint64_t offset, const std::string& reason) {
    ShardVerifyReport r = Verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure.segment, file) << r.error;
    EXPECT_EQ(r.failure.offset, offset) << r.error;
    EXPECT_NE(r.failure.reason.find(reason), std::string::npos) << r.failure.reason;
  }

  std::vector<CheckpointEntry> Checkpoints() {
    auto l = ListCheckpoints(shard_dir_);
    EXPECT_TRUE(l.ok());
    return l.value();
  }

  static testing::TempDir* pristine_;
  static testing::TestLedger* ledger_;
  testing::TempDir tmp_;
  std::string dir_ = tmp_.Sub("copy");
  std::string shard_dir_;
  std::vector<std::string> segments_;
};
testing::TempDir* TamperTest::pristine_ = nullptr;
testing::TestLedger* TamperTest::ledger_ = nullptr;

TEST_F(TamperTest, UntouchedLedgerVerifiesWithEveryCheckpoint) {
  ShardVerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.events, uint64_t(kBlocks) * kEventsPerBlock);
  EXPECT_EQ(r.checkpoints, Checkpoints().size());
  EXPECT_EQ(r.checkpoints, 9u);  // every 8 blocks (8 of them) and at close
}

TEST_F(TamperTest, ChangedEventByteIsFoundAtItsBlock) {
  auto blocks = testing::ListBlocks(segments_[1]);
  uint64_t at = blocks[5].offset;
  testing::FlipBit(segments_[1], at + kBlockHeaderBytes + 1000, 3);
  ExpectFailureAt(segments_[1], at, "merkle root mismatch");
}

TEST_F(TamperTest, ChangedHeaderByteIsFoundAtItsBlock) {
  auto blocks = testing::ListBlocks(segments_[0]);
  uint64_t at = blocks[7].offset;
  testing::FlipBit(segments_[0], at + 24, 0);  // ledger time
  ExpectFailureAt(segments_[0], at, "block hash mismatch");
}

TEST_F(TamperTest, ChangedSignatureByteIsFoundAtItsBlock) {
  auto blocks = testing::ListBlocks(segments_[1]);
  uint64_t at = blocks[2].offset;
  testing::FlipBit(segments_[1], at + blocks[2].size_bytes - 10, 6);
  ExpectFailureAt(segments_[1], at, "bad signature");
}

TEST_F(TamperTest, ChangedCheckpointByteIsFoundInItsFile) {
  auto cps = Checkpoints();
  for (uint64_t offset : {16u, 45u, 110u, 150u}) {  // size, root, block hash, signature
    SCOPED_TRACE(offset);
    fs::remove_all(dir_);
    fs::copy(ledger_->dir, dir_, fs::copy_options::recursive);
    testing::FlipBit(cps[3].path, offset, 2);
    ShardVerifyReport r = Verify();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure.segment, cps[3].path) << r.error;
    EXPECT_EQ(r.failure.seq.value, cps[3].tree_size);
  }
}

TEST_F(TamperTest, ReorderedBlocksAreFoundAtTheFirstMovedOne) {
  auto blocks = testing::ListBlocks(segments_[0]);
  ASSERT_EQ(blocks[10].size_bytes, blocks[11].size_bytes);
  std::string a = testing::ReadRange(segments_[0], blocks[10].offset, blocks[10].size_bytes);
  std::string b = testing::ReadRange(segments_[0], blocks[11].offset, blocks[11].size_bytes);
  testing::WriteRange(segments_[0], blocks[10].offset, b);
  testing::WriteRange(segments_[0], blocks[11].offset, a);
  ExpectFailureAt(segments_[0], blocks[10].offset, "seq gap");
}

TEST_F(TamperTest, DeletedMiddleSegmentIsNamed) {
  fs::remove(segments_[1]);
  ShardVerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure.segment, segments_[2]);
  EXPECT_NE(r.failure.reason.find("missing segment"), std::string::npos) << r.failure.reason;
}

TEST_F(TamperTest, DeletedLastSegmentIsCaughtByTheCheckpoints) {
  // The rest of the log is intact and chains; only signed checkpoints
  // remember that it was longer.
  fs::remove(segments_[2]);
  ShardVerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.reason.find("past the end of the log"), std::string::npos)
      << r.failure.reason;
  EXPECT_GT(r.failure.seq.value, r.events);

  // A writer opening the shorter log sets the checkpoint aside and carries
  // on; verify keeps naming it.
  auto w = Writer::Open(shard_dir_, ShardId{0}, ledger_->key, testing::SmallSegmentOptions());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(w.value()->Close().ok());
  r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.failure.segment.ends_with(".ckpt.lost")) << r.failure.segment;
  EXPECT_GT(r.failure.seq.value, r.events);
}

TEST_F(TamperTest, SegmentSignedByAnotherKeyIsFoundAtItsStart) {
  // The same events, written by another ledger with its own shard key.
  testing::TempDir other_dir;
  testing::TestLedger other = testing::FormatTestLedger(other_dir.Sub("ledger"));
  Fill(other, 1);
  auto other_segments = testing::SegmentPaths(other.shard_dir);
  ASSERT_EQ(other_segments.size(), 3u);
  fs::copy_file(other_segments[1], segments_[1], fs::copy_options::overwrite_existing);
  ShardVerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure.segment, segments_[1]) << r.error;
  EXPECT_EQ(r.failure.offset, 0u) << r.error;
}

TEST_F(TamperTest, CheckpointReplacedByAnotherKeysIsRejected) {
  testing::TempDir other_dir;
  testing::TestLedger other = testing::FormatTestLedger(other_dir.Sub("ledger"));
  auto cps = Checkpoints();
  auto f = ReadCheckpointFile(cps[2].path);
  ASSERT_TRUE(f.ok());
  Checkpoint forged = f->checkpoint;
  SignCheckpoint(other.key, &forged);
  auto fr = MerkleFrontier::FromNodes(forged.tree_size, f->frontier);
  ASSERT_TRUE(fr.ok());
  fs::remove(cps[2].path);
  ASSERT_TRUE(WriteCheckpointFile(shard_dir_, forged, fr.value()).ok());
  ExpectFailureAt(cps[2].path, 0, "bad signature");
}

// A ledger of protobuf events with tx ids, for proofs.
class ProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger"));
    manifest_ = ledger_.manifest;
    WriterOptions o = testing::SmallSegmentOptions();
    o.checkpoints.every_blocks = 5;
    auto w = testing::OpenTestWriter(ledger_, o);
    ASSERT_TRUE(w.ok());
    for (int b = 0; b < 37; ++b) {
      EventBatch batch;
      for (int t = 0; t <= b % 4; ++t) {  // 1..4 txs a block, 1..3 events a tx
        std::string tx(kTxIdBytes, '\0');
        for (auto& c : tx) c = char(rng_());
        txs_.push_back(tx);
        tx_events_.push_back(size_t(t % 3) + 1);
        for (int e = 0; e <= t % 3; ++e) {
          schemas::Event ev;
          ev.set_tx_id(tx);
          ev.set_ledger_time_us(1000 + b);
          ev.mutable_topped_up()->set_user(rng_() % 1000);
          ev.mutable_topped_up()->set_amount(int64_t(100 + e));
          ASSERT_TRUE(batch.Add(ev.SerializeAsString()).ok());
        }
      }
      ASSERT_TRUE(w.value()->AppendAndWait(std::move(batch)).status.ok());
    }
    ASSERT_TRUE(w.value()->Close().ok());
  }

  nlohmann::json Prove(const std::string& tx, std::optional<uint64_t> checkpoint = {}) {
    ProveTxOptions o;
    o.data_dir = ledger_.dir;
    o.tx_id = tx;
    o.checkpoint = checkpoint;
    auto p = ProveTx(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? p.value() : nlohmann::json();
  }

  // Flips one hex digit of a string field.
  static void FlipHex(nlohmann::json& field, size_t at) {
    std::string s = field.get<std::string>();
    s[at % s.size()] = s[at % s.size()] == '0' ? '1' : '0';
    field = s;
  }

  testing::TempDir tmp_;
  testing::TestLedger ledger_;
  Manifest manifest_;
  std::vector<std::string> txs_;
  std::vector<size_t> tx_events_;  // events of each tx
  std::mt19937_64 rng_{7};
};

TEST_F(ProofTest, InclusionProofOfEveryTxVerifiesWithTheManifestAlone) {
  for (size_t i = 0; i < txs_.size(); i += 3) {
    nlohmann::json p = Prove(txs_[i]);
    ProofVerdict v = VerifyProof(manifest_, p);
    EXPECT_TRUE(v.ok) << v.reason;
    EXPECT_EQ(p["entries"].size(), tx_events_[i]);
  }
}

TEST_F(ProofTest, InclusionProofAgainstAnOlderCheckpointVerifies) {
  auto cps = ListCheckpoints(ledger_.shard_dir);
  ASSERT_TRUE(cps.ok() && cps->size() >= 3);
  nlohmann::json p = Prove(txs_[0], cps->at(0).tree_size);
  EXPECT_TRUE(VerifyProof(manifest_, p).ok);
  EXPECT_EQ(p["checkpoint_info"]["tree_size"].get<uint64_t>(), cps->at(0).tree_size);
}

TEST_F(ProofTest, InclusionProofRejectedAfterAnyChange) {
  nlohmann::json good = Prove(txs_[txs_.size() / 2]);
  ASSERT_TRUE(VerifyProof(manifest_, good).ok);
  auto expect_rejected = [&](const std::function<void(nlohmann::json&)>& change, const char* what) {
    nlohmann::json p = good;
    change(p);
    ProofVerdict v = VerifyProof(manifest_, p);
    EXPECT_FALSE(v.ok) << what;
  };
  for (size_t at : {0u, 17u, 80u, 100u, 150u, 300u, 399u}) {
    expect_rejected([&](nlohmann::json& p) { FlipHex(p["checkpoint"], at); }, "checkpoint byte");
  }
  auto& e0 = good["entries"][0];
  for (size_t at = 0; at < e0["event"].get<std::string>().size(); at += 5) {
    expect_rejected([&](nlohmann::json& p) { FlipHex(p["entries"][0]["event"], at); },
                    "event byte");
  }
  for (size_t k = 0; k < e0["audit_path"].size(); ++k) {
    expect_rejected([&](nlohmann::json& p) { FlipHex(p["entries"][0]["audit_path"][k], 9 + k); },
                    "path hash");
  }
  expect_rejected([](nlohmann::json& p) { p["entries"][0]["audit_path"].erase(0); },
                  "shorter path");
  expect_rejected([](nlohmann::json& p) { FlipHex(p["tx_id"], 4); }, "tx id");
  expect_rejected(
      [](nlohmann::json& p) {
        p["entries"][0]["seq"] = p["entries"][0]["seq"].get<uint64_t>() + 1;
      },
      "seq");
  expect_rejected([](nlohmann::json& p) { p["shard"] = 1; }, "shard");
  expect_rejected([](nlohmann::json& p) { p["entries"] = nlohmann::json::array(); }, "no entries");
  expect_rejected([](nlohmann::json& p) { p["type"] = "giftledger.inclusion.v0"; }, "type");
  // Another ledger's keys do not accept it.
  testing::TempDir other_dir;
  Manifest other = testing::FormatTestLedger(other_dir.Sub("ledger")).manifest;
  EXPECT_FALSE(VerifyProof(other, good).ok);
}

TEST_F(ProofTest, ConsistencyProofsBetweenAllCheckpointsVerifyAndRejectChanges) {
  auto cps = ListCheckpoints(ledger_.shard_dir);
  ASSERT_TRUE(cps.ok() && cps->size() >= 4);
  for (size_t a = 0; a < cps->size(); ++a) {
    for (size_t b = a; b < cps->size(); ++b) {
      auto p =
          ProveConsistency(ledger_.dir, ShardId{0}, cps->at(a).tree_size, cps->at(b).tree_size);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ProofVerdict v = VerifyProof(manifest_, p.value());
      ASSERT_TRUE(v.ok) << v.reason;
      if (a == b) continue;
      nlohmann::json swapped = p.value();
      std::swap(swapped["old_checkpoint"], swapped["new_checkpoint"]);
      EXPECT_FALSE(VerifyProof(manifest_, swapped).ok);
      for (size_t k = 0; k < p.value()["proof"].size(); ++k) {
        nlohmann::json bad = p.value();
        FlipHex(bad["proof"][k], 3 * k + 1);
        EXPECT_FALSE(VerifyProof(manifest_, bad).ok) << a << "->" << b << " hash " << k;
      }
      nlohmann::json bad = p.value();
      FlipHex(bad["new_checkpoint"], 90);  // inside the event root
      EXPECT_FALSE(VerifyProof(manifest_, bad).ok);
    }
  }
}

TEST_F(ProofTest, ProveRefusesUnknownTxAndMissingCheckpoint) {
  ProveTxOptions o;
  o.data_dir = ledger_.dir;
  o.tx_id = std::string(kTxIdBytes, '\x5a');
  EXPECT_EQ(ProveTx(o).status().code(), Code::kNotFound);
  o.tx_id = txs_.back();
  o.checkpoint = 1;  // no checkpoint of one event exists, and it would not cover the tx
  EXPECT_EQ(ProveTx(o).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(ProveConsistency(ledger_.dir, ShardId{0}, 3, 4).status().code(), Code::kNotFound);
  EXPECT_EQ(ProveConsistency(ledger_.dir, ShardId{0}, 0, 4).status().code(),
            Code::kInvalidArgument);
}

TEST_F(ProofTest, ProveRefusesALogThatNoLongerMatchesItsCheckpoint) {
  auto segs = testing::SegmentPaths(ledger_.shard_dir);
  auto blocks = testing::ListBlocks(segs[0]);
  // Rewrite the first block's events: the log's own checks catch it first.
  testing::FlipBit(segs[0], blocks[0].offset + kBlockHeaderBytes + 6, 1);
  ProveTxOptions o;
  o.data_dir = ledger_.dir;
  o.tx_id = txs_.back();
  EXPECT_EQ(ProveTx(o).status().code(), Code::kDataLoss);
}

}  // namespace
}  // namespace giftledger

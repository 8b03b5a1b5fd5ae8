#include "ledger/leader_terms.h"

#include <gtest/gtest.h>

namespace giftledger {
namespace {

class LeaderTermsTest : public ::testing::Test {
 protected:
  LeaderTermsTest() { manifest_.nodes = {ManifestNode{1, "a"}, ManifestNode{2, "b"}}; }

  // Blocks of 10 events, one after the other.
  BlockHeader Block(uint64_t epoch, uint32_t node) {
    BlockHeader h;
    h.first_seq = Seq{next_seq_};
    h.event_count = 10;
    h.leader_epoch = epoch;
    h.leader_node = node;
    next_seq_ += 10;
    return h;
  }

  Manifest manifest_;
  uint64_t next_seq_ = 1;
};

TEST_F(LeaderTermsTest, TakeoversMakeTermsWithTheirSeqRanges) {
  LeaderTerms t(manifest_);
  ASSERT_TRUE(t.OnBlock(Block(0, 0)).ok());  // before replication was turned on
  ASSERT_TRUE(t.OnBlock(Block(4, 1)).ok());
  ASSERT_TRUE(t.OnBlock(Block(4, 1)).ok());
  ASSERT_TRUE(t.OnBlock(Block(9, 2)).ok());
  ASSERT_EQ(t.terms().size(), 3u);
  EXPECT_EQ(t.terms()[1].epoch, 4u);
  EXPECT_EQ(t.terms()[1].node, 1u);
  EXPECT_EQ(t.terms()[1].first_seq, Seq{11});
  EXPECT_EQ(t.terms()[1].last_seq, Seq{30});
  EXPECT_EQ(t.terms()[1].blocks, 2u);
  EXPECT_EQ(t.terms()[2].node, 2u);
  EXPECT_EQ(t.terms()[2].last_seq, Seq{40});
  EXPECT_EQ(t.terms_left_out(), 0u);
}

TEST_F(LeaderTermsTest, DeposedLeadersBlockAfterItsSuccessorIsDataLoss) {
  LeaderTerms t(manifest_);
  ASSERT_TRUE(t.OnBlock(Block(4, 1)).ok());
  ASSERT_TRUE(t.OnBlock(Block(9, 2)).ok());
  Status st = t.OnBlock(Block(4, 1));
  EXPECT_EQ(st.code(), Code::kDataLoss);
  EXPECT_NE(st.message().find("deposed"), std::string::npos) << st.ToString();
  // A second node claiming the same epoch is as bad.
  EXPECT_EQ(t.OnBlock(Block(9, 1)).code(), Code::kDataLoss);
  EXPECT_EQ(t.terms().size(), 2u);
}

TEST_F(LeaderTermsTest, NodeTheManifestDoesNotListIsDataLoss) {
  LeaderTerms t(manifest_);
  Status st = t.OnBlock(Block(3, 7));
  EXPECT_EQ(st.code(), Code::kDataLoss);
  EXPECT_NE(st.message().find("does not list"), std::string::npos) << st.ToString();
  EXPECT_TRUE(t.terms().empty());
}

TEST_F(LeaderTermsTest, TermsPastTheReportLimitAreCountedNotKept) {
  LeaderTerms t(manifest_);
  for (uint64_t e = 1; e <= kLeaderTermsReportedMax + 5; ++e) {
    ASSERT_TRUE(t.OnBlock(Block(e, uint32_t(1 + e % 2))).ok());
  }
  EXPECT_EQ(t.terms().size(), kLeaderTermsReportedMax);
  EXPECT_EQ(t.terms_left_out(), 5u);
}

}  // namespace
}  // namespace giftledger

#include "ledger/segment.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "ledger/file.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger {
namespace {

TEST(SegmentName, IsTwentyDigitsOfFirstSeq) {
  EXPECT_EQ(SegmentFileName(Seq{1}), "00000000000000000001.seg");
  EXPECT_EQ(SegmentFileName(Seq{4097}), "00000000000000004097.seg");
  EXPECT_EQ(SegmentFileName(Seq{std::numeric_limits<uint64_t>::max()}), "18446744073709551615.seg");
}

TEST(SegmentName, RoundTripsThroughParse) {
  for (uint64_t v : {uint64_t{1}, uint64_t{9}, uint64_t{10}, uint64_t{4097},
                     uint64_t{1234567890123}, std::numeric_limits<uint64_t>::max()}) {
    Seq parsed;
    ASSERT_TRUE(ParseSegmentFileName(SegmentFileName(Seq{v}), &parsed)) << v;
    EXPECT_EQ(parsed.value, v);
  }
}

TEST(SegmentName, MalformedNamesAreRejected) {
  const char* bad[] = {
      "",
      ".seg",
      "1.seg",
      "0000000000000000001.seg",    // 19 digits
      "000000000000000000001.seg",  // 21 digits
      "00000000000000000000.seg",   // seq 0 never starts a segment
      "00000000000000000001.log",
      "00000000000000000001.seg.tmp",
      "00000000000000000001.SEG",
      "0000000000000000000a.seg",
      "-0000000000000000001.seg",
      "+0000000000000000001.seg",
      " 0000000000000000001.seg",
      "18446744073709551616.seg",  // UINT64_MAX + 1
      "99999999999999999999.seg",
      "00000000000000000001seg",
      "signing.key",
  };
  for (const char* name : bad) {
    Seq parsed{77};
    EXPECT_FALSE(ParseSegmentFileName(name, &parsed)) << "'" << name << "'";
    EXPECT_EQ(parsed.value, 77u) << "'" << name << "' changed the output";
  }
}

TEST(ListSegmentsTest, ReturnsSegmentsInSeqOrderAndIgnoresOtherFiles) {
  giftledger::testing::TempDir dir;
  // Created out of order, among files that are not segments.
  for (uint64_t seq : {uint64_t{100}, uint64_t{9}, uint64_t{1}, uint64_t{10}}) {
    ASSERT_TRUE(WriteFileAtomic(dir.Sub(SegmentFileName(Seq{seq})), "", 0644).ok());
  }
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("signing.key"), "x", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("00000000000000000002.seg.tmp"), "x", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("1.seg"), "x", 0644).ok());

  auto segs = ListSegments(dir.path());
  ASSERT_TRUE(segs.ok()) << segs.status().ToString();
  ASSERT_EQ(segs->size(), 4u);
  const uint64_t want[] = {1, 9, 10, 100};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*segs)[i].first_seq.value, want[i]);
    EXPECT_EQ((*segs)[i].path, JoinPath(dir.path(), SegmentFileName(Seq{want[i]})));
  }
}

TEST(ListSegmentsTest, EmptyShardHasNoSegments) {
  giftledger::testing::TempDir dir;
  auto segs = ListSegments(dir.path());
  ASSERT_TRUE(segs.ok());
  EXPECT_TRUE(segs->empty());
}

TEST(ListSegmentsTest, MissingShardDirIsNotFound) {
  giftledger::testing::TempDir dir;
  auto segs = ListSegments(dir.Sub("absent"));
  ASSERT_FALSE(segs.ok());
  EXPECT_EQ(segs.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace giftledger

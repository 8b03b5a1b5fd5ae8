#include "commands/shard_ranges.h"

#include <gtest/gtest.h>

namespace giftledger::commands {
namespace {

std::vector<uint32_t> Parse(std::vector<std::string> items) {
  auto r = ParseShardRanges(items);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : std::vector<uint32_t>{};
}

Code ErrorOf(std::vector<std::string> items) { return ParseShardRanges(items).status().code(); }

TEST(ShardRangesTest, RangesListsAndRepeatedItemsGiveAscendingShards) {
  EXPECT_EQ(Parse({"0-3"}), (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(Parse({"0,2,5-7"}), (std::vector<uint32_t>{0, 2, 5, 6, 7}));
  EXPECT_EQ(Parse({"3", "1", "2"}), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(Parse({"4-4"}), (std::vector<uint32_t>{4}));
  EXPECT_EQ(Parse({"1023"}), (std::vector<uint32_t>{1023}));
}

TEST(ShardRangesTest, MalformedItemIsInvalidArgument) {
  for (const char* bad : {"", "a", "-1", "1-", "-", "3-1", "1--2", " 1", "1,", ",1", "0x1", "1024",
                          "0-1024", "99999"}) {
    EXPECT_EQ(ErrorOf({bad}), Code::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_EQ(ErrorOf({}), Code::kInvalidArgument);
}

TEST(ShardRangesTest, ShardNamedTwiceIsInvalidArgument) {
  EXPECT_EQ(ErrorOf({"0-3,2"}), Code::kInvalidArgument);
  EXPECT_EQ(ErrorOf({"1", "1"}), Code::kInvalidArgument);
}

TEST(ShardRangesTest, FormatGivesTheShortestRangesAndParsesBack) {
  EXPECT_EQ(FormatShardRanges({0, 1, 2, 3, 5, 7, 8}), "0-3,5,7-8");
  EXPECT_EQ(FormatShardRanges({4}), "4");
  EXPECT_EQ(FormatShardRanges({}), "");
  EXPECT_EQ(Parse({FormatShardRanges({0, 1, 2, 3, 5, 7, 8})}),
            (std::vector<uint32_t>{0, 1, 2, 3, 5, 7, 8}));
}

}  // namespace
}  // namespace giftledger::commands

#include "ledger/reader.h"

#include <gtest/gtest.h>

#include "ledger/segment.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "ledger/writer.h"

namespace giftledger {
namespace {

using testing::BatchOf;
using testing::EventFor;

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger")); }

  // One block per entry of `batches`, events of `bytes` bytes (ids = seqs).
  void Write(const std::vector<uint32_t>& batches, size_t bytes) {
    auto w = testing::OpenTestWriter(ledger_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (uint32_t n : batches) {
      std::vector<std::string> events;
      for (uint32_t i = 0; i < n; ++i) events.push_back(EventFor(written_.size() + i + 1, bytes));
      AppendOutcome out = w.value()->AppendAndWait(BatchOf(events));
      ASSERT_TRUE(out.status.ok()) << out.status.ToString();
      ASSERT_EQ(out.first_seq.value, written_.size() + 1);
      written_.insert(written_.end(), events.begin(), events.end());
    }
    ASSERT_TRUE(w.value()->Close().ok());
  }

  std::unique_ptr<LogReader> OpenReader() {
    auto r = LogReader::Open(ledger_.shard_dir, ShardId{0}, ledger_.public_key());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  // Reads from `from` to the end and checks the events are exactly those written.
  void ExpectReadFrom(LogReader& r, uint64_t from) {
    SCOPED_TRACE("reading from seq " + std::to_string(from));
    uint64_t next = from;
    Status st = r.ReadEvents(Seq{from}, [&](Seq seq, std::string_view ev) {
      EXPECT_EQ(seq.value, next);
      if (seq.value == next && seq.value <= written_.size()) {
        EXPECT_TRUE(ev == written_[seq.value - 1]) << "seq " << seq.value;
      }
      ++next;
      return true;
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(next, std::max<uint64_t>(from, written_.size() + 1));
  }

  testing::TempDir tmp_;
  testing::TestLedger ledger_;
  std::vector<std::string> written_;  // element i holds seq i+1
};

TEST_F(ReaderTest, ReadsEveryEventFromSeqOne) {
  Write({1, 4, 2, 7, 1}, 50);
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  ExpectReadFrom(*r, 1);
}

TEST_F(ReaderTest, ReadFromTheMiddleOfABlockSkipsItsEarlierEvents) {
  Write({3, 6, 2}, 50);  // seqs 1-3, 4-9, 10-11
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  for (uint64_t from = 1; from <= 11; ++from) ExpectReadFrom(*r, from);
  // The block handed out first is the one holding `from`.
  Seq first_block;
  ASSERT_TRUE(r->ReadFrom(Seq{6}, [&](const BlockView& b) {
                 first_block = b.header.first_seq;
                 return false;
               }).ok());
  EXPECT_EQ(first_block, Seq{4});
}

TEST_F(ReaderTest, ReadPastTheEndYieldsNothing) {
  Write({2, 2}, 30);
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  for (uint64_t from : {5u, 6u, 1000u}) {
    int calls = 0;
    Status st = r->ReadEvents(Seq{from}, [&](Seq, std::string_view) {
      ++calls;
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(calls, 0) << "from " << from;
  }
}

TEST_F(ReaderTest, EmptyShardYieldsNothing) {
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  int calls = 0;
  EXPECT_TRUE(r->ReadEvents(Seq{1}, [&](Seq, std::string_view) { return ++calls > 0; }).ok());
  EXPECT_EQ(calls, 0);
}

TEST_F(ReaderTest, StopsWhenTheCallbackSaysSo) {
  Write({5, 5}, 30);
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  std::vector<uint64_t> seen;
  ASSERT_TRUE(r->ReadEvents(Seq{2}, [&](Seq seq, std::string_view) {
                 seen.push_back(seq.value);
                 return seen.size() < 3;
               }).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3, 4}));
}

TEST_F(ReaderTest, ReadFromALaterSegmentSeeksThroughTheIndex) {
  // Blocks of 127 maximum-size events: two fill a 16 MiB segment.
  Write({127, 127, 127, 127, 3}, kEventBytesMax);
  auto paths = testing::SegmentPaths(ledger_.shard_dir);
  ASSERT_EQ(paths.size(), 3u);
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->scan().segments.size(), 3u);
  uint64_t third = 4 * 127 + 1;
  ExpectReadFrom(*r, third + 1);
  ExpectReadFrom(*r, 2 * 127 + 5);

  // Proof that the reader seeks rather than walks: damage an event in the
  // first (sealed) segment, whose bodies the open scan does not check. Reads
  // that start past it still succeed; a read from seq 1 meets the damage.
  auto blocks = testing::ListBlocks(paths[0]);
  testing::FlipBit(paths[0], blocks[0].offset + kBlockHeaderBytes + 100, 0);
  auto damaged = OpenReader();
  ASSERT_NE(damaged, nullptr);
  ExpectReadFrom(*damaged, third + 1);
  ExpectReadFrom(*damaged, 127 + 1);
  Status st = damaged->ReadEvents(Seq{1}, [](Seq, std::string_view) { return true; });
  EXPECT_EQ(st.code(), Code::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find(SegmentFileName(Seq{1})), std::string::npos) << st.ToString();
}

TEST_F(ReaderTest, TornTailIsLeftAloneAndNotRead) {
  Write({2, 3}, 40);
  const std::string path = testing::SegmentPaths(ledger_.shard_dir).back();
  auto blocks = testing::ListBlocks(path);
  uint64_t end = blocks.back().offset + blocks.back().size_bytes;
  testing::WriteRange(path, end, "GLB1 and then a crash");
  auto r = OpenReader();
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->scan().torn_tail);
  ExpectReadFrom(*r, 1);
  // Read-only: the damaged bytes are still there.
  EXPECT_EQ(testing::ReadRange(path, end, 4), "GLB1");
}

}  // namespace
}  // namespace giftledger

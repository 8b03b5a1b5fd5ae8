#include "commands/ingress/redo_journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::ingress {
namespace {

schemas::Command TopUp(uint8_t tx_byte, int64_t amount = 5) {
  schemas::Command c;
  c.set_tx_id(std::string(16, char(tx_byte)));
  c.mutable_top_up()->set_user(7);
  c.mutable_top_up()->set_amount(amount);
  return c;
}

schemas::CommandResult Ok(uint64_t seq) {
  schemas::CommandResult r;
  r.set_code(schemas::OK);
  r.set_seq(seq);
  return r;
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

void AppendRaw(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "ab");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

class RedoJournalTest : public ::testing::Test {
 protected:
  void SetUp() override { CryptoInit(); }
  std::string path() const { return dir_.Sub("redo.journal"); }
  testing::TempDir dir_;
};

TEST_F(RedoJournalTest, SentCommandsSurviveReopenInOrder) {
  {
    auto j = RedoJournal::Open(path());
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    ASSERT_TRUE(j.value()->AppendSent(1, {TopUp(3), TopUp(1)}).ok());
    ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(2)}).ok());
  }
  auto j = RedoJournal::Open(path());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  auto pending = j.value()->Pending();
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].tx_id, std::string(16, char(3)));
  EXPECT_EQ(pending[0].shard, 1u);
  EXPECT_EQ(pending[1].tx_id, std::string(16, char(1)));
  EXPECT_EQ(pending[2].shard, 0u);
  EXPECT_EQ(pending[2].command.SerializeAsString(), TopUp(2).SerializeAsString());
}

TEST_F(RedoJournalTest, AnsweredCommandsAreDroppedAndCompactedOnOpen) {
  {
    auto j = RedoJournal::Open(path());
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(1), TopUp(2)}).ok());
    ASSERT_TRUE(j.value()->MarkAnswered({TopUp(1)}, {Ok(10)}).ok());
    EXPECT_EQ(j.value()->pending_count(), 1u);
  }
  const uint64_t before = FileSize(path());
  auto j = RedoJournal::Open(path());
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j.value()->open_stats().answered, 1u);
  ASSERT_EQ(j.value()->pending_count(), 1u);
  EXPECT_EQ(j.value()->Pending()[0].tx_id, std::string(16, char(2)));
  EXPECT_LT(FileSize(path()), before);
}

TEST_F(RedoJournalTest, AppendingAPendingTxIdAgainIsANoOp) {
  auto j = RedoJournal::Open(path());
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(1)}).ok());
  const uint64_t size = FileSize(path());
  ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(1)}).ok());
  EXPECT_EQ(FileSize(path()), size);
  EXPECT_EQ(j.value()->pending_count(), 1u);
}

TEST_F(RedoJournalTest, TruncatedTrailingRecordIsIgnored) {
  {
    auto j = RedoJournal::Open(path());
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(1), TopUp(2)}).ok());
  }
  // Cut the last record in half: a crash during an unsynced append.
  const uint64_t size = FileSize(path());
  ASSERT_EQ(::truncate(path().c_str(), off_t(size - 10)), 0);
  RedoJournalStats stats;
  auto read = RedoJournal::ReadPending(path(), &stats);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->size(), 1u);
  EXPECT_GT(stats.torn_tail_bytes, 0u);
  auto j = RedoJournal::Open(path());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j.value()->pending_count(), 1u);
  // The tail is gone from the file: new records append after the good ones.
  ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(3)}).ok());
  j.value().reset();
  auto again = RedoJournal::ReadPending(path(), &stats);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->size(), 2u);
  EXPECT_EQ(stats.torn_tail_bytes, 0u);
}

TEST_F(RedoJournalTest, GarbageTailIsIgnored) {
  {
    auto j = RedoJournal::Open(path());
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(1)}).ok());
  }
  AppendRaw(path(), std::string(7, '\xff'));  // shorter than a record header
  auto j = RedoJournal::Open(path());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j.value()->pending_count(), 1u);
  EXPECT_EQ(j.value()->open_stats().torn_tail_bytes, 7u);
}

TEST_F(RedoJournalTest, ChecksumMismatchInTheMiddleIsDataLoss) {
  {
    auto j = RedoJournal::Open(path());
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(1)}).ok());
    ASSERT_TRUE(j.value()->AppendSent(0, {TopUp(2)}).ok());
  }
  // Flip a byte of the first record's payload.
  auto image = ReadSmallFile(path(), 1 << 20);
  ASSERT_TRUE(image.ok());
  std::string bytes = image.value();
  bytes[kRedoJournalMagicBytes + kRedoRecordHeaderBytes + 3] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomic(path(), bytes, 0600).ok());
  auto j = RedoJournal::Open(path());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), Code::kDataLoss);
  // Opening a corrupt journal must not change it.
  auto after = ReadSmallFile(path(), 1 << 20);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.value(), bytes);
}

TEST_F(RedoJournalTest, BadMagicIsDataLoss) {
  ASSERT_TRUE(WriteFileAtomic(path(), "NOTREDO!", 0600).ok());
  auto j = RedoJournal::Open(path());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), Code::kDataLoss);
}

TEST_F(RedoJournalTest, CommandWithoutA16ByteTxIdIsRefused) {
  auto j = RedoJournal::Open(path());
  ASSERT_TRUE(j.ok());
  schemas::Command c = TopUp(1);
  c.set_tx_id("short");
  EXPECT_EQ(j.value()->AppendSent(0, {c}).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace giftledger::ingress

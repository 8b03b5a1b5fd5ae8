// The on-disk idempotency runs: round trip, damage is DATA_LOSS naming the
// file, a missing run is a named gap, Bloom false positives never change an
// answer, merges keep every entry and a merge cut short by a crash is cleaned.
#include "commands/idempotency_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "commands/test_util.h"
#include "ledger/file.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::commands {
namespace {

using ::giftledger::testing::TempDir;

IdempotencyRecord Rec(uint64_t n, uint64_t seq) {
  IdempotencyRecord r;
  r.tx = *TxId::FromBytes(commands::testing::Tx(n));
  r.entry.hash.fill(uint8_t(n * 7 + 1));
  r.entry.code = n % 3 == 0 ? schemas::INSUFFICIENT_FUNDS : schemas::OK;
  r.entry.seq = seq;
  return r;
}

std::vector<IdempotencyRecord> Sorted(std::vector<IdempotencyRecord> v) {
  std::sort(v.begin(), v.end(),
            [](const IdempotencyRecord& a, const IdempotencyRecord& b) { return a.tx < b.tx; });
  return v;
}

// Records for ids first..first+n-1 with seqs lo+1..lo+n.
std::vector<IdempotencyRecord> Batch(uint64_t first, uint64_t n, uint64_t lo) {
  std::vector<IdempotencyRecord> v;
  for (uint64_t i = 0; i < n; ++i) v.push_back(Rec(first + i, lo + 1 + i));
  return Sorted(v);
}

void FlipByte(const std::string& path, size_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(std::streamoff(at));
  char c;
  f.get(c);
  f.seekp(std::streamoff(at));
  f.put(char(c ^ 0x40));
}

// An index in a fresh directory, with runs appended the way an eviction
// appends them (WriteRun, WithRun: no merge before it returns).
struct RunsInDir {
  TempDir dir;
  IdempotencyIndexOptions options;
  std::shared_ptr<const IdempotencyIndex> index;
  uint64_t seq = 0;

  explicit RunsInDir(IdempotencyIndexOptions o = {10, false}) : options(o) {
    auto opened = IdempotencyIndex::Open(dir.path(), options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) index = opened.value();
  }
  // A run of ids first..first+n-1 with the next n seqs.
  void Append(uint64_t first, uint64_t n) { AppendSorted(Batch(first, n, seq), n); }
  // A run of `sorted`, whose seqs are within the next n.
  void AppendSorted(const std::vector<IdempotencyRecord>& sorted, uint64_t n) {
    auto run = IdempotencyIndex::WriteRun(dir.path(), seq, seq + n, sorted, options);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    index = index->WithRun(std::move(run.value()));
    seq += n;
  }
};

TEST(Crc32c, HardwareAndPortableAgreeOnTheCheckValue) {
  const std::string s = "123456789";
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  EXPECT_EQ(Crc32cPortable(p, s.size()), 0xE3069283u);
  EXPECT_EQ(Crc32c(p, s.size()), 0xE3069283u);
  std::string big(1000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 31);
  const auto* q = reinterpret_cast<const uint8_t*>(big.data());
  for (size_t n : {0, 1, 7, 8, 9, 63, 1000}) EXPECT_EQ(Crc32c(q, n), Crc32cPortable(q, n)) << n;
}

TEST(IdempotencyIndex, EvictedEntriesAreFoundAfterReopen) {
  TempDir dir;
  auto index = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index.value()->covered_seq(), 0u);
  auto next = index.value()->Add(Batch(1, 100, 0), 150);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next.value()->covered_seq(), 150u);
  EXPECT_EQ(index.value()->covered_seq(), 0u);  // the old value is unchanged
  auto reopened = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened.value()->covered_seq(), 150u);
  EXPECT_EQ(reopened.value()->entries(), 100u);
  for (uint64_t n = 1; n <= 100; ++n) {
    auto e = reopened.value()->Find(Rec(n, 0).tx);
    ASSERT_TRUE(e.has_value()) << n;
    EXPECT_EQ(e->seq, n);
    EXPECT_EQ(e->hash, Rec(n, 0).entry.hash);
    EXPECT_EQ(e->code, Rec(n, 0).entry.code);
  }
  EXPECT_FALSE(reopened.value()->Find(Rec(101, 0).tx).has_value());
  EXPECT_FALSE(reopened.value()->Find(Rec(0, 0).tx).has_value());
}

TEST(IdempotencyIndex, CorruptRunIsDataLossNamingTheFile) {
  TempDir dir;
  auto index = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE(index.value()->Add(Batch(1, 50, 0), 50).ok());
  const std::string path = JoinPath(dir.path(), IdempotencyRunName(0, 50));
  FlipByte(path, kIdempotencyRunHeaderBytes + 10 * kIdempotencyRecordBytes + 33);  // a seq byte
  auto reopened = IdempotencyIndex::Open(dir.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kDataLoss);
  EXPECT_NE(reopened.status().message().find(path), std::string::npos)
      << reopened.status().message();
}

TEST(IdempotencyIndex, TruncatedRunIsDataLossNamingTheFile) {
  TempDir dir;
  auto index = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE(index.value()->Add(Batch(1, 50, 0), 50).ok());
  const std::string path = JoinPath(dir.path(), IdempotencyRunName(0, 50));
  ASSERT_EQ(::truncate(path.c_str(), 64 + 44 * 20), 0);
  auto reopened = IdempotencyIndex::Open(dir.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kDataLoss);
  EXPECT_NE(reopened.status().message().find(path), std::string::npos);
}

TEST(IdempotencyIndex, MissingRunIsDataLossNamingTheGap) {
  TempDir dir;
  IdempotencyIndexOptions o;
  o.bloom_bits_per_entry = 10;
  auto index = IdempotencyIndex::Open(dir.path(), o);
  ASSERT_TRUE(index.ok());
  auto a = index.value()->Add(Batch(1, 10, 0), 10);
  ASSERT_TRUE(a.ok());
  auto b = a.value()->Add(Batch(11, 3, 10), 13);  // 10 > 2 × 3: kept apart
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b.value()->runs(), 2u);
  ASSERT_EQ(::unlink(JoinPath(dir.path(), IdempotencyRunName(0, 10)).c_str()), 0);
  auto reopened = IdempotencyIndex::Open(dir.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kDataLoss);
  EXPECT_NE(reopened.status().message().find("(0, 10]"), std::string::npos)
      << reopened.status().message();
}

// With a 1-bit-per-id filter (and with none) most absent ids pass the
// filter; the answer must still be exact.
TEST(IdempotencyIndex, BloomFalsePositivesDoNotChangeAnswers) {
  for (uint32_t bits : {0u, 1u, 10u}) {
    TempDir dir;
    IdempotencyIndexOptions o;
    o.bloom_bits_per_entry = bits;
    auto index = IdempotencyIndex::Open(dir.path(), o);
    ASSERT_TRUE(index.ok());
    std::vector<IdempotencyRecord> present;
    for (uint64_t n = 0; n < 400; ++n) present.push_back(Rec(2 * n + 1, n + 1));  // odd ids
    auto next = index.value()->Add(Sorted(present), 400);
    ASSERT_TRUE(next.ok());
    auto run = IdempotencyRun::Open(JoinPath(dir.path(), IdempotencyRunName(0, 400)));
    ASSERT_TRUE(run.ok());
    size_t false_positives = 0;
    for (uint64_t n = 1; n <= 800; ++n) {
      const TxId tx = Rec(n, 0).tx;
      auto e = run.value()->Find(tx);
      if (n % 2 == 1) {
        ASSERT_TRUE(run.value()->MayContain(tx)) << "a filter never rejects a present id";
        ASSERT_TRUE(e.has_value()) << n;
        EXPECT_EQ(e->seq, (n - 1) / 2 + 1);
      } else {
        EXPECT_FALSE(e.has_value()) << n;
        false_positives += run.value()->MayContain(tx) ? 1 : 0;
      }
    }
    if (bits <= 1) {
      EXPECT_GT(false_positives, 100u) << bits;  // the case is exercised
    } else {
      EXPECT_LT(false_positives, 40u);  // ~1-2 % of 400
    }
  }
}

TEST(IdempotencyIndex, MergesKeepEveryEntryAndBoundTheRunCount) {
  TempDir dir;
  auto index = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(index.ok());
  std::shared_ptr<const IdempotencyIndex> cur = index.value();
  uint64_t seq = 0;
  for (uint64_t batch = 0; batch < 64; ++batch) {
    auto next = cur->Add(Batch(batch * 10 + 1, 10, seq), seq + 10);
    ASSERT_TRUE(next.ok());
    cur = next.value();
    seq += 10;
  }
  EXPECT_EQ(cur->entries(), 640u);
  EXPECT_LE(cur->runs(), 12u);
  auto reopened = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened.value()->runs(), cur->runs());
  EXPECT_EQ(reopened.value()->covered_seq(), 640u);
  std::vector<TxId> seen;
  reopened.value()->ForEach([&](const IdempotencyRecord& r) {
    EXPECT_EQ(r.entry.seq, r.tx.bytes[0] + uint64_t(r.tx.bytes[1]) * 256);  // seq = n here
    seen.push_back(r.tx);
  });
  ASSERT_EQ(seen.size(), 640u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

// A merge writes the merged run, then deletes its sources; a crash in
// between leaves both. Open keeps the merged run and removes the sources; a
// temp file of a write that never reached its rename is removed too.
TEST(IdempotencyIndex, MergeCutShortByACrashIsCleanedAtOpen) {
  TempDir dir;
  const IdempotencyIndexOptions o;
  ASSERT_TRUE(IdempotencyRun::Write(dir.path(), 0, 10, Batch(1, 10, 0), o).ok());
  ASSERT_TRUE(IdempotencyRun::Write(dir.path(), 10, 20, Batch(11, 10, 10), o).ok());
  std::vector<IdempotencyRecord> all = Batch(1, 10, 0);
  for (const auto& r : Batch(11, 10, 10)) all.push_back(r);
  ASSERT_TRUE(IdempotencyRun::Write(dir.path(), 0, 20, Sorted(all), o).ok());
  {
    std::ofstream tmp(JoinPath(dir.path(), IdempotencyRunName(20, 30) + ".tmp"));
    tmp << "half a run";
  }
  auto index = IdempotencyIndex::Open(dir.path());
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index.value()->runs(), 1u);
  EXPECT_EQ(index.value()->covered_seq(), 20u);
  for (uint64_t n = 1; n <= 20; ++n) EXPECT_TRUE(index.value()->Find(Rec(n, 0).tx)) << n;
  auto names = ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names.value(), std::vector<std::string>{IdempotencyRunName(0, 20)});
}

// Runs of like size merge four at a time (size tiers), and a key in several
// of them keeps the newest run's record.
TEST(IdempotencyIndex, FourRunsOfLikeSizeMergeIntoOneKeepingTheNewestRecord) {
  TempDir dir;
  const IdempotencyIndexOptions o{10, false};
  auto index = IdempotencyIndex::Open(dir.path(), o);
  ASSERT_TRUE(index.ok());
  std::shared_ptr<const IdempotencyIndex> cur = index.value();
  uint64_t seq = 0;
  for (uint64_t run = 0; run < 5; ++run) {
    // Id 1 in every run, with this run's seq; nine ids of its own.
    std::vector<IdempotencyRecord> v = Batch(100 + run * 10, 9, seq);
    v.push_back(Rec(1, seq + 10));
    auto next = cur->Add(Sorted(v), seq + 10);
    ASSERT_TRUE(next.ok());
    cur = next.value();
    seq += 10;
    EXPECT_EQ(cur->runs(), run < 3 ? run + 1 : run - 2) << run;  // 1 2 3 1 2
  }
  EXPECT_EQ(cur->Find(Rec(1, 0).tx)->seq, 50u);
  auto reopened = IdempotencyIndex::Open(dir.path(), o);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened.value()->runs(), 2u);
  EXPECT_EQ(reopened.value()->entries(), 4 * 9 + 1 + 10u);  // id 1 once in the merged run
  EXPECT_EQ(reopened.value()->Find(Rec(1, 0).tx)->seq, 50u);
}

// Runs whose sizes never fall into one tier would never merge by tiers;
// the run count still stays at kRunsMax, and every entry is kept.
TEST(IdempotencyIndex, RunsOfUnlikeSizesStayWithinTheRunLimit) {
  TempDir dir;
  auto index = IdempotencyIndex::Open(dir.path(), IdempotencyIndexOptions{10, false});
  ASSERT_TRUE(index.ok());
  std::shared_ptr<const IdempotencyIndex> cur = index.value();
  uint64_t seq = 0, id = 1;
  for (uint64_t run = 0; run < 2 * kRunsMax; ++run) {
    const uint64_t n = run % 2 == 0 ? 1 : 3;  // any four newest: 3 > 2 x 1
    auto next = cur->Add(Batch(id, n, seq), seq + n);
    ASSERT_TRUE(next.ok());
    cur = next.value();
    seq += n;
    id += n;
    EXPECT_LE(cur->runs(), kRunsMax);
  }
  EXPECT_EQ(cur->entries(), id - 1);
  for (uint64_t n = 1; n < id; ++n) EXPECT_EQ(cur->Find(Rec(n, 0).tx)->seq, n) << n;
}

// The engine writes merges apart from evictions: a run appended while a
// merge is written must survive the merge's install, in memory and on
// reopen, and the merge's sources must be gone from the directory.
TEST(IdempotencyIndex, RunAppendedWhileAMergeIsWrittenSurvivesItsInstall) {
  RunsInDir d;
  ASSERT_NE(d.index, nullptr);
  for (uint64_t run = 0; run < kRunMergeFanIn; ++run) d.Append(1 + run * 10, 10);
  auto merge = d.index->PlanMerge();
  ASSERT_TRUE(merge.has_value());
  ASSERT_EQ(merge->sources.size(), kRunMergeFanIn);
  d.Append(1000, 10);  // an eviction finishing while the merge is written
  ASSERT_TRUE(merge->Write().ok());
  auto cur = d.index->WithMerged(*merge);
  EXPECT_EQ(cur->runs(), 2u);
  EXPECT_EQ(cur->covered_seq(), d.seq);
  for (uint64_t n = 1; n <= 10 * kRunMergeFanIn; ++n) EXPECT_EQ(cur->Find(Rec(n, 0).tx)->seq, n);
  for (uint64_t n = 1000; n < 1010; ++n) ASSERT_TRUE(cur->Find(Rec(n, 0).tx).has_value()) << n;
  auto names = ListDir(d.dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names.value().size(), 2u);  // the merged run and the appended one
  auto reopened = IdempotencyIndex::Open(d.dir.path(), d.options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened.value()->runs(), 2u);
  EXPECT_EQ(reopened.value()->covered_seq(), d.seq);
  EXPECT_EQ(reopened.value()->entries(), 10 * kRunMergeFanIn + 10);
}

// A tier completed by a merge is followed by runs evictions appended
// meanwhile: it must still be merged when it has kRunMergeFanIn runs. (Only
// the newest runs were looked at before, and the soak's shards ended with
// 4-5 runs of 190-223 MB each, every new id probing all their filters.)
TEST(IdempotencyIndex, TierFollowedByNewerSmallerRunsIsStillMerged) {
  RunsInDir d;
  ASSERT_NE(d.index, nullptr);
  for (uint64_t run = 0; run < kRunMergeFanIn; ++run) d.Append(1 + 40 * run, 40);
  d.Append(161, 10);
  d.Append(171, 10);
  auto cur = d.index;
  auto merge = cur->PlanMerge();
  ASSERT_TRUE(merge.has_value());
  ASSERT_EQ(merge->sources.size(), kRunMergeFanIn);
  for (const auto& r : merge->sources) EXPECT_EQ(r->count(), 40u);
  ASSERT_TRUE(merge->Write().ok());
  cur = cur->WithMerged(*merge);
  EXPECT_EQ(cur->runs(), 3u);
  EXPECT_FALSE(cur->PlanMerge().has_value());  // 160, 10, 10: no tier of four
  for (uint64_t n = 1; n <= d.seq; ++n) EXPECT_EQ(cur->Find(Rec(n, 0).tx)->seq, n) << n;
}

// The index locates every run's Bloom block before testing any (and falls
// back to one run at a time past 2 x kRunsMax runs): with filters and
// without, with few runs and past that limit, every present id is found
// with its newest record and no absent id is.
TEST(IdempotencyIndex, LookupsAcrossManyRunsFindTheNewestRecordAndNoAbsentId) {
  for (uint32_t bits : {0u, 10u}) {
    RunsInDir d(IdempotencyIndexOptions{bits, false});
    ASSERT_NE(d.index, nullptr);
    for (uint64_t run = 0; run < 2 * kRunsMax + 3; ++run) {
      // Id 1 rewritten in every run; ids 1000 + 2 run and 1001 + 2 run its own.
      const uint64_t seq = d.seq;
      d.AppendSorted(
          Sorted({Rec(1, seq + 1), Rec(1000 + 2 * run, seq + 2), Rec(1001 + 2 * run, seq + 3)}), 3);
      const auto& cur = d.index;
      const uint64_t runs = run + 1;
      if (runs != 1 && runs != kRunsMax && runs != 2 * kRunsMax && runs != 2 * kRunsMax + 3) {
        continue;
      }
      ASSERT_EQ(cur->runs(), runs);
      EXPECT_EQ(cur->Find(Rec(1, 0).tx)->seq, d.seq - 2) << runs;
      for (uint64_t r = 0; r < runs; ++r) {
        EXPECT_EQ(cur->Find(Rec(1000 + 2 * r, 0).tx)->seq, 3 * r + 2) << runs << " " << r;
        EXPECT_EQ(cur->Find(Rec(1001 + 2 * r, 0).tx)->seq, 3 * r + 3) << runs << " " << r;
      }
      for (uint64_t absent : {uint64_t{2}, uint64_t{999}, 1000 + 2 * runs, uint64_t{1} << 40}) {
        EXPECT_FALSE(cur->Find(Rec(absent, 0).tx).has_value()) << runs << " " << absent;
      }
    }
  }
}

// A merged run is streamed to disk; its bytes must be what Open verifies
// (count in the header, CRC over the whole file, records in key order), the
// same as a run written from memory.
TEST(IdempotencyIndex, StreamedMergeOfManyRecordsIsAValidRun) {
  TempDir dir;
  const IdempotencyIndexOptions o{10, false};
  auto index = IdempotencyIndex::Open(dir.path(), o);
  ASSERT_TRUE(index.ok());
  std::shared_ptr<const IdempotencyIndex> cur = index.value();
  // Four runs of 60k records (1.9 MB each): the merged file spans several
  // write chunks, and every fourth id of run 0 is in every run (the newest
  // one wins).
  const uint64_t per_run = 60000;
  uint64_t seq = 0;
  for (uint64_t run = 0; run < kRunMergeFanIn; ++run) {
    std::vector<IdempotencyRecord> v;
    for (uint64_t i = 0; i < per_run; ++i) {
      const uint64_t id = run * per_run + i;
      v.push_back(Rec(run > 0 && i % 4 == 0 ? i : id, seq + 1 + i));
    }
    auto written = IdempotencyIndex::WriteRun(dir.path(), seq, seq + per_run, Sorted(v), o);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    cur = cur->WithRun(std::move(written.value()));
    seq += per_run;
  }
  auto merge = cur->PlanMerge();
  ASSERT_TRUE(merge.has_value());
  ASSERT_TRUE(merge->Write().ok());
  cur = cur->WithMerged(*merge);
  ASSERT_EQ(cur->runs(), 1u);
  const uint64_t distinct = kRunMergeFanIn * per_run - (kRunMergeFanIn - 1) * per_run / 4;
  EXPECT_EQ(cur->entries(), distinct);
  auto reopened = IdempotencyIndex::Open(dir.path(), o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened.value()->entries(), distinct);
  // An id of run 0 rewritten in every later run answers with the last seq.
  EXPECT_EQ(reopened.value()->Find(Rec(0, 0).tx)->seq, (kRunMergeFanIn - 1) * per_run + 1);
  EXPECT_EQ(reopened.value()->Find(Rec(1, 0).tx)->seq, 2u);
}

}  // namespace
}  // namespace giftledger::commands

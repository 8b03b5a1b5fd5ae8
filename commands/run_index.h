// Immutable sorted run files keyed by a 16-byte tx id, each with a blocked
// Bloom filter and a CRC-32C, tiled over seq ranges and merged LSM-style:
// the on-disk tier of the idempotency index (idempotency_index.h) and of
// closed orders (order_index.h), docs/commands.md ("Memory budget and the
// on-disk index"). What a record holds besides its key is the Codec's:
//
//   struct Codec {
//     using Value = ...;                    // what a lookup returns
//     static constexpr size_t kRecordBytes;  // key (16) + payload
//     static constexpr char kMagic[5], kFooterMagic[5];  // "GLI1", "GLIF"
//     static constexpr char kPrefix[];      // file names: <prefix>-<lo>-<hi>.run
//     static constexpr char kWhat[];        // in error messages
//     static void Encode(const Value&, uint8_t* payload);
//     static Value Decode(const uint8_t* payload);
//     static uint64_t Seq(const Value&);    // ≤ seq_hi of its run
//     static constexpr bool kSeqAboveLo;    // and > seq_lo (else ≥ 1)
//     static bool Valid(const Value&);      // what Open accepts
//   };
//
// A key may be in several runs (a closed order whose newer status was
// evicted again): the newest run's record supersedes the older ones in
// Find, ForEach and merges. An index object never changes: adding a run
// yields a new index, so a Decide that reads one reads a value.
//
// File layout (little-endian):
//   header 64 bytes: magic, version u16 = 1, header bytes u16 = 64,
//     record bytes u32, bloom k u32, count u64, seq_lo u64 (exclusive),
//     seq_hi u64 (inclusive), bloom bytes u64, bloom SipHash key 2 × u64
//   count records of record bytes, strictly ascending by key:
//     tx_id[16] payload
//   bloom filter (bloom bytes, a multiple of 64)
//   footer 8 bytes: CRC-32C of everything before it u32, footer magic
#pragma once

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/ids.h"
#include "commands/limits.h"
#include "ledger/coding.h"
#include "ledger/file.h"
#include "ledger/status.h"

namespace giftledger::commands {

inline constexpr size_t kRunHeaderBytes = 64;
inline constexpr size_t kRunFooterBytes = 8;
inline constexpr uint32_t kRunBloomK = 7;  // bits set per id, in one 64-byte block

struct RunIndexOptions {
  // Bloom filter size; 0 = no filter (every lookup binary-searches the run).
  uint32_t bloom_bits_per_entry = 10;
  // fsync each run and the directory. Only logic tests turn it off.
  bool sync = true;
  // A merge writes at most this many bytes per second; 0 = as fast as it
  // can. Merges run in the background and only save Bloom probes, while a
  // burst of a few hundred MB queues ahead of the log's fdatasyncs on the
  // same disk, which every acknowledgement waits for (RocksDB's rate
  // limiter, for the same reason). At 32 MiB/s the soak's largest merge
  // (3M ids, 130 MB) takes about 4 s. Evictions are not paced: memory waits
  // for them.
  uint64_t merge_bytes_per_s = uint64_t{32} << 20;
};

// CRC-32C (Castagnoli) as in iSCSI / LevelDB: SSE4.2 when the CPU has it.
uint32_t Crc32c(const uint8_t* data, size_t size);
// The CRC-32C of a ‖ b from crc = Crc32c(a) and b (Crc32cExtend(0, x) = Crc32c(x)).
uint32_t Crc32cExtend(uint32_t crc, const uint8_t* data, size_t size);
// The table-driven path, for the test that pins both to the same values.
uint32_t Crc32cPortable(const uint8_t* data, size_t size);

template <typename Codec>
struct RunRecord {
  TxId tx;
  typename Codec::Value entry;
};

namespace run_detail {
// "<prefix>-<lo, 20 digits>-<hi, 20 digits>.run".
std::string RunName(const char* prefix, uint64_t seq_lo, uint64_t seq_hi);
bool ParseRunName(const std::string& name, const char* prefix, uint64_t* lo, uint64_t* hi);
bool IsTempName(const std::string& name);
// Writes one run file front to back without holding it in memory: the
// header (its count known up front), `count` records in ascending key order,
// then the Bloom filter and the footer, into path.tmp; Finish fsyncs,
// renames and fsyncs the directory. Destroyed unfinished, it removes the
// temp file. A merge of millions of ids so needs a chunk buffer and the
// filter, not the whole merged run (which an earlier version built in memory:
// hundreds of MiB of RssAnon per shard for the largest merges of the soak).
class RunFileWriter {
 public:
  // Write size; also the writeback pacing unit (RunFileWriter::Flush).
  static constexpr size_t kRunWriteChunkBytes = size_t{4} << 20;

  RunFileWriter() = default;
  RunFileWriter(const RunFileWriter&) = delete;
  RunFileWriter& operator=(const RunFileWriter&) = delete;
  ~RunFileWriter();

  // bytes_per_s: pace the writes (sleeping between chunks); 0 = unpaced.
  Status Create(const std::string& path, const uint8_t* header, const char* footer_magic,
                uint64_t count, size_t record_bytes, uint64_t bloom_blocks, const SipKey& bloom_key,
                bool sync, uint64_t bytes_per_s = 0);
  // One record: its first 16 bytes are the key, above the previous record's.
  Status Add(const uint8_t* record);
  Status Finish();

 private:
  Status Append(const uint8_t* data, size_t size);
  Status Flush();

  std::string path_, temp_path_;
  int fd_ = -1;
  uint64_t count_ = 0, added_ = 0;
  size_t record_bytes_ = 0;
  std::vector<uint8_t> bloom_;
  uint64_t bloom_blocks_ = 0;
  SipKey bloom_key_;
  char footer_magic_[4] = {};
  uint8_t last_key_[16] = {};
  bool sync_ = true;
  uint32_t crc_ = 0;  // CRC-32C of everything appended so far
  std::vector<uint8_t> buffer_;
  uint64_t written_bytes_ = 0, synced_bytes_ = 0;
  uint64_t bytes_per_s_ = 0;
  std::chrono::steady_clock::time_point started_;
};
SipKey RandomBloomKey();
void BloomSet(uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx);
bool BloomTest(const uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx);
// One run's Bloom block for an id and the bits to test in it. A lookup
// locates (and prefetches) the blocks of every run before it tests any, so
// that their cache and TLB misses overlap instead of queueing.
struct BloomProbe {
  const uint8_t* block = nullptr;  // null: the run has no filter ("maybe")
  uint64_t bits = 0;               // kRunBloomK positions of 9 bits
};
BloomProbe BloomLocate(const uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx);
bool BloomProbeTest(const BloomProbe& probe);
// Opens (creating when missing) `dir`; returns the names in it.
Result<std::vector<std::string>> ListRunDir(const std::string& dir);
}  // namespace run_detail

// One verified, memory-mapped run file.
template <typename Codec>
class SortedRun {
 public:
  using Value = typename Codec::Value;
  using Record = RunRecord<Codec>;

  // Writes `sorted` (strictly ascending tx ids, every seq in range) as
  // dir/<name of (lo, hi]>: temp file, fsync, rename, dir fsync.
  static Status Write(const std::string& dir, uint64_t seq_lo, uint64_t seq_hi,
                      const std::vector<Record>& sorted, const RunIndexOptions& options) {
    run_detail::RunFileWriter w;
    GL_RETURN_IF_ERROR(Create(&w, dir, seq_lo, seq_hi, sorted.size(), options));
    uint8_t r[Codec::kRecordBytes];
    for (const Record& rec : sorted) {
      GL_ASSERT(InRange(Codec::Seq(rec.entry), seq_lo, seq_hi));
      std::memcpy(r, rec.tx.bytes.data(), kTxIdBytesOnDisk);
      Codec::Encode(rec.entry, r + kTxIdBytesOnDisk);
      GL_RETURN_IF_ERROR(w.Add(r));
    }
    return w.Finish();
  }

  // Starts the file of a run of `count` records over (seq_lo, seq_hi].
  static Status Create(run_detail::RunFileWriter* w, const std::string& dir, uint64_t seq_lo,
                       uint64_t seq_hi, uint64_t count, const RunIndexOptions& options,
                       uint64_t bytes_per_s = 0) {
    GL_ASSERT(seq_lo < seq_hi);
    const uint64_t bits = count * options.bloom_bits_per_entry;
    const uint64_t blocks = (bits + 511) / 512;
    const SipKey key = run_detail::RandomBloomKey();
    uint8_t p[kRunHeaderBytes] = {};
    std::memcpy(p, Codec::kMagic, 4);
    PutU16(p + 4, 1);
    PutU16(p + 6, uint16_t(kRunHeaderBytes));
    PutU32(p + 8, uint32_t(Codec::kRecordBytes));
    PutU32(p + 12, kRunBloomK);
    PutU64(p + 16, count);
    PutU64(p + 24, seq_lo);
    PutU64(p + 32, seq_hi);
    PutU64(p + 40, blocks * 64);
    PutU64(p + 48, key.k0);
    PutU64(p + 56, key.k1);
    return w->Create(JoinPath(dir, run_detail::RunName(Codec::kPrefix, seq_lo, seq_hi)), p,
                     Codec::kFooterMagic, count, Codec::kRecordBytes, blocks, key, options.sync,
                     bytes_per_s);
  }

  // Maps and verifies the whole file (sizes, footer, CRC, record order, seqs
  // within the range the name gives, Codec::Valid). DATA_LOSS naming the
  // file otherwise.
  static Result<std::shared_ptr<const SortedRun>> Open(const std::string& path) {
    auto file = MappedFile::Open(path);
    if (!file.ok()) return file.status();
    std::shared_ptr<SortedRun> run(new SortedRun());
    run->path_ = path;
    run->file_ = std::move(file.value());
    const uint8_t* p = run->file_->data();
    const uint64_t size = run->file_->size();
    auto bad = [&](const std::string& why) {
      return DataLoss(path + ": " + Codec::kWhat + " run " + why);
    };
    if (size < kRunHeaderBytes + kRunFooterBytes) return bad("truncated");
    if (std::memcmp(p, Codec::kMagic, 4) != 0 || GetU16(p + 4) != 1 ||
        GetU16(p + 6) != kRunHeaderBytes || GetU32(p + 8) != Codec::kRecordBytes) {
      return bad("header is not version 1");
    }
    const uint64_t count = GetU64(p + 16);
    const uint64_t bloom_bytes = GetU64(p + 40);
    const uint64_t body = size - kRunHeaderBytes - kRunFooterBytes;
    if (count > body / Codec::kRecordBytes || bloom_bytes % 64 != 0 ||
        count * Codec::kRecordBytes + bloom_bytes != body) {
      return bad("size does not match its header (truncated?)");
    }
    const uint8_t* footer = p + size - kRunFooterBytes;
    if (std::memcmp(footer + 4, Codec::kFooterMagic, 4) != 0) {
      return bad("footer missing (truncated?)");
    }
    if (Crc32c(p, size - kRunFooterBytes) != GetU32(footer)) return bad("checksum mismatch");
    if (GetU32(p + 12) != kRunBloomK) return bad("unknown Bloom filter parameters");
    run->count_ = size_t(count);
    run->seq_lo_ = GetU64(p + 24);
    run->seq_hi_ = GetU64(p + 32);
    run->bloom_blocks_ = bloom_bytes / 64;
    run->bloom_key_ = SipKey{GetU64(p + 48), GetU64(p + 56)};
    run->records_ = p + kRunHeaderBytes;
    run->bloom_ = run->records_ + count * Codec::kRecordBytes;
    uint64_t lo = 0, hi = 0;
    const size_t slash = path.find_last_of('/');
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (!run_detail::ParseRunName(name, Codec::kPrefix, &lo, &hi) || lo != run->seq_lo_ ||
        hi != run->seq_hi_ || lo >= hi) {
      return bad("seq range differs from its file name");
    }
    // A checksummed file can still hold what a bug wrote: check what lookups
    // rely on (binary search needs strict order; seqs inside the range).
    for (size_t i = 0; i < run->count_; ++i) {
      const uint8_t* r = run->records_ + i * Codec::kRecordBytes;
      if (i > 0 && std::memcmp(r - Codec::kRecordBytes, r, kTxIdBytesOnDisk) >= 0) {
        return bad("records not in strictly ascending tx id order");
      }
      const Value v = Codec::Decode(r + kTxIdBytesOnDisk);
      if (!InRange(Codec::Seq(v), lo, hi)) {
        return bad("record seq outside the run's range");
      }
      if (!Codec::Valid(v)) return bad("record " + std::to_string(i) + " is invalid");
    }
    // The checks above touched every page. Drop them from this process (they
    // stay in the page cache): lookups fault in only the Bloom blocks and the
    // few record pages a binary search visits, so resident memory does not grow
    // with every id the shard has ever seen.
    ::madvise(const_cast<uint8_t*>(p), size, MADV_DONTNEED);
    ::madvise(const_cast<uint8_t*>(p), size, MADV_RANDOM);
    return std::shared_ptr<const SortedRun>(std::move(run));
  }

  std::optional<Value> Find(const TxId& tx) const {
    if (!MayContain(tx)) return std::nullopt;
    return Search(tx);
  }
  // Find once the Bloom filter said maybe: a binary search.
  std::optional<Value> Search(const TxId& tx) const {
    size_t lo = 0, hi = count_;
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      const int c =
          std::memcmp(records_ + mid * Codec::kRecordBytes, tx.bytes.data(), kTxIdBytesOnDisk);
      if (c == 0) return record(mid).entry;
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return std::nullopt;
  }
  // false: `tx` is certainly not in the run. true: it may be.
  bool MayContain(const TxId& tx) const {
    return bloom_blocks_ == 0 || run_detail::BloomTest(bloom_, bloom_blocks_, bloom_key_, tx);
  }
  run_detail::BloomProbe LocateBloom(const TxId& tx) const {
    if (bloom_blocks_ == 0) return {};
    return run_detail::BloomLocate(bloom_, bloom_blocks_, bloom_key_, tx);
  }

  size_t count() const { return count_; }
  uint64_t seq_lo() const { return seq_lo_; }
  uint64_t seq_hi() const { return seq_hi_; }
  const std::string& path() const { return path_; }
  Record record(size_t i) const { return Decode(raw(i)); }
  static Record Decode(const uint8_t* raw) {
    Record rec;
    std::memcpy(rec.tx.bytes.data(), raw, kTxIdBytesOnDisk);
    rec.entry = Codec::Decode(raw + kTxIdBytesOnDisk);
    return rec;
  }
  // Record i as stored: the 16-byte key, then the Codec's payload.
  const uint8_t* raw(size_t i) const { return records_ + i * Codec::kRecordBytes; }
  TxId tx(size_t i) const {
    TxId t;
    std::memcpy(t.bytes.data(), records_ + i * Codec::kRecordBytes, kTxIdBytesOnDisk);
    return t;
  }

 private:
  static constexpr size_t kTxIdBytesOnDisk = 16;
  static bool InRange(uint64_t seq, uint64_t lo, uint64_t hi) {
    return seq <= hi && (Codec::kSeqAboveLo ? seq > lo : seq >= 1);
  }
  SortedRun() = default;
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  const uint8_t* records_ = nullptr;
  const uint8_t* bloom_ = nullptr;
  size_t count_ = 0;
  uint64_t bloom_blocks_ = 0;
  SipKey bloom_key_;
  uint64_t seq_lo_ = 0;
  uint64_t seq_hi_ = 0;
};

namespace run_detail {
// Calls fn(raw record) for every key of `runs` (sorted runs, oldest first)
// once, in ascending key order, with the newest run's record for a key that
// several hold.
template <typename RunPtr, typename Fn>
void MergeNewest(const std::vector<RunPtr>& runs, Fn&& fn) {
  std::vector<size_t> pos(runs.size(), 0);
  for (;;) {
    size_t best = runs.size();
    const uint8_t* best_key = nullptr;
    for (size_t k = 0; k < runs.size(); ++k) {
      if (pos[k] == runs[k]->count()) continue;
      const uint8_t* key = runs[k]->raw(pos[k]);
      const int c = best == runs.size() ? -1 : std::memcmp(key, best_key, 16);
      if (c > 0) continue;
      if (c == 0) ++pos[best];  // an older copy, superseded by this newer run's
      best = k;
      best_key = key;
    }
    if (best == runs.size()) return;
    fn(runs[best]->raw(pos[best]++));
  }
}
}  // namespace run_detail

// Adjacent runs merged into one file: planned on the state's thread
// (RunIndex::PlanMerge), written on any thread (it reads only its sources,
// which never change), installed back on the state's thread
// (RunIndex::WithMerged). Evictions append runs meanwhile; the sources stay
// where they were, because only one merge per index is planned at a time.
template <typename Codec>
struct RunMerge {
  using Run = SortedRun<Codec>;
  std::string dir;
  RunIndexOptions options;
  std::vector<std::shared_ptr<const Run>> sources;  // adjacent seq ranges, oldest first
  std::shared_ptr<const Run> merged;                // set by a successful Write

  // Streams the merged run to disk (two passes over the sources: the count
  // goes into the header), opens it, then deletes the sources' files:
  // index objects still holding them keep their mappings, and a crash
  // before the deletion is cleaned by RunIndex::Open (contained runs).
  Status Write() {
    GL_ASSERT(sources.size() >= 2);
    for (size_t r = 1; r < sources.size(); ++r) {
      GL_ASSERT(sources[r - 1]->seq_hi() == sources[r]->seq_lo());
    }
    const uint64_t lo = sources.front()->seq_lo();
    const uint64_t hi = sources.back()->seq_hi();
    uint64_t count = 0;
    run_detail::MergeNewest(sources, [&](const uint8_t*) { ++count; });
    run_detail::RunFileWriter w;
    GL_RETURN_IF_ERROR(Run::Create(&w, dir, lo, hi, count, options, options.merge_bytes_per_s));
    Status st;
    run_detail::MergeNewest(sources, [&](const uint8_t* r) {
      if (st.ok()) st = w.Add(r);
    });
    GL_RETURN_IF_ERROR(st);
    GL_RETURN_IF_ERROR(w.Finish());
    auto run = Run::Open(JoinPath(dir, run_detail::RunName(Codec::kPrefix, lo, hi)));
    if (!run.ok()) return run.status();
    merged = std::move(run.value());
    for (const auto& r : sources) ::unlink(r->path().c_str());
    return Status::Ok();
  }
};

template <typename Codec>
class RunIndex {
 public:
  using Value = typename Codec::Value;
  using Record = RunRecord<Codec>;
  using Run = SortedRun<Codec>;

  // Every run under `dir` (created when missing). The runs must tile
  // (0, covered_seq] without a gap: a missing range is DATA_LOSS naming it, a
  // corrupt run DATA_LOSS naming the file. Leftovers of a crash are cleaned:
  // temp files, and runs contained in a merged run whose sources were not
  // deleted yet.
  static Result<std::shared_ptr<const RunIndex>> Open(const std::string& dir,
                                                      const RunIndexOptions& options = {}) {
    auto names = run_detail::ListRunDir(dir);
    if (!names.ok()) return names.status();
    struct Found {
      uint64_t lo, hi;
      std::string path;
    };
    std::vector<Found> found;
    for (const std::string& n : names.value()) {
      if (run_detail::IsTempName(n)) {  // a write that never reached its rename
        ::unlink(JoinPath(dir, n).c_str());
        continue;
      }
      uint64_t lo, hi;
      if (run_detail::ParseRunName(n, Codec::kPrefix, &lo, &hi)) {
        found.push_back({lo, hi, JoinPath(dir, n)});
      }
    }
    // Tile (0, covered] from the left, widest run first at each start: a run
    // inside the covered range is the source of a merge that crashed before
    // deleting it.
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
      return a.lo != b.lo ? a.lo < b.lo : a.hi > b.hi;
    });
    std::shared_ptr<RunIndex> index(new RunIndex(dir, options));
    for (const Found& f : found) {
      if (f.hi <= index->covered_seq_) {
        spdlog::info("{}: {} is contained in a merged run; removed", Codec::kWhat, f.path);
        ::unlink(f.path.c_str());
        continue;
      }
      if (f.lo != index->covered_seq_) {
        return DataLoss(dir + ": " + Codec::kWhat + " runs do not cover seqs (" +
                        std::to_string(index->covered_seq_) + ", " + std::to_string(f.lo) +
                        "] (a run file is missing); next run " + f.path);
      }
      auto run = Run::Open(f.path);
      if (!run.ok()) return run.status();
      index->runs_.push_back(std::move(run.value()));
      index->covered_seq_ = f.hi;
    }
    return std::shared_ptr<const RunIndex>(std::move(index));
  }

  // Newest run first; at most one binary search per Bloom-positive run.
  // A new id is tested against every run, and the runs' filters hold tens
  // of MB: every run's block is located and prefetched before any is
  // tested, so the misses overlap. (Tested one after another, BloomTest was
  // 37 % of each engine thread's samples in the soak's second half, with 16
  // runs per index.)
  std::optional<Value> Find(const TxId& tx) const {
    std::array<run_detail::BloomProbe, 2 * kRunsMax> probes;
    if (runs_.size() > probes.size()) {  // only while merges lag far behind
      for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
        if (auto e = (*it)->Find(tx)) return e;
      }
      return std::nullopt;
    }
    for (size_t i = 0; i < runs_.size(); ++i) {
      probes[i] = runs_[i]->LocateBloom(tx);
      if (probes[i].block != nullptr) __builtin_prefetch(probes[i].block);
    }
    for (size_t i = runs_.size(); i-- > 0;) {
      if (!run_detail::BloomProbeTest(probes[i])) continue;
      if (auto e = runs_[i]->Search(tx)) return e;
    }
    return std::nullopt;
  }

  // A new index with `sorted` (every entry with seq in (covered_seq,
  // seq_hi], strictly ascending tx ids) written as a durable run, then runs
  // merged by size tier (MergeAll), all before it returns: replay and tests.
  // The engine does the same in steps, off its thread (RunEviction,
  // RunMerge). `this` is unchanged.
  Result<std::shared_ptr<const RunIndex>> Add(const std::vector<Record>& sorted,
                                              uint64_t seq_hi) const {
    auto run = WriteRun(dir_, covered_seq_, seq_hi, sorted, options_);
    if (!run.ok()) return run.status();
    return MergeAll(WithRun(std::move(run.value())));
  }

  // Writes `sorted` as the durable run of (seq_lo, seq_hi] and opens it.
  static Result<std::shared_ptr<const Run>> WriteRun(const std::string& dir, uint64_t seq_lo,
                                                     uint64_t seq_hi,
                                                     const std::vector<Record>& sorted,
                                                     const RunIndexOptions& options) {
    if (seq_hi <= seq_lo) {
      return InvalidArgument(std::string(Codec::kWhat) + " run before the covered seq");
    }
    GL_RETURN_IF_ERROR(Run::Write(dir, seq_lo, seq_hi, sorted, options));
    return Run::Open(JoinPath(dir, run_detail::RunName(Codec::kPrefix, seq_lo, seq_hi)));
  }

  // This index with `run`, which starts where this index ends, appended.
  std::shared_ptr<const RunIndex> WithRun(std::shared_ptr<const Run> run) const {
    GL_ASSERT(run->seq_lo() == covered_seq_);
    std::shared_ptr<RunIndex> next(new RunIndex(*this));
    next->covered_seq_ = run->seq_hi();
    next->runs_.push_back(std::move(run));
    return next;
  }

  // The merge the size tiers call for next, if any (docs/commands.md,
  // "Merging"): kRunMergeFanIn adjacent runs of similar sizes (the largest
  // at most kRunMergeSizeRatio times the smallest), the newest such window
  // first, so a merge lifts entries to a tier about kRunMergeFanIn times
  // larger, each entry is rewritten about log_4(ids / run size) times, and
  // each tier holds fewer than kRunMergeFanIn runs. Every window, not only
  // the newest: evictions go on appending small runs while a merge is
  // written, so a tier that a merge completes is rarely the newest runs.
  // Runs of unlike sizes (a replay's, another budget's) could escape that
  // rule forever: above kRunsMax runs, the adjacent pair with the fewest
  // entries.
  std::optional<RunMerge<Codec>> PlanMerge() const {
    const size_t n = runs_.size();
    size_t first = n, count = 0;
    for (size_t start = n >= kRunMergeFanIn ? n - kRunMergeFanIn + 1 : 0; start-- > 0;) {
      size_t lo = SIZE_MAX, hi = 0;
      for (size_t i = start; i < start + kRunMergeFanIn; ++i) {
        lo = std::min(lo, runs_[i]->count());
        hi = std::max(hi, runs_[i]->count());
      }
      if (hi <= kRunMergeSizeRatio * std::max<size_t>(lo, 1)) {
        first = start;
        count = kRunMergeFanIn;
        break;
      }
    }
    if (count == 0 && n > kRunsMax) {
      size_t best = SIZE_MAX;
      for (size_t i = 0; i + 1 < n; ++i) {
        const size_t pair = runs_[i]->count() + runs_[i + 1]->count();
        if (pair < best) {
          best = pair;
          first = i;
        }
      }
      count = 2;
    }
    if (count == 0) return std::nullopt;
    RunMerge<Codec> m;
    m.dir = dir_;
    m.options = options_;
    m.sources.assign(runs_.begin() + ptrdiff_t(first), runs_.begin() + ptrdiff_t(first + count));
    return m;
  }

  // This index with the merge's sources, which must still be in it side by
  // side (runs are only appended meanwhile), replaced by its merged run.
  std::shared_ptr<const RunIndex> WithMerged(const RunMerge<Codec>& m) const {
    GL_ASSERT(m.merged != nullptr);
    const auto it = std::find(runs_.begin(), runs_.end(), m.sources.front());
    GL_ASSERT(it != runs_.end() && size_t(runs_.end() - it) >= m.sources.size());
    GL_ASSERT(std::equal(m.sources.begin(), m.sources.end(), it));
    std::shared_ptr<RunIndex> next(new RunIndex(*this));
    const auto at = next->runs_.begin() + (it - runs_.begin());
    *at = m.merged;
    next->runs_.erase(at + 1, at + ptrdiff_t(m.sources.size()));
    return next;
  }

  // Every merge PlanMerge calls for, done now. A failed merge is logged and
  // leaves its runs unmerged (still a valid index).
  static std::shared_ptr<const RunIndex> MergeAll(std::shared_ptr<const RunIndex> index) {
    while (auto m = index->PlanMerge()) {
      if (Status st = m->Write(); !st.ok()) {
        spdlog::warn("{}: merge failed, runs kept unmerged: {}", Codec::kWhat, st.ToString());
        break;
      }
      index = index->WithMerged(*m);
    }
    return index;
  }

  // Every key once, in ascending tx id order, with its newest record.
  void ForEach(const std::function<void(const Record&)>& fn) const {
    run_detail::MergeNewest(runs_, [&](const uint8_t* r) { fn(Run::Decode(r)); });
  }

  uint64_t covered_seq() const { return covered_seq_; }
  // Records in all runs (a superseded key counts once per run holding it).
  size_t entries() const {
    size_t n = 0;
    for (const auto& r : runs_) n += r->count();
    return n;
  }
  size_t runs() const { return runs_.size(); }
  const std::string& dir() const { return dir_; }
  const RunIndexOptions& options() const { return options_; }

 private:
  RunIndex(std::string dir, RunIndexOptions options) : dir_(std::move(dir)), options_(options) {}

  std::string dir_;
  RunIndexOptions options_;
  std::vector<std::shared_ptr<const Run>> runs_;  // ascending seq ranges
  uint64_t covered_seq_ = 0;
};

// What one eviction moves from memory to a new run (idempotency_tier.h,
// order_tier.h): prepared on the state's thread, written by Write on any
// thread (it reads no state), appended to the state's index back on the
// state's thread (which may have installed a merge meanwhile: merges keep
// the covered seq, so the run still starts where the index ends).
template <typename Codec>
struct RunEviction {
  uint64_t cut = 0;                             // the run covers (base's end, cut]
  std::shared_ptr<const RunIndex<Codec>> base;  // the index at the prepare
  std::vector<RunRecord<Codec>> records;        // what moves, any order until Write
  std::shared_ptr<const SortedRun<Codec>> run;  // set by a successful Write

  // Sorts the records and writes them as one durable run.
  Status Write() {
    std::sort(records.begin(), records.end(),
              [](const RunRecord<Codec>& a, const RunRecord<Codec>& b) { return a.tx < b.tx; });
    auto written =
        RunIndex<Codec>::WriteRun(base->dir(), base->covered_seq(), cut, records, base->options());
    if (!written.ok()) return written.status();
    run = std::move(written.value());
    return Status::Ok();
  }
};

}  // namespace giftledger::commands

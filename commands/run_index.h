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
};

// CRC-32C (Castagnoli) as in iSCSI / LevelDB: SSE4.2 when the CPU has it.
uint32_t Crc32c(const uint8_t* data, size_t size);
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
// temp + (fsync) + rename + (directory fsync).
Status WriteFileDurably(const std::string& path, const std::string& bytes, bool sync);
SipKey RandomBloomKey();
void BloomSet(uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx);
bool BloomTest(const uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx);
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
    GL_ASSERT(seq_lo < seq_hi);
    const uint64_t bits = uint64_t(sorted.size()) * options.bloom_bits_per_entry;
    const uint64_t blocks = (bits + 511) / 512;
    const SipKey key = run_detail::RandomBloomKey();
    std::string f(
        kRunHeaderBytes + sorted.size() * Codec::kRecordBytes + blocks * 64 + kRunFooterBytes,
        '\0');
    auto* p = reinterpret_cast<uint8_t*>(f.data());
    std::memcpy(p, Codec::kMagic, 4);
    PutU16(p + 4, 1);
    PutU16(p + 6, uint16_t(kRunHeaderBytes));
    PutU32(p + 8, uint32_t(Codec::kRecordBytes));
    PutU32(p + 12, kRunBloomK);
    PutU64(p + 16, sorted.size());
    PutU64(p + 24, seq_lo);
    PutU64(p + 32, seq_hi);
    PutU64(p + 40, blocks * 64);
    PutU64(p + 48, key.k0);
    PutU64(p + 56, key.k1);
    uint8_t* r = p + kRunHeaderBytes;
    uint8_t* bloom = r + sorted.size() * Codec::kRecordBytes;
    for (size_t i = 0; i < sorted.size(); ++i, r += Codec::kRecordBytes) {
      const Record& rec = sorted[i];
      GL_ASSERT(i == 0 || sorted[i - 1].tx < rec.tx);
      GL_ASSERT(InRange(Codec::Seq(rec.entry), seq_lo, seq_hi));
      std::memcpy(r, rec.tx.bytes.data(), kTxIdBytesOnDisk);
      Codec::Encode(rec.entry, r + kTxIdBytesOnDisk);
      if (blocks != 0) run_detail::BloomSet(bloom, blocks, key, rec.tx);
    }
    uint8_t* footer = p + f.size() - kRunFooterBytes;
    PutU32(footer, Crc32c(p, f.size() - kRunFooterBytes));
    std::memcpy(footer + 4, Codec::kFooterMagic, 4);
    return run_detail::WriteFileDurably(
        JoinPath(dir, run_detail::RunName(Codec::kPrefix, seq_lo, seq_hi)), f, options.sync);
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

  size_t count() const { return count_; }
  uint64_t seq_lo() const { return seq_lo_; }
  uint64_t seq_hi() const { return seq_hi_; }
  const std::string& path() const { return path_; }
  Record record(size_t i) const {
    const uint8_t* r = records_ + i * Codec::kRecordBytes;
    Record rec;
    std::memcpy(rec.tx.bytes.data(), r, kTxIdBytesOnDisk);
    rec.entry = Codec::Decode(r + kTxIdBytesOnDisk);
    return rec;
  }
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
  std::optional<Value> Find(const TxId& tx) const {
    for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
      if (auto e = (*it)->Find(tx)) return e;
    }
    return std::nullopt;
  }

  // A new index with `sorted` (every entry with seq in (covered_seq,
  // seq_hi], strictly ascending tx ids) written as a durable run, then runs
  // merged by size tier (MergeTiers). `this` is unchanged. Merge failures
  // are logged and leave the runs unmerged (still a valid index).
  Result<std::shared_ptr<const RunIndex>> Add(const std::vector<Record>& sorted,
                                              uint64_t seq_hi) const {
    if (seq_hi <= covered_seq_) {
      return InvalidArgument(std::string(Codec::kWhat) + " run before the covered seq");
    }
    GL_RETURN_IF_ERROR(Run::Write(dir_, covered_seq_, seq_hi, sorted, options_));
    auto run = Run::Open(JoinPath(dir_, run_detail::RunName(Codec::kPrefix, covered_seq_, seq_hi)));
    if (!run.ok()) return run.status();
    std::shared_ptr<RunIndex> next(new RunIndex(*this));
    next->runs_.push_back(std::move(run.value()));
    next->covered_seq_ = seq_hi;
    next->MergeTiers();
    return std::shared_ptr<const RunIndex>(std::move(next));
  }

  // Every key once, in ascending tx id order, with its newest record.
  void ForEach(const std::function<void(const Record&)>& fn) const {
    std::vector<size_t> pos(runs_.size(), 0);
    for (;;) {
      int best = -1;
      TxId best_tx;
      for (size_t r = 0; r < runs_.size(); ++r) {
        if (pos[r] == runs_[r]->count()) continue;
        const TxId t = runs_[r]->tx(pos[r]);
        // Ties go to the later (newer) run; the older copies are skipped.
        if (best < 0 || t < best_tx || t == best_tx) {
          if (best >= 0 && t == best_tx) ++pos[size_t(best)];
          best = int(r);
          best_tx = t;
        }
      }
      if (best < 0) return;
      fn(runs_[size_t(best)]->record(pos[size_t(best)]++));
    }
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

 private:
  RunIndex(std::string dir, RunIndexOptions options) : dir_(std::move(dir)), options_(options) {}

  // Size-tiered merging (docs/commands.md, "Merging"): the newest
  // kRunMergeFanIn runs are merged into one when they have similar sizes
  // (the largest at most kRunMergeSizeRatio times the smallest), so a merge
  // lifts entries to a tier about kRunMergeFanIn times larger, each entry is
  // rewritten about log_4(ids / run size) times (merging the two newest
  // while the older was at most twice the newer rewrote about twice as
  // much), and each tier holds fewer than kRunMergeFanIn runs. Runs of
  // unlike sizes (a replay's, another budget's) could escape that rule
  // forever: above kRunsMax runs, the adjacent pair with the fewest entries
  // is merged.
  void MergeTiers() {
    for (;;) {
      const size_t n = runs_.size();
      size_t first = n, count = 0;
      if (n >= kRunMergeFanIn) {
        size_t lo = SIZE_MAX, hi = 0;
        for (size_t i = n - kRunMergeFanIn; i < n; ++i) {
          lo = std::min(lo, runs_[i]->count());
          hi = std::max(hi, runs_[i]->count());
        }
        if (hi <= kRunMergeSizeRatio * std::max<size_t>(lo, 1)) {
          first = n - kRunMergeFanIn;
          count = kRunMergeFanIn;
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
      if (count == 0) return;
      if (Status st = MergeRuns(first, count); !st.ok()) {
        spdlog::warn("{}: merge failed, runs kept unmerged: {}", Codec::kWhat, st.ToString());
        return;
      }
    }
  }

  // Merges runs_[first, first + count) (adjacent seq ranges) into one file;
  // a key in several keeps the newest run's record.
  Status MergeRuns(size_t first, size_t count) {
    GL_ASSERT(count >= 2 && first + count <= runs_.size());
    size_t total = 0;
    for (size_t r = first; r < first + count; ++r) {
      total += runs_[r]->count();
      if (r > first) GL_ASSERT(runs_[r - 1]->seq_hi() == runs_[r]->seq_lo());
    }
    std::vector<Record> merged;
    merged.reserve(total);
    std::vector<size_t> pos(count, 0);
    for (;;) {
      int best = -1;
      TxId best_tx;
      for (size_t k = 0; k < count; ++k) {
        const Run& run = *runs_[first + k];
        if (pos[k] == run.count()) continue;
        const TxId t = run.tx(pos[k]);
        if (best >= 0 && t == best_tx) {
          ++pos[size_t(best)];  // superseded by this newer run's record
        } else if (best >= 0 && !(t < best_tx)) {
          continue;
        }
        best = int(k);
        best_tx = t;
      }
      if (best < 0) break;
      merged.push_back(runs_[first + size_t(best)]->record(pos[size_t(best)]++));
    }
    const uint64_t lo = runs_[first]->seq_lo();
    const uint64_t hi = runs_[first + count - 1]->seq_hi();
    GL_RETURN_IF_ERROR(Run::Write(dir_, lo, hi, merged, options_));
    std::vector<Record>().swap(merged);
    auto run = Run::Open(JoinPath(dir_, run_detail::RunName(Codec::kPrefix, lo, hi)));
    if (!run.ok()) return run.status();
    // The merged run is durable: its sources can go (a crash before this is
    // cleaned by Open). Index objects still holding them keep their mappings.
    for (size_t r = first; r < first + count; ++r) ::unlink(runs_[r]->path().c_str());
    runs_[first] = std::move(run.value());
    runs_.erase(runs_.begin() + ptrdiff_t(first + 1), runs_.begin() + ptrdiff_t(first + count));
    return Status::Ok();
  }

  std::string dir_;
  RunIndexOptions options_;
  std::vector<std::shared_ptr<const Run>> runs_;  // ascending seq ranges
  uint64_t covered_seq_ = 0;
};

// What one eviction moves from memory to a new run (idempotency_tier.h,
// order_tier.h): prepared on the state's thread, written by Write on any
// thread (it reads no state), installed back on the state's thread.
template <typename Codec>
struct RunEviction {
  uint64_t cut = 0;                             // the run covers (base's end, cut]
  std::shared_ptr<const RunIndex<Codec>> base;  // the index the run is added to
  std::vector<RunRecord<Codec>> records;        // what moves, any order until Write
  std::shared_ptr<const RunIndex<Codec>> next;  // set by a successful Write

  // Sorts the records and adds them to `base` as one durable run.
  Status Write() {
    std::sort(records.begin(), records.end(),
              [](const RunRecord<Codec>& a, const RunRecord<Codec>& b) { return a.tx < b.tx; });
    auto added = base->Add(records, cut);
    if (!added.ok()) return added.status();
    next = std::move(added.value());
    return Status::Ok();
  }
};

}  // namespace giftledger::commands

// The on-disk tier of permanent idempotency (docs/commands.md, "Memory
// budget and the on-disk index"): immutable run files of sorted fixed-width
// records, each with a blocked Bloom filter, that together hold every
// idempotency entry with seq ≤ covered_seq(). The in-memory table of the
// shard state holds the entries after it. An index object never changes:
// adding a run yields a new index, so a Decide that reads one reads a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/ids.h"
#include "ledger/file.h"
#include "ledger/status.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

// The permanent answer for a tx id (docs/commands.md, "Idempotency").
struct IdempotencyEntry {
  CommandHash hash{};
  schemas::ResultCode code = schemas::OK;
  uint64_t seq = 0;
  friend bool operator==(const IdempotencyEntry& a, const IdempotencyEntry& b) {
    return a.hash == b.hash && a.code == b.code && a.seq == b.seq;
  }
};

struct IdempotencyRecord {
  TxId tx;
  IdempotencyEntry entry;
};

// File layout (little-endian), docs/commands.md:
//   header 64 bytes: magic "GLI1", version u16 = 1, header bytes u16 = 64,
//     record bytes u32 = 44, bloom k u32, count u64, seq_lo u64 (exclusive),
//     seq_hi u64 (inclusive), bloom bytes u64, bloom SipHash key 2 × u64
//   count records of 44 bytes, strictly ascending by tx id:
//     tx_id[16] command_hash[16] seq u64 code u32
//   bloom filter (bloom bytes, a multiple of 64)
//   footer 8 bytes: CRC-32C of everything before it u32, magic "GLIF"
inline constexpr size_t kIdempotencyRunHeaderBytes = 64;
inline constexpr size_t kIdempotencyRecordBytes = 44;
inline constexpr size_t kIdempotencyRunFooterBytes = 8;
inline constexpr uint32_t kIdempotencyBloomK = 7;  // bits set per id, in one 64-byte block

struct IdempotencyIndexOptions {
  // Bloom filter size; 0 = no filter (every lookup binary-searches the run).
  uint32_t bloom_bits_per_entry = 10;
  // fsync each run and the directory. Only logic tests turn it off.
  bool sync = true;
};

// CRC-32C (Castagnoli) as in iSCSI / LevelDB: SSE4.2 when the CPU has it.
uint32_t Crc32c(const uint8_t* data, size_t size);
// The table-driven path, for the test that pins both to the same values.
uint32_t Crc32cPortable(const uint8_t* data, size_t size);

// <shard_dir>/idempotency and the name of the run of seqs (lo, hi]:
// "idem-<lo, 20 digits>-<hi, 20 digits>.run".
std::string IdempotencyDir(const std::string& shard_dir);
std::string IdempotencyRunName(uint64_t seq_lo, uint64_t seq_hi);

// One verified, memory-mapped run file.
class IdempotencyRun {
 public:
  // Writes `sorted` (strictly ascending tx ids, every seq in (lo, hi]) as
  // dir/IdempotencyRunName(lo, hi): temp file, fsync, rename, dir fsync.
  static Status Write(const std::string& dir, uint64_t seq_lo, uint64_t seq_hi,
                      const std::vector<IdempotencyRecord>& sorted,
                      const IdempotencyIndexOptions& options);
  // Maps and verifies the whole file (sizes, footer, CRC, record order, seqs
  // within the range the name gives). DATA_LOSS naming the file otherwise.
  static Result<std::shared_ptr<const IdempotencyRun>> Open(const std::string& path);

  std::optional<IdempotencyEntry> Find(const TxId& tx) const;
  // false: `tx` is certainly not in the run. true: it may be.
  bool MayContain(const TxId& tx) const;

  size_t count() const { return count_; }
  uint64_t seq_lo() const { return seq_lo_; }
  uint64_t seq_hi() const { return seq_hi_; }
  const std::string& path() const { return path_; }
  IdempotencyRecord record(size_t i) const;
  TxId tx(size_t i) const;

 private:
  IdempotencyRun() = default;
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

class IdempotencyIndex {
 public:
  // Every run under `dir` (created when missing). The runs must tile
  // (0, covered_seq] without a gap: a missing range is DATA_LOSS naming it, a
  // corrupt run DATA_LOSS naming the file. Leftovers of a crash are cleaned:
  // temp files, and runs contained in a merged run whose sources were not
  // deleted yet.
  static Result<std::shared_ptr<const IdempotencyIndex>> Open(
      const std::string& dir, const IdempotencyIndexOptions& options = {});

  // Newest run first; at most one binary search per Bloom-positive run.
  std::optional<IdempotencyEntry> Find(const TxId& tx) const;

  // A new index with `sorted` (every entry with seq in (covered_seq,
  // seq_hi], strictly ascending tx ids) written as a durable run, then runs
  // merged while the older of the two newest is at most twice the newer (so
  // there are O(log n) runs). `this` is unchanged. Merge failures are logged
  // and leave the runs unmerged (still a valid index).
  Result<std::shared_ptr<const IdempotencyIndex>> Add(const std::vector<IdempotencyRecord>& sorted,
                                                      uint64_t seq_hi) const;

  // Every record in ascending tx id order.
  void ForEach(const std::function<void(const IdempotencyRecord&)>& fn) const;

  uint64_t covered_seq() const { return covered_seq_; }
  size_t entries() const;
  size_t runs() const { return runs_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  IdempotencyIndex(std::string dir, IdempotencyIndexOptions options)
      : dir_(std::move(dir)), options_(options) {}
  // Merges runs_[i] and runs_[i + 1] (adjacent seq ranges) into one file.
  Status MergeNewestTwo();

  std::string dir_;
  IdempotencyIndexOptions options_;
  std::vector<std::shared_ptr<const IdempotencyRun>> runs_;  // ascending seq ranges
  uint64_t covered_seq_ = 0;
};

}  // namespace giftledger::commands

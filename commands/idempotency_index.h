// The on-disk tier of permanent idempotency (docs/commands.md, "Memory
// budget and the on-disk index"): run files (run_index.h) that together hold
// every idempotency entry with seq ≤ covered_seq(). The in-memory table of
// the shard state holds the entries after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "commands/ids.h"
#include "commands/run_index.h"
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

// Record of 44 bytes: tx_id[16] command_hash[16] seq u64 code u32; files
// "idem-<lo>-<hi>.run", magic "GLI1" / "GLIF".
struct IdempotencyCodec {
  using Value = IdempotencyEntry;
  static constexpr size_t kRecordBytes = 44;
  static constexpr char kMagic[5] = "GLI1";
  static constexpr char kFooterMagic[5] = "GLIF";
  static constexpr char kPrefix[] = "idem";
  static constexpr char kWhat[] = "idempotency";
  static void Encode(const Value& e, uint8_t* p) {
    std::memcpy(p, e.hash.data(), e.hash.size());
    PutU64(p + 16, e.seq);
    PutU32(p + 24, uint32_t(e.code));
  }
  static Value Decode(const uint8_t* p) {
    Value e;
    std::memcpy(e.hash.data(), p, e.hash.size());
    e.seq = GetU64(p + 16);
    e.code = schemas::ResultCode(GetU32(p + 24));
    return e;
  }
  static uint64_t Seq(const Value& e) { return e.seq; }
  static constexpr bool kSeqAboveLo = true;  // the tiers never overlap
  static bool Valid(const Value&) { return true; }
};

using IdempotencyRecord = RunRecord<IdempotencyCodec>;
using IdempotencyRun = SortedRun<IdempotencyCodec>;
using IdempotencyIndex = RunIndex<IdempotencyCodec>;
using IdempotencyIndexOptions = RunIndexOptions;

inline constexpr size_t kIdempotencyRunHeaderBytes = kRunHeaderBytes;
inline constexpr size_t kIdempotencyRecordBytes = IdempotencyCodec::kRecordBytes;
inline constexpr size_t kIdempotencyRunFooterBytes = kRunFooterBytes;
inline constexpr uint32_t kIdempotencyBloomK = kRunBloomK;

// <shard_dir>/idempotency and the name of the run of seqs (lo, hi]:
// "idem-<lo, 20 digits>-<hi, 20 digits>.run".
inline std::string IdempotencyDir(const std::string& shard_dir) {
  return JoinPath(shard_dir, "idempotency");
}
inline std::string IdempotencyRunName(uint64_t seq_lo, uint64_t seq_hi) {
  return run_detail::RunName(IdempotencyCodec::kPrefix, seq_lo, seq_hi);
}

}  // namespace giftledger::commands

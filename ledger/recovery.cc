#include "ledger/recovery.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "ledger/block.h"
#include "ledger/segment.h"

namespace giftledger {
namespace {

std::string Where(ShardId shard, const std::string& path, uint64_t offset, Seq seq) {
  return "shard " + std::to_string(shard.value) + ", segment " + path + ", offset " +
         std::to_string(offset) + ", seq " + std::to_string(seq.value);
}

// Full check of one block against what the chain expects next.
Status CheckNextBlock(const BlockView& b, const ShardScan& s, const PublicKey& key,
                      bool check_body, std::vector<Hash32>* leaves) {
  if (b.header.shard != s.shard) return DataLoss("block belongs to another shard");
  if (b.header.first_seq != s.next_seq) return DataLoss("seq gap or overlap");
  if (b.header.prev_block_hash != s.last_block_hash) return DataLoss("chain link broken");
  if (b.header.ledger_time_us < s.last_ledger_time_us) return DataLoss("ledger time went back");
  GL_RETURN_IF_ERROR(CheckBlockHash(b));
  GL_RETURN_IF_ERROR(CheckBlockSignature(b, key));
  if (check_body) GL_RETURN_IF_ERROR(CheckBlockBody(b, leaves));
  return Status::Ok();
}

// True when a block with a correct header hash starts anywhere in
// [from, size) and was sealed after `bad_seq` was durable: then the bad block
// had been durable and cannot be a torn write. Blocks of the same unsynced
// write group (durable_seq < bad_seq) can reach the disk before the bad one
// on power loss; they were never acknowledged and do not count. The signature
// and shard are deliberately not required: with a wrong public key (or the
// wrong shard's directory) every block fails them, and requiring them here
// turned a whole log into one "torn tail" that recovery truncated away.
bool ValidBlockAfter(const uint8_t* p, uint64_t from, uint64_t size, Seq bad_seq) {
  while (from + kBlockHeaderBytes <= size) {
    const void* hit = memmem(p + from, size - from, kBlockMagic, sizeof(kBlockMagic));
    if (hit == nullptr) return false;
    uint64_t at = uint64_t(static_cast<const uint8_t*>(hit) - p);
    BlockView b;
    if (ParseBlock(p + at, size - at, &b).ok() && CheckBlockHash(b).ok() &&
        b.header.durable_seq >= bad_seq) {
      return true;
    }
    from = at + 1;
  }
  return false;
}

// True when the block at p is intact (its header hash holds) yet does not
// continue the chain: another shard, a seq gap, a broken link. A writer wrote
// that header whole, so no crash explains it.
bool IntactButOutOfChain(const uint8_t* p, uint64_t avail_bytes, const ShardScan& s) {
  BlockView b;
  if (!ParseBlock(p, avail_bytes, &b).ok() || !CheckBlockHash(b).ok()) return false;
  return b.header.shard != s.shard || b.header.first_seq != s.next_seq ||
         b.header.prev_block_hash != s.last_block_hash ||
         b.header.ledger_time_us < s.last_ledger_time_us;
}

// End of the last non-zero byte in [from, size). Word-wise, since the zeroed
// rest of a preallocated segment can be a hundred MiB.
uint64_t NonZeroEnd(const uint8_t* p, uint64_t from, uint64_t size) {
  uint64_t end = size;
  while (end > from && end % 8 != 0 && p[end - 1] == 0) --end;
  while (end >= from + 8 && end % 8 == 0) {
    uint64_t w;
    std::memcpy(&w, p + end - 8, 8);
    if (w != 0) break;
    end -= 8;
  }
  while (end > from && p[end - 1] == 0) --end;
  return end;
}

struct SegmentScanEnd {
  bool bad = false;
  uint64_t offset = 0;
  std::string reason;
};

// Walks blocks of one mapped segment, appending to the scan state. Stops at
// the first block that fails, at zeros, or at the end of the file.
SegmentScanEnd WalkSegment(const MappedFile& f, uint32_t seg_index, bool check_body,
                           const PublicKey& key, const ScanOptions& opt, ShardScan* s) {
  SegmentState& seg = s->segments[seg_index];
  const uint8_t* p = f.data();
  uint64_t off = 0, last_index_off = 0;
  std::vector<Hash32> leaves;
  std::vector<Hash32>* want_leaves = check_body && opt.on_block ? &leaves : nullptr;
  while (off < f.size()) {
    if (IsZeroHeader(p + off, f.size() - off)) break;
    BlockView b;
    Status st = ParseBlock(p + off, f.size() - off, &b);
    if (st.ok()) st = CheckNextBlock(b, *s, key, check_body, want_leaves);
    if (!st.ok()) {
      seg.data_bytes = off;
      return {true, off, st.message()};
    }
    if (seg.blocks == 0 || off - last_index_off >= kIndexIntervalBytes) {
      s->index.push_back({b.header.first_seq, seg_index, off});
      last_index_off = off;
    }
    if (want_leaves != nullptr) opt.on_block(b, leaves);
    s->next_seq = Seq{b.header.last_seq().value + 1};
    s->last_block_hash = b.stored_hash;
    s->last_ledger_time_us = b.header.ledger_time_us;
    s->blocks++;
    s->events += b.header.event_count;
    seg.blocks++;
    off += b.size_bytes();
    if (opt.progress && (seg.blocks % 256) == 0) opt.progress(s->data_bytes + off);
  }
  seg.data_bytes = off;
  return {};
}

Status Failure(const ScanOptions& opt, const std::string& segment, uint64_t offset, Seq seq,
               const std::string& reason, const std::string& message) {
  if (opt.failure != nullptr) *opt.failure = {segment, offset, seq, reason};
  return DataLoss(message);
}

Status ScanOneSegment(const SegmentFile& file, bool is_last, const PublicKey& key,
                      const ScanOptions& opt, ShardScan* s) {
  if (file.first_seq != s->next_seq) {
    return Failure(opt, file.path, 0, s->next_seq, "missing segment",
                   std::string("missing segment: expected one starting at seq ") +
                       std::to_string(s->next_seq.value) + ", found " + file.path);
  }
  auto mapped = MappedFile::Open(file.path);
  if (!mapped.ok()) return mapped.status();
  const MappedFile& f = *mapped.value();
  uint32_t seg_index = uint32_t(s->segments.size());
  s->segments.push_back({file.first_seq, file.path, 0, f.size(), 0});
  SegmentScanEnd end = WalkSegment(f, seg_index, opt.check_all_bodies || is_last, key, opt, s);
  SegmentState& seg = s->segments[seg_index];
  s->data_bytes += seg.data_bytes;
  if (opt.progress) opt.progress(s->data_bytes);
  uint64_t stop = end.bad ? end.offset : seg.data_bytes;
  uint64_t written_end = f.WrittenEnd(stop);
  std::string where = Where(s->shard, file.path, stop, s->next_seq);
  // Anything valid after the stopping point means the log was damaged in the
  // middle: that is corruption whatever the recovery mode.
  std::string reason = end.bad ? end.reason : std::string("zeroed or stray bytes");
  if (ValidBlockAfter(f.data(), stop + 1, written_end, s->next_seq)) {
    return Failure(opt, file.path, stop, s->next_seq, reason,
                   "corruption at " + where + ": " + reason + ", followed by valid blocks");
  }
  if (end.bad && IntactButOutOfChain(f.data() + stop, f.size() - stop, *s)) {
    return Failure(opt, file.path, stop, s->next_seq, reason,
                   "corruption at " + where + ": " + reason + " in an intact block");
  }
  uint64_t nonzero_end = NonZeroEnd(f.data(), stop, written_end);
  if (!end.bad && nonzero_end == stop) return Status::Ok();
  if (!is_last) {
    return Failure(opt, file.path, stop, s->next_seq, reason,
                   "corruption at " + where + ": " + reason + " in a sealed segment");
  }
  s->torn_tail = true;
  s->torn_offset = stop;
  s->torn_bytes = nonzero_end - stop;
  s->torn_reason = end.bad ? end.reason : "partial block";
  return Status::Ok();
}

}  // namespace

Result<ShardScan> ScanShard(const std::string& shard_dir, ShardId shard, const PublicKey& key,
                            const ScanOptions& options) {
  auto files = ListSegments(shard_dir);
  if (!files.ok()) return files.status();
  ShardScan s;
  s.shard = shard;
  for (size_t i = 0; i < files->size(); ++i) {
    bool is_last = i + 1 == files->size();
    GL_RETURN_IF_ERROR(ScanOneSegment((*files)[i], is_last, key, options, &s));
  }
  return s;
}

Result<ShardScan> RecoverShard(FileSystem* fs, const std::string& shard_dir, ShardId shard,
                               const PublicKey& key, RecoveryMode mode, uint64_t segment_bytes) {
  auto scan = ScanShard(shard_dir, shard, key, ScanOptions{});
  if (!scan.ok() || !scan->torn_tail) return scan;
  ShardScan& s = scan.value();
  const SegmentState& seg = s.segments.back();
  std::string where = Where(shard, seg.path, s.torn_offset, s.next_seq);
  if (mode == RecoveryMode::kAbsoluteConsistency) {
    return DataLoss("torn tail at " + where + " (" + s.torn_reason +
                    "); recovery mode is absolute consistency");
  }
  spdlog::warn("torn tail at {} ({}): truncating {} bytes", where, s.torn_reason, s.torn_bytes);
  auto file = fs->OpenWritable(seg.path, /*create=*/false);
  if (!file.ok()) return file.status();
  // Shrink to the last good block, then re-extend with zeros so that the
  // damaged bytes are gone for good and the segment stays preallocated.
  GL_RETURN_IF_ERROR(file.value()->Truncate(s.torn_offset));
  GL_RETURN_IF_ERROR(file.value()->Allocate(segment_bytes));
  GL_RETURN_IF_ERROR(file.value()->DataSync());
  GL_RETURN_IF_ERROR(file.value()->Close());
  return scan;
}

}  // namespace giftledger

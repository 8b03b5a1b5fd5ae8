#include "ledger/tailer.h"

#include <algorithm>

#include "ledger/recovery.h"
#include "ledger/segment.h"

namespace giftledger {

Result<std::unique_ptr<LogTailer>> LogTailer::Open(const std::string& shard_dir, ShardId shard,
                                                   const PublicKey& key, Seq from) {
  if (from.value == 0) return InvalidArgument("tail from seq 0; seqs start at 1");
  auto scan = ScanShard(shard_dir, shard, key, ScanOptions{});
  if (!scan.ok()) return scan.status();
  std::unique_ptr<LogTailer> t(new LogTailer(shard_dir, shard, key));
  t->next_seq_ = from;
  if (scan->index.empty()) {
    // Empty shard: wait for the first segment, named 1.
    t->segment_first_seq_ = Seq{1};
    t->block_seq_ = Seq{1};
    return t;
  }
  Seq start = std::min(from, Seq{scan->next_seq.value});
  auto it = std::upper_bound(scan->index.begin(), scan->index.end(), start,
                             [](Seq s, const IndexEntry& e) { return s < e.first_seq; });
  if (it != scan->index.begin()) --it;
  t->segment_first_seq_ = scan->segments[it->segment].first_seq;
  t->offset_ = it->offset;
  t->block_seq_ = it->first_seq;
  GL_RETURN_IF_ERROR(t->MapSegment(t->segment_first_seq_));
  return t;
}

Status LogTailer::MapSegment(Seq first_seq) {
  auto m = MappedFile::Open(JoinPath(shard_dir_, SegmentFileName(first_seq)));
  if (!m.ok()) return m.status();
  segment_ = std::move(m.value());
  segment_first_seq_ = first_seq;
  return Status::Ok();
}

// Reads and fully checks the block at the current position, following the
// writer to its next segment (and re-mapping a segment that grew).
Status LogTailer::ReadBlockAt(BlockView* b) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    bool mapped = segment_ != nullptr;
    uint64_t size = mapped ? segment_->size() : 0;
    if (mapped && offset_ + kBlockHeaderBytes <= size &&
        !IsZeroHeader(segment_->data() + offset_, size - offset_)) {
      Status st = ParseBlock(segment_->data() + offset_, size - offset_, b);
      if (st.code() != Code::kOutOfRange) {
        if (st.ok() && b->header.shard != shard_) st = DataLoss("block of another shard");
        if (st.ok() && b->header.first_seq != block_seq_) st = DataLoss("seq gap");
        if (st.ok() && have_prev_ && b->header.prev_block_hash != prev_hash_) {
          st = DataLoss("chain broken");
        }
        if (st.ok()) st = CheckBlockHash(*b);
        if (st.ok()) st = CheckBlockSignature(*b, key_);
        if (st.ok()) st = CheckBlockBody(*b);
        if (st.ok()) return st;
        return DataLoss(st.message() + " at shard " + std::to_string(shard_.value) + ", seq " +
                        std::to_string(block_seq_.value) + ", offset " + std::to_string(offset_));
      }
    }
    // Not here: the writer rolled to a segment named by this seq, or this
    // segment was mapped before it grew.
    std::string next = JoinPath(shard_dir_, SegmentFileName(block_seq_));
    if (block_seq_ != segment_first_seq_ && PathExists(next)) {
      GL_RETURN_IF_ERROR(MapSegment(block_seq_));
      offset_ = 0;
    } else {
      GL_RETURN_IF_ERROR(MapSegment(segment_first_seq_));
    }
  }
  return Unavailable("block at seq " + std::to_string(block_seq_.value) +
                     " is not visible although it is said to be durable");
}

Result<uint64_t> LogTailer::Poll(Seq durable_next, uint64_t events_max,
                                 const std::function<void(Seq, std::string_view)>& on_event) {
  uint64_t delivered = 0;
  while (block_seq_ < durable_next && delivered < events_max) {
    BlockView b;
    GL_RETURN_IF_ERROR(ReadBlockAt(&b));
    ForEachEvent(b, [&](Seq seq, std::string_view ev) {
      if (seq >= next_seq_) {
        on_event(seq, ev);
        ++delivered;
      }
    });
    prev_hash_ = b.stored_hash;
    have_prev_ = true;
    offset_ += b.size_bytes();
    block_seq_ = Seq{b.header.last_seq().value + 1};
    next_seq_ = std::max(next_seq_, block_seq_);
  }
  return delivered;
}

}  // namespace giftledger

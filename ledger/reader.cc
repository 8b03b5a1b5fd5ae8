#include "ledger/reader.h"

#include <algorithm>

#include "ledger/file.h"

namespace giftledger {

Result<std::unique_ptr<LogReader>> LogReader::Open(const std::string& shard_dir, ShardId shard,
                                                   const PublicKey& key) {
  CryptoInit();
  auto scan = ScanShard(shard_dir, shard, key, ScanOptions{});
  if (!scan.ok()) return scan.status();
  return std::unique_ptr<LogReader>(new LogReader(shard, key, std::move(scan.value())));
}

Status LogReader::ReadFrom(Seq from, const std::function<bool(const BlockView&)>& on_block) {
  if (scan_.index.empty() || from >= scan_.next_seq) return Status::Ok();
  // Last index entry whose block starts at or before `from`.
  auto it = std::upper_bound(scan_.index.begin(), scan_.index.end(), from,
                             [](Seq s, const IndexEntry& e) { return s < e.first_seq; });
  if (it != scan_.index.begin()) --it;
  uint32_t seg = it->segment;
  uint64_t off = it->offset;
  Hash32 prev{};
  bool have_prev = false;
  for (; seg < scan_.segments.size(); ++seg, off = 0) {
    const SegmentState& s = scan_.segments[seg];
    auto mapped = MappedFile::Open(s.path);
    if (!mapped.ok()) return mapped.status();
    const uint8_t* p = mapped.value()->data();
    uint64_t end = std::min(s.data_bytes, mapped.value()->size());
    while (off < end) {
      BlockView b;
      std::string where = s.path + " offset " + std::to_string(off);
      Status st = ParseBlock(p + off, end - off, &b);
      if (st.ok() && b.header.shard != shard_) st = DataLoss("block of another shard");
      if (st.ok() && have_prev && b.header.prev_block_hash != prev) st = DataLoss("chain broken");
      if (st.ok()) st = CheckBlockHash(b);
      if (st.ok()) st = CheckBlockSignature(b, key_);
      if (st.ok()) st = CheckBlockBody(b);
      if (!st.ok()) return DataLoss(st.message() + " at " + where);
      prev = b.stored_hash;
      have_prev = true;
      off += b.size_bytes();
      if (b.header.last_seq() < from) continue;
      if (!on_block(b)) return Status::Ok();
    }
  }
  return Status::Ok();
}

Status LogReader::ReadEvents(Seq from,
                             const std::function<bool(Seq, std::string_view)>& on_event) {
  bool go = true;
  return ReadFrom(from, [&](const BlockView& b) {
    ForEachEvent(b, [&](Seq seq, std::string_view ev) {
      if (go && seq >= from) go = on_event(seq, ev);
    });
    return go;
  });
}

}  // namespace giftledger

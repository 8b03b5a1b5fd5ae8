#include "commands/idempotency_tier.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace giftledger::commands {

std::optional<IdempotencyEviction> PrepareIdempotencyEviction(const ShardState& s,
                                                              size_t memory_entries_max,
                                                              uint64_t seq_limit) {
  const size_t size = s.idempotency.size();
  if (size <= memory_entries_max) return std::nullopt;
  GL_ASSERT(s.idempotency_disk != nullptr);
  // Entries have distinct seqs: the (size - keep)-th smallest is the cut
  // that leaves exactly `keep` entries in memory.
  const size_t evict = size - memory_entries_max / 2;
  std::vector<uint64_t> seqs;
  seqs.reserve(size);
  for (const auto& [tx, e] : s.idempotency) seqs.push_back(e.seq);
  std::nth_element(seqs.begin(), seqs.begin() + ptrdiff_t(evict - 1), seqs.end());
  const uint64_t cut = std::min(seqs[evict - 1], seq_limit);
  if (cut <= s.idempotency_disk_seq) return std::nullopt;  // nothing durable to move yet
  std::vector<uint64_t>().swap(seqs);
  IdempotencyEviction e;
  e.cut = cut;
  e.base = s.idempotency_disk;
  e.records.reserve(evict);
  for (const auto& [tx, entry] : s.idempotency) {
    if (entry.seq <= cut) e.records.push_back(IdempotencyRecord{tx, entry});
  }
  return e;
}

void FinishIdempotencyEviction(ShardState& s, IdempotencyEviction&& e) {
  GL_ASSERT(e.next != nullptr && s.idempotency_disk == e.base && e.cut > s.idempotency_disk_seq);
  // The run is durable: only now may memory (and so any later snapshot) omit them.
  for (const IdempotencyRecord& r : e.records) {
    auto it = s.idempotency.find(r.tx);
    if (it != s.idempotency.end() && it->second.seq <= e.cut) s.idempotency.erase(it);
  }
  s.idempotency_disk = std::move(e.next);
  s.idempotency_disk_seq = e.cut;
}

Status EvictIdempotency(ShardState& s, size_t memory_entries_max, uint64_t seq_limit) {
  auto e = PrepareIdempotencyEviction(s, memory_entries_max, seq_limit);
  if (!e) return Status::Ok();
  GL_RETURN_IF_ERROR(e->Write());
  FinishIdempotencyEviction(s, std::move(*e));
  return Status::Ok();
}

Status AttachIdempotencyIndex(ShardState& s, std::shared_ptr<const IdempotencyIndex> index) {
  const uint64_t covered = index->covered_seq();
  if (covered < s.idempotency_disk_seq) {
    return DataLoss(index->dir() + ": idempotency runs cover seqs up to " +
                    std::to_string(covered) +
                    " but the state keeps in memory only the entries after " +
                    std::to_string(s.idempotency_disk_seq));
  }
  for (auto it = s.idempotency.begin(); it != s.idempotency.end();) {
    if (it->second.seq <= covered) {
      it = s.idempotency.erase(it);
    } else {
      ++it;
    }
  }
  s.idempotency_disk_seq = covered;
  s.idempotency_disk = std::move(index);
  return Status::Ok();
}

}  // namespace giftledger::commands

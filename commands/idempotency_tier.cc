#include "commands/idempotency_tier.h"

#include <algorithm>
#include <cstdint>
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
  // Memory holds its entries in seq order: the (size - keep)-th oldest is
  // the cut that leaves exactly `keep` entries in memory.
  const size_t evict = size - memory_entries_max / 2;
  const uint64_t cut = std::min(s.idempotency.Oldest(evict - 1).entry.seq, seq_limit);
  if (cut <= s.idempotency_disk_seq) return std::nullopt;  // nothing durable to move yet
  IdempotencyEviction e;
  e.cut = cut;
  e.base = s.idempotency_disk;
  e.records.reserve(evict);
  for (size_t i = 0; i < evict; ++i) {
    const IdempotencyMemory::Slot& slot = s.idempotency.Oldest(i);
    if (slot.entry.seq > cut) break;
    e.records.push_back(IdempotencyRecord{slot.tx, slot.entry});
  }
  return e;
}

void FinishIdempotencyEviction(ShardState& s, IdempotencyEviction&& e) {
  // A merge may have been installed since the prepare (the engine runs them
  // apart): it keeps the covered seq, so the run still starts where the index ends.
  GL_ASSERT(e.run != nullptr && e.run->seq_lo() == s.idempotency_disk_seq &&
            e.cut > s.idempotency_disk_seq);
  // The run is durable: only now may memory (and so any later snapshot) omit
  // them. They stop being found at once; their slots are erased in slices
  // (EraseIdempotencyDropped), so no batch waits for a million erasures.
  // Entries added since the prepare have larger seqs and stay.
  const size_t dropped = s.idempotency.DropThrough(e.cut);
  GL_ASSERT(dropped == e.records.size());
  s.idempotency_disk = s.idempotency_disk->WithRun(std::move(e.run));
  s.idempotency_disk_seq = e.cut;
}

size_t EraseIdempotencyDropped(ShardState& s, size_t max) {
  return s.idempotency.EraseDropped(max);
}

Status EvictIdempotency(ShardState& s, size_t memory_entries_max, uint64_t seq_limit) {
  auto e = PrepareIdempotencyEviction(s, memory_entries_max, seq_limit);
  if (!e) return Status::Ok();
  GL_RETURN_IF_ERROR(e->Write());
  FinishIdempotencyEviction(s, std::move(*e));
  EraseIdempotencyDropped(s, SIZE_MAX);
  s.idempotency_disk = IdempotencyIndex::MergeAll(std::move(s.idempotency_disk));
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
  s.idempotency.DropThrough(covered);
  s.idempotency.EraseDropped(SIZE_MAX);
  s.idempotency_disk_seq = covered;
  s.idempotency_disk = std::move(index);
  return Status::Ok();
}

}  // namespace giftledger::commands

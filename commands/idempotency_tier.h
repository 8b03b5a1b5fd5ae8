// Moving idempotency entries between the two tiers of a ShardState (state.h):
// eviction of the oldest in-memory entries to a new on-disk run when the
// memory budget is exceeded, and attaching the on-disk index to a state
// restored from a snapshot (docs/commands.md, "Memory budget and the on-disk
// index").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "commands/idempotency_index.h"
#include "commands/state.h"
#include "ledger/status.h"

namespace giftledger::commands {

// When the in-memory table holds more than `memory_entries_max` entries,
// writes every entry with seq <= cut as one durable run and drops them from
// memory, where cut leaves memory_entries_max / 2 entries in memory but is
// never above `seq_limit`: the caller passes the last durable seq, so a run
// never holds an entry whose event could still be lost. A no-op within the
// budget or when nothing is evictable yet. The state must have its index
// attached. On error the state is unchanged (nothing was dropped). Then
// merges runs by size tier (RunIndex::MergeAll) before it returns: replay.
Status EvictIdempotency(ShardState& state, size_t memory_entries_max, uint64_t seq_limit);

// The same eviction in three steps, so that the slow middle one (sorting,
// writing and fsyncing the run) can run off the thread that owns the
// state while the state keeps answering from memory (the engine does this:
// a run of millions of ids takes seconds to write), and merges run apart
// (RunMerge, ShardEngine::MaybeMerge).
// Step 2 is IdempotencyEviction::Write (run_index.h).
using IdempotencyEviction = RunEviction<IdempotencyCodec>;
// Step 1, on the state's thread: copies what moves; nullopt when within the
// budget or nothing durable can move yet. Changes nothing.
std::optional<IdempotencyEviction> PrepareIdempotencyEviction(const ShardState& state,
                                                              size_t memory_entries_max,
                                                              uint64_t seq_limit);
// Step 3, on the state's thread, after step 2 succeeded and with no other
// eviction in between (a merge may have been installed): appends the run to
// the state's index and drops from memory what the run now holds (no longer
// found in memory; the slots are erased later). Entries added since step 1
// have larger seqs and stay.
void FinishIdempotencyEviction(ShardState& state, IdempotencyEviction&& eviction);
// Erases up to `max` of the slots step 3 dropped; returns how many. The
// engine erases a slice between batches (kIdempotencyEraseSliceMax).
size_t EraseIdempotencyDropped(ShardState& state, size_t max);

// Gives `state` its on-disk index: DATA_LOSS when the runs cover less than
// the state's idempotency_disk_seq (the state lacks those entries in memory:
// run files were deleted), otherwise drops the in-memory entries the runs
// already hold and sets idempotency_disk_seq to the runs' covered seq, which
// may be past state.last_seq (runs written after the snapshot was): Apply then
// skips those entries during the tail replay.
Status AttachIdempotencyIndex(ShardState& state, std::shared_ptr<const IdempotencyIndex> index);

}  // namespace giftledger::commands

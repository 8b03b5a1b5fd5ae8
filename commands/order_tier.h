// Moving closed orders between the two tiers of a ShardState (state.h):
// eviction of the oldest closed in-memory orders to a new on-disk run when
// the memory budget is exceeded, and attaching the on-disk index to a state
// restored from a snapshot (docs/commands.md, "Memory budget and the on-disk
// index").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "commands/order_index.h"
#include "commands/state.h"
#include "ledger/status.h"

namespace giftledger::commands {

// When memory holds more than `closed_memory_max` closed orders, writes
// every closed order whose last change has seq <= cut as one durable run of
// (order_disk_seq, cut] and drops them from memory, where cut leaves about
// closed_memory_max / 2 closed orders in memory but is never above
// `seq_limit`: the caller passes the
// last durable seq, so a run never holds a change that could still be lost.
// Pending orders always stay in memory. A no-op within the budget or when
// nothing is evictable yet. The state must have its index attached. On
// error the state is unchanged (nothing was dropped).
Status EvictClosedOrders(ShardState& state, size_t closed_memory_max, uint64_t seq_limit);

// The same in three steps, as for idempotency (idempotency_tier.h): prepare
// on the state's thread, write the run on any thread, finish on the state's
// thread. A closed order that changed again after step 1 (a refund) has a
// seq above the cut and stays in memory, where it overrides the run.
using OrderEviction = RunEviction<OrderCodec>;
std::optional<OrderEviction> PrepareOrderEviction(const ShardState& state, size_t closed_memory_max,
                                                  uint64_t seq_limit);
void FinishOrderEviction(ShardState& state, OrderEviction&& eviction);

// Gives `state` its on-disk order index: DATA_LOSS when the runs cover less
// than the state's order_disk_seq (the state lacks closed orders that were
// only in run files that were deleted), otherwise sets order_disk_seq to the
// runs' covered seq, which may be past state.last_seq (runs written after
// the snapshot was). The in-memory orders stay: they are the truth as of the
// snapshot and override the runs, which may hold later versions (a refund
// the tail replay meets again, see apply.cc).
Status AttachOrderIndex(ShardState& state, std::shared_ptr<const OrderIndex> index);

}  // namespace giftledger::commands

// apply(state, event): folds one logged event into the shard state. Total and
// deterministic: it never rejects (events were decided and signed); an event
// that contradicts the state is a bug or forged data and stops the process
// (GL_ASSERT) rather than being skipped.
#pragma once

#include <cstdint>

#include "commands/state.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

// `seq` is the event's position in the shard's log; the first event of a
// command (command_hash set) enters the idempotency index with that seq (in
// memory, unless seq <= state.idempotency_disk_seq: then it is on disk).
void Apply(ShardState& state, const schemas::Event& event, uint64_t seq);

}  // namespace giftledger::commands

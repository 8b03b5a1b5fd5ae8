// The state hash of a read-model database: BLAKE2b-256 of a canonical
// encoding of every table (docs/read-models.md, "State hash"). The same
// events give the same hash however they were batched, live or rebuilt.
#pragma once

#include "ledger/status.h"
#include "ledger/types.h"
#include "projections/store.h"

namespace giftledger::projections {

Result<Hash32> ReadModelStateHash(Store& store);

}  // namespace giftledger::projections

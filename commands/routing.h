// Which shard owns a user, and the tx id settlement uses to credit a host for
// a gift (docs/commands.md, "Shard routing" and "HostCredit tx id derivation").
#pragma once

#include <cstdint>

#include "commands/ids.h"
#include "ledger/types.h"

namespace giftledger::commands {

// LE_u64(BLAKE2b-256(LE_u64(user))[0..8]) mod shard_count. shard_count ≥ 1.
ShardId ShardOf(UserId user, uint32_t shard_count);

// BLAKE2b-256("giftledger/host-credit/v1" || gift_tx_id)[0..16].
TxId DeriveHostCreditTxId(const TxId& gift_tx_id);

}  // namespace giftledger::commands

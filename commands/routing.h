// Which shard owns a user, and the tx id settlement uses to credit a host for
// a gift (docs/commands.md, "Shard routing" and "HostCredit tx id derivation").
#pragma once

#include <cstdint>
#include <optional>

#include "commands/ids.h"
#include "ledger/types.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

// The account whose shard must process the command; nullopt when any shard
// may (SetCatalog, ExpireOrders) or the command has no body.
std::optional<UserId> RoutingUser(const schemas::Command& cmd);

// LE_u64(BLAKE2b-256(LE_u64(user))[0..8]) mod shard_count. shard_count ≥ 1.
ShardId ShardOf(UserId user, uint32_t shard_count);

// The tx id settlement must use to credit the host of the gift whose
// ConsumeOrder had tx id `gift_tx_id` on shard `payer_shard`:
// BLAKE2b-256("giftledger/host-credit/v2" || LE_u32(payer_shard) || gift_tx_id)[0..16]
// with the UUID version nibble set to 8 and the variant bits to 10, which
// puts it in the reserved space no gateway command may use
// (IsReservedTxId). Tx ids are unique per shard only, hence the payer shard.
TxId DeriveHostCreditTxId(ShardId payer_shard, const TxId& gift_tx_id);

// Tx ids of UUID version 8 (byte 6, high nibble = 8) are reserved for
// settlement's derived ids; any other command using one is INVALID_ARGUMENT,
// so no gateway can take a host credit's id before settlement does.
inline bool IsReservedTxId(const TxId& id) { return (id.bytes[6] >> 4) == 0x8; }

}  // namespace giftledger::commands

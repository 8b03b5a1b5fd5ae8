// decide(state, command) → events | typed rejection. Pure: reads only its
// arguments, so the live run and a replay decide the same way
// (docs/commands.md, "Commands" and "Idempotency").
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <cstdint>
#include <string>
#include <vector>

#include "commands/state.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

// Roles of the caller (a gateway key's roles, docs/protocol.md). kRoleSystem
// is the shard engine itself; no gateway key can hold it.
enum Role : uint32_t {
  kRoleGifts = 1u << 0,
  kRolePayments = 1u << 1,
  kRoleOps = 1u << 2,
  kRoleSettlement = 1u << 3,
  kRoleAudit = 1u << 4,
  kRoleSystem = 1u << 5,
};
inline constexpr uint32_t kRolesAllGateway =
    kRoleGifts | kRolePayments | kRoleOps | kRoleSettlement | kRoleAudit;

struct DecideContext {
  int64_t ledger_time_us = 0;  // the time this decision uses (recorded in the events)
  uint32_t roles = kRolesAllGateway;
};

struct Decision {
  ResultCode code = schemas::OK;
  std::string message;
  // What to append, as one EventBatch. Empty when nothing is logged: an
  // unlogged rejection, a duplicate, or an ExpireOrders with nothing due.
  // A RepeatedPtrField so that a Decision reused across calls keeps its
  // cleared Event objects (and their string buffers) for the next command.
  google::protobuf::RepeatedPtrField<schemas::Event> events;
  // The tx id was already processed with the same content: code is the
  // original result and original_seq its seq.
  bool duplicate = false;
  uint64_t original_seq = 0;

  bool ok() const { return code == schemas::OK; }
};

// First 16 bytes of BLAKE2b-256 of the deterministic encoding of `command`.
CommandHash HashCommand(const schemas::Command& command);

Decision Decide(const ShardState& state, const schemas::Command& command, const DecideContext& ctx);

// The same into `out`, which is cleared first and whose storage is reused:
// the engine's hot path keeps one Decision and allocates nothing per command
// for the events' envelope.
void Decide(const ShardState& state, const schemas::Command& command, const DecideContext& ctx,
            Decision* out);

}  // namespace giftledger::commands

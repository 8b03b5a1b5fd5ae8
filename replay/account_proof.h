// Account proofs: one account's balances (or its absence) under the state
// root of a signed checkpoint, made by replaying the shard to the
// checkpoint and checked with public keys only. JSON and algorithm:
// docs/proofs.md, "Account proof".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands/state.h"
#include "ledger/manifest.h"
#include "ledger/status.h"
#include "replay/proofs.h"

namespace giftledger {

inline constexpr char kAccountProofType[] = "giftledger.account.v1";

struct ProveAccountOptions {
  std::string data_dir;
  uint64_t account = 0;                // user id
  std::optional<uint32_t> shard;       // default: the account's shard (routing)
  std::optional<uint64_t> checkpoint;  // tree size; newest with a state root when absent
};

// The shard's state after exactly event `seq`: the newest snapshot at or
// below it that needs no run files, then the log. DATA_LOSS when the log
// fails its checks or ends before `seq`.
Result<commands::ShardState> ReplayShardTo(const std::string& data_dir, const Manifest& manifest,
                                           ShardId shard, uint64_t seq);

// NOT_FOUND: no such checkpoint; FAILED_PRECONDITION: no checkpoint with a
// state root; DATA_LOSS: the replayed state's root is not the signed one
// (or the log fails its checks). An absent account is a proof too.
Result<nlohmann::json> ProveAccount(const ProveAccountOptions& options);

ProofVerdict VerifyAccountProof(const Manifest& manifest, const nlohmann::json& proof,
                                uint64_t shard);

}  // namespace giftledger

// Pieces shared by the proof kinds (replay/proofs.cc, replay/account_proof.cc):
// loading a checked checkpoint, its JSON for humans, and typed access to a
// proof's fields, where a malformed proof is a verdict, never an exception.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ledger/checkpoint.h"
#include "ledger/manifest.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

// shard_dir's checkpoint of `tree_size`, layout and signature checked:
// NOT_FOUND when absent, DATA_LOSS when it fails a check.
Result<CheckpointFile> LoadCheckedCheckpoint(const std::string& shard_dir, ShardId shard,
                                             const PublicKey& key, uint64_t tree_size);
nlohmann::json CheckpointInfo(const Checkpoint& c);
nlohmann::json HashesJson(const std::vector<Hash32>& hs);

bool GetHexBytes(const nlohmann::json& j, const char* field, std::string* out, std::string* why);
// At most 64 hashes (a path in a tree of up to 2^64 leaves).
bool GetHashes(const nlohmann::json& j, const char* field, std::vector<Hash32>* out,
               std::string* why);
bool GetU64(const nlohmann::json& j, const char* field, uint64_t* out, std::string* why);
// Decodes and checks a checkpoint against the manifest's key of `shard`.
bool GetCheckpoint(const Manifest& m, const nlohmann::json& j, const char* field, uint64_t shard,
                   Checkpoint* out, std::string* why);

}  // namespace giftledger

// Inclusion proofs of a tx's events in a signed checkpoint, consistency
// proofs between two checkpoints of a shard, and their verification with
// public keys only. JSON formats and algorithms: docs/proofs.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ledger/manifest.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

inline constexpr char kInclusionProofType[] = "giftledger.inclusion.v1";
inline constexpr char kConsistencyProofType[] = "giftledger.consistency.v1";
inline constexpr size_t kTxIdBytes = 16;
// A tx's events in one shard (a command's events plus later ones naming it).
inline constexpr size_t kProofEntriesMax = 1024;

struct ProveTxOptions {
  std::string data_dir;
  std::string tx_id;                   // 16 bytes
  std::optional<uint32_t> shard;       // search only this shard
  std::optional<uint64_t> checkpoint;  // tree size; newest covering one when absent
};

// NOT_FOUND: tx or checkpoint absent; FAILED_PRECONDITION: no checkpoint
// covers the tx yet; DATA_LOSS: the log or a checkpoint fails its checks
// (the proof would not verify).
Result<nlohmann::json> ProveTx(const ProveTxOptions& options);
Result<nlohmann::json> ProveConsistency(const std::string& data_dir, ShardId shard,
                                        uint64_t old_size, uint64_t new_size);

struct ProofVerdict {
  bool ok = false;
  std::string reason;   // why not, when !ok
  std::string summary;  // what was shown, when ok
};
// Checks a proof with the manifest's public keys only.
ProofVerdict VerifyProof(const Manifest& manifest, const nlohmann::json& proof);

}  // namespace giftledger

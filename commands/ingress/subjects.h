// NATS subjects of the command protocol (docs/protocol.md, "Subjects").
#pragma once

#include <cstdint>
#include <string>

namespace giftledger::ingress {

inline constexpr char kCommandSubjectPrefix[] = "giftledger.cmd.";
inline constexpr char kInfoSubject[] = "giftledger.info";
inline constexpr char kCheckpointSubjectPrefix[] = "giftledger.checkpoint.";

// giftledger.cmd.<shard>, shard in decimal.
inline std::string CommandSubject(uint32_t shard) {
  return kCommandSubjectPrefix + std::to_string(shard);
}

// giftledger.checkpoint.<shard>: each signed checkpoint, its 200 bytes
// (docs/proofs.md, "Checkpoints on NATS").
inline std::string CheckpointSubject(uint32_t shard) {
  return kCheckpointSubjectPrefix + std::to_string(shard);
}

}  // namespace giftledger::ingress

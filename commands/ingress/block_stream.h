// The block stream of replication (docs/replication.md): every sealed block
// of a shard, byte for byte, on giftledger.blocks.<shard> of one JetStream
// stream. Names, the stream's creation and where a shard's subject ends.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <string>

#include "ledger/block.h"
#include "ledger/status.h"

namespace giftledger::ingress {

inline constexpr char kBlockStreamDefault[] = "GIFTLEDGER_BLOCKS";
inline constexpr char kBlockSubjectPrefix[] = "giftledger.blocks.";
inline constexpr char kBlockSubjectsWildcard[] = "giftledger.blocks.*";
inline constexpr char kEpochHeader[] = "Giftledger-Epoch";
inline constexpr char kNodeHeader[] = "Giftledger-Node";
// An epoch marker: an empty message a new leader publishes on the subject
// before its first block, so that every publish of the previous leader
// (which expects the older subject sequence) is refused from then on. It
// names the shard's last seq and block hash at the takeover.
inline constexpr char kLastSeqHeader[] = "Giftledger-Last-Seq";
inline constexpr char kLastHashHeader[] = "Giftledger-Last-Hash";
// A block is one NATS message: stay well under the default max_payload (1 MiB).
inline constexpr size_t kReplicatedBlockBodyBytesTarget = 768 * 1024;

// giftledger.blocks.<shard>, shard in decimal.
inline std::string BlockSubject(uint32_t shard) {
  return kBlockSubjectPrefix + std::to_string(shard);
}
// "<shard>:<first seq>"
inline std::string BlockMsgId(uint32_t shard, uint64_t first_seq) {
  return std::to_string(shard) + ":" + std::to_string(first_seq);
}

struct BlockStreamOptions {
  std::string name = kBlockStreamDefault;
  int64_t replicas = 1;
  int64_t duplicate_window_ms = 120'000;
};

// Creates the stream when it is missing (file storage, limits retention).
Status EnsureBlockStream(jsCtx* js, const BlockStreamOptions& options);

// Where a shard's subject ends: the stream sequence of its last message
// (0 = empty), the last seq of the shard's log it holds and the hash of the
// block that ends there (from the last block or the epoch marker after it).
struct StreamTail {
  uint64_t stream_seq = 0;
  uint64_t last_seq = 0;
  Hash32 block_hash{};
};
// Asks the stream leader (js_GetLastMsg), so the answer is current.
Result<StreamTail> ReadStreamTail(jsCtx* js, const std::string& stream, uint32_t shard);

// UNAVAILABLE naming the NATS status, the JetStream code and the last error.
Status JetStreamError(const std::string& what, natsStatus s, jsErrCode code);

}  // namespace giftledger::ingress

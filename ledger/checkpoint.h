// Signed checkpoints: a shard's statement "events 1..tree_size have this
// RFC 9162 root" (plus the last block hash and an optional state root), the
// files they live in, and the Checkpointer the writer feeds with durable
// blocks. Bytes and rules: docs/proofs.md and docs/log-format.md.
//
//   offset size field
//        0    4 magic "GLK1"
//        4    2 version (1)
//        6    2 body_bytes (136)
//        8    4 shard_id
//       12    4 signer_epoch
//       16    8 tree_size
//       24    8 ledger_time_us
//       32    4 flags (bit 0: state_root present)
//       36    4 reserved, zero
//       40   32 event_root
//       72   32 state_root
//      104   32 last_block_hash
//      136   64 Ed25519 signature of H("giftledger checkpoint v1" || bytes 0..135)
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/block.h"
#include "ledger/crypto.h"
#include "ledger/merkle_proof.h"
#include "ledger/recovery.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

inline constexpr size_t kCheckpointBodyBytes = 136;
inline constexpr size_t kCheckpointBytes = kCheckpointBodyBytes + kSignatureBytes;
inline constexpr uint32_t kCheckpointFlagStateRoot = 1;
// A frontier holds one hash per set bit of a 64-bit tree size.
inline constexpr size_t kCheckpointFileBytesMax = kCheckpointBytes + 1 + 64 * kHashBytes;

struct Checkpoint {
  ShardId shard;
  uint32_t signer_epoch = 0;
  uint64_t tree_size = 0;  // events 1..tree_size
  int64_t ledger_time_us = 0;
  uint32_t flags = 0;
  Hash32 event_root{};
  Hash32 state_root{};
  Hash32 last_block_hash{};
  Signature64 signature{};
};

std::string EncodeCheckpoint(const Checkpoint& c);  // kCheckpointBytes
// Layout checks only (magic, version, sizes, reserved, flags): DATA_LOSS.
Result<Checkpoint> DecodeCheckpoint(std::string_view bytes);
// The 32-byte message the shard key signs (domain-separated from blocks).
Hash32 CheckpointMessage(const Checkpoint& c);
void SignCheckpoint(const SigningKey& key, Checkpoint* c);
// Shard, epoch and signature against the manifest key (DATA_LOSS naming why).
Status CheckCheckpoint(const Checkpoint& c, ShardId shard, const PublicKey& key);

struct CheckpointFile {
  Checkpoint checkpoint;
  std::vector<Hash32> frontier;  // compact range of the tree at tree_size
  std::string path;
};

std::string CheckpointDir(const std::string& shard_dir);
std::string CheckpointFileName(uint64_t tree_size);
// shard_dir/checkpoints/<tree_size>.ckpt, temp + fsync + rename + dir fsync.
Status WriteCheckpointFile(const std::string& shard_dir, const Checkpoint& c,
                           const MerkleFrontier& frontier);
// Layout checks only; the caller checks the signature against its key.
Result<CheckpointFile> ReadCheckpointFile(const std::string& path);

struct CheckpointEntry {
  uint64_t tree_size = 0;
  std::string path;
};
// Checkpoint files of a shard by tree size; empty when there are none.
Result<std::vector<CheckpointEntry>> ListCheckpoints(const std::string& shard_dir);

// A checkpoint found past the end of the log at open is renamed with this
// suffix: kept as evidence, never overwritten, and reported by verify.
inline constexpr char kLostCheckpointSuffix[] = ".lost";
Result<std::vector<std::string>> ListLostCheckpoints(const std::string& shard_dir);

struct CheckpointOptions {
  bool enabled = true;
  // A checkpoint is due after this many durable blocks or this long after
  // the previous one, whichever comes first (and when the writer closes).
  uint64_t every_blocks = 4096;
  uint64_t every_ms = 60'000;
  // Root over the derived state after event `seq` (wallets, earnings,
  // pending orders), supplied by the owner of that state; called on the
  // writer's syncer thread. Empty function or nullopt: no state root.
  std::function<std::optional<Hash32>(Seq seq)> state_root;
  // Called with each checkpoint once its file is durable, on the thread
  // that wrote it (the service publishes it on NATS); must not block.
  std::function<void(const Checkpoint&)> on_written;
};

// The shard tree kept up to date with durable blocks, and the checkpoints
// written from it. Used by one thread (the writer's syncer) after Open.
class Checkpointer {
 public:
  // Rebuilds the tree up to the end of the recovered log: from the newest
  // usable checkpoint, hashing only the events after it (from seq 1 when
  // none is usable), and writes a checkpoint when that covered anything new.
  // A checkpoint past the end of the log (the log lost events the shard
  // signed) is set aside (kLostCheckpointSuffix) with an error logged;
  // DATA_LOSS when the newest usable one does not link to the log.
  static Result<std::unique_ptr<Checkpointer>> Open(const std::string& shard_dir, ShardId shard,
                                                    const SigningKey& key, uint32_t signer_epoch,
                                                    const ShardScan& scan,
                                                    CheckpointOptions options);

  // After the block is durable: its leaf hashes extend the tree.
  void AddDurableBlock(const BlockHeader& h, const Hash32& block_hash, const Hash32* leaves);
  // True when uncovered events exist and a checkpoint is due (or `force`).
  bool Due(bool force) const;
  // Signs and writes a checkpoint of everything added so far.
  Status Write(const SigningKey& key);
  // When the time rule will make a checkpoint due; nullopt when nothing is
  // uncovered (nothing to wait for).
  std::optional<std::chrono::steady_clock::time_point> NextDeadline() const;

  uint64_t tree_size() const { return frontier_.size(); }
  uint64_t checkpointed_size() const { return written_size_; }
  uint64_t checkpoints_written() const { return written_; }

 private:
  Checkpointer(std::string shard_dir, ShardId shard, uint32_t signer_epoch,
               CheckpointOptions options)
      : shard_dir_(std::move(shard_dir)),
        shard_(shard),
        signer_epoch_(signer_epoch),
        options_(std::move(options)) {}
  Status CatchUp(const PublicKey& key, const ShardScan& scan);

  const std::string shard_dir_;
  const ShardId shard_;
  const uint32_t signer_epoch_;
  const CheckpointOptions options_;
  MerkleFrontier frontier_;
  Hash32 last_block_hash_{};
  int64_t last_time_us_ = 0;
  uint64_t written_size_ = 0;
  uint64_t blocks_since_ = 0;
  uint64_t written_ = 0;
  std::chrono::steady_clock::time_point last_write_ = std::chrono::steady_clock::now();
};

}  // namespace giftledger

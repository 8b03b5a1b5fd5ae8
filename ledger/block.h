// A block: the unit of group commit, hashing and signing (docs/log-format.md).
//
//   offset size field
//        0    4 magic "GLB1"
//        4    2 format_version (1)
//        6    2 header_bytes (128)
//        8    4 shard_id
//       12    4 event_count
//       16    8 first_seq
//       24    8 ledger_time_us
//       32    4 body_bytes
//       36    4 signer_epoch
//       40   32 prev_block_hash
//       72   32 merkle_root (RFC 9162 over the events' leaf hashes)
//      104    8 durable_seq (last seq the writer knew durable when sealing)
//      112    8 leader_epoch (lease epoch of the writing leader; 0 = no lease)
//      120    4 leader_node (its id in the manifest's nodes; 0 = no lease)
//      124    4 reserved, zero
//      128    … events: { u32 event_bytes, bytes } × event_count
//    128+B   32 block_hash = BLAKE2b-256(header bytes 0..127)
//    160+B   64 Ed25519 signature of block_hash
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/limits.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

inline constexpr uint8_t kBlockMagic[4] = {'G', 'L', 'B', '1'};

struct BlockHeader {
  ShardId shard;
  uint32_t event_count = 0;
  Seq first_seq;
  int64_t ledger_time_us = 0;
  uint32_t body_bytes = 0;
  uint32_t signer_epoch = 0;
  Hash32 prev_block_hash{};
  Hash32 merkle_root{};
  // Last seq already durable when this block was sealed. Recovery uses it to
  // tell a torn write group (later blocks sealed before the bad one was
  // durable) from corruption of a block that was durable.
  Seq durable_seq;
  // Which leader wrote the block and under which lease (docs/replication.md):
  // both zero for a shard that runs without replication, both set otherwise.
  uint64_t leader_epoch = 0;
  uint32_t leader_node = 0;

  Seq last_seq() const { return Seq{first_seq.value + event_count - 1}; }
  uint64_t block_bytes() const { return kBlockHeaderBytes + body_bytes + kBlockTrailerBytes; }
};

void EncodeBlockHeader(const BlockHeader& h, uint8_t* out);

// Events an appender hands to the writer as one atomic unit: they land in the
// same block, with consecutive seqs. Leaf hashes are computed by HashLeaves on
// the producer's thread (Writer::Append calls it), so that hashing spreads
// over cores, eight events at a time.
class EventBatch {
 public:
  // INVALID_ARGUMENT for an empty or oversize event, RESOURCE_EXHAUSTED when
  // the batch would no longer fit in one block.
  Status Add(std::string_view event);
  // Idempotent; leaf_hashes() calls it too (hashes are a lazy cache).
  void HashLeaves() const;
  uint32_t count() const { return uint32_t(offsets_.size()); }
  bool empty() const { return offsets_.empty(); }
  size_t body_bytes() const { return framed_.size(); }
  const std::string& framed() const { return framed_; }
  const std::vector<Hash32>& leaf_hashes() const {
    HashLeaves();
    return leaves_;
  }

 private:
  std::string framed_;
  std::vector<uint32_t> offsets_;  // of each event's bytes in framed_
  mutable std::vector<Hash32> leaves_;
};

// RFC 9162 leaf hashes of n events.
void LeafHashes(const std::string_view* events, size_t n, Hash32* out);

// Builds one block from one or more batches.
class BlockEncoder {
 public:
  // True when the batch fits next to what was already added.
  bool Fits(const EventBatch& batch) const;
  void Add(const EventBatch& batch);
  bool empty() const { return leaves_.empty(); }
  uint32_t event_count() const { return uint32_t(leaves_.size()); }
  size_t body_bytes() const { return body_.size(); }
  // Leaf hashes added so far (Finish consumes them).
  const std::vector<Hash32>& leaves() const { return leaves_; }
  // Seals: header fields other than count/body/root come from `h`.
  // Returns the encoded block and sets *hash to its block hash.
  std::string Finish(BlockHeader h, const SigningKey& key, Hash32* hash, BlockHeader* out_header);

 private:
  std::string body_;
  std::vector<Hash32> leaves_;
};

// A block parsed in place from mapped bytes; valid while the bytes are.
struct BlockView {
  BlockHeader header;
  const uint8_t* begin = nullptr;
  const uint8_t* body = nullptr;
  Hash32 stored_hash{};
  Signature64 signature{};
  uint64_t size_bytes() const { return header.block_bytes(); }
};

// Parses the header at p. OUT_OF_RANGE when fewer than the block's bytes are
// available (possibly torn), DATA_LOSS naming the field that is invalid.
Status ParseBlock(const uint8_t* p, uint64_t avail_bytes, BlockView* out);
// Stored block hash equals BLAKE2b-256 of the header.
Status CheckBlockHash(const BlockView& b);
Status CheckBlockSignature(const BlockView& b, const PublicKey& key);
// Event framing adds up to body_bytes and the Merkle root matches. When
// leaves_out is given it receives the events' leaf hashes (the shard tree of
// docs/proofs.md is built from them without hashing the events again).
Status CheckBlockBody(const BlockView& b, std::vector<Hash32>* leaves_out = nullptr);
// Every check of one block received whole from elsewhere (a replica): the
// bytes are exactly one block, and its hash, signature and body hold.
// Chain and seq continuity are the appender's to check.
Status CheckWholeBlock(std::string_view bytes, const PublicKey& key, BlockView* out,
                       std::vector<Hash32>* leaves_out);
// Calls fn(seq, event) for every event; assumes CheckBlockBody passed.
void ForEachEvent(const BlockView& b, const std::function<void(Seq, std::string_view)>& fn);

// True when all 128 bytes at p are zero: the clean end of a preallocated segment.
bool IsZeroHeader(const uint8_t* p, uint64_t avail_bytes);

}  // namespace giftledger

#include "ledger/block.h"

#include <cstring>

#include "ledger/blake2b_x8.h"
#include "ledger/coding.h"
#include "ledger/merkle.h"

namespace giftledger {

void EncodeBlockHeader(const BlockHeader& h, uint8_t* out) {
  std::memset(out, 0, kBlockHeaderBytes);
  std::memcpy(out, kBlockMagic, 4);
  PutU16(out + 4, uint16_t(kFormatVersion));
  PutU16(out + 6, uint16_t(kBlockHeaderBytes));
  PutU32(out + 8, h.shard.value);
  PutU32(out + 12, h.event_count);
  PutU64(out + 16, h.first_seq.value);
  PutU64(out + 24, uint64_t(h.ledger_time_us));
  PutU32(out + 32, h.body_bytes);
  PutU32(out + 36, h.signer_epoch);
  std::memcpy(out + 40, h.prev_block_hash.data(), kHashBytes);
  std::memcpy(out + 72, h.merkle_root.data(), kHashBytes);
  PutU64(out + 104, h.durable_seq.value);
  PutU64(out + 112, h.leader_epoch);
  PutU32(out + 120, h.leader_node);
}

Status EventBatch::Add(std::string_view event) {
  if (event.empty()) return InvalidArgument("empty event");
  if (event.size() > kEventBytesMax) {
    return InvalidArgument("event of " + std::to_string(event.size()) + " bytes exceeds " +
                           std::to_string(kEventBytesMax));
  }
  if (offsets_.size() + 1 > kBlockEventsMax ||
      framed_.size() + kEventFrameBytes + event.size() > kBlockBodyBytesMax) {
    return ResourceExhausted("batch would not fit in one block");
  }
  uint8_t len[4];
  PutU32(len, uint32_t(event.size()));
  framed_.append(reinterpret_cast<const char*>(len), 4);
  offsets_.push_back(uint32_t(framed_.size()));
  framed_.append(event.data(), event.size());
  return Status::Ok();
}

void EventBatch::HashLeaves() const {
  size_t from = leaves_.size(), n = offsets_.size() - from;
  if (n == 0) return;
  std::vector<PrefixedMessage> msgs(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t off = offsets_[from + i];
    const auto* p = reinterpret_cast<const uint8_t*>(framed_.data());
    msgs[i] = {0x00, p + off, GetU32(p + off - kEventFrameBytes)};
  }
  leaves_.resize(offsets_.size());
  Blake2b256Prefixed(msgs.data(), n, leaves_.data() + from);
}

void LeafHashes(const std::string_view* events, size_t n, Hash32* out) {
  std::vector<PrefixedMessage> msgs(n);
  for (size_t i = 0; i < n; ++i) {
    msgs[i] = {0x00, reinterpret_cast<const uint8_t*>(events[i].data()), events[i].size()};
  }
  Blake2b256Prefixed(msgs.data(), n, out);
}

bool BlockEncoder::Fits(const EventBatch& batch) const {
  return leaves_.size() + batch.count() <= kBlockEventsMax &&
         body_.size() + batch.body_bytes() <= kBlockBodyBytesMax;
}

void BlockEncoder::Add(const EventBatch& batch) {
  GL_ASSERT(Fits(batch));
  body_.append(batch.framed());
  leaves_.insert(leaves_.end(), batch.leaf_hashes().begin(), batch.leaf_hashes().end());
}

std::string BlockEncoder::Finish(BlockHeader h, const SigningKey& key, Hash32* hash,
                                 BlockHeader* out_header) {
  GL_ASSERT(!leaves_.empty());
  GL_ASSERT(h.first_seq.value >= 1);
  h.event_count = uint32_t(leaves_.size());
  h.body_bytes = uint32_t(body_.size());
  h.merkle_root = MerkleRootInPlace(&leaves_);
  std::string out;
  out.resize(h.block_bytes());
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  EncodeBlockHeader(h, p);
  std::memcpy(p + kBlockHeaderBytes, body_.data(), body_.size());
  *hash = Blake2b256(p, kBlockHeaderBytes);
  Signature64 sig = key.Sign(*hash);
  std::memcpy(p + kBlockHeaderBytes + body_.size(), hash->data(), kHashBytes);
  std::memcpy(p + kBlockHeaderBytes + body_.size() + kHashBytes, sig.data(), kSignatureBytes);
  *out_header = h;
  body_.clear();
  leaves_.clear();
  return out;
}

Status ParseBlock(const uint8_t* p, uint64_t avail_bytes, BlockView* out) {
  if (avail_bytes < kBlockHeaderBytes) return OutOfRange("header truncated");
  if (std::memcmp(p, kBlockMagic, 4) != 0) return DataLoss("bad magic");
  if (GetU16(p + 4) != kFormatVersion) return DataLoss("unknown format version");
  if (GetU16(p + 6) != kBlockHeaderBytes) return DataLoss("bad header size");
  for (size_t i = 124; i < kBlockHeaderBytes; ++i) {
    if (p[i] != 0) return DataLoss("reserved header bytes not zero");
  }
  BlockHeader h;
  h.shard = ShardId{GetU32(p + 8)};
  h.event_count = GetU32(p + 12);
  h.first_seq = Seq{GetU64(p + 16)};
  h.ledger_time_us = int64_t(GetU64(p + 24));
  h.body_bytes = GetU32(p + 32);
  h.signer_epoch = GetU32(p + 36);
  std::memcpy(h.prev_block_hash.data(), p + 40, kHashBytes);
  std::memcpy(h.merkle_root.data(), p + 72, kHashBytes);
  h.durable_seq = Seq{GetU64(p + 104)};
  h.leader_epoch = GetU64(p + 112);
  h.leader_node = GetU32(p + 120);
  if ((h.leader_epoch == 0) != (h.leader_node == 0)) {
    return DataLoss("leader epoch and leader node must be both zero or both set");
  }
  if (h.leader_node > kNodesMax) return DataLoss("leader node id out of range");
  if (h.event_count == 0 || h.event_count > kBlockEventsMax) return DataLoss("bad event count");
  if (h.first_seq.value == 0) return DataLoss("first seq is zero");
  if (h.durable_seq >= h.first_seq) return DataLoss("durable seq not before the block");
  if (h.body_bytes > kBlockBodyBytesMax ||
      h.body_bytes < uint64_t(h.event_count) * (kEventFrameBytes + 1)) {
    return DataLoss("bad body size");
  }
  if (avail_bytes < h.block_bytes()) return OutOfRange("block truncated");
  out->header = h;
  out->begin = p;
  out->body = p + kBlockHeaderBytes;
  const uint8_t* trailer = out->body + h.body_bytes;
  std::memcpy(out->stored_hash.data(), trailer, kHashBytes);
  std::memcpy(out->signature.data(), trailer + kHashBytes, kSignatureBytes);
  return Status::Ok();
}

Status CheckBlockHash(const BlockView& b) {
  if (Blake2b256(b.begin, kBlockHeaderBytes) != b.stored_hash) {
    return DataLoss("block hash mismatch");
  }
  return Status::Ok();
}

Status CheckBlockSignature(const BlockView& b, const PublicKey& key) {
  if (!VerifySignature(key, b.stored_hash, b.signature)) return DataLoss("bad signature");
  return Status::Ok();
}

Status CheckBlockBody(const BlockView& b, std::vector<Hash32>* leaves_out) {
  std::vector<std::string_view> events;
  events.reserve(b.header.event_count);
  uint64_t off = 0;
  for (uint32_t i = 0; i < b.header.event_count; ++i) {
    if (off + kEventFrameBytes > b.header.body_bytes)
      return DataLoss("event framing overruns body");
    uint32_t len = GetU32(b.body + off);
    off += kEventFrameBytes;
    if (len == 0 || len > kEventBytesMax || off + len > b.header.body_bytes) {
      return DataLoss("bad event length at event " + std::to_string(i));
    }
    events.emplace_back(reinterpret_cast<const char*>(b.body + off), len);
    off += len;
  }
  if (off != b.header.body_bytes) return DataLoss("event framing does not fill body");
  std::vector<Hash32> leaves(events.size());
  LeafHashes(events.data(), events.size(), leaves.data());
  if (leaves_out != nullptr) *leaves_out = leaves;
  if (MerkleRootInPlace(&leaves) != b.header.merkle_root) return DataLoss("merkle root mismatch");
  return Status::Ok();
}

Status CheckWholeBlock(std::string_view bytes, const PublicKey& key, BlockView* out,
                       std::vector<Hash32>* leaves_out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  Status st = ParseBlock(p, bytes.size(), out);
  if (st.code() == Code::kOutOfRange) return DataLoss("block truncated: " + st.message());
  GL_RETURN_IF_ERROR(st);
  if (out->size_bytes() != bytes.size()) return DataLoss("bytes after the block");
  GL_RETURN_IF_ERROR(CheckBlockHash(*out));
  GL_RETURN_IF_ERROR(CheckBlockSignature(*out, key));
  return CheckBlockBody(*out, leaves_out);
}

void ForEachEvent(const BlockView& b, const std::function<void(Seq, std::string_view)>& fn) {
  uint64_t off = 0;
  for (uint32_t i = 0; i < b.header.event_count; ++i) {
    uint32_t len = GetU32(b.body + off);
    off += kEventFrameBytes;
    fn(Seq{b.header.first_seq.value + i}, {reinterpret_cast<const char*>(b.body + off), len});
    off += len;
  }
}

bool IsZeroHeader(const uint8_t* p, uint64_t avail_bytes) {
  uint64_t n = avail_bytes < kBlockHeaderBytes ? avail_bytes : kBlockHeaderBytes;
  for (uint64_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace giftledger

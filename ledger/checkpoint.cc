#include "ledger/checkpoint.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "ledger/coding.h"
#include "ledger/file.h"
#include "ledger/reader.h"

namespace giftledger {
namespace {

constexpr uint8_t kMagic[4] = {'G', 'L', 'K', '1'};
constexpr uint16_t kVersion = 1;
// Domain separation: block signatures sign H(128 bytes starting "GLB1").
constexpr char kSignContext[] = "giftledger checkpoint v1";
constexpr size_t kSignContextBytes = sizeof(kSignContext) - 1;
static_assert(kSignContextBytes == 24);

void EncodeBody(const Checkpoint& c, uint8_t* p) {
  std::memset(p, 0, kCheckpointBodyBytes);
  std::memcpy(p, kMagic, 4);
  PutU16(p + 4, kVersion);
  PutU16(p + 6, uint16_t(kCheckpointBodyBytes));
  PutU32(p + 8, c.shard.value);
  PutU32(p + 12, c.signer_epoch);
  PutU64(p + 16, c.tree_size);
  PutU64(p + 24, uint64_t(c.ledger_time_us));
  PutU32(p + 32, c.flags);
  std::memcpy(p + 40, c.event_root.data(), kHashBytes);
  std::memcpy(p + 72, c.state_root.data(), kHashBytes);
  std::memcpy(p + 104, c.last_block_hash.data(), kHashBytes);
}

bool ParseFileName(const std::string& name, uint64_t* tree_size) {
  if (name.size() != 25 || name.compare(20, 5, ".ckpt") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + uint64_t(name[i] - '0');
  }
  *tree_size = v;
  return true;
}

void BlockLeaves(const BlockView& b, std::vector<Hash32>* out) {
  std::vector<std::string_view> events;
  events.reserve(b.header.event_count);
  ForEachEvent(b, [&](Seq, std::string_view e) { events.push_back(e); });
  out->resize(events.size());
  LeafHashes(events.data(), events.size(), out->data());
}

}  // namespace

std::string EncodeCheckpoint(const Checkpoint& c) {
  std::string out(kCheckpointBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  EncodeBody(c, p);
  std::memcpy(p + kCheckpointBodyBytes, c.signature.data(), kSignatureBytes);
  return out;
}

Result<Checkpoint> DecodeCheckpoint(std::string_view bytes) {
  if (bytes.size() != kCheckpointBytes) {
    return DataLoss("checkpoint is " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(kCheckpointBytes));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (std::memcmp(p, kMagic, 4) != 0) return DataLoss("checkpoint: bad magic");
  if (GetU16(p + 4) != kVersion) return DataLoss("checkpoint: unknown version");
  if (GetU16(p + 6) != kCheckpointBodyBytes) return DataLoss("checkpoint: bad body size");
  if (GetU32(p + 36) != 0) return DataLoss("checkpoint: reserved bytes not zero");
  Checkpoint c;
  c.shard = ShardId{GetU32(p + 8)};
  c.signer_epoch = GetU32(p + 12);
  c.tree_size = GetU64(p + 16);
  c.ledger_time_us = int64_t(GetU64(p + 24));
  c.flags = GetU32(p + 32);
  std::memcpy(c.event_root.data(), p + 40, kHashBytes);
  std::memcpy(c.state_root.data(), p + 72, kHashBytes);
  std::memcpy(c.last_block_hash.data(), p + 104, kHashBytes);
  std::memcpy(c.signature.data(), p + kCheckpointBodyBytes, kSignatureBytes);
  if (c.tree_size == 0) return DataLoss("checkpoint: tree size is zero");
  if ((c.flags & ~kCheckpointFlagStateRoot) != 0) return DataLoss("checkpoint: unknown flags");
  if ((c.flags & kCheckpointFlagStateRoot) == 0 && c.state_root != Hash32{}) {
    return DataLoss("checkpoint: state root without its flag");
  }
  return c;
}

Hash32 CheckpointMessage(const Checkpoint& c) {
  uint8_t msg[kSignContextBytes + kCheckpointBodyBytes];
  std::memcpy(msg, kSignContext, kSignContextBytes);
  EncodeBody(c, msg + kSignContextBytes);
  return Blake2b256(msg, sizeof(msg));
}

void SignCheckpoint(const SigningKey& key, Checkpoint* c) {
  c->signature = key.Sign(CheckpointMessage(*c));
}

Status CheckCheckpoint(const Checkpoint& c, ShardId shard, const PublicKey& key) {
  if (c.shard != shard) {
    return DataLoss("checkpoint of shard " + std::to_string(c.shard.value) + ", expected " +
                    std::to_string(shard.value));
  }
  if (c.signer_epoch != 0) return DataLoss("checkpoint: unknown signer epoch");
  if (!VerifySignature(key, CheckpointMessage(c), c.signature)) {
    return DataLoss("checkpoint: bad signature");
  }
  return Status::Ok();
}

std::string CheckpointDir(const std::string& shard_dir) {
  return JoinPath(shard_dir, "checkpoints");
}

std::string CheckpointFileName(uint64_t tree_size) {
  char name[40];
  std::snprintf(name, sizeof(name), "%020llu.ckpt", static_cast<unsigned long long>(tree_size));
  return name;
}

Status WriteCheckpointFile(const std::string& shard_dir, const Checkpoint& c,
                           const MerkleFrontier& frontier) {
  GL_ASSERT(frontier.size() == c.tree_size);
  GL_ASSERT(frontier.Root() == c.event_root);
  std::string dir = CheckpointDir(shard_dir);
  if (!PathExists(dir)) {
    GL_RETURN_IF_ERROR(MakeDir(dir, 0755));
    GL_RETURN_IF_ERROR(FileSystem::Default()->SyncDir(shard_dir));
  }
  std::string file = EncodeCheckpoint(c);
  file.push_back(char(frontier.nodes().size()));
  for (const Hash32& h : frontier.nodes()) file.append(reinterpret_cast<const char*>(h.data()), 32);
  return WriteFileAtomic(JoinPath(dir, CheckpointFileName(c.tree_size)), file, 0644);
}

Result<CheckpointFile> ReadCheckpointFile(const std::string& path) {
  auto text = ReadSmallFile(path, kCheckpointFileBytesMax);
  if (!text.ok()) return text.status();
  const std::string& f = text.value();
  if (f.size() < kCheckpointBytes + 1) return DataLoss(path + ": checkpoint truncated");
  auto c = DecodeCheckpoint(std::string_view(f).substr(0, kCheckpointBytes));
  if (!c.ok()) return DataLoss(path + ": " + c.status().message());
  size_t count = uint8_t(f[kCheckpointBytes]);
  if (f.size() != kCheckpointBytes + 1 + count * kHashBytes) {
    return DataLoss(path + ": frontier size does not match the file");
  }
  CheckpointFile out;
  out.checkpoint = c.value();
  out.path = path;
  out.frontier.resize(count);
  for (size_t i = 0; i < count; ++i) {
    std::memcpy(out.frontier[i].data(), f.data() + kCheckpointBytes + 1 + i * kHashBytes, 32);
  }
  return out;
}

Result<std::vector<CheckpointEntry>> ListCheckpoints(const std::string& shard_dir) {
  std::vector<CheckpointEntry> out;
  std::string dir = CheckpointDir(shard_dir);
  if (!PathExists(dir)) return out;
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  for (const auto& n : names.value()) {
    uint64_t size = 0;
    if (ParseFileName(n, &size)) out.push_back({size, JoinPath(dir, n)});
  }
  std::sort(out.begin(), out.end(), [](const CheckpointEntry& a, const CheckpointEntry& b) {
    return a.tree_size < b.tree_size;
  });
  return out;
}

Result<std::vector<std::string>> ListLostCheckpoints(const std::string& shard_dir) {
  std::vector<std::string> out;
  std::string dir = CheckpointDir(shard_dir);
  if (!PathExists(dir)) return out;
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  const std::string suffix = kLostCheckpointSuffix;
  for (const auto& n : names.value()) {
    if (n.size() > suffix.size() &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(JoinPath(dir, n));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::unique_ptr<Checkpointer>> Checkpointer::Open(const std::string& shard_dir,
                                                         ShardId shard, const SigningKey& key,
                                                         uint32_t signer_epoch,
                                                         const ShardScan& scan,
                                                         CheckpointOptions options) {
  std::unique_ptr<Checkpointer> c(
      new Checkpointer(shard_dir, shard, signer_epoch, std::move(options)));
  GL_RETURN_IF_ERROR(c->CatchUp(key.public_key(), scan));
  if (c->tree_size() > c->written_size_) GL_RETURN_IF_ERROR(c->Write(key));
  return c;
}

// Newest checkpoint that is valid, inside the log and linked to its chain;
// then the events after it.
Status Checkpointer::CatchUp(const PublicKey& key, const ShardScan& scan) {
  uint64_t log_size = scan.next_seq.value - 1;
  auto list = ListCheckpoints(shard_dir_);
  if (!list.ok()) return list.status();
  for (auto it = list->rbegin(); it != list->rend(); ++it) {
    if (it->tree_size > log_size) {
      // The shard signed events the log no longer has (a lost segment, or
      // durable blocks recovery had to cut). The file is kept, renamed, so
      // that new checkpoints never overwrite it and verify keeps failing.
      spdlog::error(
          "shard {}: checkpoint {} covers seq {} past the end of the log (seq {}): "
          "signed events are missing; set aside as {}{}",
          shard_.value, it->path, it->tree_size, log_size, it->path, kLostCheckpointSuffix);
      std::string lost = it->path + kLostCheckpointSuffix;
      if (::rename(it->path.c_str(), lost.c_str()) != 0)
        return ErrnoStatus("rename " + lost, errno);
      GL_RETURN_IF_ERROR(FileSystem::Default()->SyncDir(CheckpointDir(shard_dir_)));
      continue;
    }
    auto f = ReadCheckpointFile(it->path);
    Status st = f.ok() ? CheckCheckpoint(f->checkpoint, shard_, key) : f.status();
    if (st.ok()) {
      auto fr = MerkleFrontier::FromNodes(f->checkpoint.tree_size, f->frontier);
      if (fr.ok() && fr->Root() == f->checkpoint.event_root) {
        frontier_ = std::move(fr.value());
        last_block_hash_ = f->checkpoint.last_block_hash;
        last_time_us_ = f->checkpoint.ledger_time_us;
        written_size_ = f->checkpoint.tree_size;
        break;
      }
      st = DataLoss("frontier does not match the event root");
    }
    spdlog::warn("shard {}: checkpoint {} unusable ({}); trying an older one", shard_.value,
                 it->path, st.message());
  }
  if (frontier_.size() == log_size) {
    if (log_size > 0 && last_block_hash_ != scan.last_block_hash) {
      return DataLoss("shard " + std::to_string(shard_.value) +
                      ": the newest checkpoint does not match the log's last block");
    }
    return Status::Ok();
  }
  auto reader = LogReader::Open(shard_dir_, shard_, key);
  if (!reader.ok()) return reader.status();
  std::vector<Hash32> leaves;
  bool first = true;
  Status link;
  GL_RETURN_IF_ERROR(reader.value()->ReadFrom(Seq{frontier_.size() + 1}, [&](const BlockView& b) {
    if (b.header.first_seq.value != frontier_.size() + 1 ||
        (first && frontier_.size() > 0 && b.header.prev_block_hash != last_block_hash_)) {
      link = DataLoss("shard " + std::to_string(shard_.value) + ": checkpoint at seq " +
                      std::to_string(frontier_.size()) + " does not link to the log");
      return false;
    }
    first = false;
    BlockLeaves(b, &leaves);
    AddDurableBlock(b.header, b.stored_hash, leaves.data());
    return true;
  }));
  GL_RETURN_IF_ERROR(link);
  if (frontier_.size() != log_size) return Internal("checkpoint catch-up ended early");
  blocks_since_ = 0;
  return Status::Ok();
}

void Checkpointer::AddDurableBlock(const BlockHeader& h, const Hash32& block_hash,
                                   const Hash32* leaves) {
  GL_ASSERT(h.first_seq.value == frontier_.size() + 1);
  frontier_.AppendLeaves(leaves, h.event_count);
  last_block_hash_ = block_hash;
  last_time_us_ = h.ledger_time_us;
  blocks_since_++;
}

bool Checkpointer::Due(bool force) const {
  if (frontier_.size() == written_size_) return false;
  if (force || blocks_since_ >= options_.every_blocks) return true;
  return std::chrono::steady_clock::now() >= *NextDeadline();
}

std::optional<std::chrono::steady_clock::time_point> Checkpointer::NextDeadline() const {
  if (frontier_.size() == written_size_) return std::nullopt;
  return last_write_ + std::chrono::milliseconds(options_.every_ms);
}

Status Checkpointer::Write(const SigningKey& key) {
  GL_ASSERT(frontier_.size() > 0);
  Checkpoint c;
  c.shard = shard_;
  c.signer_epoch = signer_epoch_;
  c.tree_size = frontier_.size();
  c.ledger_time_us = last_time_us_;
  c.event_root = frontier_.Root();
  c.last_block_hash = last_block_hash_;
  if (options_.state_root) {
    if (auto root = options_.state_root(Seq{c.tree_size}); root.has_value()) {
      c.flags |= kCheckpointFlagStateRoot;
      c.state_root = *root;
    }
  }
  SignCheckpoint(key, &c);
  last_write_ = std::chrono::steady_clock::now();
  blocks_since_ = 0;
  GL_RETURN_IF_ERROR(WriteCheckpointFile(shard_dir_, c, frontier_));
  written_size_ = c.tree_size;
  written_++;
  if (options_.on_written) options_.on_written(c);
  return Status::Ok();
}

}  // namespace giftledger

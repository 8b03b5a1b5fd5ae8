#include "ledger/snapshot.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "ledger/coding.h"
#include "ledger/crypto.h"
#include "ledger/file.h"

namespace giftledger {
namespace {

// Header layout (64 bytes, little-endian), then the payload:
//   0  4 magic "GLS1"        4  2 version (1)       6  2 header bytes (64)
//   8  4 shard              12  4 reserved (0)     16  8 last_seq
//  24  8 payload_bytes      32 32 BLAKE2b-256 of header bytes 0..31 || payload
constexpr uint8_t kMagic[4] = {'G', 'L', 'S', '1'};

Hash32 Checksum(const uint8_t* header32, std::string_view payload) {
  std::string all(reinterpret_cast<const char*>(header32), 32);
  all.append(payload);
  return Blake2b256(reinterpret_cast<const uint8_t*>(all.data()), all.size());
}

bool ParseName(const std::string& name, Seq* seq) {
  if (name.size() != 25 || name.compare(20, 5, ".snap") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + uint64_t(name[i] - '0');
  }
  seq->value = v;
  return true;
}

std::vector<std::pair<Seq, std::string>> ListSnapshots(const std::string& dir) {
  std::vector<std::pair<Seq, std::string>> out;
  auto names = ListDir(dir);
  if (!names.ok()) return out;
  for (const auto& n : names.value()) {
    Seq s;
    if (ParseName(n, &s)) out.push_back({s, JoinPath(dir, n)});
  }
  return out;  // sorted by name = by seq
}

}  // namespace

std::string SnapshotDir(const std::string& shard_dir) { return JoinPath(shard_dir, "snapshots"); }

std::string SnapshotFileName(Seq last_seq) {
  char name[40];
  std::snprintf(name, sizeof(name), "%020llu.snap", static_cast<unsigned long long>(last_seq.value));
  return name;
}

Status WriteSnapshot(const std::string& shard_dir, ShardId shard, Seq last_seq,
                     std::string_view payload) {
  if (payload.size() > kSnapshotPayloadBytesMax) return ResourceExhausted("snapshot too large");
  std::string dir = SnapshotDir(shard_dir);
  if (!PathExists(dir)) {
    GL_RETURN_IF_ERROR(MakeDir(dir, 0700));
    GL_RETURN_IF_ERROR(FileSystem::Default()->SyncDir(shard_dir));
  }
  std::string file(kSnapshotHeaderBytes, '\0');
  auto* h = reinterpret_cast<uint8_t*>(file.data());
  std::memcpy(h, kMagic, 4);
  PutU16(h + 4, 1);
  PutU16(h + 6, uint16_t(kSnapshotHeaderBytes));
  PutU32(h + 8, shard.value);
  PutU64(h + 16, last_seq.value);
  PutU64(h + 24, payload.size());
  Hash32 sum = Checksum(h, payload);
  std::memcpy(h + 32, sum.data(), kHashBytes);
  file.append(payload);
  GL_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, SnapshotFileName(last_seq)), file, 0600));
  auto all = ListSnapshots(dir);
  for (size_t i = 0; i + kSnapshotsKept < all.size(); ++i) ::unlink(all[i].second.c_str());
  return Status::Ok();
}

Result<Snapshot> ReadSnapshot(const std::string& path, ShardId shard) {
  auto text = ReadSmallFile(path, kSnapshotHeaderBytes + kSnapshotPayloadBytesMax);
  if (!text.ok()) return text.status();
  const std::string& f = text.value();
  if (f.size() < kSnapshotHeaderBytes) return DataLoss(path + ": snapshot header truncated");
  const auto* h = reinterpret_cast<const uint8_t*>(f.data());
  if (std::memcmp(h, kMagic, 4) != 0 || GetU16(h + 4) != 1 ||
      GetU16(h + 6) != kSnapshotHeaderBytes) {
    return DataLoss(path + ": not a version 1 snapshot");
  }
  if (GetU32(h + 8) != shard.value) return DataLoss(path + ": snapshot of another shard");
  uint64_t payload_bytes = GetU64(h + 24);
  if (payload_bytes != f.size() - kSnapshotHeaderBytes) {
    return DataLoss(path + ": snapshot payload size mismatch (truncated?)");
  }
  std::string_view payload(f.data() + kSnapshotHeaderBytes, payload_bytes);
  Hash32 sum = Checksum(h, payload);
  if (std::memcmp(sum.data(), h + 32, kHashBytes) != 0) {
    return DataLoss(path + ": snapshot checksum mismatch");
  }
  Snapshot s;
  s.shard = shard;
  s.last_seq = Seq{GetU64(h + 16)};
  s.payload.assign(payload);
  s.path = path;
  return s;
}

Result<std::optional<Snapshot>> LoadNewestSnapshot(const std::string& shard_dir, ShardId shard,
                                                   Seq seq_max) {
  auto all = ListSnapshots(SnapshotDir(shard_dir));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->first > seq_max) {
      spdlog::warn("shard {}: snapshot {} is past the end of the log (seq {}); skipped",
                   shard.value, it->second, seq_max.value);
      continue;
    }
    auto s = ReadSnapshot(it->second, shard);
    if (!s.ok()) {
      spdlog::warn("shard {}: skipping snapshot: {}", shard.value, s.status().message());
      continue;
    }
    if (s->last_seq != it->first) {
      spdlog::warn("shard {}: snapshot {} names seq {}; skipped", shard.value, it->second,
                   s->last_seq.value);
      continue;
    }
    return std::optional<Snapshot>(std::move(s.value()));
  }
  return std::optional<Snapshot>();
}

}  // namespace giftledger

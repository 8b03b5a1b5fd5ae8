#include "commands/snapshot.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ledger/coding.h"
#include "ledger/crypto.h"
#include "ledger/file.h"

namespace giftledger::commands {
namespace {

constexpr char kMagic[4] = {'G', 'L', 'S', '1'};
constexpr std::string_view kPrefix = "snapshot-";
constexpr std::string_view kSuffix = ".snap";

Hash32 Checksum(std::string_view b) {
  return Blake2b256(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

// Snapshot files of dir, newest first.
std::vector<std::string> ListSnapshots(const std::string& dir) {
  std::vector<std::string> out;
  auto names = ListDir(dir);
  if (!names.ok()) return out;
  for (const std::string& n : names.value()) {
    if (n.size() == kPrefix.size() + 20 + kSuffix.size() && n.rfind(kPrefix, 0) == 0 &&
        n.compare(n.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
      out.push_back(n);
    }
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

}  // namespace

std::string SnapshotFileName(uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "snapshot-%020llu.snap", static_cast<unsigned long long>(seq));
  return buf;
}

std::string EncodeSnapshot(const ShardState& state) {
  const std::string body = SerializeState(state);
  std::string out(kSnapshotHeaderBytes, '\0');
  uint8_t* h = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(h, kMagic, 4);
  PutU32(h + 4, kSnapshotFormatVersion);
  PutU32(h + 8, state.config.shard.value);
  PutU64(h + 16, state.last_seq);
  PutU64(h + 24, body.size());
  out += body;
  const Hash32 sum = Checksum(out);
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

Result<ShardState> DecodeSnapshot(std::string_view b) {
  if (b.size() < kSnapshotHeaderBytes + kHashBytes) return DataLoss("snapshot: truncated header");
  const uint8_t* h = reinterpret_cast<const uint8_t*>(b.data());
  if (std::memcmp(h, kMagic, 4) != 0) return DataLoss("snapshot: bad magic");
  if (GetU32(h + 4) != kSnapshotFormatVersion) return DataLoss("snapshot: unknown version");
  const uint64_t body_bytes = GetU64(h + 24);
  if (body_bytes != b.size() - kSnapshotHeaderBytes - kHashBytes) {
    return DataLoss("snapshot: size mismatch");
  }
  const std::string_view covered = b.substr(0, b.size() - kHashBytes);
  const Hash32 sum = Checksum(covered);
  if (std::memcmp(sum.data(), b.data() + covered.size(), kHashBytes) != 0) {
    return DataLoss("snapshot: checksum mismatch");
  }
  const std::string_view body = covered.substr(kSnapshotHeaderBytes);
  auto state = ParseState(body);
  if (!state.ok()) return state.status();
  if (state->config.shard.value != GetU32(h + 8) || state->last_seq != GetU64(h + 16)) {
    return DataLoss("snapshot: header does not match state");
  }
  // Canonical form: re-encoding must give the same bytes (no duplicate keys,
  // no unsorted maps the parser silently merged).
  if (SerializeState(*state) != body) return DataLoss("snapshot: state not canonical");
  GL_RETURN_IF_ERROR(CheckInvariants(*state));
  return state;
}

Status WriteSnapshot(const std::string& dir, const ShardState& state) {
  if (!PathExists(dir)) GL_RETURN_IF_ERROR(MakeDir(dir, 0755));
  const std::string path = JoinPath(dir, SnapshotFileName(state.last_seq));
  GL_RETURN_IF_ERROR(WriteFileAtomic(path, EncodeSnapshot(state), 0644));
  std::vector<std::string> all = ListSnapshots(dir);
  for (size_t i = kSnapshotsKept; i < all.size(); ++i) {
    const std::string old = JoinPath(dir, all[i]);
    if (::unlink(old.c_str()) != 0) spdlog::warn("snapshot: cannot remove {}", old);
  }
  return Status::Ok();
}

std::optional<ShardState> LoadNewestSnapshot(const std::string& dir, const ShardConfig& config,
                                             uint64_t max_seq) {
  for (const std::string& name : ListSnapshots(dir)) {
    const std::string path = JoinPath(dir, name);
    auto file = MappedFile::Open(path);
    if (!file.ok()) {
      spdlog::warn("snapshot {} skipped: {}", path, file.status().ToString());
      continue;
    }
    std::string_view bytes(reinterpret_cast<const char*>(file.value()->data()),
                           file.value()->size());
    auto state = DecodeSnapshot(bytes);
    if (!state.ok()) {
      spdlog::warn("snapshot {} skipped: {}", path, state.status().ToString());
      continue;
    }
    const ShardConfig& c = state->config;
    if (c.shard != config.shard || c.shard_count != config.shard_count ||
        c.utc_offset_minutes != config.utc_offset_minutes) {
      spdlog::warn("snapshot {} skipped: shard configuration differs", path);
      continue;
    }
    if (state->last_seq > max_seq) {
      spdlog::warn("snapshot {} skipped: seq {} is past the log's end {}", path, state->last_seq,
                   max_seq);
      continue;
    }
    spdlog::info("shard {}: loaded snapshot {} at seq {}", config.shard.value, path,
                 state->last_seq);
    return std::move(state.value());
  }
  return std::nullopt;
}

}  // namespace giftledger::commands

#include "ledger/manifest.h"

#include <google/protobuf/util/json_util.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/limits.h"
#include "schemas/manifest.pb.h"

namespace giftledger {
namespace {

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status CheckFormatArgs(uint32_t shard_count, uint64_t segment_bytes, int32_t utc_offset_minutes) {
  if (utc_offset_minutes < -kUtcOffsetMinutesMax || utc_offset_minutes > kUtcOffsetMinutesMax) {
    return InvalidArgument("UTC offset must be within ±14 hours (±840 minutes)");
  }
  if (shard_count == 0 || shard_count > kShardsMax) {
    return InvalidArgument("shard count must be 1.." + std::to_string(kShardsMax));
  }
  if (segment_bytes < kSegmentBytesMin || segment_bytes > kSegmentBytesMax) {
    return InvalidArgument("segment bytes must be " + std::to_string(kSegmentBytesMin) + ".." +
                           std::to_string(kSegmentBytesMax));
  }
  return Status::Ok();
}

// The directory must be absent or empty: never mix a new ledger into files.
Status PrepareDataDir(const std::string& dir) {
  if (!PathExists(dir)) return MakeDir(dir, 0755);
  if (PathExists(ManifestPath(dir))) return AlreadyExists(dir + " already holds a ledger");
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  if (!names->empty()) return AlreadyExists(dir + " is not empty; refusing to format");
  return Status::Ok();
}

}  // namespace

std::string ManifestPath(const std::string& data_dir) {
  return JoinPath(data_dir, "manifest.json");
}

std::string ShardDir(const std::string& data_dir, ShardId shard) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard-%04u", shard.value);
  return JoinPath(data_dir, name);
}

std::string SigningKeyPath(const std::string& data_dir, ShardId shard) {
  return JoinPath(ShardDir(data_dir, shard), "signing.key");
}

std::string ManifestToJson(const Manifest& m) {
  schemas::Manifest pb;
  pb.set_format_version(m.format_version);
  pb.set_ledger_id(m.ledger_id);
  pb.set_shard_count(m.shard_count);
  pb.set_segment_bytes(m.segment_bytes);
  pb.set_created_utc(m.created_utc);
  pb.set_utc_offset_minutes(m.utc_offset_minutes);
  for (uint32_t s = 0; s < m.public_keys.size(); ++s) {
    auto* k = pb.add_shards();
    k->set_shard(s);
    k->set_public_key_hex(ToHex(m.public_keys[s]));
    k->set_signer_epoch(0);
  }
  for (const ManifestNode& n : m.nodes) {
    auto* pn = pb.add_nodes();
    pn->set_id(n.id);
    pn->set_name(n.name);
  }
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string json;
  GL_ASSERT(google::protobuf::util::MessageToJsonString(pb, &json, opts).ok());
  return json;
}

Result<Manifest> FormatLedger(const std::string& data_dir, uint32_t shard_count,
                              uint64_t segment_bytes, int32_t utc_offset_minutes) {
  CryptoInit();
  GL_RETURN_IF_ERROR(CheckFormatArgs(shard_count, segment_bytes, utc_offset_minutes));
  GL_RETURN_IF_ERROR(PrepareDataDir(data_dir));
  Manifest m;
  m.format_version = kFormatVersion;
  uint8_t id[16];
  randombytes_buf(id, sizeof(id));
  m.ledger_id = ToHex(id, sizeof(id));
  m.shard_count = shard_count;
  m.segment_bytes = segment_bytes;
  m.created_utc = NowUtc();
  m.utc_offset_minutes = utc_offset_minutes;
  for (uint32_t s = 0; s < shard_count; ++s) {
    GL_RETURN_IF_ERROR(MakeDir(ShardDir(data_dir, ShardId{s}), 0700));
    SigningKey key = SigningKey::Generate();
    GL_RETURN_IF_ERROR(key.Save(SigningKeyPath(data_dir, ShardId{s})));
    m.public_keys.push_back(key.public_key());
  }
  // The manifest goes last: a crash mid-format leaves no manifest, so the
  // directory is recognisably unfinished rather than a broken ledger.
  GL_RETURN_IF_ERROR(WriteFileAtomic(ManifestPath(data_dir), ManifestToJson(m), 0644));
  return m;
}

Result<Manifest> LoadManifest(const std::string& data_dir_or_file) {
  struct stat st;
  std::string path = data_dir_or_file;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path = ManifestPath(path);
  auto text = ReadSmallFile(path, 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) {
      return FailedPrecondition(path +
                                " not found: not a giftledger data directory "
                                "(run `giftledger format` first)");
    }
    return text.status();
  }
  schemas::Manifest pb;
  auto st2 = google::protobuf::util::JsonStringToMessage(text.value(), &pb);
  if (!st2.ok()) return DataLoss(path + ": not a valid manifest: " + st2.ToString());
  if (pb.format_version() != kFormatVersion) {
    return FailedPrecondition(path + ": unsupported format version " +
                              std::to_string(pb.format_version()));
  }
  Status args = CheckFormatArgs(pb.shard_count(), pb.segment_bytes(), pb.utc_offset_minutes());
  if (!args.ok()) return DataLoss(path + ": " + args.message());
  if (uint32_t(pb.shards_size()) != pb.shard_count()) {
    return DataLoss(path + ": shard key list does not match shard count");
  }
  Manifest m;
  m.format_version = pb.format_version();
  m.ledger_id = pb.ledger_id();
  m.shard_count = pb.shard_count();
  m.segment_bytes = pb.segment_bytes();
  m.created_utc = pb.created_utc();
  m.utc_offset_minutes = pb.utc_offset_minutes();
  m.public_keys.resize(m.shard_count);
  for (const auto& k : pb.shards()) {
    if (k.shard() >= m.shard_count ||
        !FromHex(k.public_key_hex(), m.public_keys[k.shard()].data(), 32)) {
      return DataLoss(path + ": bad public key entry for shard " + std::to_string(k.shard()));
    }
  }
  if (uint32_t(pb.nodes_size()) > kNodesMax) return DataLoss(path + ": too many nodes");
  for (const auto& n : pb.nodes()) {
    if (n.id() == 0 || n.id() > kNodesMax || !CheckNodeName(n.name()).ok() ||
        m.FindNode(n.id()) != nullptr || m.FindNode(n.name()) != nullptr) {
      return DataLoss(path + ": bad node entry " + std::to_string(n.id()));
    }
    m.nodes.push_back(ManifestNode{n.id(), n.name()});
  }
  return m;
}

const ManifestNode* Manifest::FindNode(std::string_view name) const {
  for (const ManifestNode& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

const ManifestNode* Manifest::FindNode(uint32_t id) const {
  for (const ManifestNode& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

Status CheckNodeName(std::string_view name) {
  if (name.empty() || name.size() > kNodeNameBytesMax) {
    return InvalidArgument("a node name has 1 to " + std::to_string(kNodeNameBytesMax) +
                           " characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return InvalidArgument("node name \"" + std::string(name) + "\": use A-Z a-z 0-9 . _ -");
  }
  return Status::Ok();
}

Result<uint32_t> RegisterNode(const std::string& data_dir, const std::string& name) {
  GL_RETURN_IF_ERROR(CheckNodeName(name));
  auto m = LoadManifest(data_dir);
  if (!m.ok()) return m.status();
  if (const ManifestNode* n = m->FindNode(name)) {
    return AlreadyExists("node " + name + " is already listed, id " + std::to_string(n->id));
  }
  if (m->nodes.size() >= kNodesMax) {
    return ResourceExhausted("the manifest lists " + std::to_string(kNodesMax) + " nodes already");
  }
  uint32_t id = 1;
  for (const ManifestNode& n : m->nodes) id = std::max(id, n.id + 1);
  m->nodes.push_back(ManifestNode{id, name});
  GL_RETURN_IF_ERROR(WriteFileAtomic(ManifestPath(data_dir), ManifestToJson(m.value()), 0644));
  return id;
}

Result<SigningKey> LoadShardSigningKey(const std::string& data_dir, const Manifest& m,
                                       ShardId shard) {
  if (shard.value >= m.shard_count) {
    return InvalidArgument("shard " + std::to_string(shard.value) + " out of range");
  }
  auto key = SigningKey::Load(SigningKeyPath(data_dir, shard));
  if (!key.ok()) return key.status();
  if (key->public_key() != m.public_keys[shard.value]) {
    return FailedPrecondition(SigningKeyPath(data_dir, shard) +
                              " does not match the manifest's public key for shard " +
                              std::to_string(shard.value));
  }
  return key;
}

}  // namespace giftledger

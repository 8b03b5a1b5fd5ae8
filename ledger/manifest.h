// The ledger's directory layout and manifest: how many shards, how big a
// segment is, and each shard's public key. `Format` creates a new ledger.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ledger/crypto.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

// A node that may lead replicated shards; blocks name it by id.
struct ManifestNode {
  uint32_t id = 0;  // 1 .. kNodesMax
  std::string name;
};

struct Manifest {
  uint32_t format_version = 0;
  std::string ledger_id;
  uint32_t shard_count = 0;
  uint64_t segment_bytes = 0;
  std::string created_utc;
  std::vector<PublicKey> public_keys;  // indexed by shard
  int32_t utc_offset_minutes = 0;       // -14 h .. +14 h
  std::vector<ManifestNode> nodes;      // by registration order

  // nullptr when not listed.
  const ManifestNode* FindNode(std::string_view name) const;
  const ManifestNode* FindNode(uint32_t id) const;
};

inline constexpr int32_t kUtcOffsetMinutesMax = 14 * 60;

std::string ManifestPath(const std::string& data_dir);
std::string ShardDir(const std::string& data_dir, ShardId shard);
std::string SigningKeyPath(const std::string& data_dir, ShardId shard);

// Creates data_dir (or uses it when empty), one directory and one signing key
// per shard, and the manifest. ALREADY_EXISTS when a ledger or any other
// file is already there: format never overwrites.
Result<Manifest> FormatLedger(const std::string& data_dir, uint32_t shard_count,
                              uint64_t segment_bytes, int32_t utc_offset_minutes = 0);
// Reads and validates DIR/manifest.json (also accepts the manifest file path).
Result<Manifest> LoadManifest(const std::string& data_dir_or_file);
std::string ManifestToJson(const Manifest& m);

// Lists `name` as a node that may lead shards (1..kNodeNameBytesMax of
// [A-Za-z0-9._-]) and rewrites the manifest atomically; its id. A name
// already listed keeps its id (ALREADY_EXISTS carries nothing else).
// Register every node before the data directory is copied to them: the
// copies must carry the same manifest.
Result<uint32_t> RegisterNode(const std::string& data_dir, const std::string& name);
Status CheckNodeName(std::string_view name);

// Loads a shard's signing key and checks it against the manifest's public
// key: a key that does not match would make every block look forged, and
// recovery must never run with it (FAILED_PRECONDITION).
Result<SigningKey> LoadShardSigningKey(const std::string& data_dir, const Manifest& m,
                                       ShardId shard);

}  // namespace giftledger

#include "replay/account_proof.h"

#include <algorithm>

#include "commands/apply.h"
#include "commands/routing.h"
#include "commands/snapshot.h"
#include "commands/state_tree.h"
#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/merkle.h"
#include "ledger/merkle_proof.h"
#include "ledger/reader.h"
#include "replay/proof_json.h"
#include "schemas/giftledger.pb.h"

namespace giftledger {
namespace {

using commands::AccountKey;
using commands::StateKey;
using nlohmann::json;

std::string LeafHex(const commands::StateLeafBytes& leaf) {
  return ToHex(leaf.bytes.data(), leaf.size);
}

json LeafEntry(const commands::StateLeaves& leaves, const std::vector<Hash32>& hashes,
               uint64_t index) {
  return {{"leaf_index", index},
          {"leaf", LeafHex(leaves.leaves[index])},
          {"audit_path", HashesJson(InclusionProof(hashes, index, hashes.size()))}};
}

json AccountInfo(const commands::AccountLeaf& a) {
  return {{"available", a.available},
          {"held", a.held},
          {"pending_orders", a.pending_orders},
          {"earned", a.earned},
          {"paid_out", a.paid_out},
          {"wallet", (a.flags & commands::kAccountFlagWallet) != 0},
          {"host", (a.flags & commands::kAccountFlagHost) != 0}};
}

// The newest checkpoint with a state root, or the one asked for.
Result<CheckpointFile> PickCheckpoint(const std::string& shard_dir, ShardId shard,
                                      const PublicKey& key, std::optional<uint64_t> asked) {
  if (asked) {
    auto f = LoadCheckedCheckpoint(shard_dir, shard, key, *asked);
    if (!f.ok()) return f.status();
    if ((f->checkpoint.flags & kCheckpointFlagStateRoot) == 0) {
      return FailedPrecondition("checkpoint " + std::to_string(*asked) + " has no state root");
    }
    return f;
  }
  auto list = ListCheckpoints(shard_dir);
  if (!list.ok()) return list.status();
  for (auto it = list->rbegin(); it != list->rend(); ++it) {
    auto f = LoadCheckedCheckpoint(shard_dir, shard, key, it->tree_size);
    if (!f.ok()) return f.status();
    if (f->checkpoint.flags & kCheckpointFlagStateRoot) return f;
  }
  return FailedPrecondition("shard " + std::to_string(shard.value) +
                            " has no checkpoint with a state root");
}

}  // namespace

Result<commands::ShardState> ReplayShardTo(const std::string& data_dir, const Manifest& manifest,
                                           ShardId shard, uint64_t seq) {
  const std::string shard_dir = ShardDir(data_dir, shard);
  const commands::ShardConfig config{shard, manifest.shard_count, manifest.utc_offset_minutes};
  // Only a snapshot that keeps every order and idempotency entry in itself:
  // the run files may hold records past `seq`.
  commands::ShardState state(config);
  if (auto snap = commands::LoadNewestStateSnapshot(shard_dir, config, seq, 0, 0)) {
    state = std::move(*snap);
  }
  if (state.last_seq == seq) return state;
  auto reader = LogReader::Open(shard_dir, shard, manifest.public_keys.at(shard.value));
  if (!reader.ok()) return reader.status();
  Status bad;
  GL_RETURN_IF_ERROR(reader.value()->ReadEvents(Seq{state.last_seq + 1}, [&](Seq s,
                                                                            std::string_view b) {
    if (s.value > seq) return false;
    schemas::Event e;
    if (!e.ParseFromArray(b.data(), int(b.size()))) {
      bad = DataLoss("event at seq " + std::to_string(s.value) + " does not parse");
      return false;
    }
    commands::Apply(state, e, s.value);
    return true;
  }));
  GL_RETURN_IF_ERROR(bad);
  if (state.last_seq != seq) {
    return DataLoss("shard " + std::to_string(shard.value) + ": the log ends at seq " +
                    std::to_string(state.last_seq) + ", before the checkpoint's " +
                    std::to_string(seq));
  }
  return state;
}

Result<nlohmann::json> ProveAccount(const ProveAccountOptions& o) {
  CryptoInit();
  auto manifest = LoadManifest(o.data_dir);
  if (!manifest.ok()) return manifest.status();
  const ShardId shard =
      o.shard ? ShardId{*o.shard}
              : commands::ShardOf(commands::UserId{o.account}, manifest->shard_count);
  if (shard.value >= manifest->shard_count) {
    return InvalidArgument("shard " + std::to_string(shard.value) + " does not exist");
  }
  const std::string shard_dir = ShardDir(o.data_dir, shard);
  auto cp = PickCheckpoint(shard_dir, shard, manifest->public_keys.at(shard.value), o.checkpoint);
  if (!cp.ok()) return cp.status();
  const Checkpoint& c = cp->checkpoint;
  auto state = ReplayShardTo(o.data_dir, manifest.value(), shard, c.tree_size);
  if (!state.ok()) return state.status();
  const commands::StateLeaves leaves = commands::CollectStateLeaves(state.value());
  const std::vector<Hash32> hashes = commands::StateLeafHashes(leaves.leaves);
  const Hash32 tree_root = MerkleRoot(hashes);
  if (commands::StateRootOf(hashes.size(), tree_root) != c.state_root) {
    return DataLoss("shard " + std::to_string(shard.value) + ": the state replayed to seq " +
                    std::to_string(c.tree_size) +
                    " does not have the checkpoint's signed state root");
  }
  json j{{"type", kAccountProofType},
         {"ledger_id", manifest->ledger_id},
         {"shard", shard.value},
         {"account", o.account},
         {"checkpoint", ToHex(reinterpret_cast<const uint8_t*>(EncodeCheckpoint(c).data()),
                              kCheckpointBytes)},
         {"checkpoint_info", CheckpointInfo(c)},
         {"state_leaves", hashes.size()},
         {"state_tree_root", ToHex(tree_root)}};
  const StateKey key = AccountKey(commands::UserId{o.account});
  const auto it = std::lower_bound(leaves.keys.begin(), leaves.keys.end(), key);
  const uint64_t at = uint64_t(it - leaves.keys.begin());
  if (it != leaves.keys.end() && *it == key) {
    j["found"] = true;
    json e = LeafEntry(leaves, hashes, at);
    j["leaf_index"] = e["leaf_index"];
    j["leaf"] = e["leaf"];
    j["audit_path"] = e["audit_path"];
    j["account_info"] = AccountInfo(*commands::DecodeAccountLeaf(leaves.leaves[at].view()));
    return j;
  }
  j["found"] = false;
  json neighbours = json::array();
  if (at > 0) neighbours.push_back(LeafEntry(leaves, hashes, at - 1));
  if (at < hashes.size()) neighbours.push_back(LeafEntry(leaves, hashes, at));
  j["neighbours"] = neighbours;
  return j;
}

namespace {

struct ProvenLeaf {
  uint64_t index = 0;
  std::string leaf;
};

bool GetProvenLeaf(const json& e, uint64_t n, const Hash32& tree_root, ProvenLeaf* out,
                   std::string* why) {
  std::vector<Hash32> path;
  if (!e.is_object() || !GetU64(e, "leaf_index", &out->index, why) ||
      !GetHexBytes(e, "leaf", &out->leaf, why) || !GetHashes(e, "audit_path", &path, why)) {
    return false;
  }
  if (out->leaf.size() > commands::kStateLeafBytesMax) {
    *why = "leaf too long";
    return false;
  }
  if (!VerifyInclusion(LeafHash(out->leaf), out->index, n, path, tree_root)) {
    *why = "leaf " + std::to_string(out->index) + " is not in the state tree";
    return false;
  }
  return true;
}

}  // namespace

ProofVerdict VerifyAccountProof(const Manifest& m, const nlohmann::json& p, uint64_t shard) {
  ProofVerdict v;
  Checkpoint c;
  uint64_t account = 0, n = 0;
  std::string tree_root_bytes;
  if (!GetCheckpoint(m, p, "checkpoint", shard, &c, &v.reason)) return v;
  if ((c.flags & kCheckpointFlagStateRoot) == 0) return {false, "checkpoint has no state root", ""};
  if (!GetU64(p, "account", &account, &v.reason) || !GetU64(p, "state_leaves", &n, &v.reason) ||
      !GetHexBytes(p, "state_tree_root", &tree_root_bytes, &v.reason)) {
    return v;
  }
  if (tree_root_bytes.size() != kHashBytes) return {false, "state_tree_root is not 32 bytes", ""};
  Hash32 tree_root;
  std::copy(tree_root_bytes.begin(), tree_root_bytes.end(), tree_root.begin());
  if (commands::StateRootOf(n, tree_root) != c.state_root) {
    return {false, "state_leaves and state_tree_root do not give the signed state root", ""};
  }
  if (!p.contains("found") || !p["found"].is_boolean()) return {false, "field found missing", ""};
  const std::string at = "shard " + std::to_string(shard) + " at seq " +
                         std::to_string(c.tree_size);
  if (p["found"].get<bool>()) {
    ProvenLeaf l;
    if (!GetProvenLeaf(p, n, tree_root, &l, &v.reason)) return v;
    auto a = commands::DecodeAccountLeaf(l.leaf);
    if (!a) return {false, "leaf is not an account leaf", ""};
    if (a->user.value != account) return {false, "leaf is another account's", ""};
    return {true, "",
            "account " + std::to_string(account) + " in " + at + ": available " +
                std::to_string(a->available) + ", held " + std::to_string(a->held) + ", earned " +
                std::to_string(a->earned) + ", paid out " + std::to_string(a->paid_out)};
  }
  if (!p.contains("neighbours") || !p["neighbours"].is_array() || p["neighbours"].size() > 2) {
    return {false, "field neighbours missing or more than two", ""};
  }
  std::vector<ProvenLeaf> nb;
  std::vector<StateKey> keys;
  for (const auto& e : p["neighbours"]) {
    ProvenLeaf l;
    if (!GetProvenLeaf(e, n, tree_root, &l, &v.reason)) return v;
    auto k = commands::StateLeafKey(l.leaf);
    if (!k) return {false, "neighbour is not a state leaf", ""};
    nb.push_back(l);
    keys.push_back(*k);
  }
  const StateKey key = AccountKey(commands::UserId{account});
  bool absent = false;
  if (nb.empty()) {
    absent = n == 0;
  } else if (nb.size() == 1) {
    absent = (nb[0].index == 0 && key < keys[0]) || (nb[0].index + 1 == n && keys[0] < key);
  } else {
    absent = nb[1].index == nb[0].index + 1 && keys[0] < key && key < keys[1];
  }
  if (!absent) return {false, "the neighbours do not show the account absent", ""};
  return {true, "", "account " + std::to_string(account) + " does not exist in " + at};
}

}  // namespace giftledger

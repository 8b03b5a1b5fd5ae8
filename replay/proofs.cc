#include "replay/proofs.h"

#include "replay/account_proof.h"
#include "replay/proof_json.h"

#include <cstring>
#include <functional>

#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/merkle_proof.h"
#include "ledger/reader.h"
#include "ledger/recovery.h"
#include "schemas/giftledger.pb.h"

namespace giftledger {
namespace {

using nlohmann::json;

struct Found {
  uint32_t shard = 0;
  std::vector<std::pair<uint64_t, std::string>> events;  // seq, bytes
};

bool EventHasTx(std::string_view event, const std::string& tx_id) {
  // Cheap filter first: the 16 id bytes must occur in the event at all.
  if (memmem(event.data(), event.size(), tx_id.data(), tx_id.size()) == nullptr) return false;
  schemas::Event e;
  return e.ParseFromArray(event.data(), int(event.size())) && e.tx_id() == tx_id;
}

Status FindTxInShard(const std::string& shard_dir, ShardId shard, const PublicKey& key,
                     const std::string& tx_id, Found* out) {
  auto reader = LogReader::Open(shard_dir, shard, key);
  if (!reader.ok()) return reader.status();
  Status limit;
  GL_RETURN_IF_ERROR(reader.value()->ReadEvents(Seq{1}, [&](Seq seq, std::string_view ev) {
    if (!EventHasTx(ev, tx_id)) return true;
    if (out->events.size() == kProofEntriesMax) {
      limit = ResourceExhausted("tx has more than " + std::to_string(kProofEntriesMax) +
                                " events in shard " + std::to_string(shard.value));
      return false;
    }
    out->events.push_back({seq.value, std::string(ev)});
    return true;
  }));
  return limit;
}

// Streams the leaf hashes of the shard's events from seq 1 (every block
// checked in full, as by verify) into `feed` until it returns false.
Status StreamLeaves(const std::string& shard_dir, ShardId shard, const PublicKey& key,
                    const std::function<bool(const Hash32*, size_t)>& feed) {
  ScanOptions opt;
  opt.check_all_bodies = true;
  bool go = true;
  opt.on_block = [&](const BlockView&, const std::vector<Hash32>& leaves) {
    if (go) go = feed(leaves.data(), leaves.size());
  };
  auto scan = ScanShard(shard_dir, shard, key, opt);
  return scan.status();
}

}  // namespace

Result<CheckpointFile> LoadCheckedCheckpoint(const std::string& shard_dir, ShardId shard,
                                             const PublicKey& key, uint64_t tree_size) {
  std::string path = JoinPath(CheckpointDir(shard_dir), CheckpointFileName(tree_size));
  if (!PathExists(path)) {
    return NotFound("no checkpoint of " + std::to_string(tree_size) + " events in shard " +
                    std::to_string(shard.value));
  }
  auto f = ReadCheckpointFile(path);
  if (!f.ok()) return f.status();
  Status st = CheckCheckpoint(f->checkpoint, shard, key);
  if (!st.ok()) return DataLoss(path + ": " + st.message());
  return f;
}

json CheckpointInfo(const Checkpoint& c) {
  return {{"tree_size", c.tree_size},
          {"ledger_time_us", c.ledger_time_us},
          {"event_root", ToHex(c.event_root)},
          {"state_root", (c.flags & kCheckpointFlagStateRoot) ? ToHex(c.state_root) : ""},
          {"last_block_hash", ToHex(c.last_block_hash)}};
}

namespace {

std::string Hex(const std::string& bytes) {
  return ToHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

json HashesJson(const std::vector<Hash32>& hs) {
  json a = json::array();
  for (const auto& h : hs) a.push_back(ToHex(h));
  return a;
}

// Roots of several (possibly overlapping) range lists from one pass.
namespace {

Result<std::vector<std::vector<Hash32>>> RangeRoots(
    const std::string& shard_dir, ShardId shard, const PublicKey& key, uint64_t tree_size,
    const std::vector<std::vector<LeafRange>>& lists) {
  std::vector<RangeRootsBuilder> builders;
  for (const auto& l : lists) builders.emplace_back(l);
  uint64_t fed = 0;
  GL_RETURN_IF_ERROR(StreamLeaves(shard_dir, shard, key, [&](const Hash32* leaves, size_t n) {
    size_t take = size_t(std::min<uint64_t>(n, tree_size - fed));
    for (auto& b : builders) b.Feed(leaves, take);
    fed += take;
    return fed < tree_size;
  }));
  std::vector<std::vector<Hash32>> out;
  for (const auto& b : builders) {
    auto roots = b.Roots();
    if (!roots.ok()) return DataLoss("the log ends before the checkpoint's tree size");
    out.push_back(std::move(roots.value()));
  }
  return out;
}

}  // namespace

Result<nlohmann::json> ProveTx(const ProveTxOptions& o) {
  CryptoInit();
  if (o.tx_id.size() != kTxIdBytes) return InvalidArgument("a tx id is 16 bytes (32 hex digits)");
  auto m = LoadManifest(o.data_dir);
  if (!m.ok()) return m.status();
  if (o.shard && *o.shard >= m->shard_count) return InvalidArgument("no such shard");
  Found found;
  for (uint32_t s = 0; s < m->shard_count; ++s) {
    if (o.shard && *o.shard != s) continue;
    Found here;
    here.shard = s;
    std::string dir = ShardDir(o.data_dir, ShardId{s});
    GL_RETURN_IF_ERROR(FindTxInShard(dir, ShardId{s}, m->public_keys[s], o.tx_id, &here));
    if (here.events.empty()) continue;
    if (!found.events.empty()) {
      return FailedPrecondition("tx found in shards " + std::to_string(found.shard) + " and " +
                                std::to_string(s) + "; name one with --shard");
    }
    found = std::move(here);
  }
  if (found.events.empty()) return NotFound("tx " + Hex(o.tx_id) + " is in no shard's log");
  ShardId shard{found.shard};
  const PublicKey& key = m->public_keys[shard.value];
  std::string dir = ShardDir(o.data_dir, shard);
  uint64_t last = found.events.back().first;
  uint64_t size = 0;
  if (o.checkpoint) {
    size = *o.checkpoint;
    if (size < last) {
      return FailedPrecondition("checkpoint " + std::to_string(size) + " does not cover seq " +
                                std::to_string(last));
    }
  } else {
    auto list = ListCheckpoints(dir);
    if (!list.ok()) return list.status();
    if (list->empty() || list->back().tree_size < last) {
      return FailedPrecondition("no checkpoint covers seq " + std::to_string(last) + " of shard " +
                                std::to_string(shard.value) + " yet");
    }
    size = list->back().tree_size;
  }
  auto cp = LoadCheckedCheckpoint(dir, shard, key, size);
  if (!cp.ok()) return cp.status();
  std::vector<std::vector<LeafRange>> lists;
  for (const auto& e : found.events) lists.push_back(InclusionProofRanges(e.first - 1, size));
  auto paths = RangeRoots(dir, shard, key, size, lists);
  if (!paths.ok()) return paths.status();
  json entries = json::array();
  for (size_t i = 0; i < found.events.size(); ++i) {
    const auto& [seq, bytes] = found.events[i];
    if (!VerifyInclusion(LeafHash(bytes), seq - 1, size, paths.value()[i],
                         cp->checkpoint.event_root)) {
      return DataLoss("checkpoint " + cp->path + " does not match the log (seq " +
                      std::to_string(seq) + ")");
    }
    entries.push_back({{"seq", seq},
                       {"leaf_index", seq - 1},
                       {"event", Hex(bytes)},
                       {"audit_path", HashesJson(paths.value()[i])}});
  }
  return json{{"type", kInclusionProofType},
              {"ledger_id", m->ledger_id},
              {"shard", shard.value},
              {"tx_id", Hex(o.tx_id)},
              {"checkpoint", Hex(EncodeCheckpoint(cp->checkpoint))},
              {"checkpoint_info", CheckpointInfo(cp->checkpoint)},
              {"entries", entries}};
}

Result<nlohmann::json> ProveConsistency(const std::string& data_dir, ShardId shard,
                                        uint64_t old_size, uint64_t new_size) {
  CryptoInit();
  if (old_size == 0 || old_size > new_size) {
    return InvalidArgument("need 0 < OLD <= NEW (tree sizes of two checkpoints)");
  }
  auto m = LoadManifest(data_dir);
  if (!m.ok()) return m.status();
  if (shard.value >= m->shard_count) return InvalidArgument("no such shard");
  const PublicKey& key = m->public_keys[shard.value];
  std::string dir = ShardDir(data_dir, shard);
  auto old_cp = LoadCheckedCheckpoint(dir, shard, key, old_size);
  if (!old_cp.ok()) return old_cp.status();
  auto new_cp = LoadCheckedCheckpoint(dir, shard, key, new_size);
  if (!new_cp.ok()) return new_cp.status();
  std::vector<Hash32> proof;
  if (old_size != new_size) {
    auto roots =
        RangeRoots(dir, shard, key, new_size, {ConsistencyProofRanges(old_size, new_size)});
    if (!roots.ok()) return roots.status();
    proof = std::move(roots.value()[0]);
  }
  if (!VerifyConsistency(old_size, new_size, old_cp->checkpoint.event_root,
                         new_cp->checkpoint.event_root, proof)) {
    return DataLoss("checkpoints " + std::to_string(old_size) + " and " + std::to_string(new_size) +
                    " of shard " + std::to_string(shard.value) +
                    " are not consistent with each other and the log");
  }
  return json{{"type", kConsistencyProofType},
              {"ledger_id", m->ledger_id},
              {"shard", shard.value},
              {"old_checkpoint", Hex(EncodeCheckpoint(old_cp->checkpoint))},
              {"new_checkpoint", Hex(EncodeCheckpoint(new_cp->checkpoint))},
              {"old_checkpoint_info", CheckpointInfo(old_cp->checkpoint)},
              {"new_checkpoint_info", CheckpointInfo(new_cp->checkpoint)},
              {"proof", HashesJson(proof)}};
}

// Typed field access: a malformed proof is a verdict, never an exception.
bool GetHexBytes(const json& j, const char* field, std::string* out, std::string* why) {
  if (!j.contains(field) || !j[field].is_string()) {
    *why = std::string("field ") + field + " missing or not a string";
    return false;
  }
  const std::string& hex = j[field].get_ref<const std::string&>();
  if (hex.size() % 2 != 0) {
    *why = std::string("field ") + field + " is not hex";
    return false;
  }
  out->resize(hex.size() / 2);
  if (!FromHex(hex, reinterpret_cast<uint8_t*>(out->data()), out->size())) {
    *why = std::string("field ") + field + " is not hex";
    return false;
  }
  return true;
}

bool GetHashes(const json& j, const char* field, std::vector<Hash32>* out, std::string* why) {
  if (!j.contains(field) || !j[field].is_array() || j[field].size() > 64) {
    *why = std::string("field ") + field + " missing or not an array of at most 64 hashes";
    return false;
  }
  for (const auto& h : j[field]) {
    Hash32 v;
    if (!h.is_string() || !FromHex(h.get<std::string>(), v.data(), v.size())) {
      *why = std::string("field ") + field + " holds something other than 32-byte hex hashes";
      return false;
    }
    out->push_back(v);
  }
  return true;
}

bool GetU64(const json& j, const char* field, uint64_t* out, std::string* why) {
  if (!j.contains(field) || !j[field].is_number_unsigned()) {
    *why = std::string("field ") + field + " missing or not an unsigned integer";
    return false;
  }
  *out = j[field].get<uint64_t>();
  return true;
}

// Decodes and checks a checkpoint against the manifest's key of `shard`.
bool GetCheckpoint(const Manifest& m, const json& j, const char* field, uint64_t shard,
                   Checkpoint* out, std::string* why) {
  std::string bytes;
  if (!GetHexBytes(j, field, &bytes, why)) return false;
  auto c = DecodeCheckpoint(bytes);
  Status st = c.ok() ? CheckCheckpoint(c.value(), ShardId{uint32_t(shard)}, m.public_keys[shard])
                     : c.status();
  if (!st.ok()) {
    *why = std::string(field) + ": " + st.message();
    return false;
  }
  *out = c.value();
  return true;
}

namespace {

ProofVerdict VerifyInclusionProof(const Manifest& m, const json& p, uint64_t shard) {
  ProofVerdict v;
  Checkpoint c;
  std::string tx_id;
  if (!GetCheckpoint(m, p, "checkpoint", shard, &c, &v.reason)) return v;
  if (!GetHexBytes(p, "tx_id", &tx_id, &v.reason)) return v;
  if (tx_id.size() != kTxIdBytes) return {false, "tx_id is not 16 bytes", ""};
  if (!p.contains("entries") || !p["entries"].is_array() || p["entries"].empty() ||
      p["entries"].size() > kProofEntriesMax) {
    return {false, "entries missing, empty or too many", ""};
  }
  std::string seqs;
  for (const auto& e : p["entries"]) {
    uint64_t seq = 0, index = 0;
    std::string event;
    std::vector<Hash32> path;
    if (!e.is_object() || !GetU64(e, "seq", &seq, &v.reason) ||
        !GetU64(e, "leaf_index", &index, &v.reason) ||
        !GetHexBytes(e, "event", &event, &v.reason) ||
        !GetHashes(e, "audit_path", &path, &v.reason)) {
      return v;
    }
    std::string at = "entry seq " + std::to_string(seq) + ": ";
    if (seq == 0 || index != seq - 1) return {false, at + "leaf_index is not seq - 1", ""};
    schemas::Event ev;
    if (!ev.ParseFromString(event)) return {false, at + "event does not parse", ""};
    if (ev.tx_id() != tx_id) return {false, at + "event carries another tx id", ""};
    if (!VerifyInclusion(LeafHash(event), index, c.tree_size, path, c.event_root)) {
      return {false, at + "audit path does not lead to the checkpoint's event root", ""};
    }
    seqs += (seqs.empty() ? "" : ",") + std::to_string(seq);
  }
  v.ok = true;
  v.summary = "tx " + Hex(tx_id) + " is in shard " + std::to_string(shard) + " at seq " + seqs +
              ", under the signed checkpoint of " + std::to_string(c.tree_size) + " events";
  return v;
}

ProofVerdict VerifyConsistencyProof(const Manifest& m, const json& p, uint64_t shard) {
  ProofVerdict v;
  Checkpoint a, b;
  std::vector<Hash32> proof;
  if (!GetCheckpoint(m, p, "old_checkpoint", shard, &a, &v.reason) ||
      !GetCheckpoint(m, p, "new_checkpoint", shard, &b, &v.reason) ||
      !GetHashes(p, "proof", &proof, &v.reason)) {
    return v;
  }
  if (!VerifyConsistency(a.tree_size, b.tree_size, a.event_root, b.event_root, proof)) {
    return {false, "the new checkpoint does not extend the old one", ""};
  }
  v.ok = true;
  v.summary = "shard " + std::to_string(shard) + ": the signed log of " +
              std::to_string(b.tree_size) + " events extends the signed log of " +
              std::to_string(a.tree_size) + " events";
  return v;
}

}  // namespace

ProofVerdict VerifyProof(const Manifest& manifest, const nlohmann::json& proof) {
  CryptoInit();
  if (!proof.is_object() || !proof.contains("type") || !proof["type"].is_string()) {
    return {false, "not a giftledger proof (no type)", ""};
  }
  uint64_t shard = 0;
  std::string why;
  if (!GetU64(proof, "shard", &shard, &why)) return {false, why, ""};
  if (shard >= manifest.shard_count) return {false, "shard not in the manifest", ""};
  const std::string& type = proof["type"].get_ref<const std::string&>();
  if (type == kInclusionProofType) return VerifyInclusionProof(manifest, proof, shard);
  if (type == kConsistencyProofType) return VerifyConsistencyProof(manifest, proof, shard);
  if (type == kAccountProofType) return VerifyAccountProof(manifest, proof, shard);
  return {false, "unknown proof type " + type, ""};
}

}  // namespace giftledger

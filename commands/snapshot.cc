#include "commands/snapshot.h"

#include <spdlog/spdlog.h>

#include "ledger/snapshot.h"

namespace giftledger::commands {

std::string EncodeSnapshotPayload(const ShardState& state) { return SerializeState(state); }

Result<ShardState> DecodeSnapshotPayload(std::string_view payload, const ShardConfig& config,
                                         uint64_t last_seq) {
  auto state = ParseState(payload);
  if (!state.ok()) return state.status();
  const ShardConfig& c = state->config;
  if (c.shard != config.shard || c.shard_count != config.shard_count ||
      c.utc_offset_minutes != config.utc_offset_minutes) {
    return DataLoss("snapshot: shard configuration differs");
  }
  if (state->last_seq != last_seq) return DataLoss("snapshot: state seq differs from the file's");
  // Canonical form is checked by ParseState itself (keys strictly ascending,
  // every byte consumed, flags 0/1), which is what re-encoding and comparing
  // would prove, without a second serialization of the whole state.
  // A broken invariant in a checksummed file is damage (or a bug) on disk:
  // the snapshot is refused like any other unusable one.
  if (Status st = CheckInvariants(*state); !st.ok()) return DataLoss("snapshot: " + st.message());
  return state;
}

Status WriteStateSnapshot(const std::string& shard_dir, const ShardState& state) {
  return WriteSnapshot(shard_dir, state.config.shard, Seq{state.last_seq},
                       EncodeSnapshotPayload(state));
}

std::optional<ShardState> LoadNewestStateSnapshot(const std::string& shard_dir,
                                                  const ShardConfig& config, uint64_t max_seq,
                                                  uint64_t idempotency_covered_seq,
                                                  uint64_t order_covered_seq) {
  // ledger/ picks the newest file that passes its own checks; a payload this
  // layer refuses sends us back for the newest one strictly before it.
  for (Seq seq_max{max_seq};;) {
    auto file = LoadNewestSnapshot(shard_dir, config.shard, seq_max);
    if (!file.ok()) {
      spdlog::warn("shard {}: snapshots unreadable: {}", config.shard.value,
                   file.status().ToString());
      return std::nullopt;
    }
    if (!file->has_value()) return std::nullopt;
    const Snapshot& snap = **file;
    auto state = DecodeSnapshotPayload(snap.payload, config, snap.last_seq.value);
    if (state.ok() && state->idempotency_disk_seq > idempotency_covered_seq) {
      state = DataLoss("snapshot: leaves idempotency entries up to seq " +
                       std::to_string(state->idempotency_disk_seq) +
                       " to run files that cover only up to " +
                       std::to_string(idempotency_covered_seq));
    }
    if (state.ok() && state->order_disk_seq > order_covered_seq) {
      state = DataLoss("snapshot: leaves closed orders up to seq " +
                       std::to_string(state->order_disk_seq) +
                       " to run files that cover only up to " + std::to_string(order_covered_seq));
    }
    if (state.ok()) {
      spdlog::info("shard {}: loaded snapshot {} at seq {}", config.shard.value, snap.path,
                   snap.last_seq.value);
      return std::move(state.value());
    }
    spdlog::warn("snapshot {} skipped: {}", snap.path, state.status().ToString());
    if (snap.last_seq.value == 0) return std::nullopt;
    seq_max = Seq{snap.last_seq.value - 1};
  }
}

}  // namespace giftledger::commands

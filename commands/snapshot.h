// Snapshots of a shard's state, so a restart replays only the tail of the
// log. A snapshot is the canonical state serialization (state.h) framed with
// the shard, its seq and a BLAKE2b-256 checksum; written temp + fsync +
// rename + directory fsync. A snapshot that fails any check is skipped (with a
// log line) for an older one, or for a full replay.
//
//   offset size field
//        0    4 magic "GLS1"
//        4    4 format version (1)
//        8    4 shard
//       12    4 reserved, zero
//       16    8 seq: the state's last_seq (every event ≤ seq is in it)
//       24    8 state_bytes N
//       32    N SerializeState(state)
//     32+N   32 BLAKE2b-256 of bytes 0 .. 32+N
//
// File name: snapshot-<seq as 20 digits>.snap, so names sort by seq.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "commands/state.h"
#include "ledger/status.h"

namespace giftledger::commands {

inline constexpr uint32_t kSnapshotFormatVersion = 1;
inline constexpr size_t kSnapshotHeaderBytes = 32;
// Snapshots kept in the directory after a new one is written.
inline constexpr size_t kSnapshotsKept = 2;

std::string SnapshotFileName(uint64_t seq);
std::string EncodeSnapshot(const ShardState& state);
// DATA_LOSS naming the check that failed.
Result<ShardState> DecodeSnapshot(std::string_view bytes);

// Writes the snapshot of `state` into dir (created if missing), then removes
// all but the newest kSnapshotsKept.
Status WriteSnapshot(const std::string& dir, const ShardState& state);

// The newest snapshot in dir that decodes, belongs to `config` and has
// seq ≤ max_seq (the log may not go back behind a snapshot); nullopt when
// there is none. Every skipped file is named in a warning.
std::optional<ShardState> LoadNewestSnapshot(const std::string& dir, const ShardConfig& config,
                                             uint64_t max_seq);

}  // namespace giftledger::commands

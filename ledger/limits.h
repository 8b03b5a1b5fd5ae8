// Every limit of the log in one place. Relations between them are checked at
// compile time so that changing one cannot silently break another.
#pragma once

#include <cstddef>
#include <cstdint>

namespace giftledger {

inline constexpr uint32_t kFormatVersion = 1;

inline constexpr size_t kBlockHeaderBytes = 128;
inline constexpr size_t kHashBytes = 32;
inline constexpr size_t kSignatureBytes = 64;
inline constexpr size_t kBlockTrailerBytes = kHashBytes + kSignatureBytes;
inline constexpr size_t kEventFrameBytes = 4;  // u32 length before each event

inline constexpr size_t kEventBytesMax = 64 * 1024;
inline constexpr uint32_t kBlockEventsMax = 8192;
inline constexpr size_t kBlockBytesMax = 8 * 1024 * 1024;
inline constexpr size_t kBlockBodyBytesMax =
    kBlockBytesMax - kBlockHeaderBytes - kBlockTrailerBytes;

inline constexpr uint64_t kSegmentBytesDefault = 128ull * 1024 * 1024;
inline constexpr uint64_t kSegmentBytesMin = 16ull * 1024 * 1024;
inline constexpr uint64_t kSegmentBytesMax = 1024ull * 1024 * 1024;
inline constexpr uint64_t kIndexIntervalBytes = 64 * 1024;

inline constexpr uint32_t kShardsMax = 1024;
// Nodes the manifest can list as shard leaders (docs/replication.md); a
// node's name is what `start --node` says.
inline constexpr uint32_t kNodesMax = 64;
inline constexpr size_t kNodeNameBytesMax = 64;
inline constexpr size_t kSealedBlocksInFlightMax = 8;
// Appends waiting for the sealer; producers block beyond this (backpressure).
inline constexpr size_t kPendingAppendsMax = 65536;

// A gateway batch (8190 commands, see docs/protocol.md) fits in one block.
static_assert(kBlockEventsMax >= 8190);
// The largest single event always fits in an empty block.
static_assert(kEventFrameBytes + kEventBytesMax <= kBlockBodyBytesMax);
// A full block of maximum-size framing fits the block byte limit.
static_assert(kBlockBodyBytesMax + kBlockHeaderBytes + kBlockTrailerBytes == kBlockBytesMax);
// A segment always holds at least one full block.
static_assert(kSegmentBytesMin >= 2 * kBlockBytesMax);
static_assert(kSegmentBytesDefault >= kSegmentBytesMin);
static_assert(kSegmentBytesDefault <= kSegmentBytesMax);
// body_bytes is stored as u32.
static_assert(kBlockBodyBytesMax < (1ull << 32));

}  // namespace giftledger

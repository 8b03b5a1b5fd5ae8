// Limits of the command protocol (docs/protocol.md).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ledger/limits.h"

namespace giftledger::ingress {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint32_t kBatchCommandsMax = 8190;
// nats-server's default max_payload is 1 MiB; a full batch of typical
// commands (~60 B each) is about half of it.
inline constexpr size_t kEnvelopeBytesMax = 1024 * 1024;
inline constexpr int64_t kReplayWindowUs = 30'000'000;
inline constexpr size_t kNonceCacheEntriesMax = 4'000'000;
inline constexpr size_t kGatewaysMax = 4096;

// A batch's events must fit in the log's block limits one command at a time.
static_assert(kBatchCommandsMax <= kBlockEventsMax);

}  // namespace giftledger::ingress

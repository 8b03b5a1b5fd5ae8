// The replay service: giftledger.replay.<shard> answers a shard's durable
// events from a seq in bounded pages, read from the ledger files (every block
// checked), so a consumer of the JetStream copy can fill any gap from the
// truth. Page layout (docs/protocol.md, "Replay service"):
//
//   "GLRP" u32 event_count u64 from_seq u64 next_seq u64 durable_next_seq
//   event_count × (u64 seq, u32 event_bytes, event bytes)
//
// an error is "GLRE" + {"code": "...", "message": "..."}.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands/ingress/event_publisher.h"
#include "ledger/limits.h"
#include "ledger/status.h"
#include "ledger/tailer.h"

namespace giftledger::ingress {

inline constexpr char kReplaySubjectPrefix[] = "giftledger.replay.";
inline std::string ReplaySubject(uint32_t shard) {
  return kReplaySubjectPrefix + std::to_string(shard);
}

inline constexpr uint32_t kReplayPageEventsMax = 1000;
inline constexpr size_t kReplayPageBytesMax = 900 * 1024;
inline constexpr size_t kReplayPageHeaderBytes = 32;
inline constexpr size_t kReplayEventFrameBytes = 12;  // u64 seq + u32 event_bytes
// One event of the largest size always fits a page, so paging moves on.
static_assert(kReplayPageHeaderBytes + kReplayEventFrameBytes + kEventBytesMax <=
              kReplayPageBytesMax);
// A page stays below nats-server's default max_payload (1 MiB).
static_assert(kReplayPageBytesMax < 1024 * 1024);

struct ReplayRequest {
  uint64_t from_seq = 1;
  uint32_t max_events = kReplayPageEventsMax;
  size_t max_bytes = kReplayPageBytesMax;
};

struct ReplayPage {
  uint64_t from_seq = 0;
  uint64_t next_seq = 0;
  uint64_t durable_next_seq = 0;
  std::vector<std::pair<uint64_t, std::string>> events;  // (seq, event bytes)
};

// JSON request; an empty body is {}. Out-of-range limits are clamped;
// from_seq 0 or a malformed body is INVALID_ARGUMENT.
Result<ReplayRequest> ParseReplayRequest(std::string_view body);
std::string EncodeReplayRequest(const ReplayRequest& request);
std::string EncodeReplayPage(const ReplayPage& page);
std::string EncodeReplayError(const Status& status);
// A page, or the error the service answered (its code kept).
Result<ReplayPage> DecodeReplayReply(std::string_view reply);

// Pages from one shard's log, bounded by the durable end. Keeps its tailer
// (and the rest of a partly sent block) between calls, so paging forward
// does not rescan the shard. Not thread-safe: one caller at a time.
class ShardReplayer {
 public:
  explicit ShardReplayer(ShardLogSource source) : source_(std::move(source)) {}
  Result<ReplayPage> ReadPage(const ReplayRequest& request);

 private:
  // The seq the cursor hands out next.
  uint64_t CursorSeq() const;

  ShardLogSource source_;
  std::unique_ptr<LogTailer> tailer_;
  std::vector<std::pair<uint64_t, std::string>> buffered_;  // polled, not yet sent
  size_t buffered_pos_ = 0;
};

class ReplayService {
 public:
  // Subscribes giftledger.replay.<shard> for each shard on `nc` (not owned).
  static Result<std::unique_ptr<ReplayService>> Start(natsConnection* nc,
                                                      std::vector<ShardLogSource> shards);
  ~ReplayService();
  ReplayService(const ReplayService&) = delete;
  ReplayService& operator=(const ReplayService&) = delete;

  // Drains the subscriptions (queued requests are answered). Idempotent.
  void Stop();

 private:
  struct Shard {
    natsConnection* nc = nullptr;
    uint32_t shard = 0;
    size_t reply_bytes_max = kReplayPageBytesMax;
    std::mutex mu;
    std::unique_ptr<ShardReplayer> replayer;  // guarded by mu
    natsSubscription* sub = nullptr;
  };
  ReplayService() = default;
  static void OnMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);

  std::vector<std::unique_ptr<Shard>> shards_;
  bool stopped_ = false;
};

}  // namespace giftledger::ingress

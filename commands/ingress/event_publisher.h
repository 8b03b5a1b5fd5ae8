// Publishes every durable event of the served shards to the JetStream stream
// (docs/protocol.md, "Event stream"): read back from the log with a
// LogTailer, one subject per shard, Msg-Id "<shard>:<seq>". Events go out in
// windows of up to window_events_max, pipelined: the first of a window expects
// the subject's last stream sequence, each later one expects the previous
// one's Msg-Id as the stream's last message, so a duplicate, a gap or another
// publisher in between is refused by JetStream, and everything after a refused
// message is refused too. It never holds the engine back: one thread per
// shard, its own pace, retries with backoff and catches up from the ledger
// after an outage.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger::ingress {

inline constexpr char kEventStreamDefault[] = "GIFTLEDGER_EVENTS";
inline constexpr char kEventSubjectPrefix[] = "giftledger.events.";
inline constexpr char kEventSubjectsWildcard[] = "giftledger.events.*";
inline constexpr char kShardHeader[] = "Giftledger-Shard";
inline constexpr char kSeqHeader[] = "Giftledger-Seq";
inline constexpr char kMsgIdHeader[] = "Nats-Msg-Id";
inline constexpr char kExpectedLastSubjectSeqHeader[] = "Nats-Expected-Last-Subject-Sequence";
inline constexpr char kExpectedLastMsgIdHeader[] = "Nats-Expected-Last-Msg-Id";

// giftledger.events.<shard>, shard in decimal.
inline std::string EventSubject(uint32_t shard) {
  return kEventSubjectPrefix + std::to_string(shard);
}
// "<shard>:<seq>"
inline std::string EventMsgId(uint32_t shard, uint64_t seq) {
  return std::to_string(shard) + ":" + std::to_string(seq);
}

struct EventStreamOptions {
  std::string name = kEventStreamDefault;
  int64_t replicas = 1;
  int64_t max_age_s = 0;  // 0 = no age limit
  int64_t duplicate_window_ms = 120'000;
};

struct EventPublisherOptions {
  EventStreamOptions stream;
  // Events read from the log per poll.
  uint64_t poll_events_max = 1024;
  // Events of one shard in flight at once (each chained to the one before;
  // 1 = one at a time, each waiting for its ack). While one shard's window is
  // in flight the others wait, so that no other message of this process comes
  // between two of a chain; a window broken by another process's message
  // drops to 1 and doubles back with every window that is stored whole.
  uint32_t window_events_max = 256;
  int64_t publish_timeout_ms = 5'000;
  int64_t backoff_ms_min = 100;
  int64_t backoff_ms_max = 5'000;
  // How long a caught-up shard sleeps when nobody calls Notify.
  int64_t idle_wait_ms = 50;
  int64_t lag_log_interval_ms = 10'000;
};

// One served shard as the publisher and the replay service read it.
struct ShardLogSource {
  ShardId shard;
  std::string shard_dir;
  PublicKey key;
  // The engine's durable next seq (ShardEngine::durable_next_seq).
  std::function<uint64_t()> durable_next_seq;
};

class EventPublisher {
 public:
  // Starts one thread per shard publishing over `nc` (not owned; it must
  // outlive Stop). Creates the stream when missing, lazily: NATS may be down.
  static std::unique_ptr<EventPublisher> Start(natsConnection* nc, EventPublisherOptions options,
                                               std::vector<ShardLogSource> shards);
  ~EventPublisher();
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // New events may be durable: wakes the shard's thread. Cheap; any thread.
  void Notify(uint32_t shard);
  // Stops and joins every thread (what is durable but unpublished stays for
  // the next start). Idempotent.
  void Stop();
  // Waits (bounded) until every shard has published up to its durable end,
  // e.g. after the engines closed; false on timeout (the rest is published
  // by the next start).
  bool WaitCaughtUp(int64_t timeout_ms);
  // Published next seq of the shard (0 until it has resumed).
  uint64_t published_next_seq(uint32_t shard) const;

 private:
  struct Worker;
  EventPublisher(natsConnection* nc, EventPublisherOptions options);
  void Run(Worker* w);
  bool Resync(Worker* w);
  Status PublishPending(Worker* w);
  // Publishes events[0, n) as one window; *stored: how many, in order, are
  // now in the stream (acknowledged, not duplicates). OK when the rest was
  // refused only because another publisher came between (wrong last Msg-Id).
  Status PublishWindow(Worker* w, const std::vector<std::pair<uint64_t, std::string>>& events,
                       size_t begin, size_t n, size_t* stored);
  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  Status EnsureStream();
  void Backoff(Worker* w);
  bool WaitFor(Worker* w, int64_t ms);
  void LogLag(Worker* w, uint64_t durable_next, bool force);
  Worker* Find(uint32_t shard) const;

  natsConnection* const nc_;
  const EventPublisherOptions options_;
  jsCtx* js_ = nullptr;
  std::mutex stream_mu_;
  bool stream_ready_ = false;  // guarded by stream_mu_
  // Held by a worker while its window is in flight (see window_events_max).
  std::mutex window_mu_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
};

}  // namespace giftledger::ingress

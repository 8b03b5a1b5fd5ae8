// Publishes every durable event of the served shards to the JetStream stream
// (docs/protocol.md, "Event stream"): read back from the log with a
// LogTailer, one subject per shard, Msg-Id "<shard>:<seq>" and the expected
// last subject sequence, so a duplicate or a gap is refused by JetStream. It
// never holds the engine back: one thread per shard, its own pace, retries
// with backoff and catches up from the ledger after an outage.
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
  // Events read from the log per poll; they are published one by one.
  uint64_t poll_events_max = 1024;
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
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
};

}  // namespace giftledger::ingress

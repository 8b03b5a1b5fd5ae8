// The leader side of block replication (docs/replication.md): every durable
// block of one shard published to giftledger.blocks.<shard>, in log order,
// each with Msg-Id "<shard>:<first seq>" and the stream sequence it must
// follow (Nats-Expected-Last-Subject-Sequence). A refusal of that check means
// another writer appended: this process is deposed and fails closed.
// --ack replicated publishes from the writer's syncer before the appends
// complete; --ack local queues and publishes on its own thread.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "ledger/block.h"
#include "ledger/status.h"

namespace giftledger::ingress {

enum class AckMode { kLocal, kReplicated };

struct BlockPublisherOptions {
  std::string stream;
  AckMode ack = AckMode::kLocal;
  std::string node;
  // One publish attempt; a timed-out attempt is retried (same Msg-Id) until
  // the publisher is fenced.
  int64_t publish_timeout_ms = 1'000;
  // Blocks queued in --ack local beyond which the syncer waits.
  size_t queue_blocks_max = 1024;
};

class BlockPublisher {
 public:
  // `on_deposed` runs once, on the publishing thread, when the stream
  // refused a block (another writer) or the publisher was fenced mid-block.
  BlockPublisher(natsConnection* nc, uint32_t shard, BlockPublisherOptions options,
                 std::function<void(const Status&)> on_deposed);
  ~BlockPublisher();
  BlockPublisher(const BlockPublisher&) = delete;
  BlockPublisher& operator=(const BlockPublisher&) = delete;

  // From now on durable blocks are published under `epoch`, the first one
  // after stream sequence `expected_stream_seq` (0 = the subject is empty).
  void Lead(uint64_t epoch, uint64_t expected_stream_seq, uint64_t replicated_next_seq);
  // The writer's on_durable_block hook. Not leading: nothing to do (a
  // standby's copy). Fenced: UNAVAILABLE, which fails the writer.
  Status OnDurableBlock(const std::string& block, const BlockHeader& header);
  // Publishes one block now, synchronously (a local tail at takeover).
  Status PublishNow(const std::string& block, const BlockHeader& header);
  // Publishes the epoch marker (block_stream.h) after the shard's last block:
  // from then on the previous leader cannot append. Call after Lead.
  Status PublishEpochMarker(uint64_t last_seq, const Hash32& last_block_hash);
  // Every seq below this is in the stream (events may be published up to it).
  uint64_t replicated_next_seq() const { return replicated_next_.load(); }
  // Stops publishing for good; a later OnDurableBlock fails.
  void Fence();
  bool fenced() const { return fenced_.load(); }
  bool leading() const { return leading_.load(); }
  // Stream sequence of the last block this publisher stored.
  uint64_t last_stream_seq() const { return expected_.load(); }
  uint64_t published_blocks() const { return published_.load(); }
  // --ack local: waits (bounded) until the queue is empty.
  bool WaitDrained(int64_t timeout_ms);

 private:
  struct Item {
    std::string block;
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;
  };
  Status Publish(const std::string& block, uint64_t first_seq, uint64_t last_seq);
  // One message with the fencing headers, retried (same Msg-Id) until
  // stored, refused or fenced. `marker_hash_hex` empty for a block.
  Status Send(const std::string& data, const std::string& msg_id, uint64_t seq,
              const std::string& marker_hash_hex);
  // True when the message at stream_seq holds exactly `block`.
  bool StoredIs(uint64_t stream_seq, const std::string& block);
  void Depose(const Status& why);
  void QueueLoop();

  jsCtx* js_ = nullptr;
  const uint32_t shard_;
  const std::string subject_;
  const BlockPublisherOptions options_;
  std::function<void(const Status&)> on_deposed_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> fenced_{false};
  std::atomic<bool> deposed_{false};
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> expected_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> replicated_next_{1};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // --ack local, guarded by mu_
  bool busy_ = false;       // the queue thread holds an item, guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::thread thread_;
};

}  // namespace giftledger::ingress

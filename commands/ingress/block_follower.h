// The standby side of block replication (docs/replication.md): reads a
// shard's subject of the block stream in order (JetStream direct get of the
// next message by subject, from any replica) and hands every block to the
// caller, who checks, appends and applies it. One thread per shard; it stops
// at the first block the caller refuses.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "ledger/status.h"

namespace giftledger::ingress {

class BlockFollower {
 public:
  using ApplyFn = std::function<Status(const std::string& block)>;
  BlockFollower(natsConnection* nc, std::string stream, uint32_t shard, ApplyFn apply);
  ~BlockFollower();
  BlockFollower(const BlockFollower&) = delete;
  BlockFollower& operator=(const BlockFollower&) = delete;

  void Start();
  // Joins the thread; no block is handed over after it returns. Idempotent.
  void Stop();
  // OK while following; the refusal or error that stopped it otherwise.
  Status health() const;
  // Stream sequence of the last block handed over (0 = none).
  uint64_t applied_stream_seq() const { return applied_.load(); }

 private:
  void Run();
  bool Sleep(int64_t ms);

  jsCtx* js_ = nullptr;
  const std::string stream_;
  const uint32_t shard_;
  const std::string subject_;
  ApplyFn apply_;
  std::thread thread_;
  std::mutex join_mu_;  // Stop may be called from two threads
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  Status failed_;          // guarded by mu_
  std::atomic<uint64_t> applied_{0};
};

}  // namespace giftledger::ingress

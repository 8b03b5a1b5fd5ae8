// Leadership of one shard (docs/replication.md, "Leases"): a key shard.<n>
// in a NATS KV bucket, taken by compare-and-set on its revision and renewed
// while healthy. Expiry is judged by the observers' own monotonic clocks: a
// standby takes the key only after seeing one revision unchanged for a whole
// TTL; the holder gives up kLeaseSelfFenceMs after sending its last
// successful renewal, which is earlier. One thread per lease.
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

inline constexpr char kLeaseBucketDefault[] = "giftledger_leases";
inline constexpr int64_t kLeaseTtlMs = 1'500;
inline constexpr int64_t kLeaseRenewMs = 300;
inline constexpr int64_t kLeaseSelfFenceMs = 1'000;
inline constexpr int64_t kLeasePollMs = 250;
// One KV operation may take this long before the loop checks its deadlines.
inline constexpr int64_t kLeaseOpTimeoutMs = 200;
static_assert(kLeaseSelfFenceMs + kLeaseOpTimeoutMs < kLeaseTtlMs);
static_assert(kLeaseRenewMs * 3 <= kLeaseSelfFenceMs);

// shard.<n>
inline std::string LeaseKey(uint32_t shard) { return "shard." + std::to_string(shard); }

struct ShardLeaseOptions {
  std::string bucket = kLeaseBucketDefault;
  int64_t replicas = 1;
  std::string node;
};

class ShardLease {
 public:
  // `on_acquired(epoch)` runs on a thread of its own once the key is ours,
  // while the lease thread renews it; it may take its time (catch-up) and
  // returns false when this node cannot lead after all (the key is then
  // left to expire). `on_lost(why)` runs once, on the lease thread, the
  // moment leadership ends (possibly while on_acquired still runs).
  ShardLease(natsConnection* nc, uint32_t shard, ShardLeaseOptions options,
             std::function<bool(uint64_t epoch)> on_acquired,
             std::function<void(const Status& why)> on_lost);
  ~ShardLease();
  ShardLease(const ShardLease&) = delete;
  ShardLease& operator=(const ShardLease&) = delete;

  // Creates the bucket when missing and starts the thread.
  Status Start();
  // Stops renewing and joins; a leader whose key is surely still its own
  // deletes it, so that a standby takes over at once. Call once.
  void Stop();
  // Stops renewing without handing over (the key expires for the others):
  // the shard was deposed. Any thread; does not wait.
  void Abandon();
  bool leading() const { return leading_.load(); }
  uint64_t epoch() const { return epoch_.load(); }

 private:
  void Run();
  // Standby: true once the key is ours (epoch_ set).
  bool TryAcquire();
  // Leader: renews until it fails for kLeaseSelfFenceMs or stops.
  void HoldLease();
  bool Sleep(int64_t ms);

  natsConnection* const nc_;
  const uint32_t shard_;
  const std::string key_;
  const ShardLeaseOptions options_;
  std::function<bool(uint64_t)> on_acquired_;
  std::function<void(const Status&)> on_lost_;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  std::thread thread_;
  std::thread takeover_;  // runs on_acquired
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::atomic<bool> abandoned_{false};
  std::atomic<bool> leading_{false};
  std::atomic<uint64_t> epoch_{0};
  // Standby observation: the revision seen and since when (monotonic ms).
  uint64_t seen_revision_ = 0;
  int64_t seen_since_ms_ = 0;
  bool seen_any_ = false;
  uint64_t revision_ = 0;  // ours while leading
};

}  // namespace giftledger::ingress

#include "commands/ingress/shard_lease.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "commands/ingress/block_stream.h"

namespace giftledger::ingress {
namespace {

Status AbortedStatus(std::string m) { return Status(Code::kAborted, std::move(m)); }

int64_t MonoMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ShardLease::ShardLease(natsConnection* nc, uint32_t shard, ShardLeaseOptions options,
                       std::function<bool(uint64_t)> on_acquired,
                       std::function<void(const Status&)> on_lost)
    : nc_(nc),
      shard_(shard),
      key_(LeaseKey(shard)),
      options_(std::move(options)),
      on_acquired_(std::move(on_acquired)),
      on_lost_(std::move(on_lost)) {}

ShardLease::~ShardLease() {
  Stop();
  kvStore_Destroy(kv_);
  jsCtx_Destroy(js_);
}

Status ShardLease::Start() {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = kLeaseOpTimeoutMs;
  natsStatus s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) return JetStreamError("jetstream context", s, jsErrCode(0));
  s = js_KeyValue(&kv_, js_, options_.bucket.c_str());
  if (s != NATS_OK) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = options_.bucket.c_str();
    cfg.Description = nullptr;
    cfg.History = 1;
    cfg.Replicas = int(options_.replicas);
    cfg.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&kv_, js_, &cfg);
    // Another node may have created it meanwhile.
    if (s != NATS_OK) s = js_KeyValue(&kv_, js_, options_.bucket.c_str());
    if (s != NATS_OK) {
      return JetStreamError("lease bucket " + options_.bucket, s, jsErrCode(0));
    }
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ShardLease::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (takeover_.joinable()) takeover_.join();
}

void ShardLease::Abandon() {
  abandoned_ = true;
  cv_.notify_all();
}

bool ShardLease::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_ || abandoned_.load(); });
  return !stopping_ && !abandoned_.load();
}

void ShardLease::Run() {
  for (;;) {
    if (!TryAcquire()) {
      if (!Sleep(kLeasePollMs)) return;
      continue;
    }
    leading_ = true;
    spdlog::info("lease: shard {} taken by {} (epoch {})", shard_, options_.node, epoch_.load());
    // The takeover (catch-up) runs beside the renewals, which must not wait.
    takeover_ = std::thread([this] {
      if (!on_acquired_(epoch_.load())) {
        // Cannot lead (e.g. diverged): let the key expire for the others.
        leading_ = false;
        Abandon();
      }
    });
    HoldLease();
    return;  // leadership ends once per process: restart to stand by again
  }
}

bool ShardLease::TryAcquire() {
  const std::string value = "{\"node\":\"" + options_.node + "\"}";
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, key_.c_str());
  const int64_t now = MonoMs();
  uint64_t rev = 0;
  if (s == NATS_NOT_FOUND) {
    s = kvStore_CreateString(&rev, kv_, key_.c_str(), value.c_str());
    if (s != NATS_OK) return false;  // someone else created it first
    epoch_ = rev;
    revision_ = rev;
    return true;
  }
  if (s != NATS_OK) return false;  // NATS unreachable: keep observing
  const uint64_t seen = kvEntry_Revision(e);
  kvEntry_Destroy(e);
  if (!seen_any_ || seen != seen_revision_) {
    seen_any_ = true;
    seen_revision_ = seen;
    seen_since_ms_ = now;
    return false;
  }
  if (now - seen_since_ms_ < kLeaseTtlMs) return false;
  // Unchanged for a whole TTL: the holder has stopped itself by now.
  s = kvStore_UpdateString(&rev, kv_, key_.c_str(), value.c_str(), seen);
  if (s != NATS_OK) {
    seen_any_ = false;  // renewed or taken meanwhile: observe again
    return false;
  }
  epoch_ = rev;
  revision_ = rev;
  return true;
}

void ShardLease::HoldLease() {
  const std::string value = "{\"node\":\"" + options_.node + "\"}";
  // The take itself counts as the first renewal (sent just before now).
  int64_t last_ok_sent_ms = MonoMs() - kLeaseOpTimeoutMs;
  Status lost;
  for (;;) {
    const int64_t left_ms = last_ok_sent_ms + kLeaseSelfFenceMs - MonoMs();
    if (!Sleep(std::max<int64_t>(0, std::min(kLeaseRenewMs, left_ms)))) {
      // Clean stop: hand the key over at once when it is surely still ours.
      if (!abandoned_.load() && MonoMs() - last_ok_sent_ms < kLeaseSelfFenceMs) {
        (void)kvStore_Delete(kv_, key_.c_str());
      }
      leading_ = false;
      return;
    }
    const int64_t sent_ms = MonoMs();
    if (sent_ms - last_ok_sent_ms >= kLeaseSelfFenceMs) {
      lost = Unavailable("lease of shard " + std::to_string(shard_) + " not renewed for " +
                         std::to_string(sent_ms - last_ok_sent_ms) + " ms");
      break;
    }
    uint64_t rev = 0;
    natsStatus s = kvStore_UpdateString(&rev, kv_, key_.c_str(), value.c_str(), revision_);
    if (s == NATS_OK) {
      revision_ = rev;
      last_ok_sent_ms = sent_ms;
      continue;
    }
    if (s == NATS_ERR) {
      // The server refused the revision: someone else holds the key.
      lost = AbortedStatus("lease of shard " + std::to_string(shard_) + " taken by another node");
      break;
    }
    if (MonoMs() - last_ok_sent_ms >= kLeaseSelfFenceMs) {
      lost = Unavailable("lease of shard " + std::to_string(shard_) + " not renewed for " +
                         std::to_string(MonoMs() - last_ok_sent_ms) + " ms");
      break;
    }
  }
  leading_ = false;
  spdlog::error("lease: {}; this node stops serving the shard", lost.ToString());
  on_lost_(lost);
}

}  // namespace giftledger::ingress

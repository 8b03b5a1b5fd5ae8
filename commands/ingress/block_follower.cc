#include "commands/ingress/block_follower.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "commands/ingress/block_stream.h"

namespace giftledger::ingress {
namespace {

constexpr int64_t kIdlePollMs = 5;
constexpr int64_t kErrorPauseMs = 100;
constexpr int64_t kGetTimeoutMs = 1'000;

}  // namespace

BlockFollower::BlockFollower(natsConnection* nc, std::string stream, uint32_t shard, ApplyFn apply)
    : stream_(std::move(stream)),
      shard_(shard),
      subject_(BlockSubject(shard)),
      apply_(std::move(apply)) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = kGetTimeoutMs;
  natsStatus s = natsConnection_JetStream(&js_, nc, &jo);
  GL_ASSERT(s == NATS_OK);  // only allocation can fail here
}

BlockFollower::~BlockFollower() {
  Stop();
  jsCtx_Destroy(js_);
}

void BlockFollower::Start() {
  GL_ASSERT(!thread_.joinable());
  thread_ = std::thread([this] { Run(); });
}

void BlockFollower::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> join(join_mu_);
  if (thread_.joinable()) thread_.join();
}

Status BlockFollower::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

bool BlockFollower::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
  return !stopping_;
}

void BlockFollower::Run() {
  uint64_t next_stream_seq = 1;
  uint64_t handed = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = next_stream_seq;
    o.NextBySubject = subject_.c_str();
    natsMsg* msg = nullptr;
    natsStatus s = js_DirectGetMsg(&msg, js_, stream_.c_str(), nullptr, &o);
    if (s == NATS_NOT_FOUND) {
      if (!Sleep(kIdlePollMs)) break;  // caught up
      continue;
    }
    if (s != NATS_OK) {
      spdlog::debug("replication: follow {}: {}", subject_, natsStatus_GetText(s));
      if (!Sleep(kErrorPauseMs)) break;
      continue;
    }
    const uint64_t stream_seq = natsMsg_GetSequence(msg);
    std::string block(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    {
      // Stop() promises that nothing is handed over after it returns.
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      Status st = apply_(block);
      if (!st.ok()) {
        spdlog::error("replication: shard {} stops following at stream seq {}: {}", shard_,
                      stream_seq, st.ToString());
        failed_ = st;
        break;
      }
    }
    applied_ = stream_seq;
    next_stream_seq = stream_seq + 1;
    ++handed;
  }
  spdlog::info("replication: shard {} follower stopped ({} blocks read)", shard_, handed);
}

}  // namespace giftledger::ingress

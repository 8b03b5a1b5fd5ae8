#include "commands/ingress/block_publisher.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include "commands/ingress/block_stream.h"
#include "commands/ingress/event_publisher.h"

namespace giftledger::ingress {
namespace {

constexpr int64_t kRetryPauseMs = 50;

Status AbortedStatus(std::string m) { return Status(Code::kAborted, std::move(m)); }

}  // namespace

BlockPublisher::BlockPublisher(natsConnection* nc, uint32_t shard, BlockPublisherOptions options,
                               std::function<void(const Status&)> on_deposed)
    : shard_(shard),
      subject_(BlockSubject(shard)),
      options_(std::move(options)),
      on_deposed_(std::move(on_deposed)) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.publish_timeout_ms;
  natsStatus s = natsConnection_JetStream(&js_, nc, &jo);
  GL_ASSERT(s == NATS_OK);  // only allocation can fail here
  if (options_.ack == AckMode::kLocal) thread_ = std::thread([this] { QueueLoop(); });
}

BlockPublisher::~BlockPublisher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  jsCtx_Destroy(js_);
}

void BlockPublisher::Lead(uint64_t epoch, uint64_t expected_stream_seq,
                          uint64_t replicated_next_seq) {
  epoch_ = epoch;
  expected_ = expected_stream_seq;
  replicated_next_ = replicated_next_seq;
  leading_ = true;
}

void BlockPublisher::Fence() {
  fenced_ = true;
  cv_.notify_all();
}

void BlockPublisher::Depose(const Status& why) {
  fenced_ = true;
  if (deposed_.exchange(true)) return;
  spdlog::error("replication: shard {} deposed: {}", shard_, why.ToString());
  if (on_deposed_) on_deposed_(why);
}

Status BlockPublisher::OnDurableBlock(const std::string& block, const BlockHeader& header) {
  if (fenced_.load()) return Unavailable("shard " + std::to_string(shard_) + " lost its lease");
  if (!leading_.load()) return Status::Ok();
  if (options_.ack == AckMode::kReplicated) {
    return Publish(block, header.first_seq.value, header.last_seq().value);
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    return queue_.size() < options_.queue_blocks_max || stopping_ || fenced_.load();
  });
  if (fenced_.load() || stopping_) return Unavailable("block publisher stopped");
  queue_.push_back(Item{block, header.first_seq.value, header.last_seq().value});
  lock.unlock();
  cv_.notify_all();
  return Status::Ok();
}

Status BlockPublisher::PublishNow(const std::string& block, const BlockHeader& header) {
  return Publish(block, header.first_seq.value, header.last_seq().value);
}

Status BlockPublisher::PublishEpochMarker(uint64_t last_seq, const Hash32& last_block_hash) {
  GL_ASSERT(leading_.load());
  const std::string msg_id = std::to_string(shard_) + ":epoch:" + std::to_string(epoch_.load());
  return Send("", msg_id, last_seq, ToHex(last_block_hash));
}

void BlockPublisher::QueueLoop() {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      busy_ = false;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    cv_.notify_all();
    if (fenced_.load()) continue;  // dropped: the next leader has the stream
    (void)Publish(item.block, item.first_seq, item.last_seq);
  }
}

bool BlockPublisher::WaitDrained(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return (queue_.empty() && !busy_) || fenced_.load(); });
}

bool BlockPublisher::StoredIs(uint64_t stream_seq, const std::string& block) {
  natsMsg* msg = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_GetMsg(&msg, js_, options_.stream.c_str(), stream_seq, nullptr, &code);
  if (s != NATS_OK) return false;
  const bool same = size_t(natsMsg_GetDataLength(msg)) == block.size() &&
                    std::memcmp(natsMsg_GetData(msg), block.data(), block.size()) == 0;
  natsMsg_Destroy(msg);
  return same;
}

Status BlockPublisher::Publish(const std::string& block, uint64_t first_seq, uint64_t last_seq) {
  Status st = Send(block, BlockMsgId(shard_, first_seq), first_seq, "");
  if (st.ok()) replicated_next_ = last_seq + 1;
  return st;
}

Status BlockPublisher::Send(const std::string& data, const std::string& msg_id, uint64_t seq,
                            const std::string& marker_hash_hex) {
  const bool marker = !marker_hash_hex.empty();
  const std::string shard_str = std::to_string(shard_);
  const std::string seq_str = std::to_string(seq);
  const std::string epoch_str = std::to_string(epoch_.load());
  for (;;) {
    if (fenced_.load()) {
      Status why = Unavailable("shard " + shard_str + " lost its lease before " + msg_id +
                               " was replicated");
      Depose(why);
      return why;
    }
    const std::string expected = std::to_string(expected_.load());
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject_.c_str(), nullptr, data.data(), int(data.size()));
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kShardHeader, shard_str.c_str());
    if (s == NATS_OK)
      s = natsMsgHeader_Set(msg, marker ? kLastSeqHeader : kSeqHeader, seq_str.c_str());
    if (s == NATS_OK && marker)
      s = natsMsgHeader_Set(msg, kLastHashHeader, marker_hash_hex.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kMsgIdHeader, msg_id.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kEpochHeader, epoch_str.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kNodeHeader, options_.node.c_str());
    // By hand: jsPubOptions cannot say "expect no message yet" (0).
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kExpectedLastSubjectSeqHeader, expected.c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options_.publish_timeout_ms;
    jsPubAck* ack = nullptr;
    jsErrCode code = jsErrCode(0);
    if (s == NATS_OK) s = js_PublishMsg(&ack, js_, msg, &po, &code);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
      const bool duplicate = ack->Duplicate;
      const uint64_t stream_seq = ack->Sequence;
      jsPubAck_Destroy(ack);
      // A duplicate is ours only when the stored bytes are: another leader
      // may have used the same Msg-Id for its own block at this seq.
      if (duplicate && !marker && !StoredIs(stream_seq, data)) {
        Status why = AbortedStatus(msg_id + " is in the stream already, not from this leader");
        Depose(why);
        return why;
      }
      expected_ = stream_seq;
      published_.fetch_add(1);
      return Status::Ok();
    }
    if (code == JSStreamWrongLastSequenceErr) {
      Status why = AbortedStatus(msg_id + " refused: another writer appended to " + subject_);
      Depose(why);
      return why;
    }
    spdlog::warn("replication: {}; retrying",
                 JetStreamError("publish " + msg_id, s, code).ToString());
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(kRetryPauseMs), [&] { return fenced_.load(); });
    if (stopping_) return Unavailable("block publisher stopped");
  }
}

}  // namespace giftledger::ingress

// Per-shard contiguous reading of the event stream, shared by the projector
// (`project --nats`) and settlement (`settle`): a durable JetStream pull
// consumer on GIFTLEDGER_EVENTS, and gap filling from the ledger's replay
// service (`giftledger.replay.<shard>`). JetStream is a transport, not the
// truth: per shard the seqs must arrive contiguously; a duplicate is skipped
// by the sink, a gap is filled from the replay service before going on.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger::projections {

// What consumes events in per-shard seq order (the Projector, Settlement).
// ApplyBytes contract: seq < next_seq(shard) is a duplicate (skipped, OK);
// seq > next_seq(shard) is a gap (OUT_OF_RANGE, nothing applied).
class SeqSink {
 public:
  virtual ~SeqSink() = default;
  virtual uint32_t shard_count() const = 0;
  virtual uint64_t next_seq(ShardId shard) const = 0;
  virtual Status ApplyBytes(ShardId shard, uint64_t seq, std::string_view event_bytes) = 0;
};

inline constexpr uint64_t kToDurableEnd = UINT64_MAX;

// Applies events [sink.next_seq(shard), until) of `shard` from the replay
// service, page by page; until = kToDurableEnd: up to the shard's durable end
// as the service reports it. *filled counts the events handed to the sink.
Status FillFromReplay(natsConnection* nc, SeqSink& sink, uint32_t shard, uint64_t until,
                      int64_t timeout_ms, uint64_t* filled);

// Applies one fetched JetStream message (its Giftledger-Shard/-Seq headers
// name the event), filling a gap before it if needed. DATA_LOSS for a message
// without the headers, INVALID_ARGUMENT for a shard the sink does not have.
Status ApplyStreamMessage(natsConnection* nc, SeqSink& sink, natsMsg* msg, int64_t timeout_ms,
                          uint64_t* filled);

// A connection with a durable pull consumer on `stream` (subjects `filter`,
// by default giftledger.events.*, explicit acks, deliver all).
class PullConsumer {
 public:
  static Result<std::unique_ptr<PullConsumer>> Open(
      const std::string& url, const std::string& stream, const std::string& durable,
      const std::string& filter = "giftledger.events.*");
  ~PullConsumer();
  PullConsumer(const PullConsumer&) = delete;
  PullConsumer& operator=(const PullConsumer&) = delete;

  natsConnection* connection() const { return nc_; }
  natsSubscription* subscription() const { return sub_; }

 private:
  PullConsumer() = default;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

Status NatsError(const std::string& what, natsStatus s);

}  // namespace giftledger::projections

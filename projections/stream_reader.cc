#include "projections/stream_reader.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "ledger/coding.h"

namespace giftledger::projections {
namespace {

bool HeaderU64(natsMsg* m, const char* key, uint64_t* out) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == nullptr) return false;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, *out);
  return ec == std::errc() && p == end && p != v;
}

}  // namespace

Status NatsError(const std::string& what, natsStatus s) {
  return Unavailable("nats: " + what + ": " + natsStatus_GetText(s));
}

Status FillFromReplay(natsConnection* nc, SeqSink& sink, uint32_t shard, uint64_t until,
                      int64_t timeout_ms, uint64_t* filled) {
  const std::string subject = "giftledger.replay." + std::to_string(shard);
  while (sink.next_seq(ShardId{shard}) < until) {
    const uint64_t from = sink.next_seq(ShardId{shard});
    const uint64_t want = std::min<uint64_t>(until - from, 1000);
    const std::string req =
        "{\"from_seq\":" + std::to_string(from) + ",\"max_events\":" + std::to_string(want) + "}";
    natsMsg* reply = nullptr;
    natsStatus s = natsConnection_Request(&reply, nc, subject.c_str(), req.data(), int(req.size()),
                                          timeout_ms);
    if (s != NATS_OK) return NatsError("replay request to " + subject, s);
    std::unique_ptr<natsMsg, void (*)(natsMsg*)> guard(reply, natsMsg_Destroy);
    const auto* d = reinterpret_cast<const uint8_t*>(natsMsg_GetData(reply));
    const size_t n = size_t(natsMsg_GetDataLength(reply));
    if (n >= 4 && std::memcmp(d, "GLRE", 4) == 0) {
      return Unavailable("replay " + subject + ": " +
                         std::string(reinterpret_cast<const char*>(d) + 4, n - 4));
    }
    if (n < 32 || std::memcmp(d, "GLRP", 4) != 0)
      return DataLoss("replay " + subject + ": bad page");
    const uint32_t count = GetU32(d + 4);
    if (GetU64(d + 8) != from) return DataLoss("replay " + subject + ": page from another seq");
    if (count == 0 && until == kToDurableEnd) return Status::Ok();  // caught up
    if (count == 0) {
      return DataLoss("replay " + subject + " has no event " + std::to_string(from) +
                      ": the ledger ends before the stream");
    }
    size_t off = 32;
    for (uint32_t i = 0; i < count; ++i) {
      if (off + 12 > n) return DataLoss("replay " + subject + ": truncated page");
      const uint64_t seq = GetU64(d + off);
      const uint32_t len = GetU32(d + off + 8);
      off += 12;
      if (off + len > n) return DataLoss("replay " + subject + ": truncated page");
      if (seq < until) {
        GL_RETURN_IF_ERROR(sink.ApplyBytes(
            ShardId{shard}, seq, std::string_view(reinterpret_cast<const char*>(d + off), len)));
        *filled += 1;
      }
      off += len;
    }
  }
  return Status::Ok();
}

Status ApplyStreamMessage(natsConnection* nc, SeqSink& sink, natsMsg* m, int64_t timeout_ms,
                          uint64_t* filled) {
  uint64_t shard = 0, seq = 0;
  if (!HeaderU64(m, "Giftledger-Shard", &shard) || !HeaderU64(m, "Giftledger-Seq", &seq)) {
    return DataLoss(std::string("message on ") + natsMsg_GetSubject(m) +
                    " without Giftledger-Shard/Giftledger-Seq headers");
  }
  if (shard >= sink.shard_count()) {
    return InvalidArgument("event of shard " + std::to_string(shard) + ": this ledger has " +
                           std::to_string(sink.shard_count()) + " shards");
  }
  const ShardId sid{uint32_t(shard)};
  if (seq > sink.next_seq(sid)) {
    GL_RETURN_IF_ERROR(FillFromReplay(nc, sink, sid.value, seq, timeout_ms, filled));
  }
  return sink.ApplyBytes(sid, seq,
                         std::string_view(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m))));
}

Result<std::unique_ptr<PullConsumer>> PullConsumer::Open(const std::string& url,
                                                         const std::string& stream,
                                                         const std::string& durable,
                                                         const std::string& filter) {
  std::unique_ptr<PullConsumer> c(new PullConsumer());
  natsStatus s = natsConnection_ConnectTo(&c->nc_, url.c_str());
  if (s != NATS_OK) return NatsError("connect " + url, s);
  s = natsConnection_JetStream(&c->js_, c->nc_, nullptr);
  if (s != NATS_OK) return NatsError("jetstream", s);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.DeliverPolicy = js_DeliverAll;
  jsErrCode jerr = jsErrCode(0);
  s = js_PullSubscribe(&c->sub_, c->js_, filter.c_str(), durable.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) {
    return NatsError("pull consumer " + durable + " on " + stream + " (js error " +
                         std::to_string(int(jerr)) + ")",
                     s);
  }
  return c;
}

PullConsumer::~PullConsumer() {
  if (sub_) natsSubscription_Destroy(sub_);
  if (js_) jsCtx_Destroy(js_);
  if (nc_) natsConnection_Destroy(nc_);
}

}  // namespace giftledger::projections

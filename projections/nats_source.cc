#include "projections/nats_source.h"

#include <nats/nats.h>

#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ledger/coding.h"
#include "projections/query_server.h"

namespace giftledger::projections {
namespace {

Status NatsError(const std::string& what, natsStatus s) {
  return Unavailable("nats: " + what + ": " + natsStatus_GetText(s));
}

bool HeaderU64(natsMsg* m, const char* key, uint64_t* out) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == nullptr) return false;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, *out);
  return ec == std::errc() && p == end && p != v;
}

constexpr uint64_t kToDurableEnd = UINT64_MAX;

// Applies events [projector.next_seq(shard), until) of `shard` from the
// replay service, page by page; until = kToDurableEnd: up to the shard's
// durable end as the service reports it.
Status FillGap(natsConnection* nc, Projector& p, uint32_t shard, uint64_t until,
               const NatsSourceOptions& o, NatsSourceStats* stats) {
  const std::string subject = "giftledger.replay." + std::to_string(shard);
  while (p.next_seq(ShardId{shard}) < until) {
    const uint64_t from = p.next_seq(ShardId{shard});
    const uint64_t want = std::min<uint64_t>(until - from, 1000);
    const std::string req =
        "{\"from_seq\":" + std::to_string(from) + ",\"max_events\":" + std::to_string(want) + "}";
    natsMsg* reply = nullptr;
    natsStatus s = natsConnection_Request(&reply, nc, subject.c_str(), req.data(), int(req.size()),
                                          o.replay_timeout_ms);
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
        GL_RETURN_IF_ERROR(p.ApplyBytes(
            ShardId{shard}, seq, std::string_view(reinterpret_cast<const char*>(d + off), len)));
        stats->gap_filled_events += 1;
        if (p.metrics()) p.metrics()->gap_filled_events.fetch_add(1, std::memory_order_relaxed);
      }
      off += len;
    }
  }
  return Status::Ok();
}

// Applies one fetched message (filling a gap before it if needed).
Status ApplyMessage(natsConnection* nc, Projector& p, natsMsg* m, const NatsSourceOptions& o,
                    NatsSourceStats* stats) {
  uint64_t shard = 0, seq = 0;
  if (!HeaderU64(m, "Giftledger-Shard", &shard) || !HeaderU64(m, "Giftledger-Seq", &seq)) {
    return DataLoss(std::string("message on ") + natsMsg_GetSubject(m) +
                    " without Giftledger-Shard/Giftledger-Seq headers");
  }
  if (shard >= p.positions().size()) {
    return InvalidArgument("event of shard " + std::to_string(shard) +
                           ": this projection's ledger has " +
                           std::to_string(p.positions().size()) + " shards");
  }
  const ShardId sid{uint32_t(shard)};
  if (p.metrics()) p.metrics()->Seen(sid.value, seq);
  if (seq > p.next_seq(sid)) GL_RETURN_IF_ERROR(FillGap(nc, p, sid.value, seq, o, stats));
  stats->messages += 1;
  return p.ApplyBytes(sid, seq,
                      std::string_view(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m))));
}

}  // namespace

Status ProjectFromNats(Projector& p, const NatsSourceOptions& o, NatsSourceStats* stats) {
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, o.url.c_str());
  if (s != NATS_OK) return NatsError("connect " + o.url, s);
  std::unique_ptr<natsConnection, void (*)(natsConnection*)> nc_guard(nc, natsConnection_Destroy);
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, nullptr);
  if (s != NATS_OK) return NatsError("jetstream", s);
  std::unique_ptr<jsCtx, void (*)(jsCtx*)> js_guard(js, jsCtx_Destroy);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = o.stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = jsErrCode(0);
  s = js_PullSubscribe(&sub, js, "giftledger.events.*", o.durable.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) {
    return NatsError("pull consumer " + o.durable + " on " + o.stream + " (js error " +
                         std::to_string(int(jerr)) + ")",
                     s);
  }
  std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> sub_guard(
      sub, natsSubscription_Destroy);
  // Catch up from the replay service first: the durable consumer may already
  // have acked past this database's positions (a new or restored database),
  // and JetStream may have lost a tail. The stream then only adds duplicates.
  for (uint32_t shard = 0; o.catch_up_on_start && shard < p.positions().size(); ++shard) {
    GL_RETURN_IF_ERROR(FillGap(nc, p, shard, kToDurableEnd, o, stats));
    GL_RETURN_IF_ERROR(p.Commit());
  }
  p.models().set_collect_notices(o.broadcasts);
  // Held from the first event of a pull to its commit, so that queries see
  // committed states only. Declared before the server: destroyed after it.
  std::mutex mu;
  std::unique_ptr<HotQueryServer> server;
  if (o.serve_queries) {
    auto srv = HotQueryServer::Start(nc, &p, &mu);
    if (!srv.ok()) return srv.status();
    server = std::move(srv.value());
  }
  while (o.stop == nullptr || !o.stop->load()) {
    natsMsgList list{nullptr, 0};
    s = natsSubscription_Fetch(&list, sub, o.fetch_max, o.fetch_timeout_ms, &jerr);
    if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
      natsMsgList_Destroy(&list);
      if (o.exit_when_idle) {
        std::lock_guard<std::mutex> lock(mu);
        return p.Commit();
      }
      continue;
    }
    if (s != NATS_OK) return NatsError("fetch", s);
    Status st;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (int i = 0; st.ok() && i < list.Count; ++i) {
        st = ApplyMessage(nc, p, list.Msgs[i], o, stats);
      }
      // Commit first, ack after: an ack never runs ahead of what SQLite holds.
      if (st.ok()) st = p.Commit();
    }
    if (st.ok()) {
      // After the commit only: never announce what a crash would forget.
      for (const Broadcast& b : TakeBroadcasts(p.models(), o.broadcast)) {
        (void)natsConnection_Publish(nc, b.subject.c_str(), b.json.data(), int(b.json.size()));
        stats->broadcasts += 1;
        if (p.metrics()) p.metrics()->broadcasts.fetch_add(1, std::memory_order_relaxed);
      }
      (void)natsConnection_FlushTimeout(nc, o.replay_timeout_ms);
      for (int i = 0; i < list.Count; ++i) (void)natsMsg_Ack(list.Msgs[i], nullptr);
      if (o.on_commit) o.on_commit(p.stats().applied_events);
    }
    natsMsgList_Destroy(&list);
    GL_RETURN_IF_ERROR(st);
  }
  std::lock_guard<std::mutex> lock(mu);
  return p.Commit();
}

}  // namespace giftledger::projections

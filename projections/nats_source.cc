#include "projections/nats_source.h"

#include <nats/nats.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "projections/projector_metrics.h"
#include "projections/query_server.h"
#include "projections/stream_reader.h"

namespace giftledger::projections {
namespace {

// The shared stream reader counts into NatsSourceStats; mirror what it
// filled from the replay service into the projector's /metrics.
void CountGapFilled(Projector& p, uint64_t filled_before, const NatsSourceStats& stats) {
  if (p.metrics() == nullptr) return;
  p.metrics()->gap_filled_events.fetch_add(stats.gap_filled_events - filled_before,
                                           std::memory_order_relaxed);
}

// The Giftledger-Shard header; false when absent or not a number (the
// message is then left to ApplyStreamMessage, which reports it).
bool MessageShard(natsMsg* m, uint64_t* shard) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, "Giftledger-Shard", &v) != NATS_OK || v == nullptr || *v == '\0') {
    return false;
  }
  char* end = nullptr;
  *shard = std::strtoull(v, &end, 10);
  return *end == '\0';
}

}  // namespace

Status ProjectFromNats(Projector& p, const NatsSourceOptions& o, NatsSourceStats* stats) {
  const uint32_t shard_count = uint32_t(p.positions().size());
  std::vector<bool> owned(shard_count, o.shards.empty());
  for (uint32_t s : o.shards) {
    if (s >= shard_count) {
      return InvalidArgument("shard " + std::to_string(s) + " does not exist (ledger has " +
                             std::to_string(shard_count) + " shards)");
    }
    owned[s] = true;
  }
  const std::string filter = o.shards.size() == 1
                                 ? "giftledger.events." + std::to_string(o.shards[0])
                                 : "giftledger.events.*";
  auto consumer = PullConsumer::Open(o.url, o.stream, o.durable, filter);
  if (!consumer.ok()) return consumer.status();
  natsConnection* nc = consumer.value()->connection();
  natsSubscription* sub = consumer.value()->subscription();
  // Catch up from the replay service first: the durable consumer may already
  // have acked past this database's positions (a new or restored database),
  // and JetStream may have lost a tail. The stream then only adds duplicates.
  for (uint32_t shard = 0; o.catch_up_on_start && shard < shard_count; ++shard) {
    if (!owned[shard]) continue;
    const uint64_t filled_before = stats->gap_filled_events;
    GL_RETURN_IF_ERROR(FillFromReplay(nc, p, shard, kToDurableEnd, o.replay_timeout_ms,
                                      &stats->gap_filled_events));
    CountGapFilled(p, filled_before, *stats);
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
    jsErrCode jerr = jsErrCode(0);
    natsStatus s = natsSubscription_Fetch(&list, sub, o.fetch_max, o.fetch_timeout_ms, &jerr);
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
      const uint64_t filled_before = stats->gap_filled_events;
      for (int i = 0; st.ok() && i < list.Count; ++i) {
        stats->messages += 1;
        uint64_t shard = 0;
        if (MessageShard(list.Msgs[i], &shard) && shard < shard_count && !owned[shard]) {
          stats->other_shards += 1;  // another projector's: acked with the batch
          continue;
        }
        st =
            ApplyStreamMessage(nc, p, list.Msgs[i], o.replay_timeout_ms, &stats->gap_filled_events);
      }
      CountGapFilled(p, filled_before, *stats);
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

#include "commands/ingress/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/ingress/nats_servers.h"
#include "ledger/file.h"
#include "ledger/reader.h"

namespace giftledger::ingress {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status NatsError(const std::string& what, natsStatus s) {
  return Unavailable(what + ": " + natsStatus_GetText(s));
}

// A drain answers what is already queued; this bounds how long it may take.
constexpr int64_t kDrainTimeoutMs = 30'000;
constexpr int64_t kFlushTimeoutMs = 5'000;
// At shutdown, how long the publisher may take to send what is durable; the
// rest is published by the next start.
constexpr int64_t kPublishCatchUpTimeoutMs = 5'000;

}  // namespace

std::string ServiceKeyPath(const std::string& data_dir) {
  return JoinPath(data_dir, "service.key");
}
std::string ServicePublicKeyPath(const std::string& data_dir) {
  return JoinPath(data_dir, "service.pub");
}

Result<std::unique_ptr<Service>> Service::Open(const ServiceOptions& options) {
  std::unique_ptr<Service> s(new Service(options));
  auto manifest = LoadManifest(options.data_dir);
  if (!manifest.ok()) return manifest.status();
  s->manifest_ = manifest.value();
  auto key = BoxKeyPair::Load(ServiceKeyPath(options.data_dir));
  if (!key.ok()) {
    return FailedPrecondition("service key: " + key.status().message() +
                              " (create it with `giftledger keys service`)");
  }
  s->service_key_ = key.value();
  GL_RETURN_IF_ERROR(s->ReloadGateways());

  std::vector<uint32_t> shards = options.shards;
  if (shards.empty()) {
    for (uint32_t i = 0; i < s->manifest_.shard_count; ++i) shards.push_back(i);
  }
  for (uint32_t id : shards) {
    if (id >= s->manifest_.shard_count) {
      return InvalidArgument("shard " + std::to_string(id) + " does not exist (ledger has " +
                             std::to_string(s->manifest_.shard_count) + ")");
    }
    auto signing = LoadShardSigningKey(options.data_dir, s->manifest_, ShardId{id});
    if (!signing.ok()) return signing.status();
    auto shard = std::make_unique<Shard>();
    commands::EngineOptions eo;
    eo.writer.segment_bytes = s->manifest_.segment_bytes;
    eo.writer.fsync_us = &shard->fsync_us;
    eo.writer.block_events = &shard->block_events;
    const std::string shard_dir = ShardDir(options.data_dir, ShardId{id});
    eo.snapshots = options.snapshots;
    if (options.checkpoint_every_blocks > 0) {
      eo.writer.checkpoints.every_blocks = options.checkpoint_every_blocks;
    }
    if (options.checkpoint_every_ms > 0) {
      eo.writer.checkpoints.every_ms = options.checkpoint_every_ms;
    }
    if (options.idempotency_memory_entries_max > 0) {
      eo.idempotency_memory_entries_max = options.idempotency_memory_entries_max;
    }
    if (options.closed_orders_memory_max > 0) {
      eo.closed_orders_memory_max = options.closed_orders_memory_max;
    }
    Service* svc = s.get();
    eo.writer.checkpoints.on_written = [svc, id](const Checkpoint& c) {
      svc->PublishCheckpoint(id, c);
    };
    if (options.replicate) {
      // The publisher exists before the first block is written (Start).
      Shard* sp = shard.get();
      eo.writer.on_durable_block = [sp](const std::string& block, const BlockHeader& h) {
        return sp->block_publisher ? sp->block_publisher->OnDurableBlock(block, h) : Status::Ok();
      };
      eo.writer.block_body_bytes_target = kReplicatedBlockBodyBytesTarget;
    }
    auto engine =
        commands::ShardEngine::Open(shard_dir,
                                    commands::ShardConfig{ShardId{id}, s->manifest_.shard_count,
                                                          s->manifest_.utc_offset_minutes},
                                    signing.value(), eo);
    if (!engine.ok()) return engine.status();
    shard->service = s.get();
    shard->shard = id;
    shard->engine = std::move(engine.value());
    s->shards_.push_back(std::move(shard));
  }
  return s;
}

Service::~Service() {
  Status st = Shutdown();
  if (!st.ok()) spdlog::error("shutdown: {}", st.ToString());
}

Status Service::ReloadGateways() {
  auto reg = GatewayRegistry::Load(options_.data_dir, service_key_);
  if (!reg.ok()) return reg.status();
  auto registry = std::make_shared<const GatewayRegistry>(std::move(reg.value()));
  auto admission =
      std::make_shared<const Admission>(Admission{registry, Gatekeeper(registry.get(), &window_)});
  std::lock_guard<std::mutex> lock(admission_mu_);
  admission_ = std::move(admission);
  spdlog::info("gateways: {} registered", registry->size());
  return Status::Ok();
}

std::shared_ptr<const Service::Admission> Service::CurrentAdmission() const {
  std::lock_guard<std::mutex> lock(admission_mu_);
  return admission_;
}

size_t Service::gateways() const { return CurrentAdmission()->registry->size(); }

ServiceCounters Service::counters() const {
  return ServiceCounters{requests_.load(), envelope_rejects_.load(), commands_.load(),
                         checkpoints_published_.load()};
}

std::string Service::MetricsText() const {
  PrometheusText t;
  t.Counter("giftledger_requests_total", "Command requests received (envelopes).",
            double(requests_.load()));
  t.Counter("giftledger_envelope_rejects_total",
            "Requests refused at the envelope (unknown gateway, bad MAC, stale, replayed, ...).",
            double(envelope_rejects_.load()));
  for (int code = 0; code < schemas::ResultCode_ARRAYSIZE; ++code) {
    if (!schemas::ResultCode_IsValid(code)) continue;
    t.Counter("giftledger_command_results_total", "Per-command results by result code.",
              double(results_by_code_[size_t(code)].load()),
              PrometheusText::Label("code", schemas::ResultCode_Name(schemas::ResultCode(code))));
  }
  for (const auto& sh : shards_) {
    const std::string shard = PrometheusText::Label("shard", std::to_string(sh->shard));
    t.Histogram("giftledger_commit_latency_us",
                "Admission to encrypted reply, events durable (fdatasync), per request.",
                sh->commit_us.Read(), shard);
    t.Histogram("giftledger_fsync_us", "fdatasync duration per group commit.", sh->fsync_us.Read(),
                shard);
    t.Histogram("giftledger_block_events", "Events per block.", sh->block_events.Read(), shard);
    const WriterStats ws = sh->engine->writer_stats();
    t.Counter("giftledger_blocks_total", "Blocks written.", double(ws.blocks), shard);
    t.Counter("giftledger_events_total", "Events written.", double(ws.events), shard);
    t.Counter("giftledger_log_bytes_total", "Bytes appended to the log.", double(ws.bytes), shard);
    t.Counter("giftledger_fsyncs_total", "fdatasync calls.", double(ws.fsyncs), shard);
    const commands::StateRootTrackerStats sr = sh->engine->state_root_stats();
    t.Gauge("giftledger_state_root_last_us",
            "Time to compute the last checkpoint's state root on the syncer thread.",
            double(sr.last_root_us), shard);
    t.Gauge("giftledger_state_leaves", "Leaves of the last checkpoint's state tree.",
            double(sr.last_leaves), shard);
    const uint64_t durable = sh->engine->durable_next_seq();
    t.Gauge("giftledger_durable_next_seq", "Next seq of the shard (last durable + 1).",
            double(durable), shard);
    if (publisher_) {
      const uint64_t published = publisher_->published_next_seq(sh->shard);
      t.Counter("giftledger_events_published_total",
                "Events acknowledged by JetStream (the shard's published next seq - 1).",
                double(published > 0 ? published - 1 : 0), shard);
      t.Gauge("giftledger_publish_lag_events", "Durable events not yet acknowledged by JetStream.",
              double(durable > published ? durable - published : 0), shard);
    }
  }
  return t.text();
}

std::string Service::InfoJson() const {
  nlohmann::json j;
  j["protocol_version"] = kProtocolVersion;
  j["ledger_id"] = manifest_.ledger_id;
  j["shard_count"] = manifest_.shard_count;
  j["service_public_key"] = ToHex(service_key_.public_key());
  j["signing_public_keys"] = nlohmann::json::array();
  for (const auto& k : manifest_.public_keys) j["signing_public_keys"].push_back(ToHex(k));
  j["batch_commands_max"] = kBatchCommandsMax;
  j["window_us"] = kReplayWindowUs;
  j["shards_served"] = nlohmann::json::array();
  j["shards_leading"] = nlohmann::json::array();
  for (const auto& s : shards_) {
    j["shards_served"].push_back(s->shard);
    if (!options_.replicate || s->leading.load()) j["shards_leading"].push_back(s->shard);
  }
  if (options_.replicate) {
    j["node"] = options_.node;
    j["role"] = j["shards_leading"].empty() ? "standby" : "leader";
    j["ack"] = options_.ack == AckMode::kReplicated ? "replicated" : "local";
  }
  return j.dump();
}

Status Service::Start() {
  GL_ASSERT(nc_ == nullptr);
  natsStatus s = natsOptions_Create(&nats_options_);
  if (s == NATS_OK) s = SetNatsServers(nats_options_, options_.nats_url);
  // Without SendAsap a reply waits for the flusher thread (~1 ms on this
  // machine, design §10); with it, the publish writes to the socket at once.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(nats_options_, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats_options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(nats_options_, 250);
  if (s == NATS_OK) s = natsOptions_SetName(nats_options_, "giftledger-start");
  if (s != NATS_OK) return NatsError("nats options", s);
  s = natsConnection_Connect(&nc_, nats_options_);
  if (s != NATS_OK) return NatsError("connect to " + options_.nats_url, s);
  checkpoint_nc_.store(nc_);
  // Before the command subscriptions: their completions notify the publisher.
  if (options_.publish_events) GL_RETURN_IF_ERROR(StartEvents());
  if (!options_.replicate) {
    for (auto& shard : shards_) GL_RETURN_IF_ERROR(Subscribe(shard.get()));
  }
  s = natsConnection_Subscribe(&info_sub_, nc_, kInfoSubject, &Service::OnInfoMsg, this);
  if (s != NATS_OK) return NatsError(std::string("subscribe ") + kInfoSubject, s);
  s = natsConnection_FlushTimeout(nc_, kFlushTimeoutMs);
  if (s != NATS_OK) return NatsError("flush subscriptions", s);
  if (options_.replicate) GL_RETURN_IF_ERROR(StartReplication());
  spdlog::info("serving ledger {} ({} of {} shards) on {}", manifest_.ledger_id, shards_.size(),
               manifest_.shard_count, options_.nats_url);
  return Status::Ok();
}

Status Service::Subscribe(Shard* shard) {
  natsStatus s = natsConnection_Subscribe(&shard->sub, nc_, CommandSubject(shard->shard).c_str(),
                                          &Service::OnCommandMsg, shard);
  if (s != NATS_OK) return NatsError("subscribe " + CommandSubject(shard->shard), s);
  // Big batches queue here while the engine catches up; unbounded is not
  // an option, and the client retries a dropped request (same tx ids).
  s = natsSubscription_SetPendingLimits(shard->sub, 65536, 512 << 20);
  if (s != NATS_OK) return NatsError("pending limits", s);
  shard->serving = true;
  return Status::Ok();
}

Service::Shard* Service::FindShard(uint32_t shard) const {
  for (const auto& s : shards_) {
    if (s->shard == shard) return s.get();
  }
  return nullptr;
}

std::vector<ShardLogSource> Service::LogSources() const {
  std::vector<ShardLogSource> out;
  for (const auto& shard : shards_) {
    commands::ShardEngine* engine = shard->engine.get();
    out.push_back(ShardLogSource{
        ShardId{shard->shard}, ShardDir(options_.data_dir, ShardId{shard->shard}),
        manifest_.public_keys.at(shard->shard), [engine] { return engine->durable_next_seq(); }});
  }
  return out;
}

Status Service::StartEvents() {
  natsStatus s = natsOptions_Create(&events_options_);
  if (s == NATS_OK) s = SetNatsServers(events_options_, options_.nats_url);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(events_options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(events_options_, 250);
  // The publisher retries on its own; it must not stop `start` from serving.
  if (s == NATS_OK)
    s = natsOptions_SetRetryOnFailedConnect(events_options_, true, nullptr, nullptr);
  if (s == NATS_OK) s = natsOptions_SetName(events_options_, "giftledger-events");
  if (s != NATS_OK) return NatsError("nats options (events)", s);
  s = natsConnection_Connect(&events_nc_, events_options_);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    return NatsError("connect to " + options_.nats_url + " (events)", s);
  }
  auto replay = ReplayService::Start(events_nc_, LogSources());
  if (!replay.ok()) return replay.status();
  replay_ = std::move(replay.value());
  if (options_.replicate) return Status::Ok();  // per shard, once it leads (TakeOver)
  EventPublisherOptions po;
  po.stream = options_.event_stream;
  publisher_ = EventPublisher::Start(events_nc_, po, LogSources());
  return Status::Ok();
}

void Service::OnInfoMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<Service*>(closure);
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr && *reply != '\0') self->Publish(reply, self->InfoJson());
  natsMsg_Destroy(msg);
}

void Service::OnCommandMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* shard = static_cast<Shard*>(closure);
  shard->service->HandleCommand(shard, msg);
  natsMsg_Destroy(msg);
}

void Service::Publish(const std::string& subject, const std::string& bytes) {
  natsStatus s = natsConnection_Publish(nc_, subject.c_str(), bytes.data(), int(bytes.size()));
  if (s != NATS_OK) {
    // The events are durable; the gateway times out and retries with the
    // same tx ids and gets the original results.
    spdlog::warn("reply to {} not sent: {}", subject, natsStatus_GetText(s));
  }
}

void Service::PublishCheckpoint(uint32_t shard, const Checkpoint& c) {
  natsConnection* nc = checkpoint_nc_.load();
  if (nc == nullptr) return;  // not serving yet: the file is the record
  if (options_.replicate) {
    // A standby's checkpoints are its own business; the leader's go out.
    Shard* sp = FindShard(shard);
    if (sp == nullptr || !sp->leading.load()) return;
  }
  const std::string bytes = EncodeCheckpoint(c);
  natsStatus s =
      natsConnection_Publish(nc, CheckpointSubject(shard).c_str(), bytes.data(), int(bytes.size()));
  if (s != NATS_OK) {
    spdlog::warn("checkpoint {} of shard {} not published: {}", c.tree_size, shard,
                 natsStatus_GetText(s));
    return;
  }
  checkpoints_published_.fetch_add(1, std::memory_order_relaxed);
}

void Service::HandleCommand(Shard* shard, natsMsg* msg) {
  const char* reply_c = natsMsg_GetReply(msg);
  if (reply_c == nullptr || *reply_c == '\0') return;  // nobody to answer: not a request
  std::string reply_to(reply_c);
  requests_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<const Admission> admission = CurrentAdmission();
  auto req = std::make_shared<AdmittedRequest>();
  std::string error_reply;
  const std::string_view bytes(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg)));
  const int64_t now_us = NowUs();
  if (!admission->gatekeeper.Admit(bytes, now_us, req.get(), &error_reply)) {
    envelope_rejects_.fetch_add(1, std::memory_order_relaxed);
    Publish(reply_to, error_reply);
    return;
  }
  commands_.fetch_add(req->commands.size(), std::memory_order_relaxed);
  const uint32_t roles = req->gateway->entry.roles;
  // Runs on the writer thread once the batch is durable; `admission` keeps
  // the registry (and so req->gateway) alive across a reload.
  const uint32_t shard_id = shard->shard;
  const auto admitted = std::chrono::steady_clock::now();
  shard->engine->Submit(
      req->commands, roles,
      [this, admission, req, shard, shard_id, admitted,
       reply_to = std::move(reply_to)](std::vector<schemas::CommandResult> results) {
        Publish(reply_to, Gatekeeper::SealResults(*req, results, NowUs()));
        if (publisher_) publisher_->Notify(shard_id);
        if (shard->events) shard->events->Notify(shard_id);
        for (const auto& r : results) {
          if (size_t(r.code()) < results_by_code_.size()) {
            results_by_code_[size_t(r.code())].fetch_add(1, std::memory_order_relaxed);
          }
        }
        shard->commit_us.Observe(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - admitted)
                .count());
      });
}

Status Service::Shutdown() {
  if (closed_.exchange(true)) return Status::Ok();
  Status first;
  auto keep = [&](const Status& st) {
    if (!st.ok() && first.ok()) first = st;
  };
  std::vector<Shard*> draining;
  {
    // No takeover subscribes from here on; a fenced shard is unsubscribed.
    std::lock_guard<std::mutex> lock(role_mu_);
    roles_closed_ = true;
    for (auto& shard : shards_) {
      if (shard->sub != nullptr && shard->serving) draining.push_back(shard.get());
    }
    if (nc_ != nullptr) {
      // Stop taking requests but answer everything already delivered to us.
      for (Shard* shard : draining) (void)natsSubscription_Drain(shard->sub);
    }
  }
  if (nc_ != nullptr) {
    if (info_sub_ != nullptr) (void)natsSubscription_Drain(info_sub_);
    for (Shard* shard : draining) {
      natsStatus s = natsSubscription_WaitForDrainCompletion(shard->sub, kDrainTimeoutMs);
      if (s != NATS_OK) keep(NatsError("drain " + CommandSubject(shard->shard), s));
    }
    if (info_sub_ != nullptr) (void)natsSubscription_WaitForDrainCompletion(info_sub_, 1000);
  }
  for (auto& shard : shards_) {
    if (shard->follower) shard->follower->Stop();
  }
  if (replay_) replay_->Stop();
  for (auto& shard : shards_) {
    if (options_.snapshots) {
      Status st = shard->engine->WriteSnapshotNow();
      if (!st.ok()) spdlog::warn("shard {}: no snapshot: {}", shard->shard, st.ToString());
    }
    // Close waits for every batch in flight; their replies are published
    // from the writer thread before it returns.
    keep(shard->engine->Close());
  }
  for (auto& shard : shards_) {
    if (shard->block_publisher && options_.ack == AckMode::kLocal &&
        !shard->block_publisher->WaitDrained(kPublishCatchUpTimeoutMs)) {
      spdlog::warn("replication: shard {}: not every block published", shard->shard);
    }
    // Every block is in the stream: hand the lease over at once.
    if (shard->lease) shard->lease->Stop();
    if (shard->events) {
      if (!shard->events->WaitCaughtUp(kPublishCatchUpTimeoutMs)) {
        spdlog::warn("events: shard {}: not all durable events published", shard->shard);
      }
      shard->events->Stop();
    }
  }
  if (publisher_) {
    // Every event is durable now; give the publisher a bounded moment to
    // send them so a consumer need not wait for the next start.
    if (!publisher_->WaitCaughtUp(kPublishCatchUpTimeoutMs)) {
      spdlog::warn("events: not all durable events published; the next start publishes them");
    }
    publisher_->Stop();
  }
  if (events_nc_ != nullptr) {
    replay_.reset();
    publisher_.reset();
    for (auto& shard : shards_) shard->events.reset();
    (void)natsConnection_FlushTimeout(events_nc_, kFlushTimeoutMs);
    natsConnection_Close(events_nc_);
    natsConnection_Destroy(events_nc_);
    events_nc_ = nullptr;
  }
  natsOptions_Destroy(events_options_);
  events_options_ = nullptr;
  for (auto& shard : shards_) {
    shard->lease.reset();
    shard->follower.reset();
    shard->block_publisher.reset();
  }
  jsCtx_Destroy(repl_js_);
  repl_js_ = nullptr;
  if (repl_nc_ != nullptr) {
    (void)natsConnection_FlushTimeout(repl_nc_, kFlushTimeoutMs);
    natsConnection_Close(repl_nc_);
    natsConnection_Destroy(repl_nc_);
    repl_nc_ = nullptr;
  }
  natsOptions_Destroy(repl_options_);
  repl_options_ = nullptr;
  if (nc_ != nullptr) {
    // The engines are closed: no syncer publishes any more.
    checkpoint_nc_.store(nullptr);
    natsStatus s = natsConnection_FlushTimeout(nc_, kFlushTimeoutMs);
    if (s != NATS_OK) keep(NatsError("flush replies", s));
    for (auto& shard : shards_) {
      natsSubscription_Destroy(shard->sub);
      shard->sub = nullptr;
    }
    natsSubscription_Destroy(info_sub_);
    info_sub_ = nullptr;
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
    nc_ = nullptr;
  }
  natsOptions_Destroy(nats_options_);
  nats_options_ = nullptr;
  spdlog::info("stopped: {} requests, {} envelope rejects, {} commands", requests_.load(),
               envelope_rejects_.load(), commands_.load());
  return first;
}

}  // namespace giftledger::ingress

// ---- Replication (docs/replication.md) ----

namespace giftledger::ingress {
namespace {

constexpr int64_t kTakeOverCatchUpMs = 60'000;
constexpr int64_t kStreamTailAttempts = 50;
constexpr int64_t kLeaderWaitLogMs = 5'000;

int64_t MonoMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Status Service::StartReplication() {
  // Blocks name their leader by manifest id (docs/replication.md).
  const ManifestNode* me = manifest_.FindNode(options_.node);
  if (me == nullptr) {
    return FailedPrecondition("node " + options_.node + " is not listed in " +
                              ManifestPath(options_.data_dir) +
                              ": run `giftledger keys node --data DIR --name " + options_.node +
                              "` on the ledger before copying it to its nodes");
  }
  node_id_ = me->id;
  natsStatus s = natsOptions_Create(&repl_options_);
  if (s == NATS_OK) s = SetNatsServers(repl_options_, options_.nats_url);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(repl_options_, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(repl_options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(repl_options_, 100);
  if (s == NATS_OK) s = natsOptions_SetName(repl_options_, "giftledger-replication");
  if (s != NATS_OK) return NatsError("nats options (replication)", s);
  s = natsConnection_Connect(&repl_nc_, repl_options_);
  if (s != NATS_OK) return NatsError("connect to " + options_.nats_url + " (replication)", s);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 2'000;
  s = natsConnection_JetStream(&repl_js_, repl_nc_, &jo);
  if (s != NATS_OK) return NatsError("jetstream (replication)", s);
  GL_RETURN_IF_ERROR(EnsureBlockStream(repl_js_, options_.block_stream));
  for (auto& shard : shards_) {
    Shard* sp = shard.get();
    BlockPublisherOptions po;
    po.stream = options_.block_stream.name;
    po.ack = options_.ack;
    po.node = options_.node;
    sp->block_publisher =
        std::make_unique<BlockPublisher>(repl_nc_, sp->shard, po, [this, sp](const Status& why) {
          StopServing(sp, why);
          if (sp->lease) sp->lease->Abandon();
        });
    sp->follower = std::make_unique<BlockFollower>(
        repl_nc_, options_.block_stream.name, sp->shard,
        [this, sp](const std::string& block) { return ApplyFollowedBlock(sp, block); });
    sp->follower->Start();
    ShardLeaseOptions lo;
    lo.bucket = options_.lease_bucket;
    lo.replicas = options_.block_stream.replicas;
    lo.node = options_.node;
    sp->lease = std::make_unique<ShardLease>(
        repl_nc_, sp->shard, lo, [this, sp](uint64_t epoch) { return TakeOver(sp, epoch); },
        [this, sp](const Status& why) { StopServing(sp, why); });
    GL_RETURN_IF_ERROR(sp->lease->Start());
  }
  if (options_.standby) {
    spdlog::info("replication: standby for {} shards as node {}", shards_.size(), options_.node);
    return Status::Ok();
  }
  // A leader is ready once it leads every shard it serves.
  int64_t next_log_ms = MonoMs() + kLeaderWaitLogMs;
  for (;;) {
    bool all = true;
    for (auto& shard : shards_) {
      if (shard->cannot_lead.load()) {
        return Unavailable("shard " + std::to_string(shard->shard) + " cannot lead (see the log)");
      }
      all = all && shard->leading.load();
    }
    if (all) return Status::Ok();
    if (MonoMs() >= next_log_ms) {
      spdlog::info("replication: waiting for the leases of every served shard");
      next_log_ms = MonoMs() + kLeaderWaitLogMs;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Status Service::ApplyFollowedBlock(Shard* shard, const std::string& block) {
  if (block.empty()) return Status::Ok();  // an epoch marker
  BlockView view;
  Status st = ParseBlock(reinterpret_cast<const uint8_t*>(block.data()), block.size(), &view);
  if (!st.ok()) return DataLoss("not a block: " + st.message());
  if (view.header.last_seq().value < shard->engine->next_seq()) return Status::Ok();  // have it
  return shard->engine->AppendReplicatedBlock(block);
}

void Service::StopServing(Shard* shard, const Status& why) {
  if (shard->block_publisher) shard->block_publisher->Fence();
  shard->engine->Fence(Unavailable("shard " + std::to_string(shard->shard) +
                                   " is not served here any more: " + why.message()));
  std::lock_guard<std::mutex> lock(role_mu_);
  shard->leading = false;
  if (shard->serving && shard->sub != nullptr && !roles_closed_) {
    (void)natsSubscription_Unsubscribe(shard->sub);
    shard->serving = false;
  }
}

bool Service::TakeOver(Shard* shard, uint64_t epoch) {
  const int64_t t0 = MonoMs();
  const uint32_t id = shard->shard;
  auto closed = [this] {
    std::lock_guard<std::mutex> lock(role_mu_);
    return roles_closed_;
  };
  auto give_up = [&](const Status& why) {
    spdlog::error("replication: shard {} cannot lead: {}", id, why.ToString());
    shard->cannot_lead = true;
    StopServing(shard, why);
    return false;
  };
  // 1. Where the shard's subject ends, asked of the stream leader.
  Result<StreamTail> tail = Unavailable("not asked");
  for (int64_t i = 0; i < kStreamTailAttempts && !closed(); ++i) {
    tail = ReadStreamTail(repl_js_, options_.block_stream.name, id);
    if (tail.ok() || tail.status().code() == Code::kDataLoss) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!tail.ok()) return give_up(tail.status());
  const uint64_t stream_last = tail.value().last_seq;
  // 2. Follow until the local log holds everything the stream does.
  while (shard->engine->durable_next_seq() <= stream_last) {
    if (closed()) return give_up(Unavailable("shutting down"));
    Status fh = shard->follower->health();
    if (!fh.ok()) return give_up(fh);
    if (MonoMs() - t0 > kTakeOverCatchUpMs) {
      return give_up(Unavailable("catch-up to seq " + std::to_string(stream_last) + " too slow"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  shard->follower->Stop();
  // What the follower appended is durable before this node writes.
  while (shard->engine->durable_next_seq() < shard->engine->next_seq()) {
    if (closed()) return give_up(Unavailable("shutting down"));
    if (MonoMs() - t0 > kTakeOverCatchUpMs)
      return give_up(Unavailable("copied blocks not durable"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // 3. The local log must continue the stream; a local tail past it (this
  //    node led before and died before publishing) is published first.
  shard->block_publisher->Lead(epoch, tail.value().stream_seq, stream_last + 1);
  const uint64_t local_last = shard->engine->durable_next_seq() - 1;
  Hash32 last_hash = tail.value().block_hash;
  uint64_t log_epoch_last = 0;  // the epoch the local log's last block names
  if (local_last > 0) {
    const std::string dir = ShardDir(options_.data_dir, ShardId{id});
    auto reader = LogReader::Open(dir, ShardId{id}, manifest_.public_keys.at(id));
    if (!reader.ok()) return give_up(reader.status());
    Status ps;
    uint64_t republished = 0;
    Status rs =
        reader.value()->ReadFrom(Seq{std::max<uint64_t>(stream_last, 1)}, [&](const BlockView& b) {
          const uint64_t last = b.header.last_seq().value;
          log_epoch_last = b.header.leader_epoch;
          if (last < stream_last) return true;
          if (last == stream_last) {
            if (b.stored_hash != tail.value().block_hash) {
              ps = DataLoss("the local block ending at seq " + std::to_string(last) +
                            " differs from the stream's: the logs diverged");
              return false;
            }
            return true;
          }
          if (b.header.first_seq.value <= stream_last) {
            ps = DataLoss("a local block straddles the stream's end: the logs diverged");
            return false;
          }
          ps = shard->block_publisher->PublishNow(
              std::string(reinterpret_cast<const char*>(b.begin), b.size_bytes()), b.header);
          last_hash = b.stored_hash;
          ++republished;
          return ps.ok();
        });
    if (rs.ok()) rs = ps;
    if (!rs.ok()) return give_up(rs);
    if (republished > 0) {
      spdlog::warn("replication: shard {} published {} local blocks the stream did not have", id,
                   republished);
    }
  }
  // 4. Fence the previous leader out of the subject for good.
  Status ms = shard->block_publisher->PublishEpochMarker(local_last, last_hash);
  if (!ms.ok()) return give_up(ms);
  // From here every block this node seals names it and its lease. Epochs in
  // the log only grow: a lease bucket made anew (a new NATS cluster) starts
  // its revisions again, so the epoch is raised past the log's last one.
  uint64_t log_epoch = epoch;
  if (log_epoch <= log_epoch_last) {
    log_epoch = log_epoch_last + 1;
    spdlog::warn(
        "replication: shard {}: lease revision {} is not above the log's epoch {}; "
        "blocks name epoch {}",
        id, epoch, log_epoch_last, log_epoch);
  }
  shard->engine->SetLeader(log_epoch, node_id_);
  // 5. Serve. Events go out only once their block is in the block stream,
  //    so the event stream never holds what a next leader may not have.
  if (options_.publish_events) {
    EventPublisherOptions po;
    po.stream = options_.event_stream;
    commands::ShardEngine* engine = shard->engine.get();
    BlockPublisher* blocks = shard->block_publisher.get();
    std::vector<ShardLogSource> mine;
    mine.push_back(ShardLogSource{ShardId{id}, ShardDir(options_.data_dir, ShardId{id}),
                                  manifest_.public_keys.at(id), [engine, blocks] {
                                    return std::min(engine->durable_next_seq(),
                                                    blocks->replicated_next_seq());
                                  }});
    shard->events = EventPublisher::Start(events_nc_, po, std::move(mine));
  }
  {
    std::lock_guard<std::mutex> lock(role_mu_);
    // The lease may have been lost meanwhile (StopServing fenced the publisher).
    Status st = roles_closed_                      ? Unavailable("shutting down")
                : shard->block_publisher->fenced() ? Unavailable("lease lost during takeover")
                                                   : Subscribe(shard);
    if (!st.ok()) {
      spdlog::error("replication: shard {} cannot lead: {}", id, st.ToString());
      shard->cannot_lead = true;
      return false;
    }
    shard->leading = true;
  }
  (void)natsConnection_FlushTimeout(nc_, kFlushTimeoutMs);
  shard->takeover_ms = MonoMs() - t0;
  spdlog::info("shard {}: leader, node {}, epoch {}, takeover {} ms (log seq {})", id,
               options_.node, epoch, shard->takeover_ms.load(), local_last);
  return true;
}

}  // namespace giftledger::ingress

// The shard service behind `giftledger start`: one ShardEngine per served
// shard, NATS request/reply on giftledger.cmd.<shard> and giftledger.info
// (docs/protocol.md). A request is admitted by the Gatekeeper on the NATS
// delivery thread, decided by the engine, and answered from the engine's
// writer thread once its events are durable: no thread waits for fdatasync.
#pragma once

#include <nats/nats.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "commands/engine.h"
#include "commands/ingress/block_follower.h"
#include "commands/ingress/block_publisher.h"
#include "commands/ingress/block_stream.h"
#include "commands/ingress/box.h"
#include "commands/ingress/event_publisher.h"
#include "commands/ingress/gatekeeper.h"
#include "commands/ingress/gateway_registry.h"
#include "commands/ingress/limits.h"
#include "commands/ingress/nonce_window.h"
#include "commands/ingress/replay_service.h"
#include "commands/ingress/shard_lease.h"
#include "commands/ingress/subjects.h"
#include "ledger/manifest.h"
#include "ledger/metrics.h"
#include "ledger/status.h"

namespace giftledger::ingress {

std::string ServiceKeyPath(const std::string& data_dir);
std::string ServicePublicKeyPath(const std::string& data_dir);

struct ServiceOptions {
  std::string data_dir;
  std::string nats_url;
  // Shards to serve; empty = every shard of the ledger.
  std::vector<uint32_t> shards;
  // Load snapshots at open and write one per shard on a clean shutdown, so
  // a restart replays only the tail (<shard_dir>/snapshots).
  bool snapshots = true;
  // Publish every durable event to JetStream and serve giftledger.replay.<shard>
  // (docs/protocol.md, "Event stream", "Replay service").
  bool publish_events = true;
  EventStreamOptions event_stream;
  // Checkpoint rule (ledger/checkpoint.h); 0 = the writer's default.
  uint64_t checkpoint_every_blocks = 0;
  uint64_t checkpoint_every_ms = 0;
  // Replication (docs/replication.md): follow and publish the block stream,
  // serve a shard's commands only while holding its lease. Off: one machine,
  // every served shard is served at once.
  bool replicate = false;
  // Replicating, Start returns at once (a standby) instead of waiting until
  // every served shard leads.
  bool standby = false;
  AckMode ack = AckMode::kLocal;
  std::string node;  // names this process in leases and block headers
  BlockStreamOptions block_stream;
  std::string lease_bucket = kLeaseBucketDefault;
  // Memory budgets of the two on-disk tiers (EngineOptions); 0 = the
  // engine's default (limits.h). Smaller budgets evict sooner and more often.
  size_t idempotency_memory_entries_max = 0;
  size_t closed_orders_memory_max = 0;
};

struct ServiceCounters {
  uint64_t requests = 0;
  uint64_t envelope_rejects = 0;
  uint64_t commands = 0;
  uint64_t checkpoints_published = 0;
};

class Service {
 public:
  // Loads the manifest, service key and gateway registry and opens (recovers)
  // every served shard. No network yet.
  static Result<std::unique_ptr<Service>> Open(const ServiceOptions& options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Connects to NATS (SendAsap: replies leave at once) and subscribes.
  Status Start();
  // Re-reads DIR/gateways.json; requests in flight keep the registry they
  // were admitted with. The nonce window survives the reload.
  Status ReloadGateways();
  // Drains the subscriptions (no new requests; queued ones are answered),
  // closes the engines (every reply published), snapshots, flushes and
  // disconnects. Idempotent.
  Status Shutdown();

  const Manifest& manifest() const { return manifest_; }
  std::string InfoJson() const;
  ServiceCounters counters() const;
  // Every metric in the Prometheus text format (docs/metrics.md).
  std::string MetricsText() const;
  size_t gateways() const;

 private:
  // A Gatekeeper bound to one registry; swapped whole on reload.
  struct Admission {
    std::shared_ptr<const GatewayRegistry> registry;
    Gatekeeper gatekeeper;
  };
  struct Shard {
    Service* service = nullptr;
    uint32_t shard = 0;
    std::unique_ptr<commands::ShardEngine> engine;
    natsSubscription* sub = nullptr;
    // Admission to the authenticated reply (events durable), per request.
    Histogram commit_us{100,    200,    500,     1'000,   2'000,   5'000,    10'000,
                        20'000, 50'000, 100'000, 200'000, 500'000, 1'000'000};
    Histogram fsync_us{50, 100, 200, 300, 500, 1'000, 2'000, 5'000, 10'000, 50'000, 100'000};
    Histogram block_events{1, 4, 16, 64, 256, 1'024, 4'096, 16'384};
    // Replicating only. `serving`: subscribed to giftledger.cmd.<shard>.
    std::unique_ptr<BlockPublisher> block_publisher;
    std::unique_ptr<BlockFollower> follower;
    std::unique_ptr<ShardLease> lease;
    std::unique_ptr<EventPublisher> events;
    bool serving = false;  // guarded by Service::role_mu_
    std::atomic<bool> leading{false};
    std::atomic<bool> cannot_lead{false};  // a takeover gave up
    std::atomic<int64_t> takeover_ms{-1};
  };

  explicit Service(ServiceOptions options) : options_(std::move(options)) {}
  static void OnCommandMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  static void OnInfoMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  void HandleCommand(Shard* shard, natsMsg* msg);
  void Publish(const std::string& subject, const std::string& bytes);
  // On a shard's syncer thread, after the checkpoint file is durable.
  void PublishCheckpoint(uint32_t shard, const Checkpoint& c);
  std::shared_ptr<const Admission> CurrentAdmission() const;
  // Second connection (publish acks and replay pages stay off the command
  // replies' socket), the event publisher and the replay service.
  Status StartEvents();
  std::vector<ShardLogSource> LogSources() const;
  // Replication: connection, stream, and per shard a follower, a publisher
  // and a lease; waits for leadership unless standby.
  Status StartReplication();
  // Standby: one block from the stream into the shard (skips what it has).
  Status ApplyFollowedBlock(Shard* shard, const std::string& block);
  // Lease thread: catch up, lead, serve. False when this node cannot lead.
  bool TakeOver(Shard* shard, uint64_t epoch);
  // The shard stops serving: fence the engine and the publisher, unsubscribe.
  void StopServing(Shard* shard, const Status& why);
  Status Subscribe(Shard* shard);
  Shard* FindShard(uint32_t shard) const;

  ServiceOptions options_;
  Manifest manifest_;
  uint32_t node_id_ = 0;  // this node in manifest_.nodes, when replicating
  BoxKeyPair service_key_;
  NonceWindow window_{kReplayWindowUs, kNonceCacheEntriesMax};
  mutable std::mutex admission_mu_;
  std::shared_ptr<const Admission> admission_;  // guarded by admission_mu_
  std::vector<std::unique_ptr<Shard>> shards_;

  natsOptions* nats_options_ = nullptr;
  natsConnection* nc_ = nullptr;
  natsSubscription* info_sub_ = nullptr;
  // nc_ while it may publish checkpoints (set after connect, cleared before
  // close): read by the writers' syncer threads.
  std::atomic<natsConnection*> checkpoint_nc_{nullptr};
  std::atomic<uint64_t> checkpoints_published_{0};
  natsOptions* events_options_ = nullptr;
  natsConnection* events_nc_ = nullptr;
  std::unique_ptr<EventPublisher> publisher_;
  natsOptions* repl_options_ = nullptr;
  natsConnection* repl_nc_ = nullptr;
  jsCtx* repl_js_ = nullptr;
  std::mutex role_mu_;
  bool roles_closed_ = false;  // guarded by role_mu_: Shutdown began
  std::unique_ptr<ReplayService> replay_;
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> envelope_rejects_{0};
  std::atomic<uint64_t> commands_{0};
  // Per-command results by code, indexed by schemas::ResultCode.
  std::array<std::atomic<uint64_t>, schemas::ResultCode_ARRAYSIZE> results_by_code_{};
};

}  // namespace giftledger::ingress

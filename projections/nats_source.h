// Reads events from the JetStream stream GIFTLEDGER_EVENTS with a durable
// pull consumer (docs/protocol.md, "Event stream"; `project --nats`).
// JetStream is a transport, not the truth: per shard the seqs must arrive
// contiguously; a duplicate is skipped, a gap is filled from the ledger's
// replay service (`giftledger.replay.<shard>`) before going on. Messages are
// acked only after the batch holding them is committed to SQLite, so a crash
// makes JetStream redeliver them and the positions skip what was counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "projections/broadcasts.h"
#include "projections/projector.h"

namespace giftledger::projections {

struct NatsSourceOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string stream = "GIFTLEDGER_EVENTS";
  std::string durable = "giftledger-projector";
  int fetch_max = 1000;            // messages per pull (and per SQLite batch at most)
  int64_t fetch_timeout_ms = 500;  // an empty pull after this long is "idle"
  int64_t replay_timeout_ms = 5000;
  bool exit_when_idle = false;  // return after the first empty pull
  // Before consuming, bring every shard to its durable end from the replay
  // service (a database behind its durable consumer's acks: new or
  // restored, or a stream that lost its tail). Tests turn it off to
  // exercise the stream alone.
  bool catch_up_on_start = true;
  // Shards to project; empty = all. With a subset, the consumer filters
  // giftledger.events.<shard> when it is one shard; otherwise it reads every
  // subject and acks the other shards' events unapplied (nats-server 2.9 has
  // one filter subject per consumer). Give each projector its own durable.
  std::vector<uint32_t> shards;
  const std::atomic<bool>* stop = nullptr;
  // Broadcasts of each pull's gifts and level-ups, published after its
  // commit (events applied by the start-up catch-up are not announced).
  bool broadcasts = true;
  // Answer giftledger.q.* from the in-memory models (query_server.h).
  bool serve_queries = true;
  BroadcastOptions broadcast;
  // After each committed pull: events applied so far.
  std::function<void(uint64_t)> on_commit;
};

struct NatsSourceStats {
  uint64_t messages = 0;
  uint64_t gap_filled_events = 0;
  uint64_t broadcasts = 0;
  uint64_t other_shards = 0;  // messages of shards not projected here, acked unapplied
};

// Runs until idle (exit_when_idle), *stop, or an error: UNAVAILABLE for NATS
// trouble (retry), DATA_LOSS for an event that does not decode or a replay
// that cannot fill a gap, INVALID_ARGUMENT for a message of a shard the
// projection does not have (another ledger's stream).
Status ProjectFromNats(Projector& projector, const NatsSourceOptions& options,
                       NatsSourceStats* stats);

}  // namespace giftledger::projections

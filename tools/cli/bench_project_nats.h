// The NATS figures of `giftledger bench project` (docs/cli.md):
// query_top100_per_s_nats, top-100 answers through the hot query server from
// concurrent requesters, and visible_p99_ms, gifts appended durably to a live
// ledger at a steady rate, published to JetStream by the ledger's own
// EventPublisher and projected by the projector's NATS source, timed from the
// append's acknowledgement (durable) to the commit that makes them visible in
// the hot top-N. Needs a nats-server with JetStream and no giftledger event
// stream of its own (one is started when none is given).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/status.h"
#include "projections/projector.h"

namespace giftledger::cli {

struct ProjectNatsBenchOptions {
  std::string url;  // empty: start a nats-server on a free loopback port
  bool skip = false;
  uint64_t queries = 400'000;
  uint32_t requesters = 4;        // connections, one thread each
  uint32_t inflight = 64;         // requests each keeps in flight
  double visible_rate = 100'000;  // gifts/s offered (two events each)
  double visible_seconds = 10;
  uint32_t visible_users = 10'000;
};

// `projector` holds the bench's models (queried over NATS); the visibility
// run makes its own ledger and database under `dir`.
Result<nlohmann::json> RunProjectNatsBench(const ProjectNatsBenchOptions& o, const std::string& dir,
                                           projections::Projector& projector,
                                           const projections::ProjectionConfig& config,
                                           uint32_t hosts);

}  // namespace giftledger::cli

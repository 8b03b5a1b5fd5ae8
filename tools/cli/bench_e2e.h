// `giftledger bench e2e`: encrypted gift commands through NATS into a running
// `giftledger start` and back (acknowledged after fdatasync), measured
// against a same-run plain NATS request/reply echo of the same payload sizes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/status.h"

namespace giftledger::cli {

struct E2eBenchOptions {
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string key_file;     // a gateway with roles gifts,payments,ops
  uint32_t threads = 2;     // load generator threads
  uint32_t inflight = 4;    // requests each thread keeps in flight
  uint32_t batch = 2048;    // commands per envelope (even: place+consume pairs)
  double seconds = 5;       // peak (closed-loop) run
  double half_seconds = 5;  // paced run at 50 % of the peak rate
  double echo_seconds = 3;  // NATS echo baseline
  uint32_t users_per_shard = 256;
  int64_t timeout_ms = 30'000;
};

Result<nlohmann::json> RunE2eBench(const E2eBenchOptions& o);
void PrintE2eBenchHuman(const nlohmann::json& j);

}  // namespace giftledger::cli

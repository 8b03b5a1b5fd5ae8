// `giftledger load`: simulated live rooms driven through the gateway client
// against a running `giftledger start`. Viewers top up, order gifts and send
// them (place + consume in one request), in combos, cancel a few orders,
// get a few gifts refunded by ops and resend some already-consumed orders
// (which the order state machine must refuse). Hosts are chosen with a
// Zipf-skewed popularity, so a few rooms are busy and most are quiet.
// The demo, the soak script and the crash test all drive load through it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/status.h"

namespace giftledger::cli {

struct LoadOptions {
  std::string nats_url = "nats://127.0.0.1:4222";
  // A gateway with roles gifts,payments (top-ups, orders). `ops_key_file`
  // (role ops) loads the catalog and refunds; without it neither happens.
  std::string key_file;
  std::string ops_key_file;
  double duration_s = 30;
  // Gift actions a second (a gift is a PlaceOrder + ConsumeOrder pair);
  // 0 = as fast as the service answers (closed loop).
  double rate_per_s = 2000;
  uint32_t viewers = 5000;
  uint32_t hosts = 40;
  double zipf_s = 1.1;  // host popularity exponent
  uint32_t inflight_max = 8;
  uint32_t request_commands_max = 512;
  double report_every_s = 1;
  bool report_json_lines = false;  // interval reports as JSON lines on stdout
  bool quiet = false;              // no interval reports at all
  bool load_catalog = true;        // needs ops_key_file
  // Appends one line per acknowledged command: tx id (hex), shard, seq, code.
  std::string acks_path;
  // Redo journal: every command is on disk before it is sent and until it is
  // answered (`giftledger redo --journal` finishes what a crash left).
  std::string journal_path;
  uint64_t seed = 1;
  int64_t timeout_ms = 10'000;
};

// Runs until duration_s has passed (or *stop becomes true) and returns the
// summary: commands, gifts, per-code counts, latency percentiles, unexpected
// results. An error only when the run could not start (connect, keys).
Result<nlohmann::json> RunLoad(const LoadOptions& options, const volatile bool* stop);
void PrintLoadSummaryHuman(const nlohmann::json& summary);

}  // namespace giftledger::cli

// `giftledger bench verify`: the auditor's full check (replay/verifier.h) in
// events/s, against same-run baselines: one BLAKE2b-256 per event over the
// same event bytes (libsodium, one lane) and Ed25519 signature checks/s.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/status.h"

namespace giftledger::cli {

struct VerifyBenchOptions {
  std::string data_dir;  // empty: a fresh ledger under $TMPDIR, removed after
  uint32_t shards = 1;
  uint64_t events = 2'000'000;  // written when the ledger is made here
  uint32_t event_bytes = 160;
  uint32_t block_events = 1024;  // events per block (a group commit's size)
  uint32_t runs = 2;             // verify runs; the best is reported
};

// With data_dir holding a ledger, verifies that ledger as is (no writes).
Result<nlohmann::json> RunVerifyBench(const VerifyBenchOptions& o);
void PrintVerifyBenchHuman(const nlohmann::json& j);

}  // namespace giftledger::cli

// The auditor's full check of a ledger: every block of every shard is read
// and checked (magic, sizes, seq continuity, chain, Merkle root, block hash,
// Ed25519 signature against the manifest's public key) and every signed
// checkpoint against the shard tree rebuilt from the log (docs/proofs.md).
// Needs no secrets.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ledger/leader_terms.h"
#include "ledger/manifest.h"
#include "ledger/recovery.h"

namespace giftledger {

struct ShardVerifyReport {
  ShardId shard;
  bool ok = false;
  uint64_t blocks = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;
  Seq last_seq;
  uint64_t checkpoints = 0;  // checkpoints that matched the log
  bool torn_tail = false;
  // Who wrote which seqs (block header leader fields, docs/replication.md).
  std::vector<LeaderTerm> leaders;
  uint64_t leader_terms_left_out = 0;
  std::string error;    // empty when ok
  ScanFailure failure;  // where, when !ok
};

struct VerifyReport {
  bool ok = false;
  std::string ledger_id;
  uint64_t blocks = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t checkpoints = 0;
  double seconds = 0;
  std::vector<ShardVerifyReport> shards;
};

// progress(bytes_done, bytes_total) may be called from several threads.
Result<VerifyReport> VerifyLedger(const std::string& data_dir,
                                  const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace giftledger

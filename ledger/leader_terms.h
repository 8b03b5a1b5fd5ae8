// Who wrote which seqs of a shard: the leader each block header names
// (leader_epoch, leader_node), checked against the manifest's node list
// (docs/replication.md, "Leaders in the log"). An auditor feeds every block
// of a shard in log order and gets the terms: runs of blocks written under
// one lease by one node.
#pragma once

#include <cstdint>
#include <vector>

#include "ledger/block.h"
#include "ledger/manifest.h"
#include "ledger/status.h"

namespace giftledger {

struct LeaderTerm {
  uint64_t epoch = 0;  // 0: written without a lease (no replication)
  uint32_t node = 0;   // manifest node id; 0 with epoch 0
  Seq first_seq;
  Seq last_seq;
  uint64_t blocks = 0;
};

// Terms kept for the report; a ledger with more takeovers is still checked
// in full, and the report says how many terms it left out.
inline constexpr size_t kLeaderTermsReportedMax = 1024;

class LeaderTerms {
 public:
  explicit LeaderTerms(const Manifest& manifest) : manifest_(manifest) {}

  // DATA_LOSS, and nothing recorded, when the block names a node the
  // manifest does not list, or starts a term whose epoch is not above every
  // earlier lease epoch of the shard: a lease epoch is taken once, by one
  // node, and only grows, so such a block was written by a deposed leader or
  // forged with the shard key.
  Status OnBlock(const BlockHeader& h);

  const std::vector<LeaderTerm>& terms() const { return terms_; }
  uint64_t terms_left_out() const { return terms_left_out_; }

 private:
  const Manifest& manifest_;
  uint64_t epoch_max_ = 0;
  bool have_last_ = false;
  LeaderTerm last_;  // the current term, also when not reported
  bool last_reported_ = false;
  std::vector<LeaderTerm> terms_;
  uint64_t terms_left_out_ = 0;
};

}  // namespace giftledger

#include "ledger/leader_terms.h"

#include <string>

namespace giftledger {

Status LeaderTerms::OnBlock(const BlockHeader& h) {
  const bool same_term = have_last_ && last_.epoch == h.leader_epoch && last_.node == h.leader_node;
  if (!same_term) {
    if (h.leader_node != 0 && manifest_.FindNode(h.leader_node) == nullptr) {
      return DataLoss("block at seq " + std::to_string(h.first_seq.value) + " names leader node " +
                      std::to_string(h.leader_node) + ", which the manifest does not list");
    }
    if (h.leader_epoch != 0 && h.leader_epoch <= epoch_max_) {
      return DataLoss("block at seq " + std::to_string(h.first_seq.value) + " names lease epoch " +
                      std::to_string(h.leader_epoch) + " after epoch " +
                      std::to_string(epoch_max_) + ": a deposed leader's block");
    }
    last_ = LeaderTerm{h.leader_epoch, h.leader_node, h.first_seq, h.last_seq(), 0};
    have_last_ = true;
    if (h.leader_epoch > epoch_max_) epoch_max_ = h.leader_epoch;
    last_reported_ = terms_.size() < kLeaderTermsReportedMax;
    if (last_reported_) {
      terms_.push_back(last_);
    } else {
      ++terms_left_out_;
    }
  }
  last_.last_seq = h.last_seq();
  ++last_.blocks;
  if (last_reported_) terms_.back() = last_;
  return Status::Ok();
}

}  // namespace giftledger

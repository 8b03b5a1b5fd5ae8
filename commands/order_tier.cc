#include "commands/order_tier.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace giftledger::commands {

std::optional<OrderEviction> PrepareOrderEviction(const ShardState& s, size_t closed_memory_max,
                                                  uint64_t seq_limit) {
  const size_t closed = s.closed_orders_in_memory();
  if (closed <= closed_memory_max) return std::nullopt;
  GL_ASSERT(s.order_disk != nullptr);
  // Closed orders of one seq are evicted together, so the cut may leave a
  // few less than closed_memory_max / 2 in memory.
  const size_t evict = closed - closed_memory_max / 2;
  std::vector<uint64_t> seqs;
  seqs.reserve(closed);
  for (const auto& [id, o] : s.orders) {
    if (o.status != OrderStatus::kPending) seqs.push_back(o.seq);
  }
  std::nth_element(seqs.begin(), seqs.begin() + ptrdiff_t(evict - 1), seqs.end());
  // A new run covers (order_disk_seq, cut]; closed orders at or below
  // order_disk_seq still in memory (after a restart, see apply.cc) go with it.
  const uint64_t cut = std::min(std::max(seqs[evict - 1], s.order_disk_seq + 1), seq_limit);
  if (cut <= s.order_disk_seq) return std::nullopt;  // nothing durable to move yet
  std::vector<uint64_t>().swap(seqs);
  OrderEviction e;
  e.cut = cut;
  e.base = s.order_disk;
  e.records.reserve(evict);
  for (const auto& [id, o] : s.orders) {
    if (o.status != OrderStatus::kPending && o.seq <= cut) e.records.push_back(OrderRecord{id, o});
  }
  return e;
}

void FinishOrderEviction(ShardState& s, OrderEviction&& e) {
  // A merge may have been installed since the prepare (the engine runs them
  // apart): it keeps the covered seq, so the run still starts where the index ends.
  GL_ASSERT(e.run != nullptr && e.run->seq_lo() == s.order_disk_seq && e.cut > s.order_disk_seq);
  // The run is durable: only now may memory (and so any later snapshot) omit them.
  for (const OrderRecord& r : e.records) {
    auto it = s.orders.find(r.tx);
    if (it != s.orders.end() && it->second.status != OrderStatus::kPending &&
        it->second.seq <= e.cut) {
      s.orders.erase(it);
    }
  }
  s.order_disk = s.order_disk->WithRun(std::move(e.run));
  s.order_disk_seq = e.cut;
}

Status EvictClosedOrders(ShardState& s, size_t closed_memory_max, uint64_t seq_limit) {
  auto e = PrepareOrderEviction(s, closed_memory_max, seq_limit);
  if (!e) return Status::Ok();
  GL_RETURN_IF_ERROR(e->Write());
  FinishOrderEviction(s, std::move(*e));
  s.order_disk = OrderIndex::MergeAll(std::move(s.order_disk));
  return Status::Ok();
}

Status AttachOrderIndex(ShardState& s, std::shared_ptr<const OrderIndex> index) {
  const uint64_t covered = index->covered_seq();
  if (covered < s.order_disk_seq) {
    return DataLoss(index->dir() + ": order runs cover seqs up to " + std::to_string(covered) +
                    " but the state left the closed orders up to seq " +
                    std::to_string(s.order_disk_seq) + " to them");
  }
  s.order_disk_seq = covered;
  s.order_disk = std::move(index);
  return Status::Ok();
}

}  // namespace giftledger::commands

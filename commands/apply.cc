#include "commands/apply.h"

#include <algorithm>
#include <cstring>

#include "commands/ledger_time.h"
#include "commands/money.h"

namespace giftledger::commands {

using schemas::Event;

namespace {

TxId MustTxId(const std::string& b) {
  auto id = TxId::FromBytes(b);
  GL_ASSERT(id.has_value());
  return *id;
}

int64_t MustAdd(int64_t a, int64_t b) {
  auto r = BalanceAdd(a, b);
  GL_ASSERT(r.has_value());
  return *r;
}

int64_t MustSub(int64_t a, int64_t b) {
  auto r = BalanceSub(a, b);
  GL_ASSERT(r.has_value());
  return *r;
}

// Spend counters saturate at kBalanceMax (only reachable after absurd
// volumes) so that apply stays total; decide reads the same values.
int64_t SpendAdd(int64_t a, int64_t b) { return std::min(kBalanceMax, a + b); }
int64_t SpendSub(int64_t a, int64_t b) { return std::max<int64_t>(0, a - b); }

void ApplyOrderPlaced(ShardState& s, const Event& e, uint64_t seq) {
  const auto& p = e.order_placed();
  const TxId id = MustTxId(e.tx_id());
  const int32_t off = s.config.utc_offset_minutes;
  Wallet& w = s.wallets[UserId{p.payer()}];
  const int64_t day = DayIndex(e.ledger_time_us(), off);
  const int64_t month = MonthIndex(e.ledger_time_us(), off);
  if (w.day_index != day) {
    w.day_index = day;
    w.day_spent = 0;
  }
  if (w.month_index != month) {
    w.month_index = month;
    w.month_spent = 0;
  }
  w.available = MustSub(w.available, p.amount());
  w.held = MustAdd(w.held, p.amount());
  w.day_spent = SpendAdd(w.day_spent, p.amount());
  w.month_spent = SpendAdd(w.month_spent, p.amount());
  w.pending_orders += 1;
  Order o;
  o.payer = UserId{p.payer()};
  o.host = UserId{p.host()};
  o.room = p.room();
  o.gift = p.gift();
  o.count = p.count();
  o.amount = p.amount();
  o.host_share = p.host_share();
  o.expires_at_us = p.expires_at_us();
  o.placed_day = day;
  o.placed_month = month;
  o.seq = seq;
  GL_ASSERT(s.orders.emplace(id, o).second);
  s.expiry.emplace(o.expires_at_us, id);
}

// The closed order's new version: in memory, which overrides disk. In a
// replay over runs written before the restart (seq at or below
// order_disk_seq) the runs may already hold this version or a later one
// (its refund, which the replay meets next): then memory need not keep it,
// so that a replay from zero over the runs stays within the budget. They
// may also lack it (the eviction ran when the order had a change after the
// cut): then it stays in memory.
void StoreClosed(ShardState& s, const TxId& id, const Order& o) {
  if (o.seq <= s.order_disk_seq) {
    GL_ASSERT(s.order_disk != nullptr);
    const std::optional<Order> disk = s.order_disk->Find(id);
    if (disk && disk->seq >= o.seq) {
      s.orders.erase(id);
      return;
    }
  }
  s.orders.insert_or_assign(id, o);
}

// Takes the pending order `id` of `payer` out of the pending set (pending
// orders are always in memory) and returns its closed version.
Order ClosePending(ShardState& s, const std::string& order_id, uint64_t payer, int64_t amount,
                   OrderStatus status, uint64_t seq) {
  const TxId id = MustTxId(order_id);
  auto it = s.orders.find(id);
  GL_ASSERT(it != s.orders.end());
  Order o = it->second;
  GL_ASSERT(o.status == OrderStatus::kPending && o.payer.value == payer && o.amount == amount);
  GL_ASSERT(s.expiry.erase({o.expires_at_us, id}) == 1);
  o.status = status;
  o.seq = seq;
  StoreClosed(s, id, o);
  Wallet& w = s.wallets[o.payer];
  GL_ASSERT(w.pending_orders > 0);
  w.pending_orders -= 1;
  w.held = MustSub(w.held, amount);
  return o;
}

void ApplyGiftSent(ShardState& s, const Event& e, uint64_t seq) {
  const auto& p = e.gift_sent();
  const Order o = ClosePending(s, p.order_id(), p.payer(), p.amount(), OrderStatus::kConsumed, seq);
  GL_ASSERT(o.host_share == p.host_share() && o.host.value == p.host());
  s.totals.gifted += p.amount();
}

void ApplyOrderVoided(ShardState& s, const Event& e, uint64_t seq) {
  const auto& p = e.order_voided();
  const OrderStatus status =
      p.reason() == schemas::EXPIRED ? OrderStatus::kExpired : OrderStatus::kVoided;
  const Order o = ClosePending(s, p.order_id(), p.payer(), p.amount(), status, seq);
  Wallet& w = s.wallets[o.payer];
  w.available = MustAdd(w.available, p.amount());
  // The hold never became spend: give it back to the caps' counters if they
  // still count the period the order was placed in.
  if (w.day_index == o.placed_day) w.day_spent = SpendSub(w.day_spent, p.amount());
  if (w.month_index == o.placed_month) w.month_spent = SpendSub(w.month_spent, p.amount());
}

// The consumed order may be in memory or only on disk (evicted): its
// refunded version goes to memory, overriding the disk record.
void ApplyRefunded(ShardState& s, const Event& e, uint64_t seq) {
  const auto& p = e.refunded();
  const TxId id = MustTxId(p.order_id());
  const std::optional<Order> found = s.FindOrder(id);
  GL_ASSERT(found.has_value());
  Order o = *found;
  // During a replay over runs written after the snapshot, the newest record
  // can already be this very refund.
  GL_ASSERT(o.status == OrderStatus::kConsumed ||
            (o.status == OrderStatus::kRefunded && o.seq == seq && seq <= s.order_disk_seq));
  GL_ASSERT(o.payer.value == p.payer() && o.amount == p.amount());
  o.status = OrderStatus::kRefunded;
  o.seq = seq;
  StoreClosed(s, id, o);
  Wallet& w = s.wallets[o.payer];
  w.available = MustAdd(w.available, p.amount());
  s.totals.refunded += p.amount();
}

void ApplyBody(ShardState& s, const Event& e, uint64_t seq) {
  switch (e.body_case()) {
    case Event::kToppedUp: {
      Wallet& w = s.wallets[UserId{e.topped_up().user()}];
      w.available = MustAdd(w.available, e.topped_up().amount());
      s.totals.topped_up += e.topped_up().amount();
      return;
    }
    case Event::kOrderPlaced:
      return ApplyOrderPlaced(s, e, seq);
    case Event::kGiftSent:
      return ApplyGiftSent(s, e, seq);
    case Event::kOrderVoided:
      return ApplyOrderVoided(s, e, seq);
    case Event::kRefunded:
      return ApplyRefunded(s, e, seq);
    case Event::kCatalogSet: {
      const auto& p = e.catalog_set();
      s.catalog[p.gift()] = CatalogEntry{p.name(), p.price(), p.active(), p.host_share_bps()};
      return;
    }
    case Event::kHostCredited: {
      HostAccount& h = s.hosts[UserId{e.host_credited().host()}];
      h.earned = MustAdd(h.earned, e.host_credited().amount());
      s.totals.host_credited += e.host_credited().amount();
      return;
    }
    case Event::kPaidOut: {
      HostAccount& h = s.hosts[UserId{e.paid_out().host()}];
      h.paid_out = MustAdd(h.paid_out, e.paid_out().amount());
      GL_ASSERT(h.paid_out <= h.earned);
      s.totals.paid_out += e.paid_out().amount();
      return;
    }
    case Event::kLimitsSet: {
      const auto& p = e.limits_set();
      const UserId u{p.user()};
      if (p.per_gift_max() == 0 && p.day_max() == 0 && p.month_max() == 0) {
        s.limits.erase(u);
      } else {
        s.limits[u] = SpendLimits{p.per_gift_max(), p.day_max(), p.month_max()};
      }
      return;
    }
    case Event::kPrivacySet: {
      const UserId u{e.privacy_set().user()};
      if (e.privacy_set().hidden()) {
        s.hidden.insert(u);
      } else {
        s.hidden.erase(u);
      }
      return;
    }
    case Event::kCommandRejected:
      return;
    case Event::BODY_NOT_SET:
      break;
  }
  GL_ASSERT(false && "event without body");
}

}  // namespace

void Apply(ShardState& s, const Event& e, uint64_t seq) {
  GL_ASSERT(seq > s.last_seq);
  ApplyBody(s, e, seq);
  if (!e.command_hash().empty()) {
    GL_ASSERT(e.command_hash().size() == kCommandHashBytes);
    IdempotencyEntry entry;
    std::memcpy(entry.hash.data(), e.command_hash().data(), kCommandHashBytes);
    entry.code = e.has_command_rejected() ? e.command_rejected().code() : schemas::OK;
    entry.seq = seq;
    // At or below idempotency_disk_seq the entry is already in the run files
    // (a replay over runs written before the restart): memory keeps only the
    // entries after it, so the tiers never overlap.
    if (seq > s.idempotency_disk_seq) {
      GL_ASSERT(s.idempotency.Insert(MustTxId(e.tx_id()), entry));
    }
  }
  s.last_seq = seq;
  s.last_ledger_time_us = std::max(s.last_ledger_time_us, e.ledger_time_us());
}

}  // namespace giftledger::commands

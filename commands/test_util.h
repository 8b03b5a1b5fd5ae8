// Builders and a tiny in-memory "log" for the commands tests: decide, then
// apply the events with consecutive seqs, as the engine does.
#pragma once

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "commands/apply.h"
#include "commands/decide.h"
#include "commands/idempotency_tier.h"
#include "commands/order_tier.h"
#include "commands/routing.h"
#include "commands/state.h"
#include "ledger/coding.h"

namespace giftledger::commands::testing {

using schemas::Command;
using schemas::Event;

// 2024-03-10T12:00:00Z.
inline constexpr int64_t kT0 = 1'710'072'000'000'000;
inline constexpr int64_t kSecond = 1'000'000;

// A gateway-style tx id: distinct for every n < 2^52, never all zero, and
// UUID version 4 (byte 6 high nibble), never the version 8 reserved for
// settlement's derived ids.
inline std::string Tx(uint64_t n) {
  uint8_t b[16];
  PutU64(b, n);
  b[6] = uint8_t((b[6] & 0x0f) | 0x40);
  PutU64(b + 8, 0x7478'6964'7478'6964ull);  // never all zero
  return std::string(reinterpret_cast<const char*>(b), 16);
}

inline Command TopUpCmd(const std::string& tx, uint64_t user, int64_t amount) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(amount);
  c.mutable_top_up()->set_payment_ref("pay-" + std::to_string(amount));
  return c;
}

inline Command PlaceCmd(const std::string& tx, uint64_t payer, uint64_t host, uint32_t gift,
                        uint32_t count, int64_t ttl_us = 60 * kSecond) {
  Command c;
  c.set_tx_id(tx);
  auto* p = c.mutable_place_order();
  p->set_payer(payer);
  p->set_host(host);
  p->set_room(77);
  p->set_gift(gift);
  p->set_count(count);
  p->set_ttl_us(ttl_us);
  return c;
}

inline Command ConsumeCmd(const std::string& tx, uint64_t payer, const std::string& order,
                          const std::string& combo = "", uint32_t combo_count = 0) {
  Command c;
  c.set_tx_id(tx);
  auto* p = c.mutable_consume_order();
  p->set_payer(payer);
  p->set_order_id(order);
  p->set_combo_id(combo);
  p->set_combo_count(combo_count);
  return c;
}

inline Command CancelCmd(const std::string& tx, uint64_t payer, const std::string& order) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_cancel_order()->set_payer(payer);
  c.mutable_cancel_order()->set_order_id(order);
  return c;
}

inline Command RefundCmd(const std::string& tx, uint64_t payer, const std::string& order) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_refund()->set_payer(payer);
  c.mutable_refund()->set_order_id(order);
  c.mutable_refund()->set_reason("ops ticket");
  return c;
}

inline Command CatalogCmd(const std::string& tx, uint32_t gift, int64_t price, bool active = true,
                          uint32_t bps = 5000) {
  Command c;
  c.set_tx_id(tx);
  auto* p = c.mutable_set_catalog();
  p->set_gift(gift);
  p->set_name("gift-" + std::to_string(gift));
  p->set_price(price);
  p->set_active(active);
  p->set_host_share_bps(bps);
  return c;
}

// Settlement's credit for the gift whose ConsumeOrder was `gift_tx` on
// `payer_shard`, with the derived tx id.
inline Command HostCreditCmd(const std::string& gift_tx, uint64_t host, int64_t amount,
                             uint32_t payer_shard = 0) {
  Command c;
  c.set_tx_id(DeriveHostCreditTxId(ShardId{payer_shard}, *TxId::FromBytes(gift_tx)).str());
  auto* p = c.mutable_host_credit();
  p->set_host(host);
  p->set_amount(amount);
  p->set_gift_tx_id(gift_tx);
  p->set_payer_shard(payer_shard);
  p->set_gift_seq(1);
  return c;
}

inline Command PayoutCmd(const std::string& tx, uint64_t host, int64_t amount) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_payout()->set_host(host);
  c.mutable_payout()->set_amount(amount);
  return c;
}

inline Command LimitsCmd(const std::string& tx, uint64_t user, int64_t per_gift, int64_t day,
                         int64_t month) {
  Command c;
  c.set_tx_id(tx);
  auto* p = c.mutable_set_limits();
  p->set_user(user);
  p->set_per_gift_max(per_gift);
  p->set_day_max(day);
  p->set_month_max(month);
  return c;
}

inline Command PrivacyCmd(const std::string& tx, uint64_t user, bool hidden) {
  Command c;
  c.set_tx_id(tx);
  c.mutable_set_privacy()->set_user(user);
  c.mutable_set_privacy()->set_hidden(hidden);
  return c;
}

struct Outcome {
  ResultCode code = schemas::RESULT_CODE_UNSPECIFIED;
  uint64_t seq = 0;  // first event's seq, or the original seq of a duplicate
  bool duplicate = false;
  size_t events = 0;
  std::vector<Event> produced;
};

// Decide + apply with an in-memory log, as the engine does without the disk.
class Harness {
 public:
  explicit Harness(ShardConfig config = ShardConfig{ShardId{0}, 1, 0}) : state(config) {}

  // Gives the state an on-disk idempotency tier in `dir` with a memory budget
  // of `memory_max` entries: after each Run, entries are evicted as the
  // engine does (everything applied here counts as durable).
  void EnableDiskTier(const std::string& dir, size_t memory_max,
                      IdempotencyIndexOptions options = {}) {
    auto index = IdempotencyIndex::Open(dir, options);
    GL_ASSERT(index.ok());
    GL_ASSERT(AttachIdempotencyIndex(state, index.value()).ok());
    memory_max_ = memory_max;
  }

  // Gives the state an on-disk tier of closed orders in `dir` with a budget
  // of `closed_max` closed orders in memory, evicted as the engine does.
  void EnableOrderTier(const std::string& dir, size_t closed_max, RunIndexOptions options = {}) {
    auto index = OrderIndex::Open(dir, options);
    GL_ASSERT(index.ok());
    GL_ASSERT(AttachOrderIndex(state, index.value()).ok());
    closed_orders_max_ = closed_max;
  }

  Outcome Run(const Command& c, uint32_t roles = kRolesAllGateway) {
    if (memory_max_ != 0) GL_ASSERT(EvictIdempotency(state, memory_max_, next_seq - 1).ok());
    if (closed_orders_max_ != 0) {
      GL_ASSERT(EvictClosedOrders(state, closed_orders_max_, next_seq - 1).ok());
    }
    Decision d = Decide(state, c, DecideContext{now_us, roles});
    Outcome o;
    o.code = d.code;
    o.duplicate = d.duplicate;
    o.seq = d.original_seq;
    o.events = d.events.size();
    if (!d.events.empty()) o.seq = next_seq;
    for (Event& e : d.events) {
      Apply(state, e, next_seq);
      log.emplace_back(next_seq, e);
      ++next_seq;
      o.produced.push_back(std::move(e));
    }
    return o;
  }

  // The engine's expiry sweep.
  Outcome Sweep() {
    Command c;
    c.set_tx_id(Tx(0xE0000000ull + uint64_t(now_us)));
    c.mutable_expire_orders();
    return Run(c, kRoleSystem);
  }

  const Wallet& W(uint64_t user) {
    static const Wallet kEmpty;
    const Wallet* w = state.FindWallet(UserId{user});
    return w ? *w : kEmpty;
  }
  const HostAccount& H(uint64_t host) {
    static const HostAccount kEmpty;
    const HostAccount* h = state.FindHost(UserId{host});
    return h ? *h : kEmpty;
  }

  ShardState Replay() const {
    ShardState s(state.config);
    for (const auto& [seq, e] : log) Apply(s, e, seq);
    return s;
  }

  // The log replayed into a fresh state whose tier lives in `dir` (runs
  // already there are used; entries they hold are not put in memory); with
  // `order_dir`, closed orders too, beyond `closed_max` in memory.
  ShardState ReplayWithDiskTier(const std::string& dir, size_t memory_max,
                                IdempotencyIndexOptions options = {},
                                const std::string& order_dir = "", size_t closed_max = 0) const {
    ShardState s(state.config);
    auto index = IdempotencyIndex::Open(dir, options);
    GL_ASSERT(index.ok());
    GL_ASSERT(AttachIdempotencyIndex(s, index.value()).ok());
    if (!order_dir.empty()) {
      auto orders = OrderIndex::Open(order_dir, options);
      GL_ASSERT(orders.ok());
      GL_ASSERT(AttachOrderIndex(s, orders.value()).ok());
    }
    for (const auto& [seq, e] : log) {
      Apply(s, e, seq);
      GL_ASSERT(EvictIdempotency(s, memory_max, seq).ok());
      if (!order_dir.empty()) GL_ASSERT(EvictClosedOrders(s, closed_max, seq).ok());
    }
    return s;
  }

  ShardState state;
  int64_t now_us = kT0;
  uint64_t next_seq = 1;
  std::vector<std::pair<uint64_t, Event>> log;

 private:
  size_t memory_max_ = 0;         // 0: no disk tier
  size_t closed_orders_max_ = 0;  // 0: no order tier
};

}  // namespace giftledger::commands::testing

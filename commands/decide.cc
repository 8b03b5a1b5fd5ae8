#include "commands/decide.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstring>
#include <optional>

#include "commands/ledger_time.h"
#include "commands/money.h"
#include "commands/routing.h"
#include "ledger/crypto.h"

namespace giftledger::commands {

using schemas::Command;
using schemas::Event;

CommandHash HashCommand(const Command& command) {
  // Reused per thread: the hot path should not allocate for a hash input.
  thread_local std::string buf;
  buf.clear();
  {
    google::protobuf::io::StringOutputStream sos(&buf);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    command.SerializeToCodedStream(&cos);
  }
  const Hash32 h = Blake2b256(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  CommandHash out;
  std::memcpy(out.data(), h.data(), out.size());
  return out;
}

namespace {

// Everything one decision needs, so the helpers below stay small.
struct Ctx {
  const ShardState& state;
  const Command& cmd;
  const DecideContext& dc;
  TxId tx;
  CommandHash hash{};
  bool record = true;       // false for engine-issued commands (ExpireOrders)
  Decision* out = nullptr;  // cleared by Decide; events are appended here
};

void Unlogged(Decision* d, ResultCode code, std::string_view message) {
  d->code = code;
  d->message.assign(message);
}

// A new event of this command in the decision. The decision's events are
// reused from call to call (RepeatedPtrField keeps cleared elements), so the
// hot path does not allocate the event nor its tx id and hash strings.
Event& NewEvent(const Ctx& c, bool first) {
  Event& e = *c.out->events.Add();
  e.set_tx_id(reinterpret_cast<const char*>(c.tx.bytes.data()), c.tx.bytes.size());
  e.set_ledger_time_us(c.dc.ledger_time_us);
  if (first && c.record) {
    e.set_command_hash(reinterpret_cast<const char*>(c.hash.data()), c.hash.size());
  }
  return e;
}

// A state-dependent rejection: logged, so the tx id keeps this answer.
void Rejected(const Ctx& c, ResultCode code, std::string_view message) {
  c.out->code = code;
  c.out->message.assign(message);
  Event& e = NewEvent(c, true);
  e.mutable_command_rejected()->set_code(code);
  e.mutable_command_rejected()->set_message(message.data(), message.size());
}

uint32_t RequiredRole(const Command& cmd) {
  switch (cmd.body_case()) {
    case Command::kTopUp:
    case Command::kPayout:
      return kRolePayments;
    case Command::kPlaceOrder:
    case Command::kConsumeOrder:
    case Command::kCancelOrder:
    case Command::kSetPrivacy:
      return kRoleGifts;
    case Command::kRefund:
    case Command::kSetCatalog:
    case Command::kSetLimits:
      return kRoleOps;
    case Command::kHostCredit:
      return kRoleSettlement;
    case Command::kExpireOrders:
    case Command::BODY_NOT_SET:
      return kRoleSystem;
  }
  return kRoleSystem;
}

bool ValidOrderId(const std::string& b) {
  auto id = TxId::FromBytes(b);
  return id && !id->zero();
}

// Stateless checks of the command's fields; an error message or nullopt.
std::optional<std::string> Validate(const Command& cmd, const TxId& tx, const ShardConfig& config) {
  if (auto u = RoutingUser(cmd); u && u->value == 0) return "user id 0";
  // ExpireOrders is the engine's own (never indexed); HostCredit must use
  // exactly its derived id, checked below.
  if (IsReservedTxId(tx) && cmd.body_case() != Command::kHostCredit &&
      cmd.body_case() != Command::kExpireOrders) {
    return "tx ids of UUID version 8 are reserved for settlement";
  }
  switch (cmd.body_case()) {
    case Command::kTopUp:
      if (cmd.top_up().payment_ref().size() > kPaymentRefBytesMax) return "payment_ref too long";
      return std::nullopt;
    case Command::kPlaceOrder: {
      const auto& p = cmd.place_order();
      if (p.host() == 0 || p.room() == 0 || p.gift() == 0) return "host, room and gift required";
      if (p.count() < 1 || p.count() > kOrderCountMax) return "count out of range";
      if (p.ttl_us() < kOrderTtlMinUs || p.ttl_us() > kOrderTtlMaxUs) return "ttl out of range";
      return std::nullopt;
    }
    case Command::kConsumeOrder: {
      const auto& p = cmd.consume_order();
      if (!ValidOrderId(p.order_id())) return "order_id must be 16 non-zero bytes";
      if (p.combo_id().size() > kComboIdBytesMax) return "combo_id too long";
      if (p.combo_id().empty() && p.combo_count() != 0) return "combo_count without combo_id";
      return std::nullopt;
    }
    case Command::kCancelOrder:
      if (!ValidOrderId(cmd.cancel_order().order_id())) return "order_id must be 16 non-zero bytes";
      return std::nullopt;
    case Command::kRefund:
      if (!ValidOrderId(cmd.refund().order_id())) return "order_id must be 16 non-zero bytes";
      if (cmd.refund().reason().size() > kReasonBytesMax) return "reason too long";
      return std::nullopt;
    case Command::kSetCatalog: {
      const auto& p = cmd.set_catalog();
      if (p.gift() == 0) return "gift id 0";
      if (p.name().size() > kNameBytesMax) return "name too long";
      if (p.price() < 1 || p.price() > kPriceMax) return "price out of range";
      if (p.host_share_bps() > kHostShareBpsMax) return "host_share_bps above 10000";
      return std::nullopt;
    }
    case Command::kHostCredit: {
      auto gift_tx = TxId::FromBytes(cmd.host_credit().gift_tx_id());
      if (!gift_tx || gift_tx->zero()) return "gift_tx_id must be 16 non-zero bytes";
      const uint32_t payer_shard = cmd.host_credit().payer_shard();
      if (payer_shard >= config.shard_count) return "payer_shard out of range";
      if (DeriveHostCreditTxId(ShardId{payer_shard}, *gift_tx) != tx) {
        return "tx_id is not derived from (payer_shard, gift_tx_id)";
      }
      return std::nullopt;
    }
    case Command::kPayout:
      if (cmd.payout().payment_ref().size() > kPaymentRefBytesMax) return "payment_ref too long";
      return std::nullopt;
    case Command::kSetLimits: {
      const auto& p = cmd.set_limits();
      for (int64_t v : {p.per_gift_max(), p.day_max(), p.month_max()}) {
        if (v < 0 || v > kBalanceMax) return "limit out of range";
      }
      return std::nullopt;
    }
    case Command::kSetPrivacy:
    case Command::kExpireOrders:
      return std::nullopt;
    case Command::BODY_NOT_SET:
      return "no command body";
  }
  return "unknown command";
}

// ---- State-dependent decisions, one per command ------------------------------

void DecideTopUp(const Ctx& c) {
  const auto& p = c.cmd.top_up();
  if (!AmountInRange(p.amount())) return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "amount");
  const Wallet* w = c.state.FindWallet(UserId{p.user()});
  // available + held is what a released hold returns to available, so it is
  // the sum that must stay within kBalanceMax (Apply asserts it).
  if (!BalanceAdd(w ? w->available + w->held : 0, p.amount())) {
    return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "balance would exceed the maximum");
  }
  Event& e = NewEvent(c, true);
  auto* t = e.mutable_topped_up();
  t->set_user(p.user());
  t->set_amount(p.amount());
  t->set_payment_ref(p.payment_ref());
}

// Spend caps at ledger time; an error message or nullopt.
std::optional<std::string> CheckCaps(const Ctx& c, UserId user, const Wallet* w, int64_t amount) {
  auto it = c.state.limits.find(user);
  if (it == c.state.limits.end()) return std::nullopt;
  const SpendLimits& l = it->second;
  const int32_t off = c.state.config.utc_offset_minutes;
  const int64_t day = DayIndex(c.dc.ledger_time_us, off);
  const int64_t month = MonthIndex(c.dc.ledger_time_us, off);
  const int64_t day_spent = (w && w->day_index == day) ? w->day_spent : 0;
  const int64_t month_spent = (w && w->month_index == month) ? w->month_spent : 0;
  if (l.per_gift_max != 0 && amount > l.per_gift_max) return "per-gift cap";
  // Counters are ≤ kBalanceMax and amount ≤ kAmountMax: no overflow.
  if (l.day_max != 0 && day_spent + amount > l.day_max) return "daily cap";
  if (l.month_max != 0 && month_spent + amount > l.month_max) return "monthly cap";
  return std::nullopt;
}

void DecidePlaceOrder(const Ctx& c) {
  const auto& p = c.cmd.place_order();
  auto gift = c.state.catalog.find(p.gift());
  if (gift == c.state.catalog.end()) return Rejected(c, schemas::UNKNOWN_GIFT, "unknown gift");
  if (!gift->second.active) return Rejected(c, schemas::GIFT_INACTIVE, "gift inactive");
  auto amount = CheckedMul(gift->second.price, p.count());
  if (!amount || !AmountInRange(*amount)) {
    return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "count x price out of range");
  }
  const UserId payer{p.payer()};
  const Wallet* w = c.state.FindWallet(payer);
  if ((w ? w->available : 0) < *amount) {
    return Rejected(c, schemas::INSUFFICIENT_FUNDS, "available below count x price");
  }
  if (!BalanceAdd(w->held, *amount)) {
    return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "held would exceed the maximum");
  }
  if (w->pending_orders >= kPendingOrdersPerUserMax) {
    return Rejected(c, schemas::LIMIT_EXCEEDED, "too many pending orders");
  }
  if (auto cap = CheckCaps(c, payer, w, *amount)) return Rejected(c, schemas::LIMIT_EXCEEDED, *cap);
  Event& e = NewEvent(c, true);
  auto* o = e.mutable_order_placed();
  o->set_payer(p.payer());
  o->set_host(p.host());
  o->set_room(p.room());
  o->set_gift(p.gift());
  o->set_count(p.count());
  o->set_amount(*amount);
  o->set_host_share(HostShare(*amount, gift->second.host_share_bps));
  o->set_expires_at_us(c.dc.ledger_time_us + p.ttl_us());
}

bool RejectedFalse(const Ctx& c, ResultCode code, std::string_view message) {
  Rejected(c, code, message);
  return false;
}

// The order named by a command of `payer` in *out, or false with the
// rejection in c.out. Closed orders answer by their status; a pending order
// past its expiry is expired. Closed orders may be on disk (state.h): the
// lookup reads the immutable runs, so it stays pure.
bool CheckPendingOrder(const Ctx& c, uint64_t payer, const std::string& id,
                       std::optional<Order>* out) {
  std::optional<Order> o = c.state.FindOrder(*TxId::FromBytes(id));
  if (!o || o->payer.value != payer) {
    return RejectedFalse(c, schemas::ORDER_NOT_FOUND, "no such order of this payer");
  }
  switch (o->status) {
    case OrderStatus::kConsumed:
    case OrderStatus::kRefunded:
      return RejectedFalse(c, schemas::ORDER_ALREADY_CONSUMED, "order already consumed");
    case OrderStatus::kVoided:
      return RejectedFalse(c, schemas::ORDER_VOIDED, "order voided");
    case OrderStatus::kExpired:
      return RejectedFalse(c, schemas::ORDER_EXPIRED, "order expired");
    case OrderStatus::kPending:
      break;
  }
  if (o->expires_at_us <= c.dc.ledger_time_us) {
    return RejectedFalse(c, schemas::ORDER_EXPIRED, "order expired");
  }
  *out = std::move(o);
  return true;
}

void DecideConsumeOrder(const Ctx& c) {
  const auto& p = c.cmd.consume_order();
  std::optional<Order> o;
  if (!CheckPendingOrder(c, p.payer(), p.order_id(), &o)) return;
  Event& e = NewEvent(c, true);
  auto* g = e.mutable_gift_sent();
  g->set_payer(o->payer.value);
  g->set_host(o->host.value);
  g->set_room(o->room);
  g->set_gift(o->gift);
  g->set_count(o->count);
  g->set_amount(o->amount);
  g->set_host_share(o->host_share);
  g->set_order_id(p.order_id());
  g->set_combo_id(p.combo_id());
  g->set_combo_count(p.combo_count());
}

void DecideCancelOrder(const Ctx& c) {
  const auto& p = c.cmd.cancel_order();
  std::optional<Order> o;
  if (!CheckPendingOrder(c, p.payer(), p.order_id(), &o)) return;
  Event& e = NewEvent(c, true);
  auto* v = e.mutable_order_voided();
  v->set_payer(p.payer());
  v->set_order_id(p.order_id());
  v->set_amount(o->amount);
  v->set_reason(schemas::CANCELLED);
}

void DecideExpireOrders(const Ctx& c) {
  for (const auto& [expires_at, id] : c.state.expiry) {
    if (expires_at > c.dc.ledger_time_us || size_t(c.out->events.size()) >= kExpireOrdersBatchMax) {
      break;
    }
    const Order& o = c.state.orders.at(id);
    Event& e = NewEvent(c, c.out->events.empty());
    auto* v = e.mutable_order_voided();
    v->set_payer(o.payer.value);
    v->set_order_id(id.str());
    v->set_amount(o.amount);
    v->set_reason(schemas::EXPIRED);
  }
}

void DecideRefund(const Ctx& c) {
  const auto& p = c.cmd.refund();
  const std::optional<Order> o = c.state.FindOrder(*TxId::FromBytes(p.order_id()));
  if (!o || o->payer.value != p.payer()) {
    return Rejected(c, schemas::ORDER_NOT_FOUND, "no such order of this payer");
  }
  switch (o->status) {
    case OrderStatus::kPending:
      return Rejected(c, schemas::ORDER_PENDING, "order not consumed");
    case OrderStatus::kVoided:
      return Rejected(c, schemas::ORDER_VOIDED, "order voided");
    case OrderStatus::kExpired:
      return Rejected(c, schemas::ORDER_EXPIRED, "order expired");
    case OrderStatus::kRefunded:
      return Rejected(c, schemas::ALREADY_REFUNDED, "already refunded");
    case OrderStatus::kConsumed:
      break;
  }
  const Wallet* w = c.state.FindWallet(o->payer);
  if (!BalanceAdd(w ? w->available + w->held : 0, o->amount)) {
    return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "balance would exceed the maximum");
  }
  Event& e = NewEvent(c, true);
  auto* r = e.mutable_refunded();
  r->set_payer(p.payer());
  r->set_order_id(p.order_id());
  r->set_amount(o->amount);
  r->set_reason(p.reason());
}

void DecideSetCatalog(const Ctx& c) {
  const auto& p = c.cmd.set_catalog();
  Event& e = NewEvent(c, true);
  auto* s = e.mutable_catalog_set();
  s->set_gift(p.gift());
  s->set_name(p.name());
  s->set_price(p.price());
  s->set_active(p.active());
  s->set_host_share_bps(p.host_share_bps());
}

void DecideHostCredit(const Ctx& c) {
  const auto& p = c.cmd.host_credit();
  if (!AmountInRange(p.amount())) return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "amount");
  const HostAccount* h = c.state.FindHost(UserId{p.host()});
  if (!BalanceAdd(h ? h->earned : 0, p.amount())) {
    return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "earnings would exceed the maximum");
  }
  Event& e = NewEvent(c, true);
  auto* hc = e.mutable_host_credited();
  hc->set_host(p.host());
  hc->set_amount(p.amount());
  hc->set_gift_tx_id(p.gift_tx_id());
  hc->set_payer_shard(p.payer_shard());
  hc->set_gift_seq(p.gift_seq());
}

void DecidePayout(const Ctx& c) {
  const auto& p = c.cmd.payout();
  if (!AmountInRange(p.amount())) return Rejected(c, schemas::AMOUNT_OUT_OF_RANGE, "amount");
  const HostAccount* h = c.state.FindHost(UserId{p.host()});
  const int64_t payable = h ? h->earned - h->paid_out : 0;
  if (p.amount() > payable) return Rejected(c, schemas::INSUFFICIENT_FUNDS, "above payable");
  Event& e = NewEvent(c, true);
  auto* po = e.mutable_paid_out();
  po->set_host(p.host());
  po->set_amount(p.amount());
  po->set_payment_ref(p.payment_ref());
}

void DecideSetLimits(const Ctx& c) {
  const auto& p = c.cmd.set_limits();
  Event& e = NewEvent(c, true);
  auto* l = e.mutable_limits_set();
  l->set_user(p.user());
  l->set_per_gift_max(p.per_gift_max());
  l->set_day_max(p.day_max());
  l->set_month_max(p.month_max());
}

void DecideSetPrivacy(const Ctx& c) {
  Event& e = NewEvent(c, true);
  e.mutable_privacy_set()->set_user(c.cmd.set_privacy().user());
  e.mutable_privacy_set()->set_hidden(c.cmd.set_privacy().hidden());
}

void DecideBody(const Ctx& c) {
  switch (c.cmd.body_case()) {
    case Command::kTopUp:
      return DecideTopUp(c);
    case Command::kPlaceOrder:
      return DecidePlaceOrder(c);
    case Command::kConsumeOrder:
      return DecideConsumeOrder(c);
    case Command::kCancelOrder:
      return DecideCancelOrder(c);
    case Command::kExpireOrders:
      return DecideExpireOrders(c);
    case Command::kRefund:
      return DecideRefund(c);
    case Command::kSetCatalog:
      return DecideSetCatalog(c);
    case Command::kHostCredit:
      return DecideHostCredit(c);
    case Command::kPayout:
      return DecidePayout(c);
    case Command::kSetLimits:
      return DecideSetLimits(c);
    case Command::kSetPrivacy:
      return DecideSetPrivacy(c);
    case Command::BODY_NOT_SET:
      break;
  }
  return Unlogged(c.out, schemas::INVALID_ARGUMENT, "no command body");
}

}  // namespace

// Order of checks (docs/commands.md, "Idempotency"): first whether this
// caller may send this command to this shard at all (well-formed tx id, a
// body, the role, the shard), so that a caller without the role learns
// nothing about which tx ids exist; then the tx id lookup, so that a command
// once logged keeps its original answer even if field validation became
// stricter later (e.g. the reserved UUID-version-8 ids); then validation and
// the decision itself.
void Decide(const ShardState& state, const Command& cmd, const DecideContext& dc, Decision* out) {
  out->code = schemas::OK;
  out->message.clear();
  out->events.Clear();
  out->duplicate = false;
  out->original_seq = 0;
  auto tx = TxId::FromBytes(cmd.tx_id());
  if (!tx || tx->zero())
    return Unlogged(out, schemas::INVALID_ARGUMENT, "tx_id must be 16 non-zero bytes");
  if (cmd.body_case() == Command::BODY_NOT_SET) {
    return Unlogged(out, schemas::INVALID_ARGUMENT, "no command body");
  }
  if ((dc.roles & RequiredRole(cmd)) == 0) {
    return Unlogged(out, schemas::PERMISSION_DENIED, "role missing for this command");
  }
  if (auto user = RoutingUser(cmd);
      user && user->value != 0 && ShardOf(*user, state.config.shard_count) != state.config.shard) {
    return Unlogged(out, schemas::WRONG_SHARD, "user belongs to another shard");
  }
  Ctx c{state, cmd, dc, *tx};
  c.out = out;
  c.record = cmd.body_case() != Command::kExpireOrders;
  if (c.record) {
    c.hash = HashCommand(cmd);
    // Memory first, then the immutable on-disk runs (state.h): both are
    // part of the state value, so the lookup stays pure.
    if (auto found = state.FindIdempotency(*tx)) {
      if (found->hash != c.hash) {
        return Unlogged(out, schemas::TX_ID_REUSED, "tx id already used with different content");
      }
      Unlogged(out, found->code, "duplicate of an already processed command");
      out->duplicate = true;
      out->original_seq = found->seq;
      return;
    }
  }
  if (auto err = Validate(cmd, *tx, state.config))
    return Unlogged(out, schemas::INVALID_ARGUMENT, *err);
  // Order ids are PlaceOrder tx ids: never let a new command alias one.
  if (c.record && state.FindOrder(*tx).has_value()) {
    return Unlogged(out, schemas::TX_ID_REUSED, "tx id already names an order");
  }
  DecideBody(c);
}

Decision Decide(const ShardState& state, const Command& cmd, const DecideContext& dc) {
  Decision d;
  Decide(state, cmd, dc, &d);
  return d;
}

}  // namespace giftledger::commands

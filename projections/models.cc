#include "projections/models.h"

#include "projections/limits.h"
#include "projections/periods.h"

namespace giftledger::projections {

using schemas::Event;

namespace {

void AddChecked(int64_t& a, int64_t b) { GL_ASSERT(!__builtin_add_overflow(a, b, &a)); }

}  // namespace

void Changes::Clear() {
  wallets.clear();
  hosts.clear();
  levels.clear();
  privacy.clear();
  gifts.clear();
  cells.clear();
  events = 0;
}

ReadModels::ReadModels(ProjectionConfig config, bool track_changes)
    : config_(std::move(config)), track_(track_changes) {}

WalletRow& ReadModels::Wallet(uint64_t user) {
  if (track_) changes_.wallets.push_back(user);
  return wallets[commands::UserId{user}];
}

void ReadModels::Exp(uint64_t payer, int64_t amount) {
  LevelRow& l = levels[commands::UserId{payer}];
  AddChecked(l.experience, amount);
  const int32_t before = l.level;
  l.level = config_.levels.LevelOf(l.experience);
  if (collect_ && l.level > before) level_ups_.push_back(LevelUp{payer, l.level, l.experience});
  if (track_) changes_.levels.push_back(payer);
}

void ReadModels::Score(const GiftFacts& g, int64_t amount) {
  const int64_t hour = HourIndex(g.ledger_time_us, config_.utc_offset_minutes);
  const Periods periods = PeriodsOfHour(hour);
  const struct {
    Board board;
    uint64_t key;
    uint64_t member;
  } cells[] = {{Board::kRoom, g.room, g.payer},
               {Board::kHost, g.host, g.payer},
               {Board::kHosts, 0, g.host},
               {Board::kGifters, 0, g.payer}};
  for (const auto& c : cells) {
    hot_.Add(c.board, c.key, periods, c.member, amount);
    if (!track_) continue;
    changes_.cells.emplace_back(BoardCell{uint8_t(c.board), c.key, hour, c.member}, amount);
  }
  Exp(g.payer, amount);
}

void ReadModels::OnGift(ShardId shard, uint64_t seq, const Event& e) {
  const auto& p = e.gift_sent();
  WalletRow& w = Wallet(p.payer());
  AddChecked(w.held, -p.amount());
  GiftFacts g{e.ledger_time_us(), p.payer(), p.host(),   p.room(),
              p.gift(),           p.count(), p.amount(), p.host_share()};
  auto order = commands::TxId::FromBytes(p.order_id());
  GL_ASSERT(order.has_value());
  gifts_by_order_[OrderKey{shard.value, *order}] = g;
  Score(g, p.amount());
  if (collect_) {
    gift_notices_.push_back(GiftNotice{shard.value, seq, e.tx_id(), p.payer(), p.host(), p.room(),
                                       p.gift(), p.count(), p.amount(), p.combo_id(),
                                       p.combo_count()});
  }
  if (!track_) return;
  GiftRecord r;
  r.shard = shard.value;
  r.seq = seq;
  r.tx_id = e.tx_id();
  r.ledger_time_us = e.ledger_time_us();
  r.order_id = p.order_id();
  r.payer = p.payer();
  r.host = p.host();
  r.room = p.room();
  r.gift = p.gift();
  r.count = p.count();
  r.amount = p.amount();
  r.host_share = p.host_share();
  r.combo_id = p.combo_id();
  r.combo_count = p.combo_count();
  changes_.gifts.push_back(std::move(r));
}

Status ReadModels::OnRefund(ShardId shard, uint64_t seq, const Event& e) {
  const auto& p = e.refunded();
  auto order = commands::TxId::FromBytes(p.order_id());
  if (!order.has_value()) return DataLoss("refund with a malformed order id");
  GiftFacts g;
  auto it = gifts_by_order_.find(OrderKey{shard.value, *order});
  if (it != gifts_by_order_.end()) {
    g = it->second;
  } else {
    std::optional<GiftFacts> found;
    if (lookup_) {
      auto r = lookup_(shard.value, p.order_id());
      if (!r.ok()) return r.status();
      found = r.value();
    }
    if (!found.has_value()) {
      return DataLoss("refund at shard " + std::to_string(shard.value) + " seq " +
                      std::to_string(seq) + " of a gift the read models never saw");
    }
    g = *found;
  }
  if (g.amount != p.amount() || g.payer != p.payer()) {
    return DataLoss("refund at shard " + std::to_string(shard.value) + " seq " +
                    std::to_string(seq) + " does not match its gift");
  }
  WalletRow& w = Wallet(p.payer());
  AddChecked(w.available, p.amount());
  Score(g, -p.amount());
  if (!track_) return Status::Ok();
  GiftRecord r;
  r.shard = shard.value;
  r.seq = seq;
  r.tx_id = e.tx_id();
  r.refund = true;
  r.ledger_time_us = e.ledger_time_us();
  r.order_id = p.order_id();
  r.payer = g.payer;
  r.host = g.host;
  r.room = g.room;
  r.gift = g.gift;
  r.count = g.count;
  r.amount = -g.amount;
  r.host_share = -g.host_share;
  changes_.gifts.push_back(std::move(r));
  return Status::Ok();
}

void ReadModels::TrimGiftCache() {
  // Only between batches: every gift cached so far is committed, so the
  // store's lookup finds whatever the cache forgets.
  if (track_ && gifts_by_order_.size() >= kGiftCacheMax) gifts_by_order_.clear();
}

Status ReadModels::Apply(ShardId shard, uint64_t seq, const Event& e) {
  if (track_) changes_.events += 1;
  switch (e.body_case()) {
    case Event::kToppedUp:
      AddChecked(Wallet(e.topped_up().user()).available, e.topped_up().amount());
      return Status::Ok();
    case Event::kOrderPlaced: {
      WalletRow& w = Wallet(e.order_placed().payer());
      AddChecked(w.available, -e.order_placed().amount());
      AddChecked(w.held, e.order_placed().amount());
      return Status::Ok();
    }
    case Event::kGiftSent:
      OnGift(shard, seq, e);
      return Status::Ok();
    case Event::kOrderVoided: {
      WalletRow& w = Wallet(e.order_voided().payer());
      AddChecked(w.held, -e.order_voided().amount());
      AddChecked(w.available, e.order_voided().amount());
      return Status::Ok();
    }
    case Event::kRefunded:
      return OnRefund(shard, seq, e);
    case Event::kHostCredited:
      AddChecked(hosts[commands::UserId{e.host_credited().host()}].earned,
                 e.host_credited().amount());
      if (track_) changes_.hosts.push_back(e.host_credited().host());
      return Status::Ok();
    case Event::kPaidOut:
      AddChecked(hosts[commands::UserId{e.paid_out().host()}].paid_out, e.paid_out().amount());
      if (track_) changes_.hosts.push_back(e.paid_out().host());
      return Status::Ok();
    case Event::kPrivacySet:
      privacy_rows[commands::UserId{e.privacy_set().user()}] = e.privacy_set().hidden();
      if (track_) changes_.privacy.push_back(e.privacy_set().user());
      return Status::Ok();
    case Event::kCatalogSet:
    case Event::kLimitsSet:
    case Event::kCommandRejected:
      return Status::Ok();
    case Event::BODY_NOT_SET:
      break;
  }
  return DataLoss("event at shard " + std::to_string(shard.value) + " seq " + std::to_string(seq) +
                  " has no body this projector knows");
}

}  // namespace giftledger::projections

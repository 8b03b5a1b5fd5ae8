#include "projections/query.h"

#include <algorithm>

#include "projections/limits.h"

namespace giftledger::projections {

namespace {

std::optional<int64_t> NewestTimeUs(const std::vector<Position>& positions) {
  std::optional<int64_t> t;
  for (const Position& p : positions) {
    if (p.seq != 0) t = std::max(t.value_or(INT64_MIN), p.ledger_time_us);
  }
  return t;
}

Result<bool> HiddenOf(Store& store, uint64_t user) {
  Stmt q;
  GL_RETURN_IF_ERROR(q.Prepare(store.db(), "SELECT hidden FROM privacy WHERE user = ?"));
  q.BindI64(1, int64_t(user));
  auto r = q.Step();
  if (!r.ok()) return r.status();
  return r.value() && q.I64(0) != 0;
}

}  // namespace

Result<LeaderboardAnswer> QueryLeaderboard(Store& store, Board board, uint64_t key, Window window,
                                           std::optional<int64_t> period, size_t top) {
  if (top == 0 || top > kQueryTopMax) {
    return InvalidArgument("top must be 1.." + std::to_string(kQueryTopMax));
  }
  if (IsGlobalBoard(board) && key != 0) return InvalidArgument("global boards have key 0");
  LeaderboardAnswer a;
  a.board = board;
  a.key = key;
  a.window = window;
  auto positions = store.LoadPositions();
  if (!positions.ok()) return positions.status();
  a.positions = positions.value();
  if (!period.has_value()) {
    auto t = NewestTimeUs(a.positions);
    period = t ? PeriodOfHour(window, HourIndex(*t, store.config().utc_offset_minutes)) : 0;
  }
  a.period = window == Window::kAll ? 0 : *period;
  a.hours = HourRange(window, a.period);
  Stmt q;
  if (window == Window::kAll) {
    GL_RETURN_IF_ERROR(q.Prepare(
        store.db(),
        "SELECT l.member, l.score, COALESCE(p.hidden, 0) FROM leaderboard_all_time l "
        "LEFT JOIN privacy p ON p.user = l.member WHERE l.board = ? AND l.board_key = ? AND "
        "l.score > 0 ORDER BY l.score DESC, l.member ASC LIMIT ?"));
    q.BindI64(1, int64_t(board));
    q.BindI64(2, int64_t(key));
    q.BindI64(3, int64_t(top));
  } else {
    GL_RETURN_IF_ERROR(q.Prepare(
        store.db(),
        "SELECT l.member, SUM(l.score) AS s, COALESCE(MAX(p.hidden), 0) FROM "
        "leaderboard_hourly l LEFT JOIN privacy p ON p.user = l.member WHERE l.board = ? AND "
        "l.board_key = ? AND l.hour BETWEEN ? AND ? GROUP BY l.member HAVING s > 0 "
        "ORDER BY s DESC, l.member ASC LIMIT ?"));
    q.BindI64(1, int64_t(board));
    q.BindI64(2, int64_t(key));
    q.BindI64(3, a.hours.first);
    q.BindI64(4, a.hours.second);
    q.BindI64(5, int64_t(top));
  }
  for (;;) {
    auto r = q.Step();
    if (!r.ok()) return r.status();
    if (!r.value()) break;
    a.entries.push_back(LeaderboardEntry{uint64_t(q.I64(0)), q.I64(1), q.I64(2) != 0});
  }
  return a;
}

Result<AccountAnswer> QueryAccount(Store& store, uint64_t user) {
  AccountAnswer a;
  auto positions = store.LoadPositions();
  if (!positions.ok()) return positions.status();
  a.positions = positions.value();
  Stmt w, h, l;
  GL_RETURN_IF_ERROR(w.Prepare(store.db(), "SELECT available, held FROM wallets WHERE user = ?"));
  GL_RETURN_IF_ERROR(
      h.Prepare(store.db(), "SELECT earned, paid_out FROM host_earnings WHERE host = ?"));
  GL_RETURN_IF_ERROR(l.Prepare(store.db(), "SELECT experience, level FROM levels WHERE user = ?"));
  for (Stmt* s : {&w, &h, &l}) s->BindI64(1, int64_t(user));
  auto rw = w.Step();
  if (!rw.ok()) return rw.status();
  if (rw.value()) a.wallet = WalletRow{w.I64(0), w.I64(1)};
  auto rh = h.Step();
  if (!rh.ok()) return rh.status();
  if (rh.value()) a.host = HostRow{h.I64(0), h.I64(1)};
  auto rl = l.Step();
  if (!rl.ok()) return rl.status();
  if (rl.value()) a.level = LevelRow{l.I64(0), int32_t(l.I64(1))};
  auto hidden = HiddenOf(store, user);
  if (!hidden.ok()) return hidden.status();
  a.hidden = hidden.value();
  return a;
}

Result<GiftAnswer> QueryGift(Store& store, const std::string& tx_id) {
  if (tx_id.size() != 16) return InvalidArgument("a tx id has 16 bytes");
  GiftAnswer a;
  auto positions = store.LoadPositions();
  if (!positions.ok()) return positions.status();
  a.positions = positions.value();
  Stmt q;
  GL_RETURN_IF_ERROR(q.Prepare(
      store.db(),
      "SELECT shard, seq, tx_id, kind, ledger_time_us, order_id, payer, host, room, gift, count, "
      "amount, host_share, combo_id, combo_count FROM gifts WHERE order_id IN "
      "(SELECT order_id FROM gifts WHERE tx_id = ?1 UNION SELECT ?1) ORDER BY shard, seq"));
  q.BindBlob(1, tx_id);
  for (;;) {
    auto r = q.Step();
    if (!r.ok()) return r.status();
    if (!r.value()) break;
    GiftRecord g;
    g.shard = uint32_t(q.I64(0));
    g.seq = uint64_t(q.I64(1));
    g.tx_id = q.Blob(2);
    g.refund = q.Blob(3) == "refund";
    g.ledger_time_us = q.I64(4);
    g.order_id = q.Blob(5);
    g.payer = uint64_t(q.I64(6));
    g.host = uint64_t(q.I64(7));
    g.room = uint64_t(q.I64(8));
    g.gift = uint32_t(q.I64(9));
    g.count = uint32_t(q.I64(10));
    g.amount = q.I64(11);
    g.host_share = q.I64(12);
    g.combo_id = q.Blob(13);
    g.combo_count = uint32_t(q.I64(14));
    a.rows.push_back(std::move(g));
  }
  return a;
}

nlohmann::json GiftRecordJson(const GiftRecord& g) {
  return {
      {"shard", g.shard},
      {"seq", g.seq},
      {"tx_id", ToHex(reinterpret_cast<const uint8_t*>(g.tx_id.data()), g.tx_id.size())},
      {"kind", g.refund ? "refund" : "gift"},
      {"ledger_time_us", g.ledger_time_us},
      {"order_id", ToHex(reinterpret_cast<const uint8_t*>(g.order_id.data()), g.order_id.size())},
      {"payer", g.payer},
      {"host", g.host},
      {"room", g.room},
      {"gift", g.gift},
      {"count", g.count},
      {"amount", g.amount},
      {"host_share", g.host_share},
      {"combo_count", g.combo_count}};
}

}  // namespace giftledger::projections

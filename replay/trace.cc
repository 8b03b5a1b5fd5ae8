#include "replay/trace.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <tuple>

#include "commands/ids.h"
#include "commands/routing.h"
#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "projections/store.h"

namespace giftledger {
namespace {

using schemas::Event;

// The ids an event names: its own tx id, the order it acts on, the gift a
// host credit is for.
bool EventNames(const Event& e, const std::string& id) {
  if (e.tx_id() == id) return true;
  switch (e.body_case()) {
    case Event::kGiftSent:
      return e.gift_sent().order_id() == id;
    case Event::kOrderVoided:
      return e.order_voided().order_id() == id;
    case Event::kRefunded:
      return e.refunded().order_id() == id;
    case Event::kHostCredited:
      return e.host_credited().gift_tx_id() == id;
    default:
      return false;
  }
}

// Every event of the shard naming one of `ids`, with its block and the
// oldest checkpoint covering it. Each block is checked in full by LogReader.
Status ScanShardFor(const std::string& data_dir, const Manifest& m, uint32_t shard,
                    const std::vector<std::string>& ids, std::vector<TraceEvent>* out) {
  const std::string dir = ShardDir(data_dir, ShardId{shard});
  auto reader = LogReader::Open(dir, ShardId{shard}, m.public_keys[shard]);
  if (!reader.ok()) return reader.status();
  if (reader.value()->scan().next_seq.value <= 1) return Status::Ok();  // empty log
  std::vector<TraceEvent> found;
  Status parse;
  GL_RETURN_IF_ERROR(reader.value()->ReadFrom(Seq{1}, [&](const BlockView& b) {
    ForEachEvent(b, [&](Seq seq, std::string_view bytes) {
      bool candidate = false;  // cheap filter: the 16 id bytes occur in the event at all
      for (const auto& id : ids) {
        candidate = candidate || memmem(bytes.data(), bytes.size(), id.data(), id.size());
      }
      if (!candidate || !parse.ok()) return;
      TraceEvent t;
      if (!t.event.ParseFromArray(bytes.data(), int(bytes.size()))) {
        parse = DataLoss("shard " + std::to_string(shard) + ": event at seq " +
                         std::to_string(seq.value) + " does not parse");
        return;
      }
      bool named = false;
      for (const auto& id : ids) named = named || EventNames(t.event, id);
      if (!named) return;
      t.shard = shard;
      t.seq = seq.value;
      t.block_first_seq = b.header.first_seq.value;
      t.block_events = b.header.event_count;
      t.ledger_time_us = t.event.ledger_time_us();
      t.kind = EventKind(t.event);
      found.push_back(std::move(t));
    });
    return parse.ok();
  }));
  GL_RETURN_IF_ERROR(parse);
  auto ckpts = ListCheckpoints(dir);
  if (!ckpts.ok()) return ckpts.status();
  std::vector<uint64_t> sizes;
  for (const auto& c : ckpts.value()) sizes.push_back(c.tree_size);
  std::sort(sizes.begin(), sizes.end());
  for (auto& t : found) {
    auto it = std::lower_bound(sizes.begin(), sizes.end(), t.seq);
    if (it != sizes.end()) t.checkpoint = *it;
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

void AddUnique(std::vector<TraceEvent>&& more, std::vector<TraceEvent>* all) {
  for (auto& t : more) {
    bool seen = false;
    for (const auto& a : *all) seen = seen || (a.shard == t.shard && a.seq == t.seq);
    if (!seen) all->push_back(std::move(t));
  }
}

// The order the traced tx belongs to, and its payer's shard; nullopt for a
// tx without an order (a top-up, a payout, ...). A host credit's order is
// its gift's: `gift` receives the gift tx id to look for.
std::optional<std::pair<std::string, uint32_t>> OrderOf(const std::vector<TraceEvent>& events,
                                                        const std::string& tx,
                                                        std::optional<std::pair<std::string, uint32_t>>* gift) {
  for (const auto& t : events) {
    const Event& e = t.event;
    if (e.has_order_placed() && e.tx_id() == tx) return std::make_pair(tx, t.shard);
    if (e.has_gift_sent() && (e.tx_id() == tx || e.gift_sent().order_id() == tx)) {
      return std::make_pair(e.gift_sent().order_id(), t.shard);
    }
    if (e.has_order_voided() && (e.tx_id() == tx || e.order_voided().order_id() == tx)) {
      return std::make_pair(e.order_voided().order_id(), t.shard);
    }
    if (e.has_refunded() && (e.tx_id() == tx || e.refunded().order_id() == tx)) {
      return std::make_pair(e.refunded().order_id(), t.shard);
    }
    if (e.has_host_credited() && e.tx_id() == tx) {
      *gift = std::make_pair(e.host_credited().gift_tx_id(), e.host_credited().payer_shard());
    }
  }
  return std::nullopt;
}

OrderStep Step(const TraceEvent& t, const char* state, int64_t amount) {
  return {state, t.event.tx_id(), t.shard, t.seq, t.ledger_time_us, amount};
}

void BuildHistory(const std::vector<TraceEvent>& events, TraceReport* r) {
  for (const auto& t : events) {
    const Event& e = t.event;
    if (t.shard != r->order_shard) continue;
    if (e.has_order_placed() && e.tx_id() == *r->order_id) {
      r->history.push_back(Step(t, "placed", e.order_placed().amount()));
    } else if (e.has_gift_sent() && e.gift_sent().order_id() == *r->order_id) {
      r->history.push_back(Step(t, "consumed", e.gift_sent().amount()));
    } else if (e.has_order_voided() && e.order_voided().order_id() == *r->order_id) {
      const bool expired = e.order_voided().reason() == schemas::EXPIRED;
      r->history.push_back(Step(t, expired ? "expired" : "voided", e.order_voided().amount()));
    } else if (e.has_refunded() && e.refunded().order_id() == *r->order_id) {
      r->history.push_back(Step(t, "refunded", e.refunded().amount()));
    }
  }
}

// Whether the database holds what the events did, at its recorded positions.
Status CheckReadModels(const std::string& db_path, const Manifest& m, TraceReport* r) {
  auto store = projections::Store::Open(db_path, projections::OpenMode::kReadOnly, {});
  if (!store.ok()) return store.status();
  projections::Store& s = *store.value();
  if (s.config().ledger_id != m.ledger_id) {
    return FailedPrecondition(db_path + " is the read model of ledger " + s.config().ledger_id +
                              ", not of " + m.ledger_id);
  }
  auto positions = s.LoadPositions();
  if (!positions.ok()) return positions.status();
  for (const auto& p : positions.value()) r->read_model_positions.push_back(p.seq);
  r->read_models_checked = true;
  auto exists = [&](const char* sql, std::initializer_list<int64_t> args) -> Result<bool> {
    projections::Stmt q;
    GL_RETURN_IF_ERROR(q.Prepare(s.db(), sql));
    int i = 1;
    for (int64_t a : args) q.BindI64(i++, a);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    const bool found = row.value();
    q.Reset();
    return found;
  };
  for (const auto& t : r->events) {
    const bool covered = t.shard < positions->size() && (*positions)[t.shard].seq >= t.seq;
    auto add = [&](const char* model, bool reflected, std::string detail) {
      r->read_models.push_back({model, t.shard, t.seq, reflected, std::move(detail)});
    };
    add("position", covered,
        "projected up to seq " + std::to_string(r->read_model_positions[t.shard]));
    const Event& e = t.event;
    if (e.has_gift_sent() || e.has_refunded()) {
      auto row = exists("SELECT 1 FROM gifts WHERE shard = ? AND seq = ?",
                        {int64_t(t.shard), int64_t(t.seq)});
      if (!row.ok()) return row.status();
      add("gift_record", row.value(), row.value() ? "row in gifts" : "no row in gifts");
    }
    if (e.has_gift_sent()) {
      const auto& g = e.gift_sent();
      bool all = true;
      for (auto [board, key, member] :
           {std::tuple<int, uint64_t, uint64_t>{1, g.room(), g.payer()}, {2, g.host(), g.payer()},
            {3, 0, g.host()}, {4, 0, g.payer()}}) {
        auto row = exists(
            "SELECT 1 FROM leaderboard_all_time WHERE board = ? AND board_key = ? AND member = ?",
            {board, int64_t(key), int64_t(member)});
        if (!row.ok()) return row.status();
        all = all && row.value();
      }
      add("leaderboards", covered && all,
          all ? "room, host, hosts and gifters rows" : "a leaderboard row is missing");
    }
    if (e.has_topped_up() || e.has_order_placed() || e.has_gift_sent() || e.has_order_voided() ||
        e.has_refunded()) {
      add("wallet", covered, covered ? "wallet row includes this seq" : "not projected yet");
    }
    if (e.has_host_credited() || e.has_paid_out()) {
      add("host_earnings", covered, covered ? "host row includes this seq" : "not projected yet");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string EventKind(const Event& e) {
  const auto* oneof = Event::descriptor()->FindOneofByName("body");
  const auto* field = Event::GetReflection()->GetOneofFieldDescriptor(e, oneof);
  return field ? field->name() : "none";
}

Result<TraceReport> TraceTx(const TraceOptions& o) {
  CryptoInit();
  if (o.tx_id.size() != 16) return InvalidArgument("a tx id is 16 bytes (32 hex digits)");
  auto m = LoadManifest(o.data_dir);
  if (!m.ok()) return m.status();
  TraceReport r;
  r.tx_id = o.tx_id;
  for (uint32_t s = 0; s < m->shard_count; ++s) {
    GL_RETURN_IF_ERROR(ScanShardFor(o.data_dir, m.value(), s, {o.tx_id}, &r.events));
  }
  if (r.events.empty()) {
    return NotFound("no event of any shard names tx id " + ToHex(reinterpret_cast<const uint8_t*>(
                                                               o.tx_id.data()), o.tx_id.size()));
  }
  std::optional<std::pair<std::string, uint32_t>> gift;
  auto order = OrderOf(r.events, o.tx_id, &gift);
  if (!order && gift && gift->second < m->shard_count) {
    // A host credit: find its gift on the payer's shard, then the order.
    std::vector<TraceEvent> more;
    GL_RETURN_IF_ERROR(ScanShardFor(o.data_dir, m.value(), gift->second, {gift->first}, &more));
    std::optional<std::pair<std::string, uint32_t>> unused;
    order = OrderOf(more, gift->first, &unused);
    AddUnique(std::move(more), &r.events);
  }
  if (order) {
    r.order_id = order->first;
    r.order_shard = order->second;
    if (order->first != o.tx_id) {
      std::vector<TraceEvent> more;
      GL_RETURN_IF_ERROR(ScanShardFor(o.data_dir, m.value(), order->second, {order->first}, &more));
      AddUnique(std::move(more), &r.events);
    }
  }
  auto by_time = [](const TraceEvent& a, const TraceEvent& b) {
    return std::tie(a.ledger_time_us, a.shard, a.seq) < std::tie(b.ledger_time_us, b.shard, b.seq);
  };
  std::sort(r.events.begin(), r.events.end(), by_time);
  if (r.order_id) BuildHistory(r.events, &r);
  for (const auto& step : r.history) {
    if (step.state != "consumed") continue;
    const auto& g = std::find_if(r.events.begin(), r.events.end(), [&](const TraceEvent& t) {
                      return t.shard == step.shard && t.seq == step.seq;
                    })->event.gift_sent();
    Settlement st;
    st.gift_tx_id = step.tx_id;
    st.credit_tx_id = commands::DeriveHostCreditTxId(ShardId{step.shard},
                                                     *commands::TxId::FromBytes(step.tx_id))
                          .str();
    st.host = g.host();
    st.host_share = g.host_share();
    st.host_shard = commands::ShardOf(commands::UserId{g.host()}, m->shard_count).value;
    std::vector<TraceEvent> credit;
    GL_RETURN_IF_ERROR(
        ScanShardFor(o.data_dir, m.value(), st.host_shard, {st.credit_tx_id}, &credit));
    for (auto& c : credit) {
      if (c.event.has_host_credited() && c.event.tx_id() == st.credit_tx_id) st.credit = c;
    }
    AddUnique(std::move(credit), &r.events);
    r.settlements.push_back(std::move(st));
  }
  std::sort(r.events.begin(), r.events.end(), by_time);
  if (!o.db_path.empty()) GL_RETURN_IF_ERROR(CheckReadModels(o.db_path, m.value(), &r));
  return r;
}

}  // namespace giftledger

// giftledger trace: everything one tx id caused — events with their blocks
// and checkpoints, the order's history, the settlement credit, and with --db
// whether the read models reflect it ("where is my gift?", docs/operations.md).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ledger/file.h"
#include "ledger/manifest.h"
#include "replay/trace.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using nlohmann::json;

struct TraceOpts {
  std::string data;
  std::string db;
  bool json = false;
  std::string tx;
};

std::string Hex(const std::string& bytes) {
  return ToHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// The event's body without the bytes fields, which read better as hex.
json BodyJson(const schemas::Event& e) {
  json j = {{"kind", EventKind(e)}};
  switch (e.body_case()) {
    case schemas::Event::kToppedUp:
      j["user"] = e.topped_up().user();
      j["amount"] = e.topped_up().amount();
      break;
    case schemas::Event::kOrderPlaced: {
      const auto& p = e.order_placed();
      j.update({{"payer", p.payer()}, {"host", p.host()}, {"room", p.room()}, {"gift", p.gift()},
                {"count", p.count()}, {"amount", p.amount()}, {"host_share", p.host_share()},
                {"expires_at_us", p.expires_at_us()}});
      break;
    }
    case schemas::Event::kGiftSent: {
      const auto& g = e.gift_sent();
      j.update({{"payer", g.payer()}, {"host", g.host()}, {"room", g.room()}, {"gift", g.gift()},
                {"count", g.count()}, {"amount", g.amount()}, {"host_share", g.host_share()},
                {"order_id", Hex(g.order_id())}});
      break;
    }
    case schemas::Event::kOrderVoided:
      j.update({{"payer", e.order_voided().payer()}, {"amount", e.order_voided().amount()},
                {"order_id", Hex(e.order_voided().order_id())},
                {"reason", schemas::VoidReason_Name(e.order_voided().reason())}});
      break;
    case schemas::Event::kRefunded:
      j.update({{"payer", e.refunded().payer()}, {"amount", e.refunded().amount()},
                {"order_id", Hex(e.refunded().order_id())}, {"reason", e.refunded().reason()}});
      break;
    case schemas::Event::kHostCredited:
      j.update({{"host", e.host_credited().host()}, {"amount", e.host_credited().amount()},
                {"gift_tx_id", Hex(e.host_credited().gift_tx_id())},
                {"payer_shard", e.host_credited().payer_shard()}});
      break;
    case schemas::Event::kPaidOut:
      j.update({{"host", e.paid_out().host()}, {"amount", e.paid_out().amount()}});
      break;
    case schemas::Event::kCommandRejected:
      j["code"] = schemas::ResultCode_Name(e.command_rejected().code());
      break;
    default:
      break;
  }
  return j;
}

json EventJson(const TraceEvent& t) {
  return {{"shard", t.shard},
          {"seq", t.seq},
          {"block", {{"first_seq", t.block_first_seq}, {"events", t.block_events}}},
          {"ledger_time_us", t.ledger_time_us},
          {"checkpoint", t.checkpoint ? json(*t.checkpoint) : json()},
          {"tx_id", Hex(t.event.tx_id())},
          {"body", BodyJson(t.event)}};
}

json ReportJson(const TraceReport& r) {
  json j;
  j["tx_id"] = Hex(r.tx_id);
  j["events"] = json::array();
  for (const auto& t : r.events) j["events"].push_back(EventJson(t));
  j["order_id"] = r.order_id ? json(Hex(*r.order_id)) : json();
  if (r.order_id) j["order_shard"] = r.order_shard;
  j["history"] = json::array();
  for (const auto& s : r.history) {
    j["history"].push_back({{"state", s.state},
                            {"tx_id", Hex(s.tx_id)},
                            {"shard", s.shard},
                            {"seq", s.seq},
                            {"ledger_time_us", s.ledger_time_us},
                            {"amount", s.amount}});
  }
  j["settlements"] = json::array();
  for (const auto& s : r.settlements) {
    j["settlements"].push_back({{"gift_tx_id", Hex(s.gift_tx_id)},
                                {"credit_tx_id", Hex(s.credit_tx_id)},
                                {"host", s.host},
                                {"host_shard", s.host_shard},
                                {"host_share", s.host_share},
                                {"settled", s.credit.has_value()},
                                {"credit", s.credit ? EventJson(*s.credit) : json()}});
  }
  if (r.read_models_checked) {
    j["read_model_positions"] = r.read_model_positions;
    j["read_models"] = json::array();
    for (const auto& m : r.read_models) {
      j["read_models"].push_back({{"model", m.model},
                                  {"shard", m.shard},
                                  {"seq", m.seq},
                                  {"reflected", m.reflected},
                                  {"detail", m.detail}});
    }
  }
  return j;
}

void PrintHuman(const TraceReport& r) {
  std::printf("tx %s: %zu events\n", Hex(r.tx_id).c_str(), r.events.size());
  for (const auto& t : r.events) {
    std::string ckpt = t.checkpoint ? "checkpoint " + std::to_string(*t.checkpoint)
                                    : "no checkpoint yet";
    std::printf("  shard %u seq %llu  %-16s tx %s  block %llu+%u  time %lld  %s\n", t.shard,
                (unsigned long long)t.seq, t.kind.c_str(), Hex(t.event.tx_id()).c_str(),
                (unsigned long long)t.block_first_seq, t.block_events,
                (long long)t.ledger_time_us, ckpt.c_str());
  }
  if (r.order_id) {
    std::printf("order %s (shard %u):\n", Hex(*r.order_id).c_str(), r.order_shard);
    for (const auto& s : r.history) {
      std::printf("  %-9s tx %s  seq %llu  amount %lld\n", s.state.c_str(), Hex(s.tx_id).c_str(),
                  (unsigned long long)s.seq, (long long)s.amount);
    }
  }
  for (const auto& s : r.settlements) {
    if (s.credit) {
      std::printf("settlement: host %llu credited %lld on shard %u seq %llu (tx %s)\n",
                  (unsigned long long)s.host, (long long)s.credit->event.host_credited().amount(),
                  s.host_shard, (unsigned long long)s.credit->seq, Hex(s.credit_tx_id).c_str());
    } else {
      std::printf("settlement: not settled yet (host %llu, share %lld, expected tx %s on shard %u)\n",
                  (unsigned long long)s.host, (long long)s.host_share,
                  Hex(s.credit_tx_id).c_str(), s.host_shard);
    }
  }
  if (r.read_models_checked) {
    std::printf("read models:\n");
    for (const auto& m : r.read_models) {
      std::printf("  %-13s shard %u seq %llu: %s (%s)\n", m.model.c_str(), m.shard,
                  (unsigned long long)m.seq, m.reflected ? "yes" : "NO", m.detail.c_str());
    }
  }
}

int Run(const TraceOpts& o) {
  TraceOptions t;
  t.data_dir = o.data;
  t.db_path = o.db;
  t.tx_id.resize(16);
  if (!FromHex(o.tx, reinterpret_cast<uint8_t*>(t.tx_id.data()), 16)) {
    std::fprintf(stderr, "giftledger: TXID wants 32 hex digits\n");
    return kExitUsage;
  }
  // A missing ledger or database is an error of the call, not an unknown tx.
  if (auto m = LoadManifest(o.data); !m.ok()) return ReportError(m.status());
  if (!o.db.empty() && !PathExists(o.db)) return ReportError(NotFound(o.db + ": no such database"));
  auto r = TraceTx(t);
  if (!r.ok()) {
    std::fprintf(stderr, "giftledger: %s\n", r.status().ToString().c_str());
    if (r.status().code() == Code::kDataLoss) return kExitCheckFailed;
    if (r.status().code() == Code::kNotFound) return kExitNotFound;
    if (r.status().code() == Code::kInvalidArgument) return kExitUsage;
    return kExitError;
  }
  if (o.json) {
    std::printf("%s\n", ReportJson(r.value()).dump(2).c_str());
  } else {
    PrintHuman(r.value());
  }
  return kExitOk;
}

}  // namespace

void RegisterTrace(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "trace",
      "Everything a tx id caused: events, order history, settlement credit, read models "
      "(exit 6 = unknown tx id)");
  auto o = std::make_shared<TraceOpts>();
  cmd->add_option("--data", o->data, "Ledger data directory (read only)")->required();
  cmd->add_option("--db", o->db, "Read-model database: check whether it reflects the tx");
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->add_option("TXID", o->tx, "Tx id (32 hex digits): a gift's, its order's, a refund's...")
      ->required();
  cmd->callback([o, exit_code] { *exit_code = Run(*o); });
}

}  // namespace giftledger::cli

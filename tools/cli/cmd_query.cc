// giftledger query: read the SQLite read models — a leaderboard window, a
// wallet, a level, a gift — each answer with the positions it reflects.
#include <nats/nats.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "projections/limits.h"
#include "projections/query.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"
#include "tools/cli/projection_cli.h"

namespace giftledger::cli {
namespace {

using namespace projections;  // NOLINT: this file is the projections' CLI

struct QueryOpts {
  std::string db;
  std::string nats;  // ask the projector's hot query server instead of SQLite
  int64_t timeout_ms = 5000;
  bool json = false;
  std::string kind;
  uint64_t key = 0;
  std::string window = "all";
  int64_t period = 0;
  bool period_set = false;
  size_t top = 10;
  uint64_t user = 0;
  std::string tx_hex;
};

Result<std::unique_ptr<Store>> OpenDb(const QueryOpts& o) {
  return Store::Open(o.db, OpenMode::kReadOnly, ProjectionConfig{});
}

void Print(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

// --nats: one request to giftledger.q.<what>; the answer as the server gives it.
int AskNatsOnce(const QueryOpts& o, const std::string& what, const nlohmann::json& req) {
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, o.nats.c_str());
  if (s != NATS_OK) {
    return ReportError(Unavailable("nats: connect " + o.nats + ": " + natsStatus_GetText(s)));
  }
  const std::string subject = "giftledger.q." + what;
  const std::string body = req.dump();
  natsMsg* reply = nullptr;
  s = natsConnection_Request(&reply, nc, subject.c_str(), body.data(), int(body.size()),
                             o.timeout_ms);
  if (s != NATS_OK) {
    natsConnection_Destroy(nc);
    return ReportError(Unavailable("nats: " + subject + ": " + natsStatus_GetText(s) +
                                   " (is `giftledger project --nats` running?)"));
  }
  nlohmann::json a = nlohmann::json::parse(
      std::string(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply))), nullptr, false);
  natsMsg_Destroy(reply);
  natsConnection_Destroy(nc);
  if (a.is_discarded() || !a.is_object()) return ReportError(DataLoss(subject + ": not JSON"));
  if (a.contains("error")) {
    std::fprintf(stderr, "giftledger: %s: %s\n", a["error"].value("code", "").c_str(),
                 a["error"].value("message", "").c_str());
    return a["error"].value("code", "") == "INVALID_ARGUMENT" ? kExitUsage : kExitError;
  }
  if (o.json) {
    Print(a);
    return kExitOk;
  }
  std::string pos;
  for (const auto& p : a.value("positions", nlohmann::json::array())) {
    if (!pos.empty()) pos += ' ';
    pos += std::to_string(p.value("shard", 0)) + ":" + std::to_string(p.value("seq", uint64_t(0)));
  }
  if (what == "leaderboard") {
    std::printf("%s %llu, window %s, period %lld (positions %s)\n", a.value("board", "").c_str(),
                (unsigned long long)a.value("key", uint64_t(0)), a.value("window", "").c_str(),
                (long long)a.value("period", int64_t(0)), pos.c_str());
    for (const auto& e : a["entries"]) {
      const std::string who =
          e["member"].is_null() ? "anonymous" : std::to_string(e["member"].get<uint64_t>());
      std::printf("%4llu  %-20s %lld\n", (unsigned long long)e.value("rank", uint64_t(0)),
                  who.c_str(), (long long)e.value("score", int64_t(0)));
    }
  } else if (what == "wallet" || what == "level") {
    std::printf("user %llu (positions %s)\n", (unsigned long long)a.value("user", uint64_t(0)),
                pos.c_str());
    std::printf("  level %d, experience %lld%s\n", a.value("level", 0),
                (long long)a.value("experience", int64_t(0)),
                a.value("hidden", false) ? ", hidden on leaderboards" : "");
    if (what == "wallet") {
      const auto& w = a["wallet"];
      if (w.is_null()) {
        std::printf("  wallet: none\n");
      } else {
        std::printf("  wallet: available %lld, held %lld\n",
                    (long long)w.value("available", int64_t(0)),
                    (long long)w.value("held", int64_t(0)));
      }
      const auto& h = a["host"];
      if (!h.is_null()) {
        std::printf("  host: earned %lld, paid out %lld\n",
                    (long long)h.value("earned", int64_t(0)),
                    (long long)h.value("paid_out", int64_t(0)));
      }
    }
  } else {
    std::printf("%zu rows (positions %s)\n", a["rows"].size(), pos.c_str());
    for (const auto& r : a["rows"]) {
      std::printf(
          "  %s shard %u seq %llu tx %s payer %llu host %llu room %llu gift %u x%u amount %lld\n",
          r.value("kind", "").c_str(), r.value("shard", 0u),
          (unsigned long long)r.value("seq", uint64_t(0)), r.value("tx_id", "").c_str(),
          (unsigned long long)r.value("payer", uint64_t(0)),
          (unsigned long long)r.value("host", uint64_t(0)),
          (unsigned long long)r.value("room", uint64_t(0)), r.value("gift", 0u),
          r.value("count", 0u), (long long)r.value("amount", int64_t(0)));
    }
  }
  return kExitOk;
}

int AskNats(const QueryOpts& o, const std::string& what, const nlohmann::json& req) {
  const int rc = AskNatsOnce(o, what, req);
  nats_Close();
  return rc;
}

// Exactly one of --db / --nats.
bool SourceOk(const QueryOpts& o) {
  if (o.db.empty() == o.nats.empty()) {
    std::fprintf(stderr, "giftledger: query needs exactly one of --db FILE or --nats URL\n");
    return false;
  }
  return true;
}

int Leaderboard(const QueryOpts& o) {
  auto board = ParseBoard(o.kind);
  auto window = ParseWindow(o.window);
  if (!board || !window) {
    std::fprintf(stderr, "giftledger: %s\n",
                 !board ? "KIND must be room, host, hosts or gifters"
                        : "--window must be hour, day, week, month or all");
    return kExitUsage;
  }
  if (IsGlobalBoard(*board) && o.key != 0) {
    std::fprintf(stderr, "giftledger: %s is a global board: no KEY\n", BoardName(*board));
    return kExitUsage;
  }
  if (!SourceOk(o)) return kExitUsage;
  if (!o.nats.empty()) {
    if (o.period_set || o.top > kHotTopMax) {
      std::fprintf(stderr, "giftledger: --nats answers the current period, --top up to %zu\n",
                   kHotTopMax);
      return kExitUsage;
    }
    return AskNats(o, "leaderboard",
                   {{"board", o.kind}, {"key", o.key}, {"window", o.window}, {"top", o.top}});
  }
  auto store = OpenDb(o);
  if (!store.ok()) return ReportError(store.status());
  auto a = QueryLeaderboard(*store.value(), *board, o.key, *window,
                            o.period_set ? std::optional<int64_t>(o.period) : std::nullopt, o.top);
  if (!a.ok()) return ReportError(a.status());
  if (o.json) {
    nlohmann::json e = nlohmann::json::array();
    for (size_t i = 0; i < a->entries.size(); ++i) {
      const auto& x = a->entries[i];
      e.push_back({{"rank", i + 1},
                   {"member", x.anonymous ? nlohmann::json(nullptr) : nlohmann::json(x.member)},
                   {"score", x.score}});
    }
    Print({{"board", BoardName(a->board)},
           {"key", a->key},
           {"window", WindowName(a->window)},
           {"period", a->period},
           {"local_hours", {a->hours.first, a->hours.second}},
           {"entries", e},
           {"positions", PositionsJson(a->positions)}});
    return kExitOk;
  }
  std::printf("%s %llu, window %s, period %lld (positions %s)\n", BoardName(a->board),
              (unsigned long long)a->key, WindowName(a->window), (long long)a->period,
              PositionsText(a->positions).c_str());
  for (size_t i = 0; i < a->entries.size(); ++i) {
    const auto& x = a->entries[i];
    const std::string who = x.anonymous ? "anonymous" : std::to_string(x.member);
    std::printf("%4zu  %-20s %lld\n", i + 1, who.c_str(), (long long)x.score);
  }
  return kExitOk;
}

int Account(const QueryOpts& o, bool level_only) {
  if (!SourceOk(o)) return kExitUsage;
  if (!o.nats.empty()) return AskNats(o, level_only ? "level" : "wallet", {{"user", o.user}});
  auto store = OpenDb(o);
  if (!store.ok()) return ReportError(store.status());
  auto a = QueryAccount(*store.value(), o.user);
  if (!a.ok()) return ReportError(a.status());
  nlohmann::json j{{"user", o.user}, {"hidden", a->hidden}};
  j["level"] = a->level ? nlohmann::json(a->level->level) : nlohmann::json(0);
  j["experience"] = a->level ? a->level->experience : 0;
  if (!level_only) {
    j["wallet"] =
        a->wallet ? nlohmann::json{{"available", a->wallet->available}, {"held", a->wallet->held}}
                  : nlohmann::json(nullptr);
    j["host"] = a->host
                    ? nlohmann::json{{"earned", a->host->earned}, {"paid_out", a->host->paid_out}}
                    : nlohmann::json(nullptr);
  }
  j["positions"] = PositionsJson(a->positions);
  if (o.json) {
    Print(j);
    return kExitOk;
  }
  std::printf("user %llu (positions %s)\n", (unsigned long long)o.user,
              PositionsText(a->positions).c_str());
  std::printf("  level %d, experience %lld%s\n", a->level ? a->level->level : 0,
              (long long)(a->level ? a->level->experience : 0),
              a->hidden ? ", hidden on leaderboards" : "");
  if (level_only) return kExitOk;
  if (a->wallet) {
    std::printf("  wallet: available %lld, held %lld\n", (long long)a->wallet->available,
                (long long)a->wallet->held);
  } else {
    std::printf("  wallet: none\n");
  }
  if (a->host) {
    std::printf("  host: earned %lld, paid out %lld\n", (long long)a->host->earned,
                (long long)a->host->paid_out);
  }
  return kExitOk;
}

int GiftRows(const QueryOpts& o) {
  uint8_t b[16];
  if (!FromHex(o.tx_hex, b, sizeof b)) {
    std::fprintf(stderr, "giftledger: TX must be 32 hex digits\n");
    return kExitUsage;
  }
  if (!SourceOk(o)) return kExitUsage;
  if (!o.nats.empty()) return AskNats(o, "gift", {{"tx", o.tx_hex}});
  auto store = OpenDb(o);
  if (!store.ok()) return ReportError(store.status());
  auto a = QueryGift(*store.value(), std::string(reinterpret_cast<const char*>(b), 16));
  if (!a.ok()) return ReportError(a.status());
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& g : a->rows) {
    rows.push_back(GiftRecordJson(g));
  }
  if (o.json) {
    Print({{"rows", rows}, {"positions", PositionsJson(a->positions)}});
    return kExitOk;
  }
  std::printf("%zu rows (positions %s)\n", a->rows.size(), PositionsText(a->positions).c_str());
  for (const auto& r : rows) {
    std::printf(
        "  %s shard %u seq %llu tx %s payer %llu host %llu room %llu gift %u x%u amount %lld\n",
        r["kind"].get<std::string>().c_str(), r["shard"].get<uint32_t>(),
        (unsigned long long)r["seq"].get<uint64_t>(), r["tx_id"].get<std::string>().c_str(),
        (unsigned long long)r["payer"].get<uint64_t>(),
        (unsigned long long)r["host"].get<uint64_t>(),
        (unsigned long long)r["room"].get<uint64_t>(), r["gift"].get<uint32_t>(),
        r["count"].get<uint32_t>(), (long long)r["amount"].get<int64_t>());
  }
  return kExitOk;
}

}  // namespace

void RegisterQuery(CLI::App& app, int* exit_code) {
  auto* q = app.add_subcommand(
      "query",
      "Read the read models from SQLite (--db) or the projector over NATS (--nats); answers "
      "carry positions");
  q->require_subcommand(1);
  q->fallthrough();
  auto o = std::make_shared<QueryOpts>();
  q->add_option("--db", o->db, "Read-model database (opened read-only)");
  q->add_option("--nats", o->nats,
                "Ask a running `project --nats` (giftledger.q.*) instead of a database");
  q->add_option("--timeout-ms", o->timeout_ms, "With --nats: request timeout")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(600'000)));
  q->add_flag("--json", o->json, "One JSON object on stdout");

  auto* lb = q->add_subcommand("leaderboard", "Top members of a board in a window");
  lb->add_option("KIND", o->kind, "room | host | hosts | gifters")->required();
  lb->add_option("KEY", o->key, "Room id (room), host id (host); none for hosts, gifters");
  lb->add_option("--window", o->window, "hour | day | week | month | all")->capture_default_str();
  lb->add_option("--top", o->top, "Entries")
      ->capture_default_str()
      ->check(CLI::Range(size_t(1), kQueryTopMax));
  lb->add_option("--period", o->period,
                 "Period index (default: the one holding the newest projected ledger time)")
      ->each([o](const std::string&) { o->period_set = true; });
  lb->callback([o, exit_code] { *exit_code = Leaderboard(*o); });

  auto* wallet = q->add_subcommand("wallet", "Wallet, host earnings and level of a user");
  wallet->add_option("USER", o->user, "User id")->required();
  wallet->callback([o, exit_code] { *exit_code = Account(*o, false); });

  auto* level = q->add_subcommand("level", "Level and experience of a user");
  level->add_option("USER", o->user, "User id")->required();
  level->callback([o, exit_code] { *exit_code = Account(*o, true); });

  auto* gift = q->add_subcommand("gift", "Gift rows of a tx id (gift or order), with refunds");
  gift->add_option("TX", o->tx_hex, "Tx id: 32 hex digits")->required();
  gift->callback([o, exit_code] { *exit_code = GiftRows(*o); });
}

}  // namespace giftledger::cli

// giftledger query: read the SQLite read models — a leaderboard window, a
// wallet, a level, a gift — each answer with the positions it reflects.
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
  auto store = OpenDb(o);
  if (!store.ok()) return ReportError(store.status());
  auto a = QueryGift(*store.value(), std::string(reinterpret_cast<const char*>(b), 16));
  if (!a.ok()) return ReportError(a.status());
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& g : a->rows) {
    rows.push_back({{"shard", g.shard},
                    {"seq", g.seq},
                    {"tx_id", ToHex(reinterpret_cast<const uint8_t*>(g.tx_id.data()), 16)},
                    {"kind", g.refund ? "refund" : "gift"},
                    {"ledger_time_us", g.ledger_time_us},
                    {"order_id",
                     ToHex(reinterpret_cast<const uint8_t*>(g.order_id.data()), g.order_id.size())},
                    {"payer", g.payer},
                    {"host", g.host},
                    {"room", g.room},
                    {"gift", g.gift},
                    {"count", g.count},
                    {"amount", g.amount},
                    {"host_share", g.host_share},
                    {"combo_count", g.combo_count}});
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
  auto* q = app.add_subcommand("query", "Read the SQLite read models (answers carry positions)");
  q->require_subcommand(1);
  q->fallthrough();
  auto o = std::make_shared<QueryOpts>();
  q->add_option("--db", o->db, "Read-model database (opened read-only)")->required();
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

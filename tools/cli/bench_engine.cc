#include "tools/cli/bench_engine.h"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "ledger/file.h"

namespace giftledger::cli {
namespace {

using Clock = std::chrono::steady_clock;
using schemas::Command;

// The naive implementation most teams start with: one SQLite transaction
// per command (synchronous=FULL), wallets and orders as tables, the tx id
// as the primary key of a commands table for idempotency.
class SqliteNaive {
 public:
  ~SqliteNaive() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  Status Open(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) return Unavailable("sqlite open " + path);
    GL_RETURN_IF_ERROR(Exec(
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE wallets(user INTEGER PRIMARY KEY, available INTEGER NOT NULL,"
        "  held INTEGER NOT NULL);"
        "CREATE TABLE orders(id BLOB PRIMARY KEY, payer INTEGER NOT NULL, host INTEGER NOT NULL,"
        "  room INTEGER NOT NULL, gift INTEGER NOT NULL, count INTEGER NOT NULL,"
        "  amount INTEGER NOT NULL, expires_at INTEGER NOT NULL, status INTEGER NOT NULL);"
        "CREATE TABLE commands(tx_id BLOB PRIMARY KEY, code INTEGER NOT NULL);"
        "CREATE TABLE gifts(order_id BLOB PRIMARY KEY, payer INTEGER, host INTEGER,"
        "  amount INTEGER)"));
    const char* sql[] = {
        "SELECT code FROM commands WHERE tx_id = ?1",
        "INSERT INTO commands(tx_id, code) VALUES(?1, ?2)",
        "INSERT INTO wallets(user, available, held) VALUES(?1, ?2, 0) "
        "ON CONFLICT(user) DO UPDATE SET available = available + ?2",
        "SELECT available, held FROM wallets WHERE user = ?1",
        "UPDATE wallets SET available = available + ?2, held = held + ?3 WHERE user = ?1",
        "INSERT INTO orders VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
        "SELECT payer, host, amount, status, expires_at FROM orders WHERE id = ?1",
        "UPDATE orders SET status = ?2 WHERE id = ?1",
        "INSERT INTO gifts VALUES(?1, ?2, ?3, ?4)",
    };
    for (const char* s : sql) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db_, s, -1, &st, nullptr) != SQLITE_OK) {
        return Internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
      }
      stmts_.push_back(st);
    }
    return Status::Ok();
  }

  // One command, one transaction: dedup, read, check, write, commit.
  Status Run(const Command& c, int64_t now_us) {
    GL_RETURN_IF_ERROR(Exec("BEGIN"));
    sqlite3_stmt* seen = Bind(kSeen, c.tx_id());
    const bool dup = sqlite3_step(seen) == SQLITE_ROW;
    sqlite3_reset(seen);
    int code = 0;
    if (!dup) {
      code = Decide(c, now_us);
      sqlite3_stmt* ins = Bind(kRecord, c.tx_id());
      sqlite3_bind_int(ins, 2, code);
      Step(ins);
    }
    return Exec("COMMIT");
  }

 private:
  enum { kSeen, kRecord, kTopUp, kWallet, kMove, kPlace, kOrder, kSetStatus, kGift };

  int Decide(const Command& c, int64_t now_us) {
    switch (c.body_case()) {
      case Command::kTopUp: {
        sqlite3_stmt* s = stmts_[kTopUp];
        sqlite3_bind_int64(s, 1, int64_t(c.top_up().user()));
        sqlite3_bind_int64(s, 2, c.top_up().amount());
        Step(s);
        return schemas::OK;
      }
      case Command::kPlaceOrder:
        return Place(c, now_us);
      case Command::kConsumeOrder:
        return Close(c.consume_order().order_id(), c.consume_order().payer(), true, now_us);
      case Command::kCancelOrder:
        return Close(c.cancel_order().order_id(), c.cancel_order().payer(), false, now_us);
      default:
        return schemas::INVALID_ARGUMENT;
    }
  }

  int Place(const Command& c, int64_t now_us) {
    const auto& p = c.place_order();
    const int64_t amount = int64_t(p.count()) * 10;  // the bench catalog's price
    sqlite3_stmt* w = stmts_[kWallet];
    sqlite3_bind_int64(w, 1, int64_t(p.payer()));
    int64_t available = -1;
    if (sqlite3_step(w) == SQLITE_ROW) available = sqlite3_column_int64(w, 0);
    sqlite3_reset(w);
    if (available < amount) return schemas::INSUFFICIENT_FUNDS;
    Move(p.payer(), -amount, amount);
    sqlite3_stmt* o = Bind(kPlace, c.tx_id());
    sqlite3_bind_int64(o, 2, int64_t(p.payer()));
    sqlite3_bind_int64(o, 3, int64_t(p.host()));
    sqlite3_bind_int64(o, 4, int64_t(p.room()));
    sqlite3_bind_int64(o, 5, p.gift());
    sqlite3_bind_int64(o, 6, p.count());
    sqlite3_bind_int64(o, 7, amount);
    sqlite3_bind_int64(o, 8, now_us + p.ttl_us());
    Step(o);
    return schemas::OK;
  }

  int Close(const std::string& order_id, uint64_t payer, bool consume, int64_t now_us) {
    sqlite3_stmt* o = Bind(kOrder, order_id);
    int64_t host = 0, amount = 0, status = -1, expires = 0, owner = 0;
    if (sqlite3_step(o) == SQLITE_ROW) {
      owner = sqlite3_column_int64(o, 0);
      host = sqlite3_column_int64(o, 1);
      amount = sqlite3_column_int64(o, 2);
      status = sqlite3_column_int64(o, 3);
      expires = sqlite3_column_int64(o, 4);
    }
    sqlite3_reset(o);
    if (status < 0 || owner != int64_t(payer)) return schemas::ORDER_NOT_FOUND;
    if (status != 0) return schemas::ORDER_ALREADY_CONSUMED;
    if (expires <= now_us) return schemas::ORDER_EXPIRED;
    sqlite3_stmt* s = Bind(kSetStatus, order_id);
    sqlite3_bind_int(s, 2, consume ? 1 : 2);
    Step(s);
    Move(payer, consume ? 0 : amount, -amount);
    if (consume) {
      sqlite3_stmt* g = Bind(kGift, order_id);
      sqlite3_bind_int64(g, 2, int64_t(payer));
      sqlite3_bind_int64(g, 3, host);
      sqlite3_bind_int64(g, 4, amount);
      Step(g);
    }
    return schemas::OK;
  }

  void Move(uint64_t user, int64_t available, int64_t held) {
    sqlite3_stmt* m = stmts_[kMove];
    sqlite3_bind_int64(m, 1, int64_t(user));
    sqlite3_bind_int64(m, 2, available);
    sqlite3_bind_int64(m, 3, held);
    Step(m);
  }

  sqlite3_stmt* Bind(int which, const std::string& blob) {
    sqlite3_stmt* s = stmts_[which];
    sqlite3_bind_blob(s, 1, blob.data(), int(blob.size()), SQLITE_STATIC);
    return s;
  }
  void Step(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) ok_ = false;
    sqlite3_reset(s);
  }
  Status Exec(const char* sql) {
    if (!ok_) return Internal(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Internal(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    return Status::Ok();
  }

  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
  bool ok_ = true;
};

Result<double> SqliteCommandsPerS(const std::string& dir, uint64_t commands, uint32_t users) {
  const std::string path = JoinPath(dir, "bench-engine-sqlite.tmp");
  ::unlink(path.c_str());
  ::unlink((path + "-journal").c_str());
  const std::vector<Command> mix = commands::EngineBenchMix(commands, users, 1);
  double rate = 0;
  Status st;
  {
    SqliteNaive db;
    st = db.Open(path);
    const auto t0 = Clock::now();
    int64_t now_us = 1'700'000'000'000'000;
    for (size_t i = 0; i < mix.size() && st.ok(); ++i) st = db.Run(mix[i], ++now_us);
    rate = double(mix.size()) / std::chrono::duration<double>(Clock::now() - t0).count();
  }
  ::unlink(path.c_str());
  ::unlink((path + "-journal").c_str());
  if (!st.ok()) return st;
  return rate;
}

}  // namespace

Result<nlohmann::json> RunEngineBenchCli(const EngineCliOptions& o) {
  auto r = commands::RunEngineBench(o.engine);
  if (!r.ok()) return r.status();
  auto sqlite = SqliteCommandsPerS(o.engine.data_dir, o.sqlite_commands, o.engine.users);
  if (!sqlite.ok()) return sqlite.status();
  nlohmann::json j;
  j["bench"] = "engine";
  j["commands"] = r->commands;
  j["producers"] = o.engine.producers;
  j["batch_commands"] = o.engine.batch_commands;
  j["batches_in_flight_per_producer"] = o.engine.batches_in_flight_max;
  j["users"] = o.engine.users;
  j["seconds"] = r->seconds;
  j["commands_per_s"] = r->commands_per_s;
  j["commit_p50_us"] = r->commit_p50_us;
  j["commit_p99_us"] = r->commit_p99_us;
  j["rejected"] = r->rejected;
  j["events"] = r->events;
  j["fsyncs"] = r->fsyncs;
  j["blocks"] = r->blocks;
  j["idempotency_memory_entries_max"] = o.engine.idempotency_memory_entries_max;
  j["idempotency_disk_entries"] = r->idempotency_disk_entries;
  j["idempotency_runs"] = r->idempotency_runs;
  j["closed_orders_memory_max"] = o.engine.closed_orders_memory_max;
  j["closed_orders_memory"] = r->closed_orders_memory;
  j["order_disk_records"] = r->order_disk_records;
  j["order_runs"] = r->order_runs;
  j["decide_apply_per_s"] = r->decide_apply_per_s;
  j["sqlite_commands"] = o.sqlite_commands;
  j["sqlite_naive_commands_per_s"] = sqlite.value();
  j["ratio_sqlite"] = r->commands_per_s / sqlite.value();
  return j;
}

void PrintEngineBenchHuman(const nlohmann::json& j) {
  std::printf("bench engine: %llu commands, %u producers x %u-command batches, 1 shard\n",
              j["commands"].get<unsigned long long>(), j["producers"].get<unsigned>(),
              j["batch_commands"].get<unsigned>());
  std::printf("  %-34s %14s %14s %8s\n", "figure", "giftledger", "baseline", "ratio");
  std::printf("  %-34s %14.0f %14.0f %8.1f  (SQLite, 1 txn/command, FULL)\n", "durable commands/s",
              j["commands_per_s"].get<double>(), j["sqlite_naive_commands_per_s"].get<double>(),
              j["ratio_sqlite"].get<double>());
  std::printf("  %-34s %14.0f\n", "decide+apply/s (memory, 1 core)",
              j["decide_apply_per_s"].get<double>());
  std::printf("  batch commit p50 %.0f us, p99 %.0f us; %llu events, %llu fsyncs, %llu rejected\n",
              j["commit_p50_us"].get<double>(), j["commit_p99_us"].get<double>(),
              j["events"].get<unsigned long long>(), j["fsyncs"].get<unsigned long long>(),
              j["rejected"].get<unsigned long long>());
}

Result<nlohmann::json> RunRecoveryBenchCli(const commands::RecoveryBenchOptions& o) {
  auto r = commands::RunRecoveryBench(o);
  if (!r.ok()) return r.status();
  nlohmann::json j;
  j["bench"] = "recovery";
  j["events_appended"] = o.events;
  j["log_events"] = r->log_events;
  j["snapshot_seq"] = r->snapshot_seq;
  j["snapshot_bytes"] = r->snapshot_bytes;
  j["tail_events"] = r->tail_events;
  j["ready_ms"] = r->ready_ms;
  j["replay_ms"] = r->replay_ms;
  j["replay_events_per_s"] = r->replay_events_per_s;
  j["idempotency_memory_entries"] = r->idempotency_memory_entries;
  j["idempotency_disk_entries"] = r->idempotency_disk_entries;
  j["idempotency_runs"] = r->idempotency_runs;
  j["closed_orders_memory"] = r->closed_orders_memory;
  j["order_disk_records"] = r->order_disk_records;
  j["order_runs"] = r->order_runs;
  j["accounts"] = r->accounts;
  j["bytes_per_account"] = r->bytes_per_account;
  j["bytes_per_account_method"] = "heap bytes in use (glibc mallinfo2), wallet + top-up tx id";
  return j;
}

void PrintRecoveryBenchHuman(const nlohmann::json& j) {
  std::printf("bench recovery: log of %llu events, snapshot at seq %llu (%s payload)\n",
              j["log_events"].get<unsigned long long>(),
              j["snapshot_seq"].get<unsigned long long>(),
              std::to_string(j["snapshot_bytes"].get<unsigned long long>()).c_str());
  std::printf("  restart ready (snapshot + %llu tail events): %.0f ms\n",
              j["tail_events"].get<unsigned long long>(), j["ready_ms"].get<double>());
  std::printf("  replay from seq 1: %.0f ms, %.0f events/s\n", j["replay_ms"].get<double>(),
              j["replay_events_per_s"].get<double>());
  std::printf("  idempotency: %llu entries in memory, %llu in %llu run files\n",
              j["idempotency_memory_entries"].get<unsigned long long>(),
              j["idempotency_disk_entries"].get<unsigned long long>(),
              j["idempotency_runs"].get<unsigned long long>());
  std::printf("  resident state: %.0f bytes per account (%llu accounts)\n",
              j["bytes_per_account"].get<double>(), j["accounts"].get<unsigned long long>());
}

}  // namespace giftledger::cli

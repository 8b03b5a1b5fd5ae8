// The SQLite database of the read models (docs/read-models.md, "Tables"):
// schema, configuration check, loading the mirrors back into memory, and the
// one transaction per batch that writes a batch's rows with the new per-shard
// positions, so that every event counts exactly once.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "projections/models.h"

namespace giftledger::projections {

// The last projected event of a shard (seq 0 = none).
struct Position {
  uint64_t seq = 0;
  int64_t ledger_time_us = 0;
  friend bool operator==(const Position& a, const Position& b) {
    return a.seq == b.seq && a.ledger_time_us == b.ledger_time_us;
  }
};

enum class OpenMode {
  kCreateNew,     // ALREADY_EXISTS when the file exists (rebuild)
  kOpenOrCreate,  // project
  kReadOnly,      // query, state hash: NOT_FOUND when missing
};

class Store {
 public:
  // kCreateNew/kOpenOrCreate: `config` is written into a new database and must
  // equal a stored one (FAILED_PRECONDITION otherwise). kReadOnly: `config`
  // is ignored; config() is read from meta.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, OpenMode mode,
                                             const ProjectionConfig& config);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const ProjectionConfig& config() const { return config_; }
  // One entry per shard, index = shard.
  Result<std::vector<Position>> LoadPositions();
  // Wallets, host accounts, levels, privacy and the hot boards' current
  // periods (the periods of the newest ledger time in `positions`).
  Status LoadModels(const std::vector<Position>& positions, ReadModels* models);
  // Writes the batch's rows and the positions in one transaction.
  Status Commit(ReadModels& models, const std::vector<Position>& positions);
  Result<std::optional<GiftFacts>> FindGift(uint32_t shard, const std::string& order_id);

  sqlite3* db() { return db_; }

 private:
  explicit Store(sqlite3* db);
  Status CreateSchema(const ProjectionConfig& config);
  Status CheckConfig(const ProjectionConfig& config);
  Status ReadConfig();
  Status Prepare();
  Status WriteRows(ReadModels& models);

  sqlite3* db_;
  ProjectionConfig config_;
  struct Stmts;
  std::unique_ptr<Stmts> st_;
};

// A prepared statement that finalizes itself; helpers bind and step.
class Stmt {
 public:
  Stmt() = default;
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Status Prepare(sqlite3* db, const char* sql);
  sqlite3_stmt* get() { return s_; }
  void BindI64(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void BindBlob(int i, const std::string& b) {
    sqlite3_bind_blob(s_, i, b.data(), int(b.size()), SQLITE_TRANSIENT);
  }
  void BindText(int i, const std::string& t) {
    sqlite3_bind_text(s_, i, t.data(), int(t.size()), SQLITE_TRANSIENT);
  }
  // SQLITE_ROW → true, SQLITE_DONE → false (and reset), else error.
  Result<bool> Step();
  // Steps to completion; resets.
  Status Run();
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t I64(int col) { return sqlite3_column_int64(s_, col); }
  std::string Blob(int col);

 private:
  sqlite3_stmt* s_ = nullptr;
  sqlite3* db_ = nullptr;
};

// "sqlite: <what>: <message>" as UNAVAILABLE (busy/locked), DATA_LOSS
// (corrupt) or INTERNAL.
Status SqliteStatus(sqlite3* db, const std::string& what);
Status Exec(sqlite3* db, const char* sql);

}  // namespace giftledger::projections

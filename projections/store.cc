#include "projections/store.h"

#include <sys/stat.h>

#include <algorithm>

#include "projections/periods.h"

namespace giftledger::projections {

namespace {

constexpr const char* kSchemaVersion = "1";

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE positions(shard INTEGER PRIMARY KEY, seq INTEGER NOT NULL,
                       ledger_time_us INTEGER NOT NULL);
CREATE TABLE wallets(user INTEGER PRIMARY KEY, available INTEGER NOT NULL,
                     held INTEGER NOT NULL);
CREATE TABLE host_earnings(host INTEGER PRIMARY KEY, earned INTEGER NOT NULL,
                           paid_out INTEGER NOT NULL);
CREATE TABLE gifts(shard INTEGER NOT NULL, seq INTEGER NOT NULL, tx_id BLOB NOT NULL,
                   kind TEXT NOT NULL, ledger_time_us INTEGER NOT NULL, order_id BLOB NOT NULL,
                   payer INTEGER NOT NULL, host INTEGER NOT NULL, room INTEGER NOT NULL,
                   gift INTEGER NOT NULL, count INTEGER NOT NULL, amount INTEGER NOT NULL,
                   host_share INTEGER NOT NULL, combo_id BLOB NOT NULL,
                   combo_count INTEGER NOT NULL, PRIMARY KEY(shard, seq)) WITHOUT ROWID;
CREATE INDEX gifts_by_tx ON gifts(tx_id);
CREATE INDEX gifts_by_order ON gifts(order_id);
CREATE TABLE privacy(user INTEGER PRIMARY KEY, hidden INTEGER NOT NULL);
CREATE TABLE levels(user INTEGER PRIMARY KEY, experience INTEGER NOT NULL,
                    level INTEGER NOT NULL);
CREATE TABLE boards(board INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO boards VALUES (1, 'room'), (2, 'host'), (3, 'hosts'), (4, 'gifters');
CREATE TABLE leaderboard_hourly(board INTEGER NOT NULL, board_key INTEGER NOT NULL,
                                hour INTEGER NOT NULL, member INTEGER NOT NULL,
                                score INTEGER NOT NULL,
                                PRIMARY KEY(board, board_key, hour, member)) WITHOUT ROWID;
CREATE TABLE leaderboard_all_time(board INTEGER NOT NULL, board_key INTEGER NOT NULL,
                                  member INTEGER NOT NULL, score INTEGER NOT NULL,
                                  PRIMARY KEY(board, board_key, member)) WITHOUT ROWID;
CREATE VIEW leaderboard_daily AS
  SELECT board, board_key, (hour - ((hour % 24) + 24) % 24) / 24 AS day, member,
         SUM(score) AS score
  FROM leaderboard_hourly GROUP BY board, board_key, day, member;
CREATE VIEW leaderboard_weekly AS
  SELECT board, board_key, (day + 3 - (((day + 3) % 7) + 7) % 7) / 7 AS week, member,
         SUM(score) AS score
  FROM leaderboard_daily GROUP BY board, board_key, week, member;
CREATE VIEW leaderboard_monthly AS
  SELECT board, board_key,
         CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 +
         CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1 AS month,
         member, SUM(score) AS score
  FROM leaderboard_daily GROUP BY board, board_key, month, member;
)sql";

}  // namespace

Status SqliteStatus(sqlite3* db, const std::string& what) {
  const int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  std::string msg = "sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return Unavailable(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLoss(msg);
    case SQLITE_CANTOPEN:
      return NotFound(msg);
    default:
      return Internal(msg);
  }
}

Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteStatus(db, std::string(sql).substr(0, 60));
  }
  return Status::Ok();
}

Stmt::~Stmt() { sqlite3_finalize(s_); }

Status Stmt::Prepare(sqlite3* db, const char* sql) {
  db_ = db;
  if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) {
    return SqliteStatus(db, std::string("prepare ") + std::string(sql).substr(0, 60));
  }
  return Status::Ok();
}

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  Status st = rc == SQLITE_DONE ? Status::Ok() : SqliteStatus(db_, "step");
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  if (!st.ok()) return st;
  return false;
}

Status Stmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) return r.status();
    if (!r.value()) return Status::Ok();
  }
}

std::string Stmt::Blob(int col) {
  const void* p = sqlite3_column_blob(s_, col);
  const int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(static_cast<const char*>(p), size_t(n)) : std::string();
}

struct Store::Stmts {
  Stmt wallet, host, level, privacy, gift, hourly, all_time, position, find_gift;
};

Store::Store(sqlite3* db) : db_(db) {}

Store::~Store() {
  st_.reset();
  sqlite3_close(db_);
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, OpenMode mode,
                                           const ProjectionConfig& config) {
  struct stat sb;
  const bool exists = ::stat(path.c_str(), &sb) == 0;
  if (mode == OpenMode::kCreateNew && exists) {
    return AlreadyExists(path + " exists; rebuild never overwrites a database");
  }
  if (mode == OpenMode::kReadOnly && !exists) return NotFound(path + ": no such database");
  const int flags = mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    Status st = SqliteStatus(db, "open " + path);
    sqlite3_close(db);
    return st;
  }
  std::unique_ptr<Store> s(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  if (mode != OpenMode::kReadOnly) {
    GL_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL"));
    GL_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=NORMAL"));
    GL_RETURN_IF_ERROR(Exec(db, "PRAGMA cache_size=-262144"));  // 256 MiB
  }
  Stmt has_meta;
  GL_RETURN_IF_ERROR(
      has_meta.Prepare(db, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'"));
  auto row = has_meta.Step();
  if (!row.ok()) return row.status();
  const bool fresh = has_meta.I64(0) == 0;
  has_meta.Reset();
  if (fresh) {
    if (mode == OpenMode::kReadOnly) return FailedPrecondition(path + " is not a read-model db");
    GL_RETURN_IF_ERROR(s->CreateSchema(config));
  } else {
    GL_RETURN_IF_ERROR(s->ReadConfig());
    if (mode != OpenMode::kReadOnly) GL_RETURN_IF_ERROR(s->CheckConfig(config));
  }
  if (mode != OpenMode::kReadOnly) GL_RETURN_IF_ERROR(s->Prepare());
  return s;
}

Status Store::CreateSchema(const ProjectionConfig& c) {
  GL_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  Status st = Exec(db_, kSchemaSql);
  Stmt meta;
  if (st.ok()) st = meta.Prepare(db_, "INSERT INTO meta VALUES (?, ?)");
  const std::pair<const char*, std::string> rows[] = {
      {"schema_version", kSchemaVersion},
      {"ledger_id", c.ledger_id},
      {"shard_count", std::to_string(c.shard_count)},
      {"utc_offset_minutes", std::to_string(c.utc_offset_minutes)},
      {"level_thresholds", c.levels.ToString()}};
  for (const auto& [k, v] : rows) {
    if (!st.ok()) break;
    meta.BindText(1, k);
    meta.BindText(2, v);
    st = meta.Run();
  }
  Stmt pos;
  if (st.ok()) st = pos.Prepare(db_, "INSERT INTO positions VALUES (?, 0, 0)");
  for (uint32_t shard = 0; st.ok() && shard < c.shard_count; ++shard) {
    pos.BindI64(1, shard);
    st = pos.Run();
  }
  if (st.ok()) st = Exec(db_, "COMMIT");
  if (!st.ok()) {
    (void)Exec(db_, "ROLLBACK");
    return st;
  }
  config_ = c;
  return Status::Ok();
}

Status Store::ReadConfig() {
  Stmt q;
  GL_RETURN_IF_ERROR(q.Prepare(db_, "SELECT key, value FROM meta"));
  std::string version, levels, shards, offset;
  for (;;) {
    auto r = q.Step();
    if (!r.ok()) return r.status();
    if (!r.value()) break;
    const std::string k = q.Blob(0), v = q.Blob(1);
    if (k == "schema_version") version = v;
    if (k == "ledger_id") config_.ledger_id = v;
    if (k == "shard_count") shards = v;
    if (k == "utc_offset_minutes") offset = v;
    if (k == "level_thresholds") levels = v;
  }
  if (version != kSchemaVersion) {
    return FailedPrecondition("read-model schema version '" + version + "', this build knows " +
                              kSchemaVersion);
  }
  auto table = LevelTable::Parse(levels);
  if (!table.ok()) return DataLoss("meta.level_thresholds: " + table.status().message());
  config_.levels = table.value();
  try {
    config_.shard_count = uint32_t(std::stoul(shards));
    config_.utc_offset_minutes = int32_t(std::stol(offset));
  } catch (...) {
    return DataLoss("meta: bad shard_count or utc_offset_minutes");
  }
  return Status::Ok();
}

Status Store::CheckConfig(const ProjectionConfig& c) {
  auto differs = [](const char* what, const std::string& have, const std::string& want) {
    return FailedPrecondition("the database was built with " + std::string(what) + " " + have +
                              ", not " + want + "; rebuild into a new database");
  };
  if (c.ledger_id != config_.ledger_id) return differs("ledger", config_.ledger_id, c.ledger_id);
  if (c.shard_count != config_.shard_count) {
    return differs("shard count", std::to_string(config_.shard_count),
                   std::to_string(c.shard_count));
  }
  if (c.utc_offset_minutes != config_.utc_offset_minutes) {
    return differs("UTC offset (minutes)", std::to_string(config_.utc_offset_minutes),
                   std::to_string(c.utc_offset_minutes));
  }
  if (c.levels.thresholds() != config_.levels.thresholds()) {
    return differs("level thresholds", config_.levels.ToString(), c.levels.ToString());
  }
  return Status::Ok();
}

Status Store::Prepare() {
  st_ = std::make_unique<Stmts>();
  Stmts& s = *st_;
  GL_RETURN_IF_ERROR(s.wallet.Prepare(db_, "INSERT OR REPLACE INTO wallets VALUES (?, ?, ?)"));
  GL_RETURN_IF_ERROR(s.host.Prepare(db_, "INSERT OR REPLACE INTO host_earnings VALUES (?, ?, ?)"));
  GL_RETURN_IF_ERROR(s.level.Prepare(db_, "INSERT OR REPLACE INTO levels VALUES (?, ?, ?)"));
  GL_RETURN_IF_ERROR(s.privacy.Prepare(db_, "INSERT OR REPLACE INTO privacy VALUES (?, ?)"));
  GL_RETURN_IF_ERROR(s.gift.Prepare(
      db_, "INSERT INTO gifts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  GL_RETURN_IF_ERROR(s.hourly.Prepare(
      db_,
      "INSERT INTO leaderboard_hourly VALUES (?, ?, ?, ?, ?) ON CONFLICT(board, board_key, "
      "hour, member) DO UPDATE SET score = score + excluded.score"));
  GL_RETURN_IF_ERROR(s.all_time.Prepare(
      db_,
      "INSERT INTO leaderboard_all_time VALUES (?, ?, ?, ?) ON CONFLICT(board, board_key, "
      "member) DO UPDATE SET score = score + excluded.score"));
  GL_RETURN_IF_ERROR(
      s.position.Prepare(db_, "UPDATE positions SET seq = ?, ledger_time_us = ? WHERE shard = ?"));
  GL_RETURN_IF_ERROR(s.find_gift.Prepare(
      db_,
      "SELECT ledger_time_us, payer, host, room, gift, count, amount, host_share FROM gifts "
      "WHERE order_id = ? AND shard = ? AND kind = 'gift'"));
  return Status::Ok();
}

Result<std::vector<Position>> Store::LoadPositions() {
  Stmt q;
  GL_RETURN_IF_ERROR(q.Prepare(db_, "SELECT shard, seq, ledger_time_us FROM positions"));
  std::vector<Position> out(config_.shard_count);
  for (;;) {
    auto r = q.Step();
    if (!r.ok()) return r.status();
    if (!r.value()) break;
    const int64_t shard = q.I64(0);
    if (shard < 0 || uint64_t(shard) >= out.size()) return DataLoss("positions: bad shard");
    out[size_t(shard)] = Position{uint64_t(q.I64(1)), q.I64(2)};
  }
  return out;
}

namespace {

template <typename Fn>
Status ForEachRow(sqlite3* db, const char* sql, Fn fn, int64_t a = 0, int64_t b = 0) {
  Stmt q;
  GL_RETURN_IF_ERROR(q.Prepare(db, sql));
  if (sqlite3_bind_parameter_count(q.get()) >= 2) {
    q.BindI64(1, a);
    q.BindI64(2, b);
  }
  for (;;) {
    auto r = q.Step();
    if (!r.ok()) return r.status();
    if (!r.value()) return Status::Ok();
    fn(q);
  }
}

}  // namespace

Status Store::LoadModels(const std::vector<Position>& positions, ReadModels* m) {
  using commands::UserId;
  GL_RETURN_IF_ERROR(ForEachRow(db_, "SELECT user, available, held FROM wallets", [&](Stmt& q) {
    m->wallets[UserId{uint64_t(q.I64(0))}] = WalletRow{q.I64(1), q.I64(2)};
  }));
  GL_RETURN_IF_ERROR(
      ForEachRow(db_, "SELECT host, earned, paid_out FROM host_earnings", [&](Stmt& q) {
        m->hosts[UserId{uint64_t(q.I64(0))}] = HostRow{q.I64(1), q.I64(2)};
      }));
  GL_RETURN_IF_ERROR(ForEachRow(db_, "SELECT user, experience, level FROM levels", [&](Stmt& q) {
    m->levels[UserId{uint64_t(q.I64(0))}] = LevelRow{q.I64(1), int32_t(q.I64(2))};
  }));
  GL_RETURN_IF_ERROR(ForEachRow(db_, "SELECT user, hidden FROM privacy", [&](Stmt& q) {
    m->privacy_rows[UserId{uint64_t(q.I64(0))}] = q.I64(1) != 0;
  }));
  bool any = false;
  int64_t newest_us = INT64_MIN;
  for (const Position& p : positions) {
    if (p.seq == 0) continue;
    any = true;
    newest_us = std::max(newest_us, p.ledger_time_us);
  }
  if (!any) return Status::Ok();
  const int64_t hour = HourIndex(newest_us, config_.utc_offset_minutes);
  for (Window w : {Window::kHour, Window::kDay, Window::kWeek, Window::kMonth}) {
    const int64_t period = PeriodOfHour(w, hour);
    const auto [h0, h1] = HourRange(w, period);
    GL_RETURN_IF_ERROR(ForEachRow(
        db_,
        "SELECT board, board_key, member, SUM(score) FROM leaderboard_hourly "
        "WHERE hour BETWEEN ? AND ? GROUP BY board, board_key, member",
        [&](Stmt& q) {
          m->hot().Load(Board(q.I64(0)), uint64_t(q.I64(1)), w, period, uint64_t(q.I64(2)),
                        q.I64(3));
        },
        h0, h1));
  }
  return ForEachRow(db_, "SELECT board, board_key, member, score FROM leaderboard_all_time",
                    [&](Stmt& q) {
                      m->hot().Load(Board(q.I64(0)), uint64_t(q.I64(1)), Window::kAll, 0,
                                    uint64_t(q.I64(2)), q.I64(3));
                    });
}

Result<std::optional<GiftFacts>> Store::FindGift(uint32_t shard, const std::string& order_id) {
  Stmt& q = st_->find_gift;
  q.BindBlob(1, order_id);
  q.BindI64(2, shard);
  auto r = q.Step();
  if (!r.ok()) return r.status();
  if (!r.value()) return std::optional<GiftFacts>();
  GiftFacts g{q.I64(0),           uint64_t(q.I64(1)), uint64_t(q.I64(2)), uint64_t(q.I64(3)),
              uint32_t(q.I64(4)), uint32_t(q.I64(5)), q.I64(6),           q.I64(7)};
  q.Reset();
  return std::optional<GiftFacts>(g);
}

namespace {

void SortUnique(std::vector<uint64_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Orders cells by (board, key, member, hour) so that one member's hours of a
// board are adjacent: merged for the hourly rows, summed for the all-time row.
void SortCells(std::vector<std::pair<BoardCell, int64_t>>& v) {
  std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) {
    const BoardCell& a = x.first;
    const BoardCell& b = y.first;
    if (a.board != b.board) return a.board < b.board;
    if (a.key != b.key) return a.key < b.key;
    if (a.member != b.member) return a.member < b.member;
    return a.hour < b.hour;
  });
}

int64_t Sum(int64_t a, int64_t b) {
  GL_ASSERT(!__builtin_add_overflow(a, b, &a));
  return a;
}

}  // namespace

Status Store::WriteRows(ReadModels& m) {
  using commands::UserId;
  Changes& c = m.changes();
  Stmts& s = *st_;
  SortUnique(c.wallets);
  for (uint64_t u : c.wallets) {
    const WalletRow& w = m.wallets[UserId{u}];
    s.wallet.BindI64(1, int64_t(u));
    s.wallet.BindI64(2, w.available);
    s.wallet.BindI64(3, w.held);
    GL_RETURN_IF_ERROR(s.wallet.Run());
  }
  SortUnique(c.hosts);
  for (uint64_t u : c.hosts) {
    const HostRow& h = m.hosts[UserId{u}];
    s.host.BindI64(1, int64_t(u));
    s.host.BindI64(2, h.earned);
    s.host.BindI64(3, h.paid_out);
    GL_RETURN_IF_ERROR(s.host.Run());
  }
  SortUnique(c.levels);
  for (uint64_t u : c.levels) {
    const LevelRow& l = m.levels[UserId{u}];
    s.level.BindI64(1, int64_t(u));
    s.level.BindI64(2, l.experience);
    s.level.BindI64(3, l.level);
    GL_RETURN_IF_ERROR(s.level.Run());
  }
  SortUnique(c.privacy);
  for (uint64_t u : c.privacy) {
    s.privacy.BindI64(1, int64_t(u));
    s.privacy.BindI64(2, m.privacy_rows[UserId{u}] ? 1 : 0);
    GL_RETURN_IF_ERROR(s.privacy.Run());
  }
  for (const GiftRecord& g : c.gifts) {
    Stmt& q = s.gift;
    q.BindI64(1, g.shard);
    q.BindI64(2, int64_t(g.seq));
    q.BindBlob(3, g.tx_id);
    q.BindText(4, g.refund ? "refund" : "gift");
    q.BindI64(5, g.ledger_time_us);
    q.BindBlob(6, g.order_id);
    q.BindI64(7, int64_t(g.payer));
    q.BindI64(8, int64_t(g.host));
    q.BindI64(9, int64_t(g.room));
    q.BindI64(10, g.gift);
    q.BindI64(11, g.count);
    q.BindI64(12, g.amount);
    q.BindI64(13, g.host_share);
    q.BindBlob(14, g.combo_id);
    q.BindI64(15, g.combo_count);
    GL_RETURN_IF_ERROR(q.Run());
  }
  SortCells(c.cells);
  const auto& v = c.cells;
  for (size_t i = 0; i < v.size();) {
    const BoardCell& run = v[i].first;
    int64_t all_time = 0;
    size_t j = i;
    // One member of one board: its hours in order, each merged.
    while (j < v.size() && v[j].first.board == run.board && v[j].first.key == run.key &&
           v[j].first.member == run.member) {
      const int64_t hour = v[j].first.hour;
      int64_t delta = 0;
      for (; j < v.size() && v[j].first == BoardCell{run.board, run.key, hour, run.member}; ++j) {
        delta = Sum(delta, v[j].second);
      }
      all_time = Sum(all_time, delta);
      s.hourly.BindI64(1, run.board);
      s.hourly.BindI64(2, int64_t(run.key));
      s.hourly.BindI64(3, hour);
      s.hourly.BindI64(4, int64_t(run.member));
      s.hourly.BindI64(5, delta);
      GL_RETURN_IF_ERROR(s.hourly.Run());
    }
    s.all_time.BindI64(1, run.board);
    s.all_time.BindI64(2, int64_t(run.key));
    s.all_time.BindI64(3, int64_t(run.member));
    s.all_time.BindI64(4, all_time);
    GL_RETURN_IF_ERROR(s.all_time.Run());
    i = j;
  }
  return Status::Ok();
}

Status Store::Commit(ReadModels& m, const std::vector<Position>& positions) {
  GL_ASSERT(positions.size() == config_.shard_count);
  GL_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  Status st = WriteRows(m);
  for (uint32_t shard = 0; st.ok() && shard < positions.size(); ++shard) {
    st_->position.BindI64(1, int64_t(positions[shard].seq));
    st_->position.BindI64(2, positions[shard].ledger_time_us);
    st_->position.BindI64(3, shard);
    st = st_->position.Run();
  }
  if (st.ok()) st = Exec(db_, "COMMIT");
  if (!st.ok()) {
    (void)Exec(db_, "ROLLBACK");
    return st;
  }
  m.changes().Clear();
  return Status::Ok();
}

}  // namespace giftledger::projections

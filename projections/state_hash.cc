#include "projections/state_hash.h"

#include <sodium.h>

#include <cstring>
#include <string>

#include "ledger/coding.h"

namespace giftledger::projections {
namespace {

class Hasher {
 public:
  Hasher() { crypto_generichash_init(&st_, nullptr, 0, kHashBytes); }
  void I64(int64_t v) {
    uint8_t b[8];
    PutU64(b, uint64_t(v));
    crypto_generichash_update(&st_, b, 8);
  }
  void Bytes(const void* p, size_t n) {
    uint8_t b[4];
    PutU32(b, uint32_t(n));
    crypto_generichash_update(&st_, b, 4);
    if (n) crypto_generichash_update(&st_, static_cast<const uint8_t*>(p), n);
  }
  void Text(const std::string& s) { Bytes(s.data(), s.size()); }
  Hash32 Final() {
    Hash32 h;
    crypto_generichash_final(&st_, h.data(), h.size());
    return h;
  }

 private:
  crypto_generichash_state st_;
};

struct Table {
  const char* name;
  const char* sql;  // rows in primary-key order
};

constexpr Table kTables[] = {
    {"positions", "SELECT shard, seq, ledger_time_us FROM positions ORDER BY shard"},
    {"wallets", "SELECT user, available, held FROM wallets ORDER BY user"},
    {"host_earnings", "SELECT host, earned, paid_out FROM host_earnings ORDER BY host"},
    {"gifts",
     "SELECT shard, seq, tx_id, kind, ledger_time_us, order_id, payer, host, room, gift, count, "
     "amount, host_share, combo_id, combo_count FROM gifts ORDER BY shard, seq"},
    {"privacy", "SELECT user, hidden FROM privacy ORDER BY user"},
    {"levels", "SELECT user, experience, level FROM levels ORDER BY user"},
    {"leaderboard_hourly",
     "SELECT board, board_key, hour, member, score FROM leaderboard_hourly WHERE score != 0 "
     "ORDER BY board, board_key, hour, member"},
    {"leaderboard_all_time",
     "SELECT board, board_key, member, score FROM leaderboard_all_time WHERE score != 0 "
     "ORDER BY board, board_key, member"},
};

}  // namespace

Result<Hash32> ReadModelStateHash(Store& store) {
  Hasher h;
  h.Text("giftledger-read-models/v1");
  const ProjectionConfig& c = store.config();
  h.Text(c.ledger_id);
  h.I64(c.shard_count);
  h.I64(c.utc_offset_minutes);
  h.Text(c.levels.ToString());
  for (const Table& t : kTables) {
    h.Text(t.name);
    Stmt q;
    GL_RETURN_IF_ERROR(q.Prepare(store.db(), t.sql));
    const int cols = sqlite3_column_count(q.get());
    int64_t rows = 0;
    for (;;) {
      auto r = q.Step();
      if (!r.ok()) return r.status();
      if (!r.value()) break;
      ++rows;
      for (int i = 0; i < cols; ++i) {
        if (sqlite3_column_type(q.get(), i) == SQLITE_INTEGER) {
          h.I64(q.I64(i));
        } else {
          h.Text(q.Blob(i));
        }
      }
    }
    h.I64(rows);
  }
  return h.Final();
}

}  // namespace giftledger::projections

// Reads of the SQLite read models for `giftledger query` (docs/cli.md): a
// leaderboard window, a wallet, a level, the rows of a gift. Every answer
// carries the per-shard positions it reflects.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "projections/boards.h"
#include "projections/hot_boards.h"
#include "projections/models.h"
#include "projections/periods.h"
#include "projections/store.h"

namespace giftledger::projections {

struct LeaderboardEntry {
  uint64_t member = 0;
  int64_t score = 0;
  bool anonymous = false;  // the member opted out: show no id
};

struct LeaderboardAnswer {
  Board board = Board::kRoom;
  uint64_t key = 0;
  Window window = Window::kAll;
  int64_t period = 0;
  std::pair<int64_t, int64_t> hours{0, 0};  // local hour range of the period
  std::vector<LeaderboardEntry> entries;
  std::vector<Position> positions;
};

// `period` defaults to the period holding the newest ledger time projected
// (the current one). top: 1..kQueryTopMax.
Result<LeaderboardAnswer> QueryLeaderboard(Store& store, Board board, uint64_t key, Window window,
                                           std::optional<int64_t> period, size_t top);

struct AccountAnswer {
  std::optional<WalletRow> wallet;
  std::optional<HostRow> host;
  std::optional<LevelRow> level;
  bool hidden = false;
  std::vector<Position> positions;
};

Result<AccountAnswer> QueryAccount(Store& store, uint64_t user);

struct GiftAnswer {
  std::vector<GiftRecord> rows;  // the gift and any refund of it, by (shard, seq)
  std::vector<Position> positions;
};

// Rows whose tx id or order id is `tx_id` (16 bytes), and every row of the
// same orders.
Result<GiftAnswer> QueryGift(Store& store, const std::string& tx_id);

// One gift record as `query gift --json` and giftledger.q.gift show it.
nlohmann::json GiftRecordJson(const GiftRecord& g);

}  // namespace giftledger::projections

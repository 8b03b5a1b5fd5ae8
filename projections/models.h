// The read models in memory: mirrors of wallets and host accounts, levels,
// privacy, what a refund needs to know about its gift, the hot leaderboards,
// and — when tracking — the row changes of the current batch that the store
// writes in one transaction (docs/read-models.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "commands/ids.h"
#include "ledger/status.h"
#include "ledger/types.h"
#include "projections/flat_map.h"
#include "projections/hot_boards.h"
#include "projections/levels.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::projections {

// Fixed for the life of a database (table `meta`).
struct ProjectionConfig {
  std::string ledger_id;
  uint32_t shard_count = 1;
  int32_t utc_offset_minutes = 0;
  LevelTable levels;
};

struct WalletRow {
  int64_t available = 0;
  int64_t held = 0;
};

struct HostRow {
  int64_t earned = 0;
  int64_t paid_out = 0;
};

struct LevelRow {
  int64_t experience = 0;
  int32_t level = 0;
};

// One row of table `gifts`.
struct GiftRecord {
  uint32_t shard = 0;
  uint64_t seq = 0;
  std::string tx_id;
  bool refund = false;
  int64_t ledger_time_us = 0;
  std::string order_id;
  uint64_t payer = 0;
  uint64_t host = 0;
  uint64_t room = 0;
  uint32_t gift = 0;
  uint32_t count = 0;
  int64_t amount = 0;  // negative for a refund
  int64_t host_share = 0;
  std::string combo_id;
  uint32_t combo_count = 0;
};

// What a refund needs from its gift.
struct GiftFacts {
  int64_t ledger_time_us = 0;
  uint64_t payer = 0;
  uint64_t host = 0;
  uint64_t room = 0;
  uint32_t gift = 0;
  uint32_t count = 0;
  int64_t amount = 0;
  int64_t host_share = 0;
};

// A leaderboard row's key; hour is 0 in the all-time table.
struct BoardCell {
  uint8_t board = 0;
  uint64_t key = 0;
  int64_t hour = 0;
  uint64_t member = 0;
  friend bool operator<(const BoardCell& a, const BoardCell& b) {
    if (a.board != b.board) return a.board < b.board;
    if (a.key != b.key) return a.key < b.key;
    if (a.hour != b.hour) return a.hour < b.hour;
    return a.member < b.member;
  }
  friend bool operator==(const BoardCell& a, const BoardCell& b) {
    return a.board == b.board && a.key == b.key && a.hour == b.hour && a.member == b.member;
  }
};

// Row changes of one batch. Users may repeat in the dirty lists; the store
// writes each row's final value once.
struct Changes {
  std::vector<uint64_t> wallets, hosts, levels, privacy;
  std::vector<GiftRecord> gifts;
  // Score deltas by hour, appended as they come (no lookups on the hot path);
  // the store sorts and merges them, and derives the all-time deltas.
  std::vector<std::pair<BoardCell, int64_t>> cells;
  size_t events = 0;
  void Clear();
};

// What broadcasts announce, collected while a batch is applied and sent
// only after it is committed (broadcasts.h).
struct GiftNotice {
  uint32_t shard = 0;
  uint64_t seq = 0;
  std::string tx_id;
  uint64_t payer = 0;
  uint64_t host = 0;
  uint64_t room = 0;
  uint32_t gift = 0;
  uint32_t count = 0;
  int64_t amount = 0;
  std::string combo_id;
  uint32_t combo_count = 0;
};

struct LevelUp {
  uint64_t user = 0;
  int32_t level = 0;
  int64_t experience = 0;
};

// Looks a gift up by (shard, order id) where the batch cache does not have it.
using GiftLookup =
    std::function<Result<std::optional<GiftFacts>>(uint32_t shard, const std::string& order_id)>;

class ReadModels {
 public:
  ReadModels(ProjectionConfig config, bool track_changes);

  // Folds one event in. DATA_LOSS when a refund names a gift that neither
  // the cache nor the lookup knows (the database and the log disagree).
  Status Apply(ShardId shard, uint64_t seq, const schemas::Event& e);

  // Forgets the cached gifts when over kGiftCacheMax; call right after a
  // commit only (the store then knows every one of them).
  void TrimGiftCache();

  // Collect gift notices and level-ups for broadcasts (off by default).
  void set_collect_notices(bool on) { collect_ = on; }
  std::vector<GiftNotice>& gift_notices() { return gift_notices_; }
  std::vector<LevelUp>& level_ups() { return level_ups_; }

  void set_gift_lookup(GiftLookup lookup) { lookup_ = std::move(lookup); }
  const ProjectionConfig& config() const { return config_; }
  Changes& changes() { return changes_; }
  HotBoards& hot() { return hot_; }
  bool IsHidden(uint64_t user) const {
    auto it = privacy_rows.find(commands::UserId{user});
    return it != privacy_rows.end() && it->second;
  }
  size_t gift_cache_size() const { return gifts_by_order_.size(); }

  // The mirrors, read by the store when it flushes and set when it loads.
  FlatMap<WalletRow> wallets;
  FlatMap<HostRow> hosts;
  FlatMap<LevelRow> levels;
  // Users whose latest PrivacySet is known: value = hidden.
  std::unordered_map<commands::UserId, bool, commands::UserIdHash> privacy_rows;

 private:
  struct OrderKey {
    uint32_t shard;
    commands::TxId order;
    friend bool operator==(const OrderKey& a, const OrderKey& b) {
      return a.shard == b.shard && a.order == b.order;
    }
  };
  struct OrderKeyHash {
    size_t operator()(const OrderKey& k) const {
      return commands::TxIdHash()(k.order) ^ (size_t(k.shard) * 0x9e3779b97f4a7c15ull);
    }
  };

  void OnGift(ShardId shard, uint64_t seq, const schemas::Event& e);
  Status OnRefund(ShardId shard, uint64_t seq, const schemas::Event& e);
  // Adds amount (negative for a refund) to every board and level the gift counts in.
  void Score(const GiftFacts& g, int64_t amount);
  void Exp(uint64_t payer, int64_t amount);
  WalletRow& Wallet(uint64_t user);

  ProjectionConfig config_;
  bool track_;
  Changes changes_;
  HotBoards hot_;
  std::unordered_map<OrderKey, GiftFacts, OrderKeyHash> gifts_by_order_;
  GiftLookup lookup_;
  bool collect_ = false;
  std::vector<GiftNotice> gift_notices_;
  std::vector<LevelUp> level_ups_;
};

}  // namespace giftledger::projections

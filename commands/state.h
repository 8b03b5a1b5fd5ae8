// The state of one shard as the money core sees it: wallets, host earnings,
// orders (pending and closed), catalog, spend caps, privacy and the
// idempotency index. Changed only by Apply (apply.h); read by Decide.
// StateHash gives a canonical BLAKE2b-256 so that a replay can be compared
// with the live state bit for bit.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "commands/ids.h"
#include "ledger/status.h"
#include "ledger/types.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

using schemas::ResultCode;

// Fixed for the life of a ledger: which shard this is, how many there are,
// and the UTC offset that defines days and months for spend caps.
struct ShardConfig {
  ShardId shard;
  uint32_t shard_count = 1;
  int32_t utc_offset_minutes = 0;
};

struct Wallet {
  int64_t available = 0;
  int64_t held = 0;
  // Spend-cap counters: amount ordered in the day/month named by the index.
  int64_t day_index = 0;
  int64_t month_index = 0;
  int64_t day_spent = 0;
  int64_t month_spent = 0;
  uint32_t pending_orders = 0;
};

struct HostAccount {
  int64_t earned = 0;
  int64_t paid_out = 0;
};

enum class OrderStatus : uint8_t { kPending = 0, kConsumed, kVoided, kExpired, kRefunded };

struct Order {
  UserId payer;
  UserId host;
  uint64_t room = 0;
  uint32_t gift = 0;
  uint32_t count = 0;
  int64_t amount = 0;
  int64_t host_share = 0;
  int64_t expires_at_us = 0;
  int64_t placed_day = 0;
  int64_t placed_month = 0;
  OrderStatus status = OrderStatus::kPending;
};

struct CatalogEntry {
  std::string name;
  int64_t price = 0;
  bool active = false;
  uint32_t host_share_bps = 0;
};

struct SpendLimits {
  int64_t per_gift_max = 0;  // 0 = no cap
  int64_t day_max = 0;
  int64_t month_max = 0;
};

// The permanent answer for a tx id (docs/commands.md, "Idempotency").
struct IdempotencyEntry {
  CommandHash hash{};
  ResultCode code = schemas::OK;
  uint64_t seq = 0;
};

// Running totals for the conservation equation; 128-bit so that they can
// never overflow however long the shard lives.
struct Totals {
  __int128 topped_up = 0;
  __int128 gifted = 0;
  __int128 refunded = 0;
  __int128 host_credited = 0;
  __int128 paid_out = 0;
};

struct ShardState {
  ShardConfig config;
  std::unordered_map<UserId, Wallet, UserIdHash> wallets;
  std::unordered_map<UserId, HostAccount, UserIdHash> hosts;
  // Every order ever placed, by order id; closed ones keep their status so a
  // replayed ConsumeOrder is rejected by state.
  std::unordered_map<TxId, Order, TxIdHash> orders;
  // Pending orders by expiry: (expires_at_us, order id). Derived from orders.
  std::set<std::pair<int64_t, TxId>> expiry;
  std::map<uint32_t, CatalogEntry> catalog;
  std::unordered_map<UserId, SpendLimits, UserIdHash> limits;
  std::unordered_set<UserId, UserIdHash> hidden;
  std::unordered_map<TxId, IdempotencyEntry, TxIdHash> idempotency;
  Totals totals;
  uint64_t last_seq = 0;
  int64_t last_ledger_time_us = 0;

  explicit ShardState(ShardConfig c = {}) : config(c) {}

  const Wallet* FindWallet(UserId u) const;
  const HostAccount* FindHost(UserId u) const;
  const Order* FindOrder(const TxId& id) const;
};

// The canonical serialization: every map in key order, fixed-width
// little-endian integers, strings length-prefixed. Snapshots store it.
std::string SerializeState(const ShardState& state);
// The inverse, strict: DATA_LOSS when malformed (truncated, trailing bytes,
// keys of a table not strictly ascending, a flag other than 0/1, an expiry
// index that does not match the pending orders). Accepts exactly the outputs
// of SerializeState, so a successful parse re-encodes to the same bytes.
Result<ShardState> ParseState(std::string_view bytes);

// BLAKE2b-256 of SerializeState, so that a replay can be compared bit for bit.
Hash32 StateHash(const ShardState& state);

// Checks every invariant of docs/commands.md: non-negative balances within
// limits, held = Σ pending amounts, the expiry index matches the pending
// orders, paid_out ≤ earned, and the conservation equations. INTERNAL naming
// the first broken one.
Status CheckInvariants(const ShardState& state);

}  // namespace giftledger::commands

// The state of one shard as the money core sees it: wallets, host earnings,
// orders (pending and closed), catalog, spend caps, privacy and the
// idempotency index. Changed only by Apply (apply.h); read by Decide.
// StateHash gives a canonical BLAKE2b-256 so that a replay can be compared
// with the live state bit for bit.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "commands/idempotency_index.h"
#include "commands/idempotency_memory.h"
#include "commands/ids.h"
#include "commands/order_index.h"
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
  // Every order ever placed, by order id, in two tiers (docs/commands.md,
  // "Memory budget and the on-disk index"); closed ones keep their status so
  // that a replayed ConsumeOrder is rejected by state. Memory holds every
  // pending order and the closed ones not evicted yet; the runs (order_disk,
  // covering seqs up to order_disk_seq) hold evicted closed orders, the
  // newest run's record of an id superseding older ones. An id in both (a
  // consumed order on disk, refunded since) is the memory version: memory
  // overrides disk. The logical table is that union, which is what StateHash
  // covers. order_disk_seq > 0 with no index attached is a state just parsed
  // from a snapshot: AttachOrderIndex before use.
  std::unordered_map<TxId, Order, TxIdHash> orders;
  uint64_t order_disk_seq = 0;
  std::shared_ptr<const OrderIndex> order_disk;
  // Pending orders by expiry: (expires_at_us, order id). Derived from orders.
  std::set<std::pair<int64_t, TxId>> expiry;
  std::map<uint32_t, CatalogEntry> catalog;
  std::unordered_map<UserId, SpendLimits, UserIdHash> limits;
  std::unordered_set<UserId, UserIdHash> hidden;
  // Permanent idempotency in two tiers (docs/commands.md, "Memory budget and
  // the on-disk index"): every entry with seq <= idempotency_disk_seq is in
  // the immutable on-disk index (idempotency_disk), every later one in
  // memory; the two never overlap. The logical index is their union, which
  // is what StateHash covers. disk_seq > 0 with no index attached is a state
  // just parsed from a snapshot: AttachIdempotencyIndex before use. Entries
  // evicted to disk may still take slots in memory until erased (in slices,
  // idempotency_memory.h), but are never found there: logically the tiers
  // stay disjoint.
  IdempotencyMemory idempotency;
  uint64_t idempotency_disk_seq = 0;
  std::shared_ptr<const IdempotencyIndex> idempotency_disk;
  Totals totals;
  uint64_t last_seq = 0;
  int64_t last_ledger_time_us = 0;

  explicit ShardState(ShardConfig c = {}) : config(c) {}

  const Wallet* FindWallet(UserId u) const;
  const HostAccount* FindHost(UserId u) const;
  // The order in memory, else on disk (a closed one).
  std::optional<Order> FindOrder(const TxId& id) const;
  // Closed orders held in memory (every pending order is in `expiry`).
  size_t closed_orders_in_memory() const { return orders.size() - expiry.size(); }
  // The tx id's entry in memory or on disk.
  std::optional<IdempotencyEntry> FindIdempotency(const TxId& tx) const;
};

// The canonical serialization: every map in key order, fixed-width
// little-endian integers, strings length-prefixed. Snapshots store it: the
// idempotency part is the in-memory tier and idempotency_disk_seq (the
// entries at or below it are in the run files, not in the snapshot); the
// same for orders and order_disk_seq.
std::string SerializeState(const ShardState& state);
// The inverse, strict: DATA_LOSS when malformed (truncated, trailing bytes,
// keys of a table not strictly ascending, a flag other than 0/1, an expiry
// index that does not match the pending orders). Accepts exactly the outputs
// of SerializeState, so a successful parse re-encodes to the same bytes.
Result<ShardState> ParseState(std::string_view bytes);

// BLAKE2b-256 of the logical state, so that a replay can be compared bit for
// bit: SerializeState's layout, except that the idempotency table is the
// union of both tiers in tx id order and idempotency_disk_seq is left out,
// and the same for orders (memory overriding disk) and order_disk_seq, so
// where the memory/disk splits lie does not matter.
Hash32 StateHash(const ShardState& state);

// Checks every invariant of docs/commands.md: non-negative balances within
// limits, held = Σ pending amounts, the expiry index matches the pending
// orders, paid_out ≤ earned, and the conservation equations. INTERNAL naming
// the first broken one.
Status CheckInvariants(const ShardState& state);

}  // namespace giftledger::commands

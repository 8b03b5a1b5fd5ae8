// Orders, and the on-disk tier of closed ones (docs/commands.md, "Memory
// budget and the on-disk index"): run files (run_index.h) holding closed
// orders whose last change has seq ≤ covered_seq(). A consumed order can
// still be refunded: its refunded version then lives in memory (memory
// overrides disk) until it is evicted again into a newer run, whose record
// supersedes the older one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "commands/ids.h"
#include "commands/limits.h"
#include "commands/run_index.h"

namespace giftledger::commands {

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
  // Seq of the order's last change (placed, closed, refunded): which runs
  // may hold it and which of two records of it is newer.
  uint64_t seq = 0;
  OrderStatus status = OrderStatus::kPending;
  friend bool operator==(const Order&, const Order&) = default;
};

// Record of 105 bytes: tx_id[16] payer u64 host u64 room u64 gift u32
// count u32 amount i64 host_share i64 expires_at_us i64 placed_day i64
// placed_month i64 seq u64 status u8; files "ord-<lo>-<hi>.run", magic
// "GLO1" / "GLOF". Only closed orders are ever written.
struct OrderCodec {
  using Value = Order;
  static constexpr size_t kRecordBytes = 105;
  static constexpr char kMagic[5] = "GLO1";
  static constexpr char kFooterMagic[5] = "GLOF";
  static constexpr char kPrefix[] = "ord";
  static constexpr char kWhat[] = "order";
  static void Encode(const Order& o, uint8_t* p) {
    PutU64(p, o.payer.value);
    PutU64(p + 8, o.host.value);
    PutU64(p + 16, o.room);
    PutU32(p + 24, o.gift);
    PutU32(p + 28, o.count);
    PutU64(p + 32, uint64_t(o.amount));
    PutU64(p + 40, uint64_t(o.host_share));
    PutU64(p + 48, uint64_t(o.expires_at_us));
    PutU64(p + 56, uint64_t(o.placed_day));
    PutU64(p + 64, uint64_t(o.placed_month));
    PutU64(p + 72, o.seq);
    p[80] = uint8_t(o.status);
  }
  static Order Decode(const uint8_t* p) {
    Order o;
    o.payer = UserId{GetU64(p)};
    o.host = UserId{GetU64(p + 8)};
    o.room = GetU64(p + 16);
    o.gift = GetU32(p + 24);
    o.count = GetU32(p + 28);
    o.amount = int64_t(GetU64(p + 32));
    o.host_share = int64_t(GetU64(p + 40));
    o.expires_at_us = int64_t(GetU64(p + 48));
    o.placed_day = int64_t(GetU64(p + 56));
    o.placed_month = int64_t(GetU64(p + 64));
    o.seq = GetU64(p + 72);
    o.status = OrderStatus(p[80]);
    return o;
  }
  static uint64_t Seq(const Order& o) { return o.seq; }
  // An order closed at or before the previous cut that stayed in memory (see
  // StoreClosed in apply.cc) is written by a later eviction.
  static constexpr bool kSeqAboveLo = false;
  static bool Valid(const Order& o) {
    return o.status > OrderStatus::kPending && o.status <= OrderStatus::kRefunded &&
           o.amount >= 1 && o.amount <= kAmountMax && o.host_share >= 0 && o.host_share <= o.amount;
  }
};

using OrderRecord = RunRecord<OrderCodec>;
using OrderRun = SortedRun<OrderCodec>;
using OrderIndex = RunIndex<OrderCodec>;

// <shard_dir>/orders and the name of the run of seqs (lo, hi]:
// "ord-<lo, 20 digits>-<hi, 20 digits>.run".
inline std::string OrderDir(const std::string& shard_dir) { return JoinPath(shard_dir, "orders"); }
inline std::string OrderRunName(uint64_t seq_lo, uint64_t seq_hi) {
  return run_detail::RunName(OrderCodec::kPrefix, seq_lo, seq_hi);
}

}  // namespace giftledger::commands

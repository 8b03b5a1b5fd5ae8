#include "commands/state.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ledger/coding.h"
#include "ledger/crypto.h"

namespace giftledger::commands {

const Wallet* ShardState::FindWallet(UserId u) const {
  auto it = wallets.find(u);
  return it == wallets.end() ? nullptr : &it->second;
}

const HostAccount* ShardState::FindHost(UserId u) const {
  auto it = hosts.find(u);
  return it == hosts.end() ? nullptr : &it->second;
}

std::optional<Order> ShardState::FindOrder(const TxId& id) const {
  auto it = orders.find(id);
  if (it != orders.end()) return it->second;
  // A state parsed from a snapshot must get its runs before it decides.
  GL_ASSERT(order_disk_seq == 0 || order_disk != nullptr);
  if (order_disk) return order_disk->Find(id);
  return std::nullopt;
}

std::optional<IdempotencyEntry> ShardState::FindIdempotency(const TxId& tx) const {
  if (const IdempotencyEntry* e = idempotency.Find(tx)) return *e;
  // A state parsed from a snapshot must get its runs before it decides.
  GL_ASSERT(idempotency_disk_seq == 0 || idempotency_disk != nullptr);
  if (idempotency_disk) return idempotency_disk->Find(tx);
  return std::nullopt;
}

namespace {

// Canonical byte sink for the state hash.
class Canon {
 public:
  void U8(uint8_t v) { out_.push_back(char(v)); }
  void U32(uint32_t v) {
    uint8_t b[4];
    PutU32(b, v);
    out_.append(reinterpret_cast<const char*>(b), 4);
  }
  void U64(uint64_t v) {
    uint8_t b[8];
    PutU64(b, v);
    out_.append(reinterpret_cast<const char*>(b), 8);
  }
  void I64(int64_t v) { U64(uint64_t(v)); }
  void I128(__int128 v) {
    U64(uint64_t(v));
    U64(uint64_t(v >> 64));
  }
  void Str(const std::string& s) {
    U32(uint32_t(s.size()));
    out_.append(s);
  }
  template <size_t N>
  void Bytes(const std::array<uint8_t, N>& a) {
    out_.append(reinterpret_cast<const char*>(a.data()), N);
  }
  const std::string& bytes() const { return out_; }
  size_t size() const { return out_.size(); }
  void PatchU64(size_t at, uint64_t v) { PutU64(reinterpret_cast<uint8_t*>(out_.data()) + at, v); }

 private:
  std::string out_;
};

template <typename Map>
std::vector<typename Map::key_type> SortedKeys(const Map& m) {
  std::vector<typename Map::key_type> keys;
  keys.reserve(m.size());
  for (const auto& kv : m) keys.push_back(kv.first);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<const IdempotencyMemory::Slot*> SortedSlots(const IdempotencyMemory& m) {
  std::vector<const IdempotencyMemory::Slot*> slots;
  slots.reserve(m.size());
  for (size_t i = 0; i < m.size(); ++i) slots.push_back(&m.Oldest(i));
  std::sort(slots.begin(), slots.end(), [](const auto* a, const auto* b) { return a->tx < b->tx; });
  return slots;
}

void HashAccounts(const ShardState& s, Canon& c) {
  c.U64(s.wallets.size());
  for (UserId u : SortedKeys(s.wallets)) {
    const Wallet& w = s.wallets.at(u);
    c.U64(u.value);
    c.I64(w.available);
    c.I64(w.held);
    c.I64(w.day_index);
    c.I64(w.month_index);
    c.I64(w.day_spent);
    c.I64(w.month_spent);
    c.U32(w.pending_orders);
  }
  c.U64(s.hosts.size());
  for (UserId u : SortedKeys(s.hosts)) {
    const HostAccount& h = s.hosts.at(u);
    c.U64(u.value);
    c.I64(h.earned);
    c.I64(h.paid_out);
  }
}

void PutOrder(Canon& c, const TxId& id, const Order& o) {
  c.Bytes(id.bytes);
  c.U64(o.payer.value);
  c.U64(o.host.value);
  c.U64(o.room);
  c.U32(o.gift);
  c.U32(o.count);
  c.I64(o.amount);
  c.I64(o.host_share);
  c.I64(o.expires_at_us);
  c.I64(o.placed_day);
  c.I64(o.placed_month);
  c.U64(o.seq);
  c.U8(uint8_t(o.status));
}

// Snapshot form: order_disk_seq, then the in-memory tier. Logical form: both
// tiers merged in order id order, the memory version of a key in both.
void HashOrders(const ShardState& s, Canon& c, bool logical) {
  if (!logical) c.U64(s.order_disk_seq);
  const std::vector<TxId> memory = SortedKeys(s.orders);
  const size_t count_at = c.size();
  c.U64(0);
  uint64_t count = 0;
  size_t m = 0;
  auto drain_memory_below = [&](const TxId* bound) {
    for (; m < memory.size() && (bound == nullptr || memory[m] < *bound); ++m, ++count) {
      PutOrder(c, memory[m], s.orders.at(memory[m]));
    }
  };
  if (logical) {
    GL_ASSERT(s.order_disk_seq == 0 || s.order_disk != nullptr);
    if (s.order_disk) {
      s.order_disk->ForEach([&](const OrderRecord& r) {
        drain_memory_below(&r.tx);
        if (m < memory.size() && memory[m] == r.tx) return;  // memory overrides disk
        PutOrder(c, r.tx, r.entry);
        ++count;
      });
    }
  }
  drain_memory_below(nullptr);
  c.PatchU64(count_at, count);
  c.U64(s.expiry.size());
}

void HashSettings(const ShardState& s, Canon& c) {
  c.U64(s.catalog.size());
  for (const auto& [gift, e] : s.catalog) {
    c.U32(gift);
    c.Str(e.name);
    c.I64(e.price);
    c.U8(e.active ? 1 : 0);
    c.U32(e.host_share_bps);
  }
  c.U64(s.limits.size());
  for (UserId u : SortedKeys(s.limits)) {
    const SpendLimits& l = s.limits.at(u);
    c.U64(u.value);
    c.I64(l.per_gift_max);
    c.I64(l.day_max);
    c.I64(l.month_max);
  }
  std::vector<UserId> hidden(s.hidden.begin(), s.hidden.end());
  std::sort(hidden.begin(), hidden.end());
  c.U64(hidden.size());
  for (UserId u : hidden) c.U64(u.value);
}

void PutEntry(Canon& c, const TxId& id, const IdempotencyEntry& e) {
  c.Bytes(id.bytes);
  c.Bytes(e.hash);
  c.U32(uint32_t(e.code));
  c.U64(e.seq);
}

// Snapshot form: idempotency_disk_seq, then the in-memory tier.
void SerializeIdempotencyMemory(const ShardState& s, Canon& c) {
  c.U64(s.idempotency_disk_seq);
  c.U64(s.idempotency.size());
  for (const IdempotencyMemory::Slot* e : SortedSlots(s.idempotency)) PutEntry(c, e->tx, e->entry);
}

// Logical form: both tiers merged in tx id order (they never overlap; an id
// in both would be counted twice and make the hash differ from a replay's).
void SerializeIdempotencyLogical(const ShardState& s, Canon& c) {
  GL_ASSERT(s.idempotency_disk_seq == 0 || s.idempotency_disk != nullptr);
  const std::vector<const IdempotencyMemory::Slot*> memory = SortedSlots(s.idempotency);
  const size_t count_at = c.size();
  c.U64(0);
  uint64_t count = 0;
  size_t m = 0;
  auto drain_memory_below = [&](const TxId* bound) {
    for (; m < memory.size() && (bound == nullptr || memory[m]->tx < *bound); ++m, ++count) {
      PutEntry(c, memory[m]->tx, memory[m]->entry);
    }
  };
  if (s.idempotency_disk) {
    s.idempotency_disk->ForEach([&](const IdempotencyRecord& r) {
      drain_memory_below(&r.tx);
      PutEntry(c, r.tx, r.entry);
      ++count;
    });
  }
  drain_memory_below(nullptr);
  c.PatchU64(count_at, count);
}

std::string Serialize(const ShardState& s, bool logical) {
  Canon c;
  c.U32(s.config.shard.value);
  c.U32(s.config.shard_count);
  c.U32(uint32_t(s.config.utc_offset_minutes));
  HashAccounts(s, c);
  HashOrders(s, c, logical);
  HashSettings(s, c);
  if (logical) {
    SerializeIdempotencyLogical(s, c);
  } else {
    SerializeIdempotencyMemory(s, c);
  }
  c.I128(s.totals.topped_up);
  c.I128(s.totals.gifted);
  c.I128(s.totals.refunded);
  c.I128(s.totals.host_credited);
  c.I128(s.totals.paid_out);
  c.U64(s.last_seq);
  c.I64(s.last_ledger_time_us);
  return c.bytes();
}

}  // namespace

std::string SerializeState(const ShardState& s) { return Serialize(s, false); }

Hash32 StateHash(const ShardState& s) {
  const std::string b = Serialize(s, true);
  return Blake2b256(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

namespace {

// Bounds-checked reader mirroring Canon; any short read sets failed().
class Uncanon {
 public:
  explicit Uncanon(std::string_view b) : b_(b) {}
  bool failed() const { return failed_; }
  bool at_end() const { return pos_ == b_.size(); }
  void Fail() { failed_ = true; }
  uint8_t U8() { return Take(1) ? uint8_t(b_[pos_ - 1]) : 0; }
  uint32_t U32() { return Take(4) ? GetU32(Ptr() - 4) : 0; }
  uint64_t U64() { return Take(8) ? GetU64(Ptr() - 8) : 0; }
  int64_t I64() { return int64_t(U64()); }
  __int128 I128() {
    const uint64_t lo = U64();
    const uint64_t hi = U64();
    return __int128((unsigned __int128)hi << 64 | lo);
  }
  std::string Str() {
    const uint32_t n = U32();
    if (!Take(n)) return {};
    return std::string(b_.substr(pos_ - n, n));
  }
  template <size_t N>
  void Bytes(std::array<uint8_t, N>* a) {
    if (Take(N)) std::memcpy(a->data(), Ptr() - N, N);
  }
  // A count of records of at least min_bytes each that can still follow.
  uint64_t Count(size_t min_bytes) {
    const uint64_t n = U64();
    if (n > (b_.size() - pos_) / min_bytes) failed_ = true;
    return failed_ ? 0 : n;
  }

 private:
  const uint8_t* Ptr() const { return reinterpret_cast<const uint8_t*>(b_.data()) + pos_; }
  bool Take(size_t n) {
    if (failed_ || b_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    pos_ += n;
    return true;
  }
  std::string_view b_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Every table is written in strictly ascending key order (SerializeState
// sorts). Requiring it here makes the payload canonical by construction: no
// duplicate key can be merged silently and no order differs, so a parse that
// consumes every byte equals a re-encoding without doing one.
template <typename Key>
bool Ascending(bool first, const Key& prev, const Key& k) {
  return first || prev < k;
}

void ParseAccounts(Uncanon& u, ShardState* s) {
  UserId prev;
  const uint64_t wallets = u.Count(60);
  s->wallets.reserve(wallets);
  for (uint64_t i = 0; i < wallets && !u.failed(); ++i) {
    const UserId user{u.U64()};
    if (!Ascending(i == 0, prev, user)) return u.Fail();
    prev = user;
    Wallet& w = s->wallets[user];
    w.available = u.I64();
    w.held = u.I64();
    w.day_index = u.I64();
    w.month_index = u.I64();
    w.day_spent = u.I64();
    w.month_spent = u.I64();
    w.pending_orders = u.U32();
  }
  const uint64_t hosts = u.Count(24);
  s->hosts.reserve(hosts);
  for (uint64_t i = 0; i < hosts && !u.failed(); ++i) {
    const UserId host{u.U64()};
    if (!Ascending(i == 0, prev, host)) return u.Fail();
    prev = host;
    HostAccount& h = s->hosts[host];
    h.earned = u.I64();
    h.paid_out = u.I64();
  }
}

void ParseOrders(Uncanon& u, ShardState* s) {
  s->order_disk_seq = u.U64();
  TxId prev;
  const uint64_t n = u.Count(105);
  s->orders.reserve(n);
  for (uint64_t i = 0; i < n && !u.failed(); ++i) {
    TxId id;
    u.Bytes(&id.bytes);
    if (!Ascending(i == 0, prev, id)) return u.Fail();
    prev = id;
    Order o;
    o.payer = UserId{u.U64()};
    o.host = UserId{u.U64()};
    o.room = u.U64();
    o.gift = u.U32();
    o.count = u.U32();
    o.amount = u.I64();
    o.host_share = u.I64();
    o.expires_at_us = u.I64();
    o.placed_day = u.I64();
    o.placed_month = u.I64();
    o.seq = u.U64();
    o.status = OrderStatus(u.U8());
    if (o.status > OrderStatus::kRefunded || o.seq == 0) return u.Fail();
    if (o.status == OrderStatus::kPending) s->expiry.emplace(o.expires_at_us, id);
    s->orders.emplace(id, o);
  }
}

void ParseSettings(Uncanon& u, ShardState* s) {
  uint32_t prev_gift = 0;
  for (uint64_t i = 0, n = u.Count(21); i < n && !u.failed(); ++i) {
    const uint32_t gift = u.U32();
    if (!Ascending(i == 0, prev_gift, gift)) return u.Fail();
    prev_gift = gift;
    CatalogEntry e;
    e.name = u.Str();
    e.price = u.I64();
    const uint8_t active = u.U8();
    if (active > 1) return u.Fail();
    e.active = active == 1;
    e.host_share_bps = u.U32();
    s->catalog.emplace_hint(s->catalog.end(), gift, std::move(e));
  }
  UserId prev;
  const uint64_t limits = u.Count(32);
  s->limits.reserve(limits);
  for (uint64_t i = 0; i < limits && !u.failed(); ++i) {
    const UserId user{u.U64()};
    if (!Ascending(i == 0, prev, user)) return u.Fail();
    prev = user;
    SpendLimits& l = s->limits[user];
    l.per_gift_max = u.I64();
    l.day_max = u.I64();
    l.month_max = u.I64();
  }
  const uint64_t hidden = u.Count(8);
  s->hidden.reserve(hidden);
  for (uint64_t i = 0; i < hidden && !u.failed(); ++i) {
    const UserId user{u.U64()};
    if (!Ascending(i == 0, prev, user)) return u.Fail();
    prev = user;
    s->hidden.insert(user);
  }
}

void ParseIdempotency(Uncanon& u, ShardState* s) {
  s->idempotency_disk_seq = u.U64();
  TxId prev;
  const uint64_t n = u.Count(44);
  std::vector<IdempotencyMemory::Slot> entries;
  entries.reserve(n);
  for (uint64_t i = 0; i < n && !u.failed(); ++i) {
    TxId id;
    u.Bytes(&id.bytes);
    if (!Ascending(i == 0, prev, id)) return u.Fail();
    prev = id;
    IdempotencyEntry e;
    u.Bytes(&e.hash);
    e.code = ResultCode(u.U32());
    e.seq = u.U64();
    if (e.seq <= s->idempotency_disk_seq) return u.Fail();  // the tiers never overlap
    entries.push_back({id, e});
  }
  if (u.failed()) return;
  // The memory tier holds its entries in seq order; each event has one tx id.
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.entry.seq < b.entry.seq; });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1].entry.seq == entries[i].entry.seq) return u.Fail();
  }
  s->idempotency.Reserve(entries.size());
  for (const auto& e : entries) GL_ASSERT(s->idempotency.Insert(e.tx, e.entry));
}

}  // namespace

Result<ShardState> ParseState(std::string_view bytes) {
  Uncanon u(bytes);
  ShardConfig config;
  config.shard = ShardId{u.U32()};
  config.shard_count = u.U32();
  config.utc_offset_minutes = int32_t(u.U32());
  ShardState s(config);
  ParseAccounts(u, &s);
  ParseOrders(u, &s);
  const uint64_t expiry_size = u.U64();
  ParseSettings(u, &s);
  ParseIdempotency(u, &s);
  s.totals.topped_up = u.I128();
  s.totals.gifted = u.I128();
  s.totals.refunded = u.I128();
  s.totals.host_credited = u.I128();
  s.totals.paid_out = u.I128();
  s.last_seq = u.U64();
  s.last_ledger_time_us = u.I64();
  if (u.failed()) return DataLoss("state: truncated or malformed");
  if (!u.at_end()) return DataLoss("state: trailing bytes");
  if (expiry_size != s.expiry.size()) return DataLoss("state: expiry index mismatch");
  if (config.shard_count == 0) return DataLoss("state: shard count 0");
  return s;
}

namespace {

bool InBalanceRange(int64_t v) { return v >= 0 && v <= kBalanceMax; }

Status CheckOrders(const ShardState& s, std::unordered_map<UserId, __int128, UserIdHash>* held,
                   std::unordered_map<UserId, uint32_t, UserIdHash>* pending) {
  if (s.order_disk && s.order_disk->covered_seq() != s.order_disk_seq) {
    return Internal("order index covers another seq than the state says");
  }
  size_t pending_total = 0;
  for (const auto& [id, o] : s.orders) {
    if (o.amount < 1 || o.amount > kAmountMax) return Internal("order amount out of range");
    if (o.host_share < 0 || o.host_share > o.amount) return Internal("host share out of range");
    if (o.seq == 0 || o.seq > s.last_seq) return Internal("order seq outside the applied range");
    if (o.status != OrderStatus::kPending) continue;
    ++pending_total;
    (*held)[o.payer] += o.amount;
    (*pending)[o.payer] += 1;
    if (s.expiry.count({o.expires_at_us, id}) != 1) return Internal("pending order not in expiry");
  }
  if (pending_total != s.expiry.size()) return Internal("expiry index size mismatch");
  return Status::Ok();
}

Status CheckIdempotency(const ShardState& s) {
  if (s.idempotency_disk && s.idempotency_disk->covered_seq() != s.idempotency_disk_seq) {
    return Internal("idempotency index covers another seq than the state says");
  }
  bool outside = false;
  s.idempotency.ForEach([&](const TxId&, const IdempotencyEntry& e) {
    outside = outside || e.seq <= s.idempotency_disk_seq || e.seq > s.last_seq;
  });
  if (outside) return Internal("idempotency entry outside the in-memory seq range");
  return Status::Ok();
}

}  // namespace

Status CheckInvariants(const ShardState& s) {
  std::unordered_map<UserId, __int128, UserIdHash> held;
  std::unordered_map<UserId, uint32_t, UserIdHash> pending;
  GL_RETURN_IF_ERROR(CheckOrders(s, &held, &pending));
  GL_RETURN_IF_ERROR(CheckIdempotency(s));
  __int128 wallet_sum = 0;
  for (const auto& [u, w] : s.wallets) {
    if (!InBalanceRange(w.available) || !InBalanceRange(w.held) ||
        !InBalanceRange(w.available + w.held)) {
      return Internal("wallet out of range: user " + std::to_string(u.value));
    }
    // find, not operator[]: most users have nothing pending, and the maps
    // hold only those who do.
    const auto h = held.find(u);
    const auto p = pending.find(u);
    if (w.held != (h == held.end() ? 0 : h->second)) {
      return Internal("held != pending sum: user " + std::to_string(u.value));
    }
    if (w.pending_orders != (p == pending.end() ? 0 : p->second)) {
      return Internal("pending order count mismatch");
    }
    if (w.day_spent < 0 || w.month_spent < 0) return Internal("negative spend counter");
    wallet_sum += __int128(w.available) + w.held;
  }
  for (const auto& [u, _] : held) {
    if (s.wallets.count(u) == 0) return Internal("pending order of a user without wallet");
  }
  __int128 earned = 0, paid_out = 0;
  for (const auto& [u, h] : s.hosts) {
    if (!InBalanceRange(h.earned) || !InBalanceRange(h.paid_out) || h.paid_out > h.earned) {
      return Internal("host account out of range: host " + std::to_string(u.value));
    }
    earned += h.earned;
    paid_out += h.paid_out;
  }
  const Totals& t = s.totals;
  if (wallet_sum != t.topped_up - t.gifted + t.refunded) {
    return Internal("conservation: sum(available + held) != topped_up - gifted + refunded");
  }
  if (earned != t.host_credited) return Internal("conservation: sum(earned) != host_credited");
  if (paid_out != t.paid_out) return Internal("conservation: sum(paid_out) != paid_out_total");
  return Status::Ok();
}

}  // namespace giftledger::commands

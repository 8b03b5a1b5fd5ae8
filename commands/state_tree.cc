#include "commands/state_tree.h"

#include <algorithm>
#include <cstring>

#include "ledger/blake2b_x8.h"
#include "ledger/coding.h"
#include "ledger/crypto.h"
#include "ledger/merkle.h"

namespace giftledger::commands {
namespace {

constexpr char kStateRootContext[] = "giftledger state v1";
constexpr size_t kStateRootContextBytes = sizeof(kStateRootContext) - 1;
static_assert(kStateRootContextBytes == 19);

StateLeafBytes EncodeAccount(UserId user, const Wallet* w, const HostAccount* h) {
  StateLeafBytes out;
  if (w == nullptr && h == nullptr) return out;
  uint8_t* p = out.bytes.data();
  p[0] = kStateLeafAccount;
  PutU64(p + 1, user.value);
  p[9] = uint8_t((w ? kAccountFlagWallet : 0) | (h ? kAccountFlagHost : 0));
  PutU64(p + 10, uint64_t(w ? w->available : 0));
  PutU64(p + 18, uint64_t(w ? w->held : 0));
  PutU32(p + 26, w ? w->pending_orders : 0);
  PutU64(p + 30, uint64_t(h ? h->earned : 0));
  PutU64(p + 38, uint64_t(h ? h->paid_out : 0));
  out.size = kAccountLeafBytes;
  return out;
}

StateLeafBytes EncodeOrder(const TxId& id, const Order& o) {
  StateLeafBytes out;
  uint8_t* p = out.bytes.data();
  p[0] = kStateLeafOrder;
  std::memcpy(p + 1, id.bytes.data(), kTxIdBytes);
  PutU64(p + 17, o.payer.value);
  PutU64(p + 25, o.host.value);
  PutU64(p + 33, o.room);
  PutU32(p + 41, o.gift);
  PutU32(p + 45, o.count);
  PutU64(p + 49, uint64_t(o.amount));
  PutU64(p + 57, uint64_t(o.host_share));
  PutU64(p + 65, uint64_t(o.expires_at_us));
  out.size = kOrderLeafBytes;
  return out;
}

UserId KeyUser(const StateKey& k) {
  uint64_t v = 0;
  for (int i = 1; i <= 8; ++i) v = (v << 8) | k[size_t(i)];
  return UserId{v};
}

}  // namespace

StateKey AccountKey(UserId user) {
  StateKey k{};
  k[0] = kStateLeafAccount;
  for (int i = 0; i < 8; ++i) k[size_t(8 - i)] = uint8_t(user.value >> (8 * i));
  return k;
}

StateKey OrderKey(const TxId& order) {
  StateKey k{};
  k[0] = kStateLeafOrder;
  std::memcpy(k.data() + 1, order.bytes.data(), kTxIdBytes);
  return k;
}

StateLeafBytes EncodeStateLeaf(const ShardState& state, const StateKey& key) {
  if (key[0] == kStateLeafAccount) {
    const UserId u = KeyUser(key);
    return EncodeAccount(u, state.FindWallet(u), state.FindHost(u));
  }
  GL_ASSERT(key[0] == kStateLeafOrder);
  TxId id;
  std::memcpy(id.bytes.data(), key.data() + 1, kTxIdBytes);
  // Pending orders are always in memory; closed ones have no leaf.
  auto it = state.orders.find(id);
  if (it == state.orders.end() || it->second.status != OrderStatus::kPending) return {};
  return EncodeOrder(id, it->second);
}

std::optional<AccountLeaf> DecodeAccountLeaf(std::string_view leaf) {
  if (leaf.size() != kAccountLeafBytes || uint8_t(leaf[0]) != kStateLeafAccount) {
    return std::nullopt;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(leaf.data());
  AccountLeaf a;
  a.user = UserId{GetU64(p + 1)};
  a.flags = p[9];
  if ((a.flags & ~(kAccountFlagWallet | kAccountFlagHost)) != 0) return std::nullopt;
  a.available = int64_t(GetU64(p + 10));
  a.held = int64_t(GetU64(p + 18));
  a.pending_orders = GetU32(p + 26);
  a.earned = int64_t(GetU64(p + 30));
  a.paid_out = int64_t(GetU64(p + 38));
  return a;
}

std::optional<StateKey> StateLeafKey(std::string_view leaf) {
  if (auto a = DecodeAccountLeaf(leaf)) return AccountKey(a->user);
  if (leaf.size() != kOrderLeafBytes || uint8_t(leaf[0]) != kStateLeafOrder) return std::nullopt;
  TxId id;
  std::memcpy(id.bytes.data(), leaf.data() + 1, kTxIdBytes);
  return OrderKey(id);
}

StateLeaves CollectStateLeaves(const ShardState& state) {
  std::vector<UserId> users;
  users.reserve(state.wallets.size() + state.hosts.size());
  for (const auto& [u, w] : state.wallets) users.push_back(u);
  for (const auto& [u, h] : state.hosts) users.push_back(u);
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  std::vector<TxId> pending;
  pending.reserve(state.expiry.size());
  for (const auto& [at, id] : state.expiry) pending.push_back(id);
  std::sort(pending.begin(), pending.end());
  StateLeaves out;
  out.keys.reserve(users.size() + pending.size());
  out.leaves.reserve(users.size() + pending.size());
  for (UserId u : users) {
    out.keys.push_back(AccountKey(u));
    out.leaves.push_back(EncodeAccount(u, state.FindWallet(u), state.FindHost(u)));
  }
  for (const TxId& id : pending) {
    out.keys.push_back(OrderKey(id));
    out.leaves.push_back(EncodeStateLeaf(state, out.keys.back()));
    GL_ASSERT(out.leaves.back().size == kOrderLeafBytes);
  }
  return out;
}

std::vector<Hash32> StateLeafHashes(const std::vector<StateLeafBytes>& leaves) {
  std::vector<PrefixedMessage> msgs(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) {
    msgs[i] = {0x00, leaves[i].bytes.data(), leaves[i].size};
  }
  std::vector<Hash32> out(leaves.size());
  Blake2b256Prefixed(msgs.data(), msgs.size(), out.data());
  return out;
}

Hash32 StateRootOf(uint64_t leaf_count, const Hash32& tree_root) {
  uint8_t msg[kStateRootContextBytes + 8 + kHashBytes];
  std::memcpy(msg, kStateRootContext, kStateRootContextBytes);
  PutU64(msg + kStateRootContextBytes, leaf_count);
  std::memcpy(msg + kStateRootContextBytes + 8, tree_root.data(), kHashBytes);
  return Blake2b256(msg, sizeof(msg));
}

Hash32 ComputeStateRoot(const ShardState& state) {
  StateLeaves leaves = CollectStateLeaves(state);
  std::vector<Hash32> hashes = StateLeafHashes(leaves.leaves);
  const uint64_t n = hashes.size();
  return StateRootOf(n, MerkleRootInPlace(&hashes));
}

void TouchedStateKeys(const schemas::Event& e, std::vector<StateKey>* out) {
  auto order = [&](const std::string& id) {
    auto t = TxId::FromBytes(id);
    if (t) out->push_back(OrderKey(*t));
  };
  switch (e.body_case()) {
    case schemas::Event::kToppedUp:
      out->push_back(AccountKey(UserId{e.topped_up().user()}));
      return;
    case schemas::Event::kOrderPlaced:
      out->push_back(AccountKey(UserId{e.order_placed().payer()}));
      order(e.tx_id());
      return;
    case schemas::Event::kGiftSent:
      out->push_back(AccountKey(UserId{e.gift_sent().payer()}));
      order(e.gift_sent().order_id());
      return;
    case schemas::Event::kOrderVoided:
      out->push_back(AccountKey(UserId{e.order_voided().payer()}));
      order(e.order_voided().order_id());
      return;
    case schemas::Event::kRefunded:
      out->push_back(AccountKey(UserId{e.refunded().payer()}));
      return;
    case schemas::Event::kHostCredited:
      out->push_back(AccountKey(UserId{e.host_credited().host()}));
      return;
    case schemas::Event::kPaidOut:
      out->push_back(AccountKey(UserId{e.paid_out().host()}));
      return;
    default:
      return;  // catalog, limits, privacy, rejections: no leaf changes
  }
}

}  // namespace giftledger::commands

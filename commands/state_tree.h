// The state tree: an RFC 9162 Merkle tree over a shard's money state
// (accounts and pending orders) whose root goes into signed checkpoints, so
// that one account's balances can be proven with public keys only. Leaf
// bytes, order and root: docs/proofs.md, "The state tree".
//
//   Account leaf, 46 bytes: kind 0x01, user_id u64, flags u8 (bit 0 wallet,
//   bit 1 host account), available i64, held i64, pending_orders u32,
//   earned i64, paid_out i64.
//   Pending-order leaf, 73 bytes: kind 0x02, order_id[16], payer u64,
//   host u64, room u64, gift u32, count u32, amount i64, host_share i64,
//   expires_at_us i64.
//   state_root = H("giftledger state v1" || n u64 || MTH(LEAF(leaf_i)))
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/state.h"
#include "ledger/types.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::commands {

inline constexpr uint8_t kStateLeafAccount = 0x01;
inline constexpr uint8_t kStateLeafOrder = 0x02;
inline constexpr size_t kAccountLeafBytes = 46;
inline constexpr size_t kOrderLeafBytes = 73;
inline constexpr size_t kStateLeafBytesMax = kOrderLeafBytes;
inline constexpr uint8_t kAccountFlagWallet = 1;
inline constexpr uint8_t kAccountFlagHost = 2;

// kind || id: an account's id is its user id big-endian then 8 zero bytes,
// an order's its 16 bytes. Leaves are in ascending key order.
using StateKey = std::array<uint8_t, 17>;
StateKey AccountKey(UserId user);
StateKey OrderKey(const TxId& order);

// A leaf's bytes without allocation (size 0: the key has no leaf).
struct StateLeafBytes {
  uint8_t size = 0;
  std::array<uint8_t, kStateLeafBytesMax> bytes{};
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes.data()), size};
  }
};

struct AccountLeaf {
  UserId user;
  uint8_t flags = 0;
  int64_t available = 0;
  int64_t held = 0;
  uint32_t pending_orders = 0;
  int64_t earned = 0;
  int64_t paid_out = 0;
};

// The key's leaf in `state`; size 0 when the account does not exist or the
// order is not pending.
StateLeafBytes EncodeStateLeaf(const ShardState& state, const StateKey& key);
// Strict: nullopt unless exactly an account leaf (kind, size, flag bits).
std::optional<AccountLeaf> DecodeAccountLeaf(std::string_view leaf);
// The sort key of a well-formed leaf of either kind; nullopt otherwise.
std::optional<StateKey> StateLeafKey(std::string_view leaf);

struct StateLeaves {
  std::vector<StateKey> keys;  // ascending
  std::vector<StateLeafBytes> leaves;
};
// Every leaf of `state` in key order (for replay and tests).
StateLeaves CollectStateLeaves(const ShardState& state);
// LEAF(x) of each leaf, batched.
std::vector<Hash32> StateLeafHashes(const std::vector<StateLeafBytes>& leaves);

// H("giftledger state v1" || leaf_count || tree_root).
Hash32 StateRootOf(uint64_t leaf_count, const Hash32& tree_root);
// The state root of `state`, computed directly.
Hash32 ComputeStateRoot(const ShardState& state);

// Appends the keys whose leaves `event` may change when applied.
void TouchedStateKeys(const schemas::Event& event, std::vector<StateKey>* out);

}  // namespace giftledger::commands

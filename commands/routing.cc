#include "commands/routing.h"

#include <cstring>
#include <string_view>

#include "ledger/coding.h"
#include "ledger/crypto.h"
#include "ledger/status.h"

namespace giftledger::commands {

ShardId ShardOf(UserId user, uint32_t shard_count) {
  GL_ASSERT(shard_count >= 1);
  if (shard_count == 1) return ShardId{0};  // x mod 1 = 0: skip the hash
  uint8_t le[8];
  PutU64(le, user.value);
  const Hash32 h = Blake2b256(le, sizeof(le));
  return ShardId{uint32_t(GetU64(h.data()) % shard_count)};
}

TxId DeriveHostCreditTxId(ShardId payer_shard, const TxId& gift_tx_id) {
  constexpr std::string_view kPrefix = "giftledger/host-credit/v2";
  static_assert(kPrefix.size() == 25);
  uint8_t buf[kPrefix.size() + 4 + kTxIdBytes];
  std::memcpy(buf, kPrefix.data(), kPrefix.size());
  PutU32(buf + kPrefix.size(), payer_shard.value);
  std::memcpy(buf + kPrefix.size() + 4, gift_tx_id.bytes.data(), kTxIdBytes);
  const Hash32 h = Blake2b256(buf, sizeof(buf));
  TxId out;
  std::memcpy(out.bytes.data(), h.data(), kTxIdBytes);
  out.bytes[6] = uint8_t((out.bytes[6] & 0x0f) | 0x80);  // UUID version 8
  out.bytes[8] = uint8_t((out.bytes[8] & 0x3f) | 0x80);  // RFC 9562 variant 10
  GL_ASSERT(IsReservedTxId(out));
  return out;
}

std::optional<UserId> RoutingUser(const schemas::Command& cmd) {
  using schemas::Command;
  switch (cmd.body_case()) {
    case Command::kTopUp:
      return UserId{cmd.top_up().user()};
    case Command::kPlaceOrder:
      return UserId{cmd.place_order().payer()};
    case Command::kConsumeOrder:
      return UserId{cmd.consume_order().payer()};
    case Command::kCancelOrder:
      return UserId{cmd.cancel_order().payer()};
    case Command::kRefund:
      return UserId{cmd.refund().payer()};
    case Command::kHostCredit:
      return UserId{cmd.host_credit().host()};
    case Command::kPayout:
      return UserId{cmd.payout().host()};
    case Command::kSetLimits:
      return UserId{cmd.set_limits().user()};
    case Command::kSetPrivacy:
      return UserId{cmd.set_privacy().user()};
    case Command::kSetCatalog:
    case Command::kExpireOrders:
    case Command::BODY_NOT_SET:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace giftledger::commands

// Hostile command batches against the money core: the input parses as a
// Request whose commands are decided and applied in order, as the engine
// does, on a shard with a catalog and funded wallets. After every command the
// invariants of docs/commands.md must hold (no negative balance, held equals
// pending orders, money conserved) and a rejection must change nothing.
#include <cstddef>
#include <cstdint>

#include "commands/apply.h"
#include "commands/decide.h"
#include "commands/state.h"
#include "ledger/crypto.h"
#include "schemas/protocol.pb.h"
#include "tests/fuzz/fuzz_keys.h"

using namespace giftledger;
using namespace giftledger::commands;

namespace {

void Run(ShardState& state, const schemas::Command& c, int64_t now, uint32_t roles) {
  Hash32 before = StateHash(state);
  Decision d = Decide(state, c, DecideContext{now, roles});
  if (d.events.empty()) {
    GL_ASSERT(StateHash(state) == before);  // Decide is pure
    return;
  }
  for (const auto& e : d.events) Apply(state, e, state.last_seq + 1);
  Status inv = CheckInvariants(state);
  if (!inv.ok()) {
    std::fprintf(stderr, "invariant broken: %s\n", inv.ToString().c_str());
    GL_ASSERT(false);
  }
}

ShardState Seeded() {
  ShardState s(ShardConfig{ShardId{0}, 1, 480});
  uint64_t tx = 1;
  auto next_tx = [&] {
    std::string t(16, '\0');
    for (int i = 0; i < 8; ++i) t[size_t(i)] = char(tx >> (8 * i));
    t[15] = 0x7f;
    ++tx;
    return t;
  };
  for (uint32_t gift = 1; gift <= 3; ++gift) {
    schemas::Command c;
    c.set_tx_id(next_tx());
    auto* sc = c.mutable_set_catalog();
    sc->set_gift(gift);
    sc->set_name("gift" + std::to_string(gift));
    sc->set_price(int64_t(gift) * 10);
    sc->set_active(true);
    sc->set_host_share_bps(5000);
    Run(s, c, fuzz::kNowUs, kRolesAllGateway);
  }
  for (uint64_t user = 1; user <= 4; ++user) {
    schemas::Command c;
    c.set_tx_id(next_tx());
    c.mutable_top_up()->set_user(user);
    c.mutable_top_up()->set_amount(1000);
    Run(s, c, fuzz::kNowUs, kRolesAllGateway);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ShardState seeded = [] {
    CryptoInit();
    return Seeded();
  }();
  schemas::Request req;
  if (!req.ParseFromArray(data, int(size)) || req.commands_size() > 64) return 0;
  ShardState state = seeded;
  int64_t now = fuzz::kNowUs + 1'000'000;
  for (const auto& c : req.commands()) {
    // The timestamp field steers ledger time forward (never back), so that
    // expiry and day/month boundaries are reached.
    now += int64_t(uint64_t(req.timestamp_us()) % 3'600'000'000ull);
    Run(state, c, now, kRolesAllGateway);
    Run(state, c, now, kRolesAllGateway);  // the same command again: no second effect
    schemas::Command sweep;
    sweep.mutable_expire_orders();
    sweep.set_tx_id(std::string(15, '\x01') + char(now & 0x7f));
    Run(state, sweep, now, kRoleSystem);
  }
  return 0;
}

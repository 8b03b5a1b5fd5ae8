#include "projections/broadcasts.h"

#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "ledger/types.h"

namespace giftledger::projections {
namespace {

std::string Hex(const std::string& b) {
  return ToHex(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

}  // namespace

std::vector<Broadcast> TakeBroadcasts(ReadModels& m, const BroadcastOptions& o) {
  std::vector<Broadcast> out;
  // Fold combos: the first gift of a streak holds the line, later ones add in.
  std::vector<GiftNotice> lines;
  std::vector<uint32_t> streak;
  std::map<std::tuple<uint64_t, uint64_t, std::string>, size_t> combo_line;
  for (const GiftNotice& g : m.gift_notices()) {
    if (!g.combo_id.empty()) {
      auto [it, fresh] = combo_line.try_emplace({g.room, g.payer, g.combo_id}, lines.size());
      if (!fresh) {
        GiftNotice& l = lines[it->second];
        l.count += g.count;
        l.amount += g.amount;
        l.seq = g.seq;  // the line reflects the streak up to its last gift
        streak[it->second] = std::max(streak[it->second], g.combo_count);
        continue;
      }
    }
    lines.push_back(g);
    streak.push_back(g.combo_count);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const GiftNotice& g = lines[i];
    nlohmann::json j{
        {"shard", g.shard},
        {"seq", g.seq},
        {"tx_id", Hex(g.tx_id)},
        {"payer", m.IsHidden(g.payer) ? nlohmann::json(nullptr) : nlohmann::json(g.payer)},
        {"host", g.host},
        {"room", g.room},
        {"gift", g.gift},
        {"count", g.count},
        {"amount", g.amount}};
    if (!g.combo_id.empty()) {
      j["combo_id"] = Hex(g.combo_id);
      j["streak"] = streak[i];
    }
    const std::string text = j.dump();
    out.push_back({"giftledger.room." + std::to_string(g.room) + ".gifts", text});
    if (g.amount >= o.banner_amount_min) out.push_back({"giftledger.banner", text});
  }
  std::map<uint64_t, LevelUp> ups;
  for (const LevelUp& u : m.level_ups()) {
    LevelUp& best = ups[u.user];
    if (u.level >= best.level) best = u;
  }
  for (const auto& [user, u] : ups) {
    out.push_back(
        {"giftledger.user." + std::to_string(user) + ".level",
         nlohmann::json{{"user", user}, {"level", u.level}, {"experience", u.experience}}.dump()});
  }
  m.gift_notices().clear();
  m.level_ups().clear();
  return out;
}

}  // namespace giftledger::projections

#include "projections/hot_boards.h"

#include <algorithm>

#include "ledger/status.h"
#include "projections/limits.h"

namespace giftledger::projections {

namespace {

constexpr int64_t kNoPeriod = INT64_MIN;

}  // namespace

void HotBoards::Add(Board b, uint64_t key, const Periods& periods, uint64_t member, int64_t delta) {
  Boards& bs = boards_[Key{key, uint8_t(b)}];
  auto [mp, fresh] = bs.members.try_emplace(member);
  Member& m = *mp;
  for (size_t w = 0; w < kWindowCount; ++w) {
    if (fresh) m.period[w] = kNoPeriod;
    if (periods[w] < bs.period[w]) continue;  // a lagging shard's old period: SQLite has it
    bs.period[w] = periods[w];
    if (m.period[w] != periods[w]) {
      m.period[w] = periods[w];
      m.score[w] = 0;
    }
    GL_ASSERT(!__builtin_add_overflow(m.score[w], delta, &m.score[w]));
    bs.dirty[w] = true;
  }
}

void HotBoards::Load(Board b, uint64_t key, Window w, int64_t period, uint64_t member,
                     int64_t score) {
  Boards& bs = boards_[Key{key, uint8_t(b)}];
  auto [mp, fresh] = bs.members.try_emplace(member);
  Member& m = *mp;
  if (fresh) std::fill(std::begin(m.period), std::end(m.period), kNoPeriod);
  const size_t i = size_t(w);
  if (period < bs.period[i]) return;
  bs.period[i] = period;
  m.period[i] = period;
  m.score[i] = score;
  bs.dirty[i] = true;
}

bool HotBoards::Top(Board b, uint64_t key, Window w, size_t n, std::vector<RankEntry>* out,
                    int64_t* period) {
  out->clear();
  auto it = boards_.find(Key{key, uint8_t(b)});
  if (it == boards_.end()) return false;
  Boards& bs = it->second;
  const size_t i = size_t(w);
  if (bs.period[i] == kNoPeriod) return false;
  std::vector<RankEntry>& top = bs.top[i];
  if (bs.dirty[i]) {
    top.clear();
    bs.members.ForEach([&](uint64_t member, const Member& m) {
      if (m.period[i] == bs.period[i] && m.score[i] > 0)
        top.push_back(RankEntry{member, m.score[i]});
    });
    const size_t keep = std::min(top.size(), kHotTopMax);
    std::partial_sort(top.begin(), top.begin() + keep, top.end(), RanksBefore);
    top.resize(keep);
    bs.dirty[i] = false;
  }
  *period = bs.period[i];
  const size_t m = std::min({n, kHotTopMax, top.size()});
  out->assign(top.begin(), top.begin() + m);
  return true;
}

}  // namespace giftledger::projections

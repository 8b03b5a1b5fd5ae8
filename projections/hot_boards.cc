#include "projections/hot_boards.h"

#include <algorithm>

#include "ledger/status.h"
#include "projections/limits.h"

namespace giftledger::projections {

void HotBoards::Add(Board b, uint64_t key, const Periods& periods, uint64_t member,
                    int64_t delta) {
  Boards& bs = boards_[Key{key, uint8_t(b)}];
  for (size_t w = 0; w < kWindowCount; ++w) {
    WindowBoard& wb = bs.windows[w];
    if (periods[w] < wb.period) continue;  // a lagging shard's old period: SQLite has it
    if (periods[w] > wb.period) {
      wb.period = periods[w];
      wb.scores.clear();
    }
    int64_t& s = wb.scores[commands::UserId{member}];
    GL_ASSERT(!__builtin_add_overflow(s, delta, &s));
    wb.dirty = true;
  }
}

void HotBoards::Load(Board b, uint64_t key, Window w, int64_t period, uint64_t member,
                     int64_t score) {
  WindowBoard& wb = boards_[Key{key, uint8_t(b)}].windows[size_t(w)];
  if (period < wb.period) return;
  if (period > wb.period) {
    wb.period = period;
    wb.scores.clear();
  }
  wb.scores[commands::UserId{member}] = score;
  wb.dirty = true;
}

bool HotBoards::Top(Board b, uint64_t key, Window w, size_t n, std::vector<RankEntry>* out,
                    int64_t* period) {
  out->clear();
  auto it = boards_.find(Key{key, uint8_t(b)});
  if (it == boards_.end()) return false;
  WindowBoard& wb = it->second.windows[size_t(w)];
  if (wb.period == INT64_MIN) return false;
  if (wb.dirty) {
    wb.top.clear();
    for (const auto& [member, score] : wb.scores) {
      if (score > 0) wb.top.push_back(RankEntry{member.value, score});
    }
    const size_t keep = std::min(wb.top.size(), kHotTopMax);
    std::partial_sort(wb.top.begin(), wb.top.begin() + keep, wb.top.end(), RanksBefore);
    wb.top.resize(keep);
    wb.dirty = false;
  }
  *period = wb.period;
  const size_t m = std::min({n, kHotTopMax, wb.top.size()});
  out->assign(wb.top.begin(), wb.top.begin() + m);
  return true;
}

}  // namespace giftledger::projections

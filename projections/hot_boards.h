// In-memory top-N of every leaderboard and window, for hot reads
// (docs/read-models.md, "Hot reads"). Each (board, key, window) keeps the
// scores of its current period only: the newest period any event of it fell
// in. A sorted top list is rebuilt once after a change, then served as is.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "commands/ids.h"
#include "projections/boards.h"
#include "projections/flat_map.h"
#include "projections/periods.h"

namespace giftledger::projections {

struct RankEntry {
  uint64_t member = 0;
  int64_t score = 0;
  friend bool operator==(const RankEntry& a, const RankEntry& b) {
    return a.member == b.member && a.score == b.score;
  }
};

// Score descending, then member ascending: the order of every answer.
inline bool RanksBefore(const RankEntry& a, const RankEntry& b) {
  return a.score != b.score ? a.score > b.score : a.member < b.member;
}

class HotBoards {
 public:
  // Adds `delta` to `member` of board (b, key) in every window, where
  // `periods` are the periods of the gift's hour.
  void Add(Board b, uint64_t key, const Periods& periods, uint64_t member, int64_t delta);

  // Top min(n, kHotTopMax) members with a positive score of the board's
  // current period in window w. *period receives that period; false when
  // the board has never seen an event.
  bool Top(Board b, uint64_t key, Window w, size_t n, std::vector<RankEntry>* out, int64_t* period);

  // Sets one window's period and member score (loading from the store).
  void Load(Board b, uint64_t key, Window w, int64_t period, uint64_t member, int64_t score);

  size_t board_count() const { return boards_.size(); }

 private:
  // One entry per member for all windows, so that a gift costs one lookup
  // per board: a window's score counts only while its period is the board's.
  struct Member {
    int64_t period[kWindowCount];
    int64_t score[kWindowCount];
  };
  struct Boards {
    int64_t period[kWindowCount] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
    FlatMap<Member> members;
    std::vector<RankEntry> top[kWindowCount];  // cached, sorted; valid unless dirty
    bool dirty[kWindowCount] = {};
  };
  struct Key {
    uint64_t key;
    uint8_t board;
    friend bool operator==(const Key& a, const Key& b) {
      return a.key == b.key && a.board == b.board;
    }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      const uint64_t m[2] = {k.key, k.board};
      return size_t(commands::SipHash<1, 3>(commands::ProcessHashKey(), m));
    }
  };
  std::unordered_map<Key, Boards, KeyHash> boards_;
};

}  // namespace giftledger::projections

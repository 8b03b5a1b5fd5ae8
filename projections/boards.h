// The four leaderboards (docs/read-models.md, table `boards`): who is ranked,
// by what key. Board codes are stored in SQLite; never renumber them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace giftledger::projections {

enum class Board : uint8_t {
  kRoom = 1,     // key room, member payer: room contributors
  kHost = 2,     // key host, member payer: a host's top fans
  kHosts = 3,    // key 0, member host: global hosts
  kGifters = 4,  // key 0, member payer: global gifters
};
inline constexpr Board kBoards[] = {Board::kRoom, Board::kHost, Board::kHosts, Board::kGifters};

inline const char* BoardName(Board b) {
  switch (b) {
    case Board::kRoom:
      return "room";
    case Board::kHost:
      return "host";
    case Board::kHosts:
      return "hosts";
    case Board::kGifters:
      return "gifters";
  }
  return "?";
}

inline std::optional<Board> ParseBoard(std::string_view name) {
  for (Board b : kBoards) {
    if (name == BoardName(b)) return b;
  }
  return std::nullopt;
}

// Global boards have the single key 0.
inline bool IsGlobalBoard(Board b) { return b == Board::kHosts || b == Board::kGifters; }

}  // namespace giftledger::projections

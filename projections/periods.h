// Leaderboard windows by ledger time: hour, day, week (from Monday), month and
// all-time, in the ledger's configured UTC offset (docs/read-models.md, "Time
// windows"). Every period is a whole range of local hours.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace giftledger::projections {

enum class Window : uint8_t { kHour = 0, kDay, kWeek, kMonth, kAll };
inline constexpr size_t kWindowCount = 5;

const char* WindowName(Window w);
std::optional<Window> ParseWindow(std::string_view name);

// The local hour index of a ledger time: ⌊(t + offset) / 1 h⌋, floor division.
int64_t HourIndex(int64_t ledger_time_us, int32_t utc_offset_minutes);

// The period index of the local hour `hour` in each window, by Window value.
using Periods = std::array<int64_t, kWindowCount>;
Periods PeriodsOfHour(int64_t hour);
int64_t PeriodOfHour(Window w, int64_t hour);

// The inclusive range of local hours that period `period` of `w` covers
// (kAll: every hour).
std::pair<int64_t, int64_t> HourRange(Window w, int64_t period);

}  // namespace giftledger::projections

#include "projections/periods.h"

#include <limits>

namespace giftledger::projections {
namespace {

constexpr int64_t kHourUs = 3'600'000'000;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Howard Hinnant's civil-from-days / days-from-civil (proleptic Gregorian).
int64_t MonthOfDay(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  return y * 12 + (m - 1);
}

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t FirstDayOfMonth(int64_t month_index) {
  return DaysFromCivil(FloorDiv(month_index, 12), month_index - FloorDiv(month_index, 12) * 12 + 1,
                       1);
}

}  // namespace

const char* WindowName(Window w) {
  switch (w) {
    case Window::kHour:
      return "hour";
    case Window::kDay:
      return "day";
    case Window::kWeek:
      return "week";
    case Window::kMonth:
      return "month";
    case Window::kAll:
      return "all";
  }
  return "?";
}

std::optional<Window> ParseWindow(std::string_view name) {
  for (size_t i = 0; i < kWindowCount; ++i) {
    if (name == WindowName(Window(i))) return Window(i);
  }
  if (name == "all-time") return Window::kAll;
  return std::nullopt;
}

int64_t HourIndex(int64_t ledger_time_us, int32_t utc_offset_minutes) {
  return FloorDiv(ledger_time_us + int64_t(utc_offset_minutes) * 60'000'000, kHourUs);
}

int64_t PeriodOfHour(Window w, int64_t hour) {
  const int64_t day = FloorDiv(hour, 24);
  switch (w) {
    case Window::kHour:
      return hour;
    case Window::kDay:
      return day;
    case Window::kWeek:
      return FloorDiv(day + 3, 7);  // 1970-01-01 was a Thursday
    case Window::kMonth:
      return MonthOfDay(day);
    case Window::kAll:
      return 0;
  }
  return 0;
}

Periods PeriodsOfHour(int64_t hour) {
  Periods p;
  for (size_t i = 0; i < kWindowCount; ++i) p[i] = PeriodOfHour(Window(i), hour);
  return p;
}

std::pair<int64_t, int64_t> HourRange(Window w, int64_t period) {
  switch (w) {
    case Window::kHour:
      return {period, period};
    case Window::kDay:
      return {period * 24, period * 24 + 23};
    case Window::kWeek:
      return {(period * 7 - 3) * 24, (period * 7 + 4) * 24 - 1};
    case Window::kMonth:
      return {FirstDayOfMonth(period) * 24, FirstDayOfMonth(period + 1) * 24 - 1};
    case Window::kAll:
      break;
  }
  return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
}

}  // namespace giftledger::projections

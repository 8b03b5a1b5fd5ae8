// Window boundaries by ledger time in the configured UTC offset.
#include "projections/periods.h"

#include <gtest/gtest.h>

namespace giftledger::projections {
namespace {

constexpr int64_t kHourUs = 3'600'000'000;
// 2024-03-10T00:00:00Z, a Sunday.
constexpr int64_t kSundayMidnightUtcUs = 1'710'028'800'000'000;

TEST(PeriodsTest, LastMillisecondOfTheDayIsNotTheNextDay) {
  for (int32_t offset : {0, 60, -300, 330, 345, 840, -840}) {
    const int64_t local_midnight = kSundayMidnightUtcUs - int64_t(offset) * 60'000'000;
    const int64_t before = HourIndex(local_midnight - 1000, offset);
    const int64_t at = HourIndex(local_midnight, offset);
    EXPECT_EQ(PeriodOfHour(Window::kDay, before) + 1, PeriodOfHour(Window::kDay, at)) << offset;
    EXPECT_EQ(PeriodOfHour(Window::kHour, before) + 1, PeriodOfHour(Window::kHour, at));
  }
}

TEST(PeriodsTest, WeekStartsMonday) {
  const int64_t sunday = HourIndex(kSundayMidnightUtcUs + 12 * kHourUs, 0);
  const int64_t monday = HourIndex(kSundayMidnightUtcUs + 24 * kHourUs, 0);
  const int64_t saturday = HourIndex(kSundayMidnightUtcUs - 12 * kHourUs, 0);
  EXPECT_EQ(PeriodOfHour(Window::kWeek, saturday), PeriodOfHour(Window::kWeek, sunday));
  EXPECT_EQ(PeriodOfHour(Window::kWeek, sunday) + 1, PeriodOfHour(Window::kWeek, monday));
  const auto [h0, h1] = HourRange(Window::kWeek, PeriodOfHour(Window::kWeek, monday));
  EXPECT_EQ(h0, monday);
  EXPECT_EQ(h1 - h0 + 1, 7 * 24);
}

TEST(PeriodsTest, MonthRangeCoversExactlyTheCalendarMonth) {
  // 2024-02 is a leap February: 29 days.
  const int64_t feb = 2024 * 12 + 1;
  const auto [h0, h1] = HourRange(Window::kMonth, feb);
  EXPECT_EQ(h1 - h0 + 1, 29 * 24);
  EXPECT_EQ(PeriodOfHour(Window::kMonth, h0), feb);
  EXPECT_EQ(PeriodOfHour(Window::kMonth, h1), feb);
  EXPECT_EQ(PeriodOfHour(Window::kMonth, h0 - 1), feb - 1);
  EXPECT_EQ(PeriodOfHour(Window::kMonth, h1 + 1), feb + 1);
}

TEST(PeriodsTest, EveryWindowsRangeHoldsItsOwnHours) {
  for (int64_t hour = 470'000; hour < 470'000 + 24 * 70; hour += 7) {
    for (size_t w = 0; w < kWindowCount; ++w) {
      const auto [h0, h1] = HourRange(Window(w), PeriodOfHour(Window(w), hour));
      EXPECT_LE(h0, hour);
      EXPECT_GE(h1, hour);
    }
  }
}

TEST(PeriodsTest, UnknownWindowNameIsRefused) {
  EXPECT_FALSE(ParseWindow("fortnight").has_value());
  EXPECT_EQ(ParseWindow("week"), Window::kWeek);
}

}  // namespace
}  // namespace giftledger::projections

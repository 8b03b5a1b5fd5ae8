#include "commands/ledger_time.h"

namespace giftledger::commands {
namespace {

constexpr int64_t kUsPerMinute = 60'000'000;
constexpr int64_t kUsPerDay = 86'400'000'000;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

int64_t DayIndex(int64_t ledger_time_us, int32_t utc_offset_minutes) {
  return FloorDiv(ledger_time_us + int64_t(utc_offset_minutes) * kUsPerMinute, kUsPerDay);
}

int64_t MonthIndex(int64_t ledger_time_us, int32_t utc_offset_minutes) {
  // civil_from_days (H. Hinnant), proleptic Gregorian calendar.
  int64_t z = DayIndex(ledger_time_us, utc_offset_minutes) + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;  // 1..12
  if (m <= 2) ++y;
  return y * 12 + (m - 1);
}

}  // namespace giftledger::commands

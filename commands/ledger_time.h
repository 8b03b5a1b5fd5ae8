// Calendar periods of ledger time for spend caps: days and months in the
// shard's configured UTC offset (docs/commands.md, "Spend caps").
#pragma once

#include <cstdint>

namespace giftledger::commands {

// ⌊(t + offset) / 1 day⌋ with floor division (also before 1970).
int64_t DayIndex(int64_t ledger_time_us, int32_t utc_offset_minutes);
// year × 12 + (month − 1) of the local calendar date of ledger_time_us.
int64_t MonthIndex(int64_t ledger_time_us, int32_t utc_offset_minutes);

}  // namespace giftledger::commands

// Broadcasts after commit (docs/read-models.md, "Broadcasts"): room gift
// lines with combo streaks folded into one line, a big-gift banner, and
// level-ups, as (subject, JSON) messages. Built from what one committed
// batch collected, so they never announce what a crash would forget.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "projections/models.h"

namespace giftledger::projections {

struct Broadcast {
  std::string subject;
  std::string json;
};

struct BroadcastOptions {
  int64_t banner_amount_min = 10'000;  // a gift line of at least this many coins
};

// One line per gift on giftledger.room.<room>.gifts, except that the gifts
// of one combo (same room, payer and non-empty combo id) in the batch fold
// into one line (count and amount summed, streak = the highest combo
// count); a line of at least banner_amount_min also goes to
// giftledger.banner; the highest level-up of each user goes to
// giftledger.user.<user>.level. Hidden payers are null. Clears the inputs.
std::vector<Broadcast> TakeBroadcasts(ReadModels& models, const BroadcastOptions& options);

}  // namespace giftledger::projections

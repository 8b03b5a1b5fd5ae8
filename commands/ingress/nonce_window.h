// Envelope replay protection: a request's timestamp must be inside the window
// around the service clock, and its (key id, nonce) must not have been seen
// while that timestamp is acceptable. Bounded: when full, refuse (BUSY)
// rather than accept unchecked.
#pragma once

#include <cstdint>
#include <mutex>
#include <queue>
#include <string>
#include <unordered_set>
#include <vector>

#include "commands/ingress/box.h"
#include "schemas/protocol.pb.h"

namespace giftledger::ingress {

class NonceWindow {
 public:
  NonceWindow(int64_t window_us, size_t entries_max)
      : window_us_(window_us), entries_max_(entries_max) {}

  // ENVELOPE_OK (and the nonce is remembered), STALE, REPLAYED or BUSY.
  schemas::EnvelopeError Admit(const KeyId& key, const BoxNonce& nonce, int64_t timestamp_us,
                               int64_t now_us);
  size_t size() const;

 private:
  struct Expiry {
    int64_t at_us;
    std::string key;
    bool operator>(const Expiry& o) const { return at_us > o.at_us; }
  };
  void Evict(int64_t now_us);

  const int64_t window_us_;
  const size_t entries_max_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> seen_;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>> expiries_;
};

}  // namespace giftledger::ingress

#include "commands/ingress/nonce_window.h"

namespace giftledger::ingress {

schemas::EnvelopeError NonceWindow::Admit(const KeyId& key, const BoxNonce& nonce,
                                          int64_t timestamp_us, int64_t now_us) {
  if (timestamp_us < now_us - window_us_ || timestamp_us > now_us + window_us_) {
    return schemas::STALE;
  }
  std::string k(reinterpret_cast<const char*>(key.data()), key.size());
  k.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  std::lock_guard<std::mutex> lock(mu_);
  Evict(now_us);
  if (seen_.count(k) != 0) return schemas::REPLAYED;
  if (seen_.size() >= entries_max_) return schemas::BUSY;
  seen_.insert(k);
  // The nonce must be remembered until its timestamp leaves the window.
  expiries_.push({timestamp_us + window_us_, std::move(k)});
  return schemas::ENVELOPE_OK;
}

void NonceWindow::Evict(int64_t now_us) {
  while (!expiries_.empty() && expiries_.top().at_us < now_us) {
    seen_.erase(expiries_.top().key);
    expiries_.pop();
  }
}

size_t NonceWindow::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.size();
}

}  // namespace giftledger::ingress

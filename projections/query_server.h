// Hot reads over NATS (docs/read-models.md, "Hot queries over NATS"):
// `giftledger.q.leaderboard|wallet|level` answered from the projector's
// in-memory models, each answer stamped with the committed positions it
// reflects. Requests are served on the NATS client's thread under the same
// mutex the projector holds from the first event of a pull to its commit, so
// an answer never shows an uncommitted event.
#pragma once

#include <nats/nats.h>

#include <mutex>
#include <string>

#include "ledger/status.h"
#include "projections/projector.h"

namespace giftledger::projections {

class HotQueryServer {
 public:
  // Subscribes on `nc`; `mu` guards `projector`.
  static Result<std::unique_ptr<HotQueryServer>> Start(natsConnection* nc, Projector* projector,
                                                       std::mutex* mu);
  ~HotQueryServer();
  HotQueryServer(const HotQueryServer&) = delete;
  HotQueryServer& operator=(const HotQueryServer&) = delete;

  // The JSON answer to one request (exposed for tests and the bench).
  std::string Answer(const std::string& subject, std::string_view request);

 private:
  HotQueryServer(natsConnection* nc, Projector* p, std::mutex* mu) : nc_(nc), p_(p), mu_(mu) {}
  static void OnMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);

  natsConnection* nc_;
  Projector* p_;
  std::mutex* mu_;
  natsSubscription* sub_ = nullptr;
};

}  // namespace giftledger::projections

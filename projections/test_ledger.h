// Test helper: a real ledger of N shards written by real shard engines, with
// a settable clock, so that projection tests consume the bytes production
// writes. Commands go to the shard of their routing user; SetCatalog to all.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "commands/engine.h"
#include "commands/routing.h"
#include "commands/test_util.h"
#include "ledger/manifest.h"

namespace giftledger::projections::testing {

class EngineLedger {
 public:
  EngineLedger(const std::string& dir, uint32_t shards, int32_t utc_offset_minutes = 0)
      : dir_(dir), shards_(shards) {
    auto m = FormatLedger(dir, shards, kSegmentBytesMin, utc_offset_minutes);
    GL_ASSERT(m.ok());
    for (uint32_t s = 0; s < shards; ++s) {
      auto key = SigningKey::Load(SigningKeyPath(dir, ShardId{s}));
      GL_ASSERT(key.ok());
      commands::EngineOptions o;
      o.writer.segment_bytes = kSegmentBytesMin;
      o.clock_us = [this] { return now_us.load(); };
      auto e = commands::ShardEngine::Open(
          ShardDir(dir, ShardId{s}), commands::ShardConfig{ShardId{s}, shards, utc_offset_minutes},
          key.value(), o);
      GL_ASSERT(e.ok());
      engines_.push_back(std::move(e.value()));
    }
  }
  ~EngineLedger() { Close(); }

  uint32_t ShardOfUser(uint64_t user) const {
    return commands::ShardOf(commands::UserId{user}, shards_).value;
  }

  // Runs each command on its shard (SetCatalog on every shard); returns the
  // result of the routed shard. Asserts OK unless `expect_ok` is false.
  schemas::CommandResult Run(const schemas::Command& c, bool expect_ok = true) {
    auto user = commands::RoutingUser(c);
    schemas::CommandResult last;
    for (uint32_t s = 0; s < shards_; ++s) {
      if (user.has_value() && ShardOfUser(user->value) != s) continue;
      auto r = engines_[s]->SubmitAndWait({c});
      GL_ASSERT(r.size() == 1);
      last = r[0];
      if (expect_ok) {
        EXPECT_EQ(r[0].code(), schemas::OK) << r[0].message();
      }
    }
    return last;
  }
  // Runs the commands as one batch per shard (one fdatasync each, so tests
  // stay fast), in order within a shard; SetCatalog goes to every shard.
  // Expects every result OK.
  void RunBatched(const std::vector<schemas::Command>& cmds) {
    std::vector<std::vector<schemas::Command>> per_shard(shards_);
    for (const auto& c : cmds) {
      auto user = commands::RoutingUser(c);
      for (uint32_t s = 0; s < shards_; ++s) {
        if (!user.has_value() || ShardOfUser(user->value) == s) per_shard[s].push_back(c);
      }
    }
    for (uint32_t s = 0; s < shards_; ++s) {
      if (per_shard[s].empty()) continue;
      for (const auto& r : engines_[s]->SubmitAndWait(per_shard[s])) {
        EXPECT_EQ(r.code(), schemas::OK) << r.message();
      }
    }
  }
  void Close() {
    for (auto& e : engines_) {
      if (e) (void)e->Close();
    }
    engines_.clear();
  }

  const std::string& dir() const { return dir_; }
  std::atomic<int64_t> now_us{commands::testing::kT0};

 private:
  std::string dir_;
  uint32_t shards_;
  std::vector<std::unique_ptr<commands::ShardEngine>> engines_;
};

// PlaceOrder + ConsumeOrder of `count` × gift (price set by the test) into
// `room`; returns the ConsumeOrder's tx id (the gift's tx id).
inline std::string Gift(EngineLedger& l, uint64_t* next_tx, uint64_t payer, uint64_t host,
                        uint64_t room, uint32_t gift, uint32_t count,
                        std::string* order_out = nullptr) {
  using namespace commands::testing;  // NOLINT: builders
  const std::string order = Tx((*next_tx)++);
  auto place = PlaceCmd(order, payer, host, gift, count);
  place.mutable_place_order()->set_room(room);
  l.Run(place);
  const std::string tx = Tx((*next_tx)++);
  l.Run(ConsumeCmd(tx, payer, order));
  if (order_out) *order_out = order;
  return tx;
}

}  // namespace giftledger::projections::testing

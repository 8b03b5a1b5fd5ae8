// State root cost at scale (not run by ctest): the full computation from a
// state (what `prove --account` does after replay), the live tracker's root
// at a checkpoint after typical changes (updates only / with new accounts),
// and the engine thread's extra work per command (Touch + EndBatch) against
// Apply alone in the same run. Usage: state_root_bench [accounts...]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "commands/apply.h"
#include "commands/state_root_tracker.h"
#include "commands/state_tree.h"
#include "ledger/crypto.h"

namespace giftledger::commands {
namespace {

double Ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

schemas::Event TopUp(uint64_t user, uint64_t n) {
  schemas::Event e;
  std::string tx(16, '\1');
  for (int i = 0; i < 8; ++i) tx[size_t(i)] = char(n >> (8 * i));
  e.set_tx_id(tx);
  e.mutable_topped_up()->set_user(user);
  e.mutable_topped_up()->set_amount(100);
  return e;
}

void Run(uint64_t accounts) {
  std::mt19937_64 rng(accounts);
  ShardState s(ShardConfig{ShardId{0}, 1, 0});
  for (uint64_t i = 0; i < accounts; ++i) s.wallets[UserId{rng()}].available = int64_t(i);
  auto t0 = std::chrono::steady_clock::now();
  const Hash32 full = ComputeStateRoot(s);
  const double full_ms = Ms(t0);

  StateRootTracker t;
  t0 = std::chrono::steady_clock::now();
  t.Reset(s);
  const double reset_ms = Ms(t0);
  uint64_t seq = 0;
  // Engine side: Apply alone vs Apply + Touch + EndBatch (batches of 64).
  std::vector<UserId> users;
  for (const auto& [u, w] : s.wallets) users.push_back(u);
  const uint64_t cmds = 200'000;
  std::vector<schemas::Event> evs;
  for (uint64_t i = 0; i < cmds; ++i) evs.push_back(TopUp(users[rng() % users.size()].value, i));
  ShardState copy = s;
  t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < cmds; ++i) Apply(copy, evs[i], i + 1);
  const double apply_ms = Ms(t0);
  t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < cmds; ++i) {
    Apply(s, evs[i], ++seq);
    t.Touch(evs[i]);
    if (seq % 64 == 0) t.EndBatch(s, seq, seq);
  }
  if (seq % 64 != 0) t.EndBatch(s, seq, seq);
  const double tracked_ms = Ms(t0);
  // Syncer side: the checkpoint's root after those updates (no new keys).
  t0 = std::chrono::steady_clock::now();
  const auto upd = t.RootAt(seq);
  const double update_root_ms = Ms(t0);
  // ... and after 10k new accounts (the sorted leaves are merged).
  for (int i = 0; i < 10'000; ++i) {
    schemas::Event e = TopUp(rng(), seq);
    Apply(s, e, ++seq);
    t.Touch(e);
  }
  t.EndBatch(s, seq, seq);
  t0 = std::chrono::steady_clock::now();
  const auto ins = t.RootAt(seq);
  const double insert_root_ms = Ms(t0);
  const bool same = ins && *ins == ComputeStateRoot(s) && upd.has_value() && full != Hash32{};
  std::printf(
      "accounts %8llu  full root (collect+sort+hash) %8.1f ms  tracker reset %8.1f ms\n"
      "  checkpoint root, %llu updates: %7.1f ms; with 10000 new accounts: %7.1f ms  (%s)\n"
      "  engine thread: apply %.0f ns/cmd, apply+touch+end-batch %.0f ns/cmd (x%.2f)\n",
      (unsigned long long)accounts, full_ms, reset_ms, (unsigned long long)cmds, update_root_ms,
      insert_root_ms, same ? "equals direct" : "MISMATCH", 1e6 * apply_ms / double(cmds),
      1e6 * tracked_ms / double(cmds), tracked_ms / apply_ms);
}

}  // namespace
}  // namespace giftledger::commands

int main(int argc, char** argv) {
  giftledger::CryptoInit();
  std::vector<uint64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {100'000, 1'000'000};
  for (uint64_t n : sizes) giftledger::commands::Run(n);
  return 0;
}

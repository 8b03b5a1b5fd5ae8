// Exactly-once across SIGKILL: a child process projects a ledger with small
// batches and is killed at random moments; each restart resumes from the
// positions in SQLite. The final state hash must equal a one-shot rebuild's,
// so no event was lost or counted twice whatever moment the kill hit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "ledger/testing/temp_dir.h"
#include "projections/ledger_source.h"
#include "projections/projector.h"
#include "projections/state_hash.h"
#include "projections/test_ledger.h"

namespace giftledger::projections {
namespace {

using namespace commands::testing;  // NOLINT: builders

std::string HashOf(Projector& p) {
  auto h = ReadModelStateHash(*p.store());
  EXPECT_TRUE(h.ok());
  return h.ok() ? ToHex(h.value()) : "";
}

TEST(ProjectorCrashTest, SigkillAtRandomMomentsCountsEveryEventOnce) {
  ::giftledger::testing::TempDir dir;
  const std::string ledger_dir = dir.Sub("ledger");
  {
    testing::EngineLedger l(ledger_dir, 2);
    uint64_t tx = 1;
    l.Run(CatalogCmd(Tx(tx++), 1, 10));
    for (uint64_t u = 1; u <= 40; ++u) l.Run(TopUpCmd(Tx(tx++), u, 100'000));
    for (int i = 0; i < 400; ++i) {
      std::string order;
      testing::Gift(l, &tx, 1 + uint64_t(i % 40), 500 + uint64_t(i % 7), 9 + uint64_t(i % 3), 1,
                    1 + uint32_t(i % 4), &order);
      if (i % 9 == 0) l.Run(RefundCmd(Tx(tx++), 1 + uint64_t(i % 40), order));
      l.now_us += 97 * kSecond;
    }
  }
  auto config = ConfigFromLedger(ledger_dir, LevelTable());
  ASSERT_TRUE(config.ok());
  std::string want;
  {
    auto p = Projector::Open(dir.Sub("once.sqlite"), OpenMode::kCreateNew, config.value());
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(ProjectFromLedger(ledger_dir, *p.value()).ok());
    want = HashOf(*p.value());
  }
  const std::string db = dir.Sub("killed.sqlite");
  std::mt19937_64 rng(0x5eed);
  for (int round = 0; round < 40; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto p = Projector::Open(db, OpenMode::kOpenOrCreate, config.value(), 1);
      if (!p.ok()) ::_exit(2);
      ::_exit(ProjectFromLedger(ledger_dir, *p.value()).ok() ? 0 : 3);
    }
    // Past the child's start-up (open, scan) into its commits; where exactly
    // does not matter, the outcome must not depend on it.
    ::usleep(useconds_t(30'000 + rng() % 80'000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    // Either killed, or it finished first (then it must have succeeded).
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0);
    }
  }
  auto p = Projector::Open(db, OpenMode::kOpenOrCreate, config.value());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(ProjectFromLedger(ledger_dir, *p.value()).ok());
  EXPECT_EQ(HashOf(*p.value()), want);
}

}  // namespace
}  // namespace giftledger::projections

// Crash consistency: a child process appends to a shard as fast as it can and
// reports every acknowledged (event id, seq) through a pipe; the parent kills
// it with SIGKILL at a random moment, recovers the shard, and checks that
// every acknowledged event is there, at its seq, byte for byte.
//
// SIGKILL loses the process, not the page cache: this guards the writer's and
// recovery's logic (acknowledge only after fdatasync, torn-tail handling,
// segment rollover mid-crash), not the disk's write ordering on power loss.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <semaphore>

#include "ledger/coding.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "ledger/writer.h"

namespace giftledger {
namespace {

using testing::EventFor;

constexpr int kRounds = 36;
constexpr int kDelayMsMin = 3;
constexpr int kDelayMsMax = 100;
constexpr int kBatchesInFlight = 16;
constexpr uint32_t kBatchEventsMax = 8;
constexpr int kRoundIdShift = 40;
// Each ledger is crashed this many times in a row (recovery, then a crash again).
constexpr int kRoundsPerLedger = 3;
// A fresh ledger is prefilled to this close to the end of its first segment.
constexpr uint64_t kPrefillSlackBytes = 512 * 1024;

// Ids carry their round (plus one); the middle round of each ledger writes
// large events so that kills land around a segment rollover too.
size_t EventBytesFor(uint64_t id) {
  if ((id >> (kRoundIdShift - 1)) & 1) return kEventBytesMax;  // written by Prefill
  bool large = ((id >> kRoundIdShift) % kRoundsPerLedger) == 2;
  uint64_t h = id * 0x9E3779B97F4A7C15ull;
  return large ? 8 * 1024 + size_t(h >> 40) % (56 * 1024) : 8 + size_t(h >> 56);
}

struct Record {
  uint64_t id;
  uint64_t seq;
};
static_assert(sizeof(Record) == 16);
// Records of one batch go in one write(2), atomic on a pipe up to PIPE_BUF.
static_assert(kBatchEventsMax * sizeof(Record) <= PIPE_BUF);

// The child: append until killed. Never returns.
[[noreturn]] void RunChild(const testing::TestLedger& ledger, uint64_t id_base, int fd,
                           uint64_t seed) {
  auto w = testing::OpenTestWriter(ledger);
  if (!w.ok()) {
    std::fprintf(stderr, "child: open failed: %s\n", w.status().ToString().c_str());
    _exit(3);
  }
  Writer& writer = *w.value();
  std::counting_semaphore<kBatchesInFlight> window(kBatchesInFlight);
  std::mt19937_64 rng(seed);
  for (uint64_t id = id_base;;) {
    uint32_t n = 1 + uint32_t(rng() % kBatchEventsMax);
    EventBatch batch;
    for (uint32_t i = 0; i < n; ++i) {
      if (!batch.Add(EventFor(id + i, EventBytesFor(id + i))).ok()) _exit(4);
    }
    window.acquire();
    writer.Append(std::move(batch), [fd, id, n, &window](const AppendOutcome& out) {
      if (!out.status.ok()) {
        std::fprintf(stderr, "child: append failed: %s\n", out.status.ToString().c_str());
        _exit(5);
      }
      Record recs[kBatchEventsMax];
      for (uint32_t i = 0; i < n; ++i) recs[i] = {id + i, out.first_seq.value + i};
      ssize_t bytes = ssize_t(n * sizeof(Record));
      if (::write(fd, recs, size_t(bytes)) != bytes) _exit(6);
      window.release();
    });
    id += n;
  }
}

// Reads what is available on fd (blocking up to timeout_ms) into *buf;
// false at end of file.
bool Drain(int fd, int timeout_ms, std::string* buf) {
  struct pollfd p = {fd, POLLIN, 0};
  int rc = ::poll(&p, 1, timeout_ms);
  if (rc <= 0) return true;
  char chunk[1 << 16];
  ssize_t n = ::read(fd, chunk, sizeof(chunk));
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) return false;
  buf->append(chunk, size_t(n));
  return true;
}

// Fills most of the first segment with acknowledged events, so that the
// child's appends soon roll over to a second segment.
void Prefill(const testing::TestLedger& ledger, uint64_t id, std::map<uint64_t, uint64_t>* acked) {
  auto w = testing::OpenTestWriter(ledger);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  uint64_t bytes = 0;
  while (bytes + kPrefillSlackBytes < kSegmentBytesMin) {
    std::vector<std::string> events;
    for (int i = 0; i < 16; ++i, ++id) events.push_back(EventFor(id, kEventBytesMax));
    AppendOutcome out = w.value()->AppendAndWait(testing::BatchOf(events));
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    for (size_t i = 0; i < events.size(); ++i) {
      (*acked)[out.first_seq.value + i] = id - events.size() + i;
    }
    bytes += kBlockHeaderBytes + events.size() * (kEventFrameBytes + kEventBytesMax) +
             kBlockTrailerBytes;
  }
  ASSERT_TRUE(w.value()->Close().ok());
}

TEST(CrashTest, SigkillAtRandomMomentsLosesNoAcknowledgedEvent) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("GIFTLEDGER_CRASH_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("crash test seed %llu (set GIFTLEDGER_CRASH_SEED to repeat)\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  testing::TempDir tmp;
  testing::TestLedger ledger;
  std::map<uint64_t, uint64_t> acked;  // seq -> id, for the ledger in use
  int kills = 0;
  uint64_t checked = 0, torn_tails = 0, kills_after_rollover = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    uint64_t id_base = uint64_t(round + 1) << kRoundIdShift;
    if (round % kRoundsPerLedger == 0) {
      ledger = testing::FormatTestLedger(tmp.Sub("ledger-" + std::to_string(round)));
      acked.clear();
      Prefill(ledger, id_base | (uint64_t(1) << (kRoundIdShift - 1)), &acked);
    }
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    uint64_t child_seed = rng();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(ledger, id_base, fds[1], child_seed);
    }
    ::close(fds[1]);

    // A random kill point, not a time limit: the child never stops by itself.
    int delay_ms = kDelayMsMin + int(rng() % (kDelayMsMax - kDelayMsMin + 1));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
    std::string buf;
    bool open = true;
    while (open) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      open = Drain(fds[0], int(left), &buf);
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    while (Drain(fds[0], -1, &buf)) {
    }
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended by itself, status " << status;
    ++kills;

    ASSERT_EQ(buf.size() % sizeof(Record), 0u);
    for (size_t off = 0; off < buf.size(); off += sizeof(Record)) {
      Record r;
      std::memcpy(&r, buf.data() + off, sizeof(r));
      auto [it, fresh] = acked.emplace(r.seq, r.id);
      ASSERT_TRUE(fresh) << "seq " << r.seq << " acknowledged twice";
    }

    // Recover by opening for writing, then check every acknowledged event.
    auto w = testing::OpenTestWriter(ledger);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    if (w.value()->recovered().torn_tail) ++torn_tails;
    if (w.value()->recovered().segments.size() > 1) ++kills_after_rollover;
    auto events = testing::ReadAllEvents(ledger.shard_dir, ShardId{0}, ledger.public_key());
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    for (const auto& [seq, id] : acked) {
      ASSERT_LE(seq, events->size()) << "acknowledged seq " << seq << " (id " << id << ") lost";
      const std::string& ev = (*events)[seq - 1];
      ASSERT_TRUE(ev == EventFor(id, EventBytesFor(id)))
          << "seq " << seq << " does not hold event " << id;
      ++checked;
    }
    // Unacknowledged events that made it to disk are whole events too.
    for (size_t i = 0; i < events->size(); ++i) {
      uint64_t id = 0;
      ASSERT_TRUE(testing::IdOfEvent((*events)[i], &id)) << "seq " << i + 1 << " is garbage";
    }

    // Appends continue right after the recovered end.
    uint64_t next = events->size() + 1;
    EXPECT_EQ(w.value()->recovered().next_seq.value, next);
    uint64_t parent_id = id_base | ((uint64_t(1) << kRoundIdShift) - 1);
    AppendOutcome out =
        w.value()->AppendAndWait(testing::BatchOf({EventFor(parent_id, EventBytesFor(parent_id))}));
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ASSERT_EQ(out.first_seq.value, next);
    acked[next] = parent_id;
    ASSERT_TRUE(w.value()->Close().ok());
    auto scan = testing::VerifyShardFully(ledger.shard_dir, ShardId{0}, ledger.public_key());
    ASSERT_TRUE(scan.ok()) << scan.status().ToString();
    ASSERT_EQ(scan->next_seq.value, next + 1);
  }
  std::printf(
      "crash test: %d kills, %llu acknowledged events checked, %llu torn tails recovered, "
      "%llu kills with more than one segment\n",
      kills, static_cast<unsigned long long>(checked), static_cast<unsigned long long>(torn_tails),
      static_cast<unsigned long long>(kills_after_rollover));
  ::testing::Test::RecordProperty("kills", kills);
  ::testing::Test::RecordProperty("acknowledged_checked", std::to_string(checked));
  EXPECT_GE(kills, 25);
  EXPECT_GT(checked, 0u);
}

}  // namespace
}  // namespace giftledger

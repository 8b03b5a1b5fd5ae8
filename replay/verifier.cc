#include "replay/verifier.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "ledger/crypto.h"
#include "ledger/leader_terms.h"
#include "ledger/segment.h"
#include "replay/checkpoint_audit.h"

namespace giftledger {
namespace {

uint64_t ShardBytes(const std::string& shard_dir) {
  auto segs = ListSegments(shard_dir);
  if (!segs.ok()) return 0;
  uint64_t total = 0;
  for (const auto& s : segs.value()) {
    struct stat st;
    if (::stat(s.path.c_str(), &st) == 0) total += uint64_t(st.st_size);
  }
  return total;
}

ShardVerifyReport VerifyShard(const std::string& data_dir, const Manifest& m, ShardId shard,
                              const std::function<void(uint64_t)>& progress) {
  ShardVerifyReport r;
  r.shard = shard;
  ScanOptions opt;
  opt.check_all_bodies = true;
  opt.progress = progress;
  opt.failure = &r.failure;
  std::string shard_dir = ShardDir(data_dir, shard);
  CheckpointAudit audit(shard_dir, shard, m.public_keys[shard.value]);
  LeaderTerms leaders(m);
  Status leaders_status;
  Seq leaders_failed_at;
  opt.on_block = [&](const BlockView& b, const std::vector<Hash32>& leaves) {
    if (!audit.empty()) audit.OnBlock(b, leaves);
    if (!leaders_status.ok()) return;
    leaders_status = leaders.OnBlock(b.header);
    if (!leaders_status.ok()) leaders_failed_at = b.header.first_seq;
  };
  auto scan = ScanShard(shard_dir, shard, m.public_keys[shard.value], opt);
  if (!scan.ok()) {
    r.error = scan.status().message();
    if (r.failure.segment.empty()) r.failure.reason = scan.status().message();
    return r;
  }
  r.blocks = scan->blocks;
  r.events = scan->events;
  r.bytes = scan->data_bytes;
  r.last_seq = Seq{scan->next_seq.value - 1};
  if (scan->torn_tail) {
    // Read-only: a torn tail is reported; opening the shard for writing
    // truncates it (docs/log-format.md).
    r.torn_tail = true;
    const auto& seg = scan->segments.back();
    r.failure = {seg.path, scan->torn_offset, scan->next_seq, "torn tail: " + scan->torn_reason};
    r.error = "torn tail at shard " + std::to_string(shard.value) + ", segment " + seg.path +
              ", offset " + std::to_string(scan->torn_offset) + " (" + scan->torn_reason + ")";
    return r;
  }
  r.leaders = leaders.terms();
  r.leader_terms_left_out = leaders.terms_left_out();
  if (!leaders_status.ok()) {
    r.failure = {"", 0, leaders_failed_at, leaders_status.message()};
    r.error = "shard " + std::to_string(shard.value) + " (seq " +
              std::to_string(leaders_failed_at.value) + "): " + leaders_status.message();
    return r;
  }
  audit.Finish();
  r.checkpoints = audit.matched();
  if (!audit.ok()) {
    r.failure = audit.failure();
    r.error = "shard " + std::to_string(shard.value) + ", " + r.failure.segment + " (seq " +
              std::to_string(r.failure.seq.value) + "): " + r.failure.reason;
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace

Result<VerifyReport> VerifyLedger(const std::string& data_dir,
                                  const std::function<void(uint64_t, uint64_t)>& progress) {
  CryptoInit();
  auto m = LoadManifest(data_dir);
  if (!m.ok()) return m.status();
  auto t0 = std::chrono::steady_clock::now();
  VerifyReport rep;
  rep.ledger_id = m->ledger_id;
  rep.shards.resize(m->shard_count);
  uint64_t total = 0;
  for (uint32_t s = 0; s < m->shard_count; ++s) total += ShardBytes(ShardDir(data_dir, ShardId{s}));
  std::vector<std::atomic<uint64_t>> done(m->shard_count);
  std::atomic<uint32_t> next{0};
  auto work = [&] {
    for (uint32_t s; (s = next.fetch_add(1)) < m->shard_count;) {
      rep.shards[s] = VerifyShard(data_dir, m.value(), ShardId{s}, [&, s](uint64_t bytes) {
        done[s] = bytes;
        if (!progress) return;
        uint64_t sum = 0;
        for (auto& d : done) sum += d.load();
        progress(sum, total);
      });
    }
  };
  // Shards are independent: verify them on every core.
  unsigned threads = std::max(1u, std::min(std::thread::hardware_concurrency(), m->shard_count));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  rep.ok = true;
  for (const auto& s : rep.shards) {
    rep.ok = rep.ok && s.ok;
    rep.blocks += s.blocks;
    rep.events += s.events;
    rep.bytes += s.bytes;
    rep.checkpoints += s.checkpoints;
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace giftledger

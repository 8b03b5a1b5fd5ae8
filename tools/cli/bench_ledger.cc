#include "tools/cli/bench_ledger.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/writer.h"

namespace giftledger::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  return v[i];
}

// Event bytes: a counter then a fixed filler, so that events differ.
std::string MakeEvent(uint64_t n, uint32_t bytes) {
  std::string e(bytes, 'x');
  std::memcpy(e.data(), &n, std::min<size_t>(8, bytes));
  return e;
}

Result<std::vector<std::unique_ptr<Writer>>> OpenWriters(const std::string& dir,
                                                         uint32_t* shards) {
  if (!PathExists(ManifestPath(dir))) {
    auto m = FormatLedger(dir, *shards, kSegmentBytesDefault);
    if (!m.ok()) return m.status();
  }
  auto m = LoadManifest(dir);
  if (!m.ok()) return m.status();
  *shards = std::min(*shards, m->shard_count);
  std::vector<std::unique_ptr<Writer>> writers;
  for (uint32_t s = 0; s < *shards; ++s) {
    auto key = LoadShardSigningKey(dir, m.value(), ShardId{s});
    if (!key.ok()) return key.status();
    WriterOptions wo;
    wo.segment_bytes = m->segment_bytes;
    auto w = Writer::Open(ShardDir(dir, ShardId{s}), ShardId{s}, key.value(), wo);
    if (!w.ok()) return w.status();
    writers.push_back(std::move(w.value()));
  }
  return writers;
}

struct LoneResult {
  double ledger_p50_us = 0;
  double raw_p50_us = 0;
};

// One event at a time, waiting for each: the latency of a lone commit, taken
// in turns with a raw pwrite+fdatasync of the same bytes on the same disk so
// that both see the same noise.
Result<LoneResult> LoneCommit(Writer& w, const std::string& dir, const LedgerBenchOptions& o) {
  std::string path = JoinPath(dir, "bench-lone.tmp");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  uint64_t frame = o.event_bytes + 4;
  if (int rc = ::posix_fallocate(fd, 0, off_t(frame * o.lone_samples + 4096)); rc != 0) {
    ::close(fd);
    return ErrnoStatus("fallocate " + path, rc);
  }
  std::string raw(frame, 'r');
  std::vector<double> ledger_us, raw_us;
  Status st;
  for (uint32_t i = 0; i < o.lone_samples && st.ok(); ++i) {
    EventBatch b;
    (void)b.Add(MakeEvent(i, o.event_bytes));
    auto t0 = Clock::now();
    st = w.AppendAndWait(std::move(b)).status;
    ledger_us.push_back(Seconds(t0, Clock::now()) * 1e6);
    t0 = Clock::now();
    if (::pwrite(fd, raw.data(), frame, off_t(i * frame)) != ssize_t(frame) ||
        ::fdatasync(fd) != 0) {
      st = ErrnoStatus("raw write " + path, errno);
    }
    raw_us.push_back(Seconds(t0, Clock::now()) * 1e6);
  }
  ::close(fd);
  ::unlink(path.c_str());
  if (!st.ok()) return st;
  return LoneResult{Percentile(ledger_us, 0.5), Percentile(raw_us, 0.5)};
}

struct ThroughputResult {
  double seconds = 0;
  uint64_t events = 0;
  std::vector<double> latencies_us;
  Status status;
};

ThroughputResult Throughput(std::vector<std::unique_ptr<Writer>>& writers,
                            const LedgerBenchOptions& o) {
  ThroughputResult r;
  uint64_t batches = (o.events + o.producer_batch - 1) / o.producer_batch;
  std::atomic<uint64_t> next_batch{0};
  std::mutex mu;
  auto t0 = Clock::now();
  auto producer = [&](uint32_t p) {
    std::counting_semaphore<1 << 20> window(o.inflight_batches);
    std::vector<double> lat;
    Status first_error;
    std::mutex lat_mu;
    uint64_t mine = 0;
    for (uint64_t b; (b = next_batch.fetch_add(1)) < batches; ++mine) {
      EventBatch batch;
      uint64_t first = b * o.producer_batch;
      uint32_t n = uint32_t(std::min<uint64_t>(o.producer_batch, o.events - first));
      for (uint32_t i = 0; i < n; ++i) {
        (void)batch.Add(MakeEvent(b * o.producer_batch + i, o.event_bytes));
      }
      window.acquire();
      auto start = Clock::now();
      Writer& w = *writers[(p + mine) % writers.size()];
      w.Append(std::move(batch), [&, start](const AppendOutcome& out) {
        double us = Seconds(start, Clock::now()) * 1e6;
        {
          std::lock_guard<std::mutex> lock(lat_mu);
          lat.push_back(us);
          if (!out.status.ok() && first_error.ok()) first_error = out.status;
        }
        window.release();
      });
    }
    for (uint32_t i = 0; i < o.inflight_batches; ++i) window.acquire();
    std::lock_guard<std::mutex> lock(mu);
    r.latencies_us.insert(r.latencies_us.end(), lat.begin(), lat.end());
    if (!first_error.ok()) r.status = first_error;
  };
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < o.producers; ++p) threads.emplace_back(producer, p);
  for (auto& t : threads) t.join();
  r.seconds = Seconds(t0, Clock::now());
  r.events = o.events;
  return r;
}

struct RawResult {
  double events_per_s = 0;
};

// The floor: the same bytes per fdatasync with no hashing, signing or queues.
Result<RawResult> RawBaseline(const std::string& dir, const LedgerBenchOptions& o,
                              uint64_t events, double events_per_fsync) {
  std::string path = JoinPath(dir, "bench-raw.tmp");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  uint64_t frame = o.event_bytes + 4;
  uint64_t batch = std::max<uint64_t>(1, uint64_t(events_per_fsync + 0.5));
  uint64_t total = events * frame + (1 << 20);
  if (int rc = ::posix_fallocate(fd, 0, off_t(total)); rc != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    return ErrnoStatus("fallocate " + path, rc);
  }
  std::string buf(batch * frame, 'r');
  RawResult r;
  uint64_t off = 0, done = 0;
  auto t0 = Clock::now();
  while (done < events) {
    bool ok = ::pwrite(fd, buf.data(), buf.size(), off_t(off)) == ssize_t(buf.size()) &&
              ::fdatasync(fd) == 0;
    if (!ok) break;
    off += buf.size();
    done += batch;
  }
  r.events_per_s = double(done) / Seconds(t0, Clock::now());
  ::close(fd);
  ::unlink(path.c_str());
  return r;
}

// The peer most teams start with: one SQLite transaction per event, FULL sync.
Result<double> SqliteNaive(const std::string& dir, const LedgerBenchOptions& o) {
  std::string path = JoinPath(dir, "bench-sqlite.tmp");
  ::unlink(path.c_str());
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return Unavailable("sqlite open " + path);
  }
  sqlite3_exec(db, "PRAGMA synchronous=FULL; CREATE TABLE events(seq INTEGER PRIMARY KEY, body BLOB)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO events(seq, body) VALUES(?, ?)", -1, &ins, nullptr);
  std::string body = MakeEvent(0, o.event_bytes);
  uint64_t n = 0;
  auto t0 = Clock::now();
  for (; n < o.sqlite_events; ++n) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_int64(ins, 1, int64_t(n + 1));
    sqlite3_bind_blob(ins, 2, body.data(), int(body.size()), SQLITE_STATIC);
    bool ok = sqlite3_step(ins) == SQLITE_DONE;
    sqlite3_reset(ins);
    if (!ok || sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) break;
  }
  double rate = double(n) / Seconds(t0, Clock::now());
  sqlite3_finalize(ins);
  sqlite3_close(db);
  ::unlink(path.c_str());
  ::unlink((path + "-journal").c_str());
  if (n < o.sqlite_events) return Unavailable("sqlite insert failed after " + std::to_string(n));
  return rate;
}

}  // namespace

Result<nlohmann::json> RunLedgerBench(const LedgerBenchOptions& o_in) {
  LedgerBenchOptions o = o_in;
  if (o.event_bytes == 0 || o.event_bytes > kEventBytesMax || o.producer_batch == 0 ||
      o.producer_batch > kBlockEventsMax || o.producers == 0 || o.events == 0) {
    return InvalidArgument("bad benchmark parameters");
  }
  auto writers = OpenWriters(o.data_dir, &o.shards);
  if (!writers.ok()) return writers.status();
  auto lone = LoneCommit(*writers.value()[0], o.data_dir, o);
  if (!lone.ok()) return lone.status();
  std::vector<WriterStats> before;
  for (auto& w : writers.value()) before.push_back(w->stats());
  ThroughputResult t = Throughput(writers.value(), o);
  if (!t.status.ok()) return t.status;
  uint64_t fsyncs = 0, blocks = 0, fsync_ns = 0;
  for (size_t i = 0; i < writers->size(); ++i) {
    WriterStats s = (*writers)[i]->stats();
    fsyncs += s.fsyncs - before[i].fsyncs;
    blocks += s.blocks - before[i].blocks;
    fsync_ns += s.fsync_ns_total - before[i].fsync_ns_total;
  }
  for (auto& w : writers.value()) GL_RETURN_IF_ERROR(w->Close());
  double per_fsync = double(t.events) / double(std::max<uint64_t>(1, fsyncs));
  auto raw = RawBaseline(o.data_dir, o, t.events, per_fsync);
  if (!raw.ok()) return raw.status();
  auto sqlite = SqliteNaive(o.data_dir, o);
  if (!sqlite.ok()) return sqlite.status();
  double eps = double(t.events) / t.seconds;
  nlohmann::json j;
  j["bench"] = "ledger";
  j["shards"] = o.shards;
  j["events"] = t.events;
  j["event_bytes"] = o.event_bytes;
  j["producers"] = o.producers;
  j["producer_batch"] = o.producer_batch;
  j["seconds"] = t.seconds;
  j["events_per_s"] = eps;
  j["commit_p50_us"] = Percentile(t.latencies_us, 0.5);
  j["commit_p99_us"] = Percentile(t.latencies_us, 0.99);
  j["fsyncs"] = fsyncs;
  j["blocks"] = blocks;
  j["fsync_avg_us"] = fsyncs > 0 ? double(fsync_ns) / double(fsyncs) / 1000 : 0.0;
  j["events_per_fsync"] = per_fsync;
  j["lone_commit_p50_us"] = lone->ledger_p50_us;
  j["raw_events_per_s"] = raw->events_per_s;
  j["raw_lone_fsync_p50_us"] = lone->raw_p50_us;
  j["sqlite_naive_events_per_s"] = sqlite.value();
  j["ratio_raw"] = eps / raw->events_per_s;
  j["ratio_sqlite"] = eps / sqlite.value();
  j["ratio_lone"] = lone->raw_p50_us > 0 ? lone->ledger_p50_us / lone->raw_p50_us : 0.0;
  return j;
}

void PrintLedgerBenchHuman(const nlohmann::json& j) {
  std::printf("bench ledger: %llu events of %u B, %u shard(s), %u producers x %u-event batches\n",
              j["events"].get<unsigned long long>(), j["event_bytes"].get<unsigned>(),
              j["shards"].get<unsigned>(), j["producers"].get<unsigned>(),
              j["producer_batch"].get<unsigned>());
  std::printf("  %-34s %14s %14s %8s\n", "figure", "giftledger", "baseline", "ratio");
  std::printf("  %-34s %14.0f %14.0f %8.2f  (raw write+fdatasync, same batch)\n",
              "durable events/s", j["events_per_s"].get<double>(),
              j["raw_events_per_s"].get<double>(), j["ratio_raw"].get<double>());
  std::printf("  %-34s %14.0f %14.0f %8.1f  (SQLite, 1 txn/event, FULL)\n", "durable events/s",
              j["events_per_s"].get<double>(), j["sqlite_naive_events_per_s"].get<double>(),
              j["ratio_sqlite"].get<double>());
  std::printf("  %-34s %14.1f %14.1f %8.2f  (raw single write+fdatasync)\n",
              "lone event commit p50 (us)", j["lone_commit_p50_us"].get<double>(),
              j["raw_lone_fsync_p50_us"].get<double>(), j["ratio_lone"].get<double>());
  std::printf("  commit latency p50 %.0f us, p99 %.0f us; %llu fsyncs, %llu blocks, %.0f events/fsync\n",
              j["commit_p50_us"].get<double>(), j["commit_p99_us"].get<double>(),
              j["fsyncs"].get<unsigned long long>(), j["blocks"].get<unsigned long long>(),
              j["events_per_fsync"].get<double>());
}

}  // namespace giftledger::cli

#include "replay/reconcile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "commands/apply.h"
#include "commands/routing.h"
#include "commands/snapshot.h"
#include "commands/state.h"
#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "ledger/snapshot.h"
#include "projections/store.h"
#include "schemas/giftledger.pb.h"

namespace giftledger {
namespace {

using commands::ShardState;

// (available, held) of a user or (earned, paid_out) of a host.
using Pair = std::pair<int64_t, int64_t>;

// One side to compare with the log: its accounts at `seq`.
struct Side {
  MismatchSource source = MismatchSource::kSnapshot;
  uint64_t seq = 0;
  std::unordered_map<uint64_t, Pair> users;
  std::unordered_map<uint64_t, Pair> hosts;
};

struct ShardWork {
  uint32_t shard = 0;
  std::unique_ptr<LogReader> reader;
  std::optional<Side> snapshot;
  std::optional<Side> read_model;
  ShardReconcile result;
  std::vector<Mismatch> mismatches;
  Status status;
};

const char* const kUserFields[2] = {"available", "held"};
const char* const kHostFields[2] = {"earned", "paid_out"};

void CompareTable(const std::unordered_map<uint64_t, Pair>& expected,
                  const std::unordered_map<uint64_t, Pair>& found, const Side& side,
                  uint32_t shard, const char* kind, const char* const fields[2],
                  std::vector<Mismatch>* out) {
  auto one = [&](uint64_t account, Pair e, Pair f) {
    const int64_t ev[2] = {e.first, e.second};
    const int64_t fv[2] = {f.first, f.second};
    for (int i = 0; i < 2; ++i) {
      if (ev[i] == fv[i]) continue;
      out->push_back({side.source, shard, kind, account, fields[i], ev[i], fv[i], side.seq, ""});
    }
  };
  // An account absent on one side is all zeros there (a row exists once an
  // event touched it, and a touch may leave it at zero).
  for (const auto& [account, e] : expected) {
    auto it = found.find(account);
    one(account, e, it == found.end() ? Pair{0, 0} : it->second);
  }
  for (const auto& [account, f] : found) {
    if (expected.find(account) == expected.end()) one(account, Pair{0, 0}, f);
  }
}

void CompareWithLog(const ShardState& log, const Side& side, uint32_t shard,
                    std::vector<Mismatch>* out) {
  std::unordered_map<uint64_t, Pair> users, hosts;
  users.reserve(log.wallets.size());
  for (const auto& [u, w] : log.wallets) users[u.value] = {w.available, w.held};
  for (const auto& [h, a] : log.hosts) hosts[h.value] = {a.earned, a.paid_out};
  CompareTable(users, side.users, side, shard, "user", kUserFields, out);
  CompareTable(hosts, side.hosts, side, shard, "host", kHostFields, out);
}

Mismatch SourceMismatch(MismatchSource source, uint32_t shard, const std::string& field,
                        int64_t expected, int64_t found, uint64_t seq, std::string detail) {
  return {source, shard, "source", 0, field, expected, found, seq, std::move(detail)};
}

bool ParseSnapshotName(const std::string& name, uint64_t* seq) {
  if (name.size() != 25 || name.compare(20, 5, ".snap") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + uint64_t(name[i] - '0');
  }
  *seq = v;
  return true;
}

// The shard's newest snapshot file, whatever its state: a newest file that
// fails its checks is itself a mismatch (restart would fall back to an older
// one or to a full replay, which hides the damage). The engine may remove an
// old file between the listing and the read: then list again.
void LoadSnapshotSide(const std::string& shard_dir, const commands::ShardConfig& config,
                      ShardWork* w) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto names = ListDir(SnapshotDir(shard_dir));
    if (!names.ok()) return;  // no snapshot directory: nothing to compare
    std::optional<std::pair<uint64_t, std::string>> newest;
    for (const auto& n : names.value()) {
      uint64_t seq;
      if (ParseSnapshotName(n, &seq) && (!newest || seq > newest->first)) newest = {seq, n};
    }
    if (!newest) return;
    const std::string path = JoinPath(SnapshotDir(shard_dir), newest->second);
    auto file = ReadSnapshot(path, config.shard);
    if (!file.ok() && !PathExists(path)) continue;
    w->result.snapshot_seq = newest->first;
    Result<ShardState> state =
        file.ok() ? commands::DecodeSnapshotPayload(file->payload, config, newest->first)
                  : Result<ShardState>(file.status());
    if (!state.ok()) {
      w->mismatches.push_back(SourceMismatch(MismatchSource::kSnapshot, w->shard, "file", 0, 0,
                                             newest->first,
                                             path + ": " + state.status().ToString()));
      return;
    }
    Side side;
    side.source = MismatchSource::kSnapshot;
    side.seq = newest->first;
    for (const auto& [u, wl] : state->wallets) side.users[u.value] = {wl.available, wl.held};
    for (const auto& [h, a] : state->hosts) side.hosts[h.value] = {a.earned, a.paid_out};
    w->snapshot = std::move(side);
    return;
  }
}

// Positions and mirrors in one read transaction, so that the rows are
// exactly those of the positions even while the projector commits.
Status LoadReadModels(const std::string& db_path, const Manifest& m,
                      std::vector<ShardWork>* work) {
  auto store = projections::Store::Open(db_path, projections::OpenMode::kReadOnly, {});
  if (!store.ok()) return store.status();
  projections::Store& s = *store.value();
  if (s.config().ledger_id != m.ledger_id || s.config().shard_count != m.shard_count) {
    return FailedPrecondition(db_path + " is the read model of ledger " + s.config().ledger_id +
                              ", not of " + m.ledger_id);
  }
  GL_RETURN_IF_ERROR(projections::Exec(s.db(), "BEGIN"));
  auto positions = s.LoadPositions();
  Status st = positions.status();
  for (uint32_t i = 0; st.ok() && i < m.shard_count; ++i) {
    Side side;
    side.source = MismatchSource::kReadModel;
    side.seq = i < positions->size() ? (*positions)[i].seq : 0;
    (*work)[i].read_model = std::move(side);
  }
  struct Table {
    const char* sql;
    bool host;
  };
  for (const Table t : {Table{"SELECT user, available, held FROM wallets", false},
                        Table{"SELECT host, earned, paid_out FROM host_earnings", true}}) {
    if (!st.ok()) break;
    projections::Stmt q;
    st = q.Prepare(s.db(), t.sql);
    for (;;) {
      if (!st.ok()) break;
      auto row = q.Step();
      if (!row.ok()) st = row.status();
      if (!st.ok() || !row.value()) break;
      const uint64_t account = uint64_t(q.I64(0));  // u64 ids are stored as two's complement
      const uint32_t shard = commands::ShardOf(commands::UserId{account}, m.shard_count).value;
      Side& side = *(*work)[shard].read_model;
      (t.host ? side.hosts : side.users)[account] = {q.I64(1), q.I64(2)};
    }
  }
  Status end = projections::Exec(s.db(), st.ok() ? "COMMIT" : "ROLLBACK");
  return st.ok() ? end : st;
}

// A side past the end of the valid log names events the log does not have
// (the log lost its tail, or the side belongs to another history).
void DropSideBeyondLog(std::optional<Side>* side, ShardWork* w) {
  if (!side->has_value() || (*side)->seq <= w->result.log_last_seq) return;
  w->mismatches.push_back(SourceMismatch((*side)->source, w->shard, "seq",
                                         int64_t(w->result.log_last_seq), int64_t((*side)->seq),
                                         (*side)->seq, "the source is ahead of the log"));
  side->reset();
}

void ReplayShard(const commands::ShardConfig& config, ShardWork* w,
                 const std::function<void(uint64_t)>& progress) {
  ShardState state(config);
  // Reconcile never decides, so the idempotency index is not needed: mark
  // every seq as "on disk" and Apply keeps none of it in memory.
  state.idempotency_disk_seq = std::numeric_limits<uint64_t>::max();
  auto compare_at = [&](uint64_t seq) {
    for (std::optional<Side>* side : {&w->snapshot, &w->read_model}) {
      if (side->has_value() && (*side)->seq == seq) {
        CompareWithLog(state, **side, w->shard, &w->mismatches);
      }
    }
  };
  compare_at(0);
  if (w->result.log_last_seq > 0) {
    schemas::Event e;
    uint64_t done = 0;
    Status parse;
    Status read = w->reader->ReadEvents(Seq{1}, [&](Seq seq, std::string_view bytes) {
      if (!e.ParseFromArray(bytes.data(), int(bytes.size()))) {
        parse = DataLoss("shard " + std::to_string(w->shard) + ": event at seq " +
                             std::to_string(seq.value) + " does not parse");
        return false;
      }
      commands::Apply(state, e, seq.value);
      compare_at(seq.value);
      if (++done % 8192 == 0 && progress) progress(done);
      return seq.value < w->result.log_last_seq;
    });
    w->status = read.ok() ? parse : read;
    if (progress) progress(done);
  }
  w->result.users = state.wallets.size();
  w->result.hosts = state.hosts.size();
}

}  // namespace

const char* MismatchSourceName(MismatchSource source) {
  return source == MismatchSource::kSnapshot ? "snapshot" : "read_model";
}

Result<ReconcileReport> Reconcile(const ReconcileOptions& o) {
  CryptoInit();
  const auto t0 = std::chrono::steady_clock::now();
  auto m = LoadManifest(o.data_dir);
  if (!m.ok()) return m.status();
  std::vector<ShardWork> work(m->shard_count);
  for (uint32_t s = 0; s < m->shard_count; ++s) work[s].shard = work[s].result.shard = s;
  // The database and the snapshots first, the log last: both only ever hold
  // durable events, so the log then reaches at least as far as they do.
  if (!o.db_path.empty()) GL_RETURN_IF_ERROR(LoadReadModels(o.db_path, m.value(), &work));
  auto config = [&](uint32_t s) {
    return commands::ShardConfig{ShardId{s}, m->shard_count, m->utc_offset_minutes};
  };
  uint64_t total = 0;
  for (auto& w : work) {
    const std::string dir = ShardDir(o.data_dir, ShardId{w.shard});
    LoadSnapshotSide(dir, config(w.shard), &w);
    auto reader = LogReader::Open(dir, ShardId{w.shard}, m->public_keys[w.shard]);
    if (!reader.ok()) return reader.status();
    w.reader = std::move(reader.value());
    w.result.log_last_seq = w.reader->scan().next_seq.value - 1;
    total += w.result.log_last_seq;
    DropSideBeyondLog(&w.snapshot, &w);
    DropSideBeyondLog(&w.read_model, &w);
    if (w.read_model) {
      w.result.read_model_seq = w.read_model->seq;
      w.result.read_model_lag = w.result.log_last_seq - w.read_model->seq;
    }
  }
  std::vector<std::atomic<uint64_t>> done(work.size());
  std::atomic<uint32_t> next{0};
  auto run = [&] {
    for (uint32_t s; (s = next.fetch_add(1)) < work.size();) {
      ReplayShard(config(s), &work[s], [&, s](uint64_t n) {
        done[s] = n;
        if (!o.progress) return;
        uint64_t sum = 0;
        for (auto& d : done) sum += d.load();
        o.progress(sum, total);
      });
      work[s].reader.reset();
    }
  };
  // Shards are independent: replay them on every core.
  const unsigned threads =
      std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), m->shard_count));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();

  ReconcileReport rep;
  rep.ledger_id = m->ledger_id;
  for (auto& w : work) {
    GL_RETURN_IF_ERROR(w.status);
    auto key = [](const Mismatch& x) {
      return std::tie(x.source, x.account_kind, x.account, x.field);
    };
    std::sort(w.mismatches.begin(), w.mismatches.end(),
              [&](const Mismatch& a, const Mismatch& b) { return key(a) < key(b); });
    w.result.mismatches = w.mismatches.size();
    rep.mismatch_count += w.mismatches.size();
    for (auto& x : w.mismatches) {
      if (rep.mismatches.size() < kReconcileMismatchesMax) rep.mismatches.push_back(std::move(x));
    }
    rep.events += w.result.log_last_seq;
    rep.shards.push_back(w.result);
  }
  rep.ok = rep.mismatch_count == 0;
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace giftledger

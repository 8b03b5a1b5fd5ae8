#include "projections/ledger_source.h"

#include <memory>
#include <vector>

#include "ledger/manifest.h"
#include "ledger/reader.h"

namespace giftledger::projections {

Result<ProjectionConfig> ConfigFromLedger(const std::string& data_dir, const LevelTable& levels) {
  auto m = LoadManifest(data_dir);
  if (!m.ok()) return m.status();
  ProjectionConfig c;
  c.ledger_id = m->ledger_id;
  c.shard_count = m->shard_count;
  c.utc_offset_minutes = m->utc_offset_minutes;
  c.levels = levels;
  return c;
}

Status ProjectFromLedger(const std::string& data_dir, Projector& p, const LedgerSourceOptions& o) {
  auto m = LoadManifest(data_dir);
  if (!m.ok()) return m.status();
  if (m->ledger_id != p.config().ledger_id || m->shard_count != p.config().shard_count) {
    return FailedPrecondition("ledger " + m->ledger_id + " is not the ledger of this projection (" +
                              p.config().ledger_id + ")");
  }
  std::vector<bool> owned(m->shard_count, o.shards.empty());
  for (uint32_t s : o.shards) {
    if (s >= m->shard_count) {
      return InvalidArgument("shard " + std::to_string(s) + " does not exist (ledger has " +
                             std::to_string(m->shard_count) + " shards)");
    }
    owned[s] = true;
  }
  // Unowned shards are not opened: their directories may be on other machines.
  std::vector<std::unique_ptr<LogReader>> readers(m->shard_count);
  uint64_t total = 0, done = 0;
  for (uint32_t s = 0; s < m->shard_count; ++s) {
    if (!owned[s]) continue;
    auto r = LogReader::Open(ShardDir(data_dir, ShardId{s}), ShardId{s}, m->public_keys[s]);
    if (!r.ok()) return r.status();
    const uint64_t last = r.value()->scan().next_seq.value - 1;
    const uint64_t from = p.next_seq(ShardId{s});
    if (last + 1 >= from) total += last + 1 - from;
    readers[s] = std::move(r.value());
  }
  uint64_t applied = 0;
  for (uint32_t s = 0; s < m->shard_count; ++s) {
    if (!owned[s]) continue;
    const ShardId shard{s};
    Status st;
    Status read = readers[s]->ReadFrom(Seq{p.next_seq(shard)}, [&](const BlockView& b) {
      ForEachEvent(b, [&](Seq seq, std::string_view ev) {
        if (!st.ok() || applied >= o.max_events || seq.value < p.next_seq(shard)) return;
        st = p.ApplyBytes(shard, seq.value, ev);
        ++applied;
        ++done;
      });
      if (o.progress) o.progress(done, total);
      return st.ok() && applied < o.max_events;
    });
    GL_RETURN_IF_ERROR(st);
    GL_RETURN_IF_ERROR(read);
    if (applied >= o.max_events) break;
  }
  return p.Commit();
}

}  // namespace giftledger::projections

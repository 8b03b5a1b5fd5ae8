// giftledger check-acks: compares what a gateway was told (an acks file
// written by `giftledger load --acks`) with what the ledger holds. Every
// acknowledged command must be in the log exactly where its answer said
// (shard, seq, tx id), and no tx id may have been applied twice anywhere in
// the log. The crash test runs it after every kill and restart.
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "ledger/segment.h"
#include "schemas/giftledger.pb.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

struct AckLine {
  std::string tx;  // 16 raw bytes
  uint32_t shard = 0;
  uint64_t seq = 0;
  std::string code;
};

Result<std::vector<AckLine>> ReadAcks(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot open " + path);
  std::vector<AckLine> out;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string hex;
    AckLine a;
    uint8_t b[16];
    if (!(ls >> hex >> a.shard >> a.seq >> a.code) || !FromHex(hex, b, sizeof b)) {
      // The last line may be torn when the writer was killed mid-line.
      if (in.peek() == EOF) break;
      return InvalidArgument(path + ":" + std::to_string(n) + ": malformed ack line");
    }
    a.tx.assign(reinterpret_cast<const char*>(b), sizeof b);
    out.push_back(std::move(a));
  }
  return out;
}

struct Span {
  uint64_t first = 0, last = 0;
  bool duplicated = false;
};

struct ShardLog {
  std::unordered_map<std::string, Span> by_tx;
  std::vector<std::string> tx_at;  // tx id of each seq - 1
};

// A command's events are appended together, so a tx id whose events are not
// one contiguous run of seqs was applied twice.
Result<ShardLog> ReadShard(const std::string& data, const Manifest& m, uint32_t shard) {
  auto reader =
      LogReader::Open(ShardDir(data, ShardId{shard}), ShardId{shard}, m.public_keys[shard]);
  if (!reader.ok()) return reader.status();
  ShardLog log;
  Status parse;
  Status st = (*reader)->ReadEvents(Seq{1}, [&](Seq seq, std::string_view bytes) {
    schemas::Event e;
    if (!e.ParseFromArray(bytes.data(), int(bytes.size()))) {
      parse = DataLoss("shard " + std::to_string(shard) + " seq " + std::to_string(seq.value) +
                       ": event does not parse");
      return false;
    }
    log.tx_at.push_back(e.tx_id());
    auto [it, fresh] = log.by_tx.try_emplace(e.tx_id(), Span{seq.value, seq.value, false});
    if (!fresh) {
      if (it->second.last + 1 != seq.value) it->second.duplicated = true;
      it->second.last = seq.value;
    }
    return true;
  });
  if (!st.ok()) return st;
  if (!parse.ok()) return parse;
  return log;
}

}  // namespace

void RegisterCheckAcks(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string data, acks;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "check-acks",
      "Check that every acknowledged command (load --acks FILE) is in the ledger exactly once, "
      "at the acknowledged shard and seq (exit 0 = none lost, none duplicated)");
  cmd->add_option("--data", o->data, "Ledger data directory")->required();
  cmd->add_option("--acks", o->acks, "Acks file: tx_id_hex shard seq CODE per line")->required();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    auto m = LoadManifest(o->data);
    if (!m.ok()) {
      *exit_code = ReportError(m.status());
      return;
    }
    auto acks = ReadAcks(o->acks);
    if (!acks.ok()) {
      *exit_code = ReportError(acks.status());
      return;
    }
    std::vector<ShardLog> logs;
    uint64_t duplicated = 0, events = 0;
    for (uint32_t s = 0; s < m->shard_count; ++s) {
      auto log = ReadShard(o->data, *m, s);
      if (!log.ok()) {
        *exit_code = ReportError(log.status());
        return;
      }
      for (const auto& [tx, span] : log->by_tx) duplicated += span.duplicated ? 1 : 0;
      events += log->tx_at.size();
      logs.push_back(std::move(log.value()));
    }
    uint64_t lost = 0, unlogged = 0;
    std::vector<std::string> examples;
    for (const AckLine& a : *acks) {
      // Refused before the log (seq 0: e.g. TX_ID_REUSED): nothing to find.
      if (a.seq == 0) {
        ++unlogged;
        continue;
      }
      const bool present = a.shard < logs.size() && a.seq >= 1 &&
                           a.seq <= logs[a.shard].tx_at.size() &&
                           logs[a.shard].tx_at[a.seq - 1] == a.tx;
      if (!present) {
        ++lost;
        if (examples.size() < 10) {
          examples.push_back(ToHex(reinterpret_cast<const uint8_t*>(a.tx.data()), a.tx.size()) +
                             " shard " + std::to_string(a.shard) + " seq " + std::to_string(a.seq));
        }
      }
    }
    const bool ok = lost == 0 && duplicated == 0;
    if (o->json) {
      nlohmann::json j{{"ok", ok},
                       {"acked", acks->size()},
                       {"lost", lost},
                       {"duplicated", duplicated},
                       {"events", events},
                       {"unlogged", unlogged},
                       {"lost_examples", examples}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf(
          "acked %zu, lost %llu, duplicated %llu (%llu events in the log, %llu acks "
          "refused before the log)\n",
          acks->size(), (unsigned long long)lost, (unsigned long long)duplicated,
          (unsigned long long)events, (unsigned long long)unlogged);
      for (const auto& e : examples) std::printf("  lost: %s\n", e.c_str());
    }
    *exit_code = ok ? kExitOk : kExitCheckFailed;
  });
}

}  // namespace giftledger::cli

// giftledger check-acks: compares what a gateway was told (an acks file
// written by `giftledger load --acks`) with what the ledger holds. Every
// acknowledged command must be in the log exactly where its answer said
// (shard, seq, tx id), and no tx id may have been applied twice anywhere in
// the log. The crash test runs it after every kill and restart.
#include <cctype>
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

struct Acks {
  std::vector<AckLine> lines;
  uint64_t torn = 0;
};

// Whether `line` (not well-formed) is the start of a well-formed one: what a
// writer SIGKILLed mid-write leaves (32 hex digits, shard, seq, code name).
bool IsTornAck(const std::string& line) {
  size_t i = 0;
  auto run = [&](auto&& in_class, size_t max_chars) {
    const size_t start = i;
    while (i < line.size() && i - start < max_chars && in_class(line[i])) ++i;
    return i - start;
  };
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto name = [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; };
  if (run(hex, 32) < 32 || i == line.size()) return i == line.size();
  for (int field = 0; field < 2; ++field) {  // shard, seq
    if (line[i++] != ' ') return false;
    run(digit, 20);
    if (i == line.size()) return true;
  }
  if (line[i++] != ' ') return false;
  const std::string code = line.substr(i);
  if (run(name, 64) != code.size()) return false;
  // A code cut short: a prefix of a result code's name.
  for (int c = schemas::ResultCode_MIN; c <= schemas::ResultCode_MAX; ++c) {
    if (!schemas::ResultCode_IsValid(c)) continue;
    const std::string& full = schemas::ResultCode_Name(static_cast<schemas::ResultCode>(c));
    if (full.compare(0, code.size(), code) == 0) return true;
  }
  return false;
}

// Lines "tx_id_hex shard seq CODE". A line a killed writer tore (the start
// of a well-formed line; the next writer starts on a fresh line) is counted,
// not read: the gateway was killed before it recorded that answer. Anything
// else malformed is INVALID_ARGUMENT.
Result<Acks> ReadAcks(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot open " + path);
  Acks out;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string hex, code, rest;
    AckLine a;
    uint8_t b[16];
    schemas::ResultCode parsed;
    const bool well_formed = (ls >> hex >> a.shard >> a.seq >> code) && !(ls >> rest) &&
                             hex.size() == 32 && FromHex(hex, b, sizeof b) &&
                             schemas::ResultCode_Parse(code, &parsed);
    if (!well_formed) {
      if (IsTornAck(line)) {
        ++out.torn;
        continue;
      }
      return InvalidArgument(path + ":" + std::to_string(n) + ": malformed ack line");
    }
    a.code = code;
    a.tx.assign(reinterpret_cast<const char*>(b), sizeof b);
    out.lines.push_back(std::move(a));
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
    for (const AckLine& a : acks->lines) {
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
                       {"acked", acks->lines.size()},
                       {"torn", acks->torn},
                       {"lost", lost},
                       {"duplicated", duplicated},
                       {"events", events},
                       {"unlogged", unlogged},
                       {"lost_examples", examples}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf(
          "acked %zu, lost %llu, duplicated %llu (%llu events in the log, %llu acks "
          "refused before the log, %llu ack lines torn by a kill)\n",
          acks->lines.size(), (unsigned long long)lost, (unsigned long long)duplicated,
          (unsigned long long)events, (unsigned long long)unlogged, (unsigned long long)acks->torn);
      for (const auto& e : examples) std::printf("  lost: %s\n", e.c_str());
    }
    *exit_code = ok ? kExitOk : kExitCheckFailed;
  });
}

}  // namespace giftledger::cli

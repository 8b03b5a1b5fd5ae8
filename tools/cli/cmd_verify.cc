// giftledger verify: check every block of every shard; exit code = outcome.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <mutex>

#include "replay/verifier.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

nlohmann::json ToJson(const VerifyReport& r) {
  nlohmann::json j;
  j["ok"] = r.ok;
  j["ledger_id"] = r.ledger_id;
  j["blocks"] = r.blocks;
  j["events"] = r.events;
  j["bytes"] = r.bytes;
  j["checkpoints"] = r.checkpoints;
  j["seconds"] = r.seconds;
  j["events_per_s"] = r.seconds > 0 ? double(r.events) / r.seconds : 0.0;
  j["shards"] = nlohmann::json::array();
  for (const auto& s : r.shards) {
    nlohmann::json js{{"shard", s.shard.value}, {"ok", s.ok},         {"blocks", s.blocks},
                      {"events", s.events},     {"last_seq", s.last_seq.value},
                      {"checkpoints", s.checkpoints}, {"torn_tail", s.torn_tail}};
    if (!s.ok) {
      js["error"] = s.error;
      js["segment"] = s.failure.segment;
      js["offset"] = s.failure.offset;
      js["seq"] = s.failure.seq.value;
      js["reason"] = s.failure.reason;
    }
    j["shards"].push_back(js);
  }
  return j;
}

void PrintHuman(const VerifyReport& r) {
  for (const auto& s : r.shards) {
    if (s.ok) {
      std::printf("shard %u: ok  %llu blocks, %llu events, last seq %llu, %llu checkpoints\n",
                  s.shard.value, (unsigned long long)s.blocks, (unsigned long long)s.events,
                  (unsigned long long)s.last_seq.value, (unsigned long long)s.checkpoints);
    } else {
      std::printf("shard %u: FAILED at segment %s, offset %llu, seq %llu: %s\n", s.shard.value,
                  s.failure.segment.c_str(), (unsigned long long)s.failure.offset,
                  (unsigned long long)s.failure.seq.value, s.error.c_str());
    }
  }
  double rate = r.seconds > 0 ? double(r.events) / r.seconds : 0;
  std::printf("%s: %llu blocks, %llu events, %s in %.3f s (%.0f events/s)\n",
              r.ok ? "verified" : "VERIFY FAILED", (unsigned long long)r.blocks,
              (unsigned long long)r.events, HumanBytes(r.bytes).c_str(), r.seconds, rate);
}

}  // namespace

void RegisterVerify(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "verify",
      "Check every block and checkpoint: hashes, chain links, Merkle roots, signatures (exit 0 = all hold)");
  struct Opts {
    std::string data;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "Ledger data directory")->required();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    ProgressBar bar("verify");
    std::mutex mu;
    auto rep = VerifyLedger(o->data, [&](uint64_t done, uint64_t total) {
      std::lock_guard<std::mutex> lock(mu);
      bar.Update(done, total);
    });
    bar.Finish();
    if (!rep.ok()) {
      *exit_code = ReportError(rep.status());
      return;
    }
    if (o->json) {
      std::printf("%s\n", ToJson(rep.value()).dump(2).c_str());
    } else {
      PrintHuman(rep.value());
    }
    *exit_code = rep->ok ? kExitOk : kExitCheckFailed;
  });
}

}  // namespace giftledger::cli

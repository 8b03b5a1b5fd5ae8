// giftledger verify: check every block of every shard; exit code = outcome.
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "ledger/manifest.h"
#include "replay/verifier.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

// The terms of the shard's leaders; node is the manifest's name ("" for
// blocks written without a lease).
nlohmann::json LeadersJson(const ShardVerifyReport& s, const Manifest* manifest) {
  nlohmann::json out = nlohmann::json::array();
  for (const LeaderTerm& t : s.leaders) {
    const ManifestNode* n = manifest != nullptr ? manifest->FindNode(t.node) : nullptr;
    out.push_back({{"epoch", t.epoch},
                   {"node_id", t.node},
                   {"node", n != nullptr ? n->name : ""},
                   {"first_seq", t.first_seq.value},
                   {"last_seq", t.last_seq.value},
                   {"blocks", t.blocks}});
  }
  return out;
}

nlohmann::json ToJson(const VerifyReport& r, const Manifest* manifest) {
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
    nlohmann::json js{{"shard", s.shard.value},       {"ok", s.ok},
                      {"blocks", s.blocks},           {"events", s.events},
                      {"last_seq", s.last_seq.value}, {"checkpoints", s.checkpoints},
                      {"torn_tail", s.torn_tail}};
    js["leaders"] = LeadersJson(s, manifest);
    if (s.leader_terms_left_out > 0) js["leader_terms_left_out"] = s.leader_terms_left_out;
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

// One line per shard that was ever led under a lease: who wrote which seqs.
void PrintLeaders(const ShardVerifyReport& s, const Manifest* manifest) {
  bool leased = false;
  for (const LeaderTerm& t : s.leaders) leased = leased || t.epoch != 0;
  if (!leased) return;
  std::string line;
  for (const LeaderTerm& t : s.leaders) {
    const ManifestNode* n = manifest != nullptr ? manifest->FindNode(t.node) : nullptr;
    line += line.empty() ? "" : "; ";
    line += t.epoch == 0 ? std::string("no lease")
                         : "epoch " + std::to_string(t.epoch) + " node " +
                               (n != nullptr ? n->name : std::to_string(t.node));
    line += " seqs " + std::to_string(t.first_seq.value) + "-" + std::to_string(t.last_seq.value);
  }
  if (s.leader_terms_left_out > 0) {
    line += "; and " + std::to_string(s.leader_terms_left_out) + " more terms";
  }
  std::printf("  leaders: %s\n", line.c_str());
}

void PrintHuman(const VerifyReport& r, const Manifest* manifest) {
  for (const auto& s : r.shards) {
    if (s.ok) {
      std::printf("shard %u: ok  %llu blocks, %llu events, last seq %llu, %llu checkpoints\n",
                  s.shard.value, (unsigned long long)s.blocks, (unsigned long long)s.events,
                  (unsigned long long)s.last_seq.value, (unsigned long long)s.checkpoints);
      PrintLeaders(s, manifest);
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
  auto* cmd = app.add_subcommand("verify",
                                 "Check every block and checkpoint: hashes, chain links, Merkle "
                                 "roots, signatures (exit 0 = all hold)");
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
    // Node names for the leader terms (the report has their ids).
    auto manifest = LoadManifest(o->data);
    const Manifest* m = manifest.ok() ? &manifest.value() : nullptr;
    if (o->json) {
      std::printf("%s\n", ToJson(rep.value(), m).dump(2).c_str());
    } else {
      PrintHuman(rep.value(), m);
    }
    *exit_code = rep->ok ? kExitOk : kExitCheckFailed;
  });
}

}  // namespace giftledger::cli

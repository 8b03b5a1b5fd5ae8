// giftledger redo: resubmit every command of a redo journal that was sent but
// never answered (same tx ids: the ledger answers a committed one with its
// original result and seq, and applies one that never arrived), print each
// outcome, and leave only the still-unanswered ones in the journal.
#include <nats/nats.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "commands/ingress/client.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

struct RedoOpts {
  std::string nats = "nats://127.0.0.1:4222";
  std::string key;
  std::string journal;
  int64_t timeout_ms = 5000;
  uint32_t attempts = 4;
  bool json = false;
};

std::string Hex(const std::string& bytes) {
  return ToHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

const char* Kind(const schemas::Command& c) {
  switch (c.body_case()) {
    case schemas::Command::kTopUp:
      return "topup";
    case schemas::Command::kPlaceOrder:
      return "order";
    case schemas::Command::kConsumeOrder:
      return "consume";
    case schemas::Command::kCancelOrder:
      return "cancel";
    case schemas::Command::kRefund:
      return "refund";
    case schemas::Command::kSetCatalog:
      return "catalog";
    case schemas::Command::kPayout:
      return "payout";
    default:
      return "command";
  }
}

// One line or object per command: its answer, or why it stays unanswered.
struct Line {
  const ingress::RedoEntry* entry = nullptr;
  bool answered = false;
  schemas::CommandResult result;
  std::string error;
};

void Print(const std::vector<Line>& lines, bool json, size_t left) {
  if (json) {
    nlohmann::json j;
    j["results"] = nlohmann::json::array();
    for (const Line& l : lines) {
      nlohmann::json r;
      r["tx_id"] = Hex(l.entry->tx_id);
      r["shard"] = l.entry->shard;
      r["command"] = Kind(l.entry->command);
      r["answered"] = l.answered;
      if (l.answered) {
        r["code"] = schemas::ResultCode_Name(l.result.code());
        r["seq"] = l.result.seq();
        if (!l.result.message().empty()) r["message"] = l.result.message();
      } else {
        r["error"] = l.error;
      }
      j["results"].push_back(r);
    }
    j["resubmitted"] = lines.size();
    j["unanswered"] = left;
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  for (const Line& l : lines) {
    if (l.answered) {
      std::printf("%-22s tx %s  shard %u  seq %llu  %s%s%s\n",
                  schemas::ResultCode_Name(l.result.code()).c_str(), Hex(l.entry->tx_id).c_str(),
                  l.entry->shard, (unsigned long long)l.result.seq(), Kind(l.entry->command),
                  l.result.message().empty() ? "" : "  ", l.result.message().c_str());
    } else {
      std::printf("%-22s tx %s  shard %u  %s  %s\n", "UNANSWERED", Hex(l.entry->tx_id).c_str(),
                  l.entry->shard, Kind(l.entry->command), l.error.c_str());
    }
  }
  std::printf("%zu resubmitted, %zu still unanswered\n", lines.size(), left);
}

int RunRedo(const RedoOpts& o) {
  auto journal = ingress::RedoJournal::Open(o.journal);
  if (!journal.ok()) return ReportError(journal.status());
  const std::vector<ingress::RedoEntry> pending = journal.value()->Pending();
  std::shared_ptr<ingress::RedoJournal> shared = std::move(journal.value());
  if (pending.empty()) {
    Print({}, o.json, 0);
    return kExitOk;
  }
  ingress::ClientOptions co;
  co.nats_url = o.nats;
  co.key_file = o.key;
  co.timeout_ms = o.timeout_ms;
  co.attempts_max = o.attempts;
  co.journal = shared;
  auto client = ingress::Client::Connect(co);
  if (!client.ok()) return ReportError(client.status());
  ingress::Client& c = *client.value();
  // The shard each command was first sent to, in journal order, in batches
  // the protocol allows; every batch in flight at once.
  std::map<uint32_t, std::vector<size_t>> by_shard;
  for (size_t i = 0; i < pending.size(); ++i) by_shard[pending[i].shard].push_back(i);
  struct Batch {
    std::vector<size_t> idx;
    std::shared_ptr<ingress::Client::Call> call;
  };
  std::vector<Batch> batches;
  for (const auto& [shard, idx] : by_shard) {
    for (size_t at = 0; at < idx.size(); at += c.info().batch_commands_max) {
      Batch b;
      std::vector<schemas::Command> commands;
      for (size_t k = at; k < std::min(idx.size(), at + c.info().batch_commands_max); ++k) {
        b.idx.push_back(idx[k]);
        commands.push_back(pending[idx[k]].command);
      }
      b.call = c.Begin(shard, std::move(commands));
      batches.push_back(std::move(b));
    }
  }
  std::vector<Line> lines(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) lines[i].entry = &pending[i];
  for (const Batch& b : batches) {
    ingress::SubmitOutcome out = c.Finish(b.call);
    for (size_t k = 0; k < b.idx.size(); ++k) {
      Line& l = lines[b.idx[k]];
      if (out.kind == ingress::SubmitKind::kAnswered &&
          out.results[k].code() != schemas::UNAVAILABLE) {
        l.answered = true;
        l.result = out.results[k];
      } else {
        l.error = out.ok() ? "UNAVAILABLE" : out.status.ToString();
      }
    }
  }
  const size_t left = shared->pending_count();
  Print(lines, o.json, left);
  return left == 0 ? kExitOk : kExitError;
}

}  // namespace

void RegisterRedo(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "redo", "Resubmit the unanswered commands of a redo journal (same tx ids), print outcomes");
  auto o = std::make_shared<RedoOpts>();
  cmd->add_option("--nats", o->nats, "NATS server URL")->capture_default_str();
  cmd->add_option("--key", o->key, "Gateway secret key file (keys gateway)")->required();
  cmd->add_option("--journal", o->journal, "Redo journal file (submit --journal)")->required();
  cmd->add_option("--timeout-ms", o->timeout_ms, "Per attempt")->capture_default_str();
  cmd->add_option("--attempts", o->attempts, "Attempts (same tx ids)")->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    *exit_code = RunRedo(*o);
    nats_Close();
  });
}

}  // namespace giftledger::cli

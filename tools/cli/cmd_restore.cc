// giftledger restore: verify a backup and lay it out as a ledger; state then
// comes from replay when the shards start (docs/operations.md).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "replay/backup.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {

void RegisterRestore(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "restore", "Verify a backup and copy it into a new data directory (never overwrites)");
  struct Opts {
    std::string from;
    std::string data;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--from", o->from, "Backup directory written by `giftledger backup`")->required();
  cmd->add_option("--data", o->data, "New ledger data directory (absent or empty)")->required();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    auto r = RestoreLedger(o->from, o->data);
    if (!r.ok()) {
      int code = ReportError(r.status());
      *exit_code = r.status().code() == Code::kDataLoss ? kExitCheckFailed : code;
      return;
    }
    if (o->json) {
      nlohmann::json j{{"ok", true},
                       {"files_copied", r->files_copied},
                       {"bytes_copied", r->bytes_copied},
                       {"events", r->verify.events},
                       {"checkpoints", r->verify.checkpoints}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("restored %s from %s: %llu files (%s); verified %llu events, %llu checkpoints\n",
                  o->data.c_str(), o->from.c_str(), (unsigned long long)r->files_copied,
                  HumanBytes(r->bytes_copied).c_str(), (unsigned long long)r->verify.events,
                  (unsigned long long)r->verify.checkpoints);
    }
    *exit_code = kExitOk;
  });
}

}  // namespace giftledger::cli

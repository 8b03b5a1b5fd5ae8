// giftledger backup: incremental, verified copy of a ledger's sealed
// segments, checkpoints and manifest (docs/operations.md).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "replay/backup.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {

void RegisterBackup(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "backup",
      "Copy sealed segments, checkpoints and the manifest to DIR2 (only new files), "
      "verifying each copy and the backup");
  struct Opts {
    BackupOptions b;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->b.data_dir, "Ledger data directory")->required();
  cmd->add_option("--to", o->b.backup_dir, "Backup directory (new, empty, or a backup of it)")
      ->required();
  cmd->add_flag("--with-keys", o->b.with_keys,
                "Also copy the secret keys (shard signing keys, service.key), mode 0600");
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    auto r = BackupLedger(o->b);
    if (!r.ok()) {
      int code = ReportError(r.status());
      *exit_code = r.status().code() == Code::kDataLoss ? kExitCheckFailed : code;
      return;
    }
    if (o->json) {
      nlohmann::json j{{"ok", true},
                       {"files_copied", r->files_copied},
                       {"files_present", r->files_present},
                       {"bytes_copied", r->bytes_copied},
                       {"events", r->verify.events},
                       {"checkpoints", r->verify.checkpoints}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf(
          "backup %s: %llu files copied (%s), %llu already there; verified %llu events, "
          "%llu checkpoints\n",
          o->b.backup_dir.c_str(), (unsigned long long)r->files_copied,
          HumanBytes(r->bytes_copied).c_str(), (unsigned long long)r->files_present,
          (unsigned long long)r->verify.events, (unsigned long long)r->verify.checkpoints);
    }
    *exit_code = kExitOk;
  });
}

}  // namespace giftledger::cli

// giftledger: one binary, one subcommand per job (docs/cli.md).
#include <CLI/CLI.hpp>

#include "ledger/crypto.h"
#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  giftledger::CryptoInit();
  CLI::App app{"giftledger: an event-sourced, signed, sharded ledger for live-stream gifts"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "giftledger 0.1.0");
  int exit_code = giftledger::cli::kExitOk;
  giftledger::cli::RegisterFormat(app, &exit_code);
  giftledger::cli::RegisterVerify(app, &exit_code);
  giftledger::cli::RegisterBench(app, &exit_code);
  giftledger::cli::RegisterKeys(app, &exit_code);
  giftledger::cli::RegisterStart(app, &exit_code);
  giftledger::cli::RegisterSubmit(app, &exit_code);
  giftledger::cli::RegisterRedo(app, &exit_code);
  giftledger::cli::RegisterLoad(app, &exit_code);
  giftledger::cli::RegisterCheckAcks(app, &exit_code);
  giftledger::cli::RegisterDashboard(app, &exit_code);
  giftledger::cli::RegisterProve(app, &exit_code);
  giftledger::cli::RegisterVerifyProof(app, &exit_code);
  giftledger::cli::RegisterBackup(app, &exit_code);
  giftledger::cli::RegisterRestore(app, &exit_code);
  giftledger::cli::RegisterProjections(app, &exit_code);
  giftledger::cli::RegisterSettle(app, &exit_code);
  giftledger::cli::RegisterReconcile(app, &exit_code);
  giftledger::cli::RegisterTrace(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return giftledger::cli::kExitUsage;
  }
  return exit_code;
}

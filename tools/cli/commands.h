// Subcommands of the giftledger binary. Each Register* adds one subcommand to
// the CLI11 app; its callback stores the process exit code in *exit_code.
#pragma once

#include <CLI/CLI.hpp>

namespace giftledger::cli {

// Documented exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;  // verification found a problem
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitError = 3;        // I/O, missing ledger, refused to overwrite
inline constexpr int kExitRejected = 4;     // submit: a command or the request was refused
inline constexpr int kExitMismatch = 5;     // reconcile: a snapshot or read model disagrees
inline constexpr int kExitNotFound = 6;     // trace: no event names the tx id

void RegisterFormat(CLI::App& app, int* exit_code);
void RegisterVerify(CLI::App& app, int* exit_code);
void RegisterBench(CLI::App& app, int* exit_code);
void RegisterKeys(CLI::App& app, int* exit_code);
void RegisterStart(CLI::App& app, int* exit_code);
void RegisterSubmit(CLI::App& app, int* exit_code);
void RegisterRedo(CLI::App& app, int* exit_code);
void RegisterLoad(CLI::App& app, int* exit_code);
void RegisterCheckAcks(CLI::App& app, int* exit_code);
void RegisterDashboard(CLI::App& app, int* exit_code);
void RegisterProve(CLI::App& app, int* exit_code);
void RegisterVerifyProof(CLI::App& app, int* exit_code);
void RegisterBackup(CLI::App& app, int* exit_code);
void RegisterRestore(CLI::App& app, int* exit_code);
void RegisterSettle(CLI::App& app, int* exit_code);
void RegisterProjections(CLI::App& app, int* exit_code);  // project, rebuild, query
void RegisterReconcile(CLI::App& app, int* exit_code);
void RegisterTrace(CLI::App& app, int* exit_code);

}  // namespace giftledger::cli

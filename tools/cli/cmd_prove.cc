// giftledger prove: an inclusion proof of a tx's events in a signed
// checkpoint, a consistency proof between two checkpoints of a shard, or an
// account's state under a checkpoint's state root, as JSON on stdout
// (docs/proofs.md).
#include <cstdio>
#include <optional>

#include "replay/account_proof.h"
#include "replay/proofs.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

struct ProveOpts {
  std::string data;
  std::string tx;
  std::optional<uint32_t> shard;
  std::optional<uint64_t> checkpoint;
  std::vector<uint64_t> consistency;
  std::optional<uint64_t> account;
};

int ExitFor(const Status& st) {
  std::fprintf(stderr, "giftledger: %s\n", st.ToString().c_str());
  if (st.code() == Code::kDataLoss) return kExitCheckFailed;
  if (st.code() == Code::kInvalidArgument) return kExitUsage;
  return kExitError;
}

int RunProve(const ProveOpts& o) {
  const bool by_tx = !o.tx.empty(), by_range = !o.consistency.empty();
  const bool by_account = o.account.has_value();
  if (int(by_tx) + int(by_range) + int(by_account) != 1) {
    std::fprintf(stderr,
                 "giftledger: give one of --tx TXID, --consistency OLD NEW, --account ID\n");
    return kExitUsage;
  }
  Result<nlohmann::json> proof = InvalidArgument("unreachable");
  if (by_account) {
    ProveAccountOptions p;
    p.data_dir = o.data;
    p.account = *o.account;
    p.shard = o.shard;
    p.checkpoint = o.checkpoint;
    proof = ProveAccount(p);
  } else if (by_tx) {
    ProveTxOptions p;
    p.data_dir = o.data;
    p.tx_id.resize(kTxIdBytes);
    if (!FromHex(o.tx, reinterpret_cast<uint8_t*>(p.tx_id.data()), kTxIdBytes)) {
      std::fprintf(stderr, "giftledger: --tx wants 32 hex digits\n");
      return kExitUsage;
    }
    p.shard = o.shard;
    p.checkpoint = o.checkpoint;
    proof = ProveTx(p);
  } else {
    if (!o.shard) {
      std::fprintf(stderr, "giftledger: --consistency needs --shard\n");
      return kExitUsage;
    }
    proof = ProveConsistency(o.data, ShardId{*o.shard}, o.consistency[0], o.consistency[1]);
  }
  if (!proof.ok()) return ExitFor(proof.status());
  std::printf("%s\n", proof->dump(2).c_str());
  return kExitOk;
}

}  // namespace

void RegisterProve(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "prove",
      "Inclusion proof of a tx in a signed checkpoint, consistency proof between two "
      "checkpoints, or an account's state under a state root (JSON on stdout; docs/proofs.md)");
  auto o = std::make_shared<ProveOpts>();
  cmd->add_option("--data", o->data, "Ledger data directory")->required();
  cmd->add_option("--tx", o->tx, "Tx id (32 hex digits): prove its events' inclusion");
  cmd->add_option("--shard", o->shard, "Shard to search (--tx) or of the checkpoints");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Tree size of the checkpoint to prove against (default: the newest)");
  cmd->add_option("--consistency", o->consistency,
                  "OLD NEW: tree sizes of two checkpoints of --shard")
      ->expected(2);
  cmd->add_option("--account", o->account,
                  "User id: prove its balances (or its absence) under the checkpoint's state "
                  "root (default shard: the account's)");
  cmd->callback([o, exit_code] { *exit_code = RunProve(*o); });
}

}  // namespace giftledger::cli

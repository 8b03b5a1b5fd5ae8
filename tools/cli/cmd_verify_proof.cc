// giftledger verify-proof: checks an inclusion or consistency proof with the
// manifest's public keys only (no data directory, no secrets).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "ledger/file.h"
#include "ledger/manifest.h"
#include "replay/proofs.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

constexpr size_t kProofFileBytesMax = 64ull << 20;

struct VerifyProofOpts {
  std::string manifest;
  std::string proof = "-";
  bool json = false;
};

Result<std::string> ReadProofText(const std::string& path) {
  if (path != "-") return ReadSmallFile(path, kProofFileBytesMax);
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (text.size() > kProofFileBytesMax) return ResourceExhausted("proof on stdin is too large");
  return text;
}

int RunVerifyProof(const VerifyProofOpts& o) {
  auto m = LoadManifest(o.manifest);
  if (!m.ok()) return ReportError(m.status());
  auto text = ReadProofText(o.proof);
  if (!text.ok()) return ReportError(text.status());
  nlohmann::json proof = nlohmann::json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
  ProofVerdict v = proof.is_discarded() ? ProofVerdict{false, "proof is not JSON", ""}
                                        : VerifyProof(m.value(), proof);
  if (o.json) {
    nlohmann::json j{{"ok", v.ok}};
    if (v.ok)
      j["summary"] = v.summary;
    else
      j["reason"] = v.reason;
    std::printf("%s\n", j.dump(2).c_str());
  } else if (v.ok) {
    std::printf("proof valid: %s\n", v.summary.c_str());
  } else {
    std::printf("PROOF INVALID: %s\n", v.reason.c_str());
  }
  return v.ok ? kExitOk : kExitCheckFailed;
}

}  // namespace

void RegisterVerifyProof(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("verify-proof",
                                 "Check a proof from `prove` with the manifest's public keys only");
  auto o = std::make_shared<VerifyProofOpts>();
  cmd->add_option("--manifest", o->manifest, "manifest.json of the ledger (public keys)")
      ->required();
  cmd->add_option("proof", o->proof, "Proof file from `giftledger prove` (- = stdin)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] { *exit_code = RunVerifyProof(*o); });
}

}  // namespace giftledger::cli

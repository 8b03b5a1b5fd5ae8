// giftledger format: create a new ledger directory.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "ledger/manifest.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {

void RegisterFormat(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "format", "Create a new ledger: shard directories, one Ed25519 key per shard, manifest");
  struct Opts {
    std::string data;
    uint32_t shards = 4;
    uint64_t segment_mib = kSegmentBytesDefault >> 20;
    int32_t utc_offset_minutes = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "Data directory (created; must be absent or empty)")
      ->required();
  cmd->add_option("--shards", o->shards, "Number of shards (fixed for the ledger's life)")
      ->check(CLI::Range(1u, kShardsMax))
      ->capture_default_str();
  cmd->add_option("--segment-mib", o->segment_mib, "Segment file size in MiB")
      ->check(CLI::Range(kSegmentBytesMin >> 20, kSegmentBytesMax >> 20))
      ->capture_default_str();
  cmd->add_option("--utc-offset-minutes", o->utc_offset_minutes,
                  "Where days and months start for spend caps and leaderboards (e.g. 480 for "
                  "UTC+8); fixed for the ledger's life")
      ->check(CLI::Range(-kUtcOffsetMinutesMax, kUtcOffsetMinutesMax))
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the manifest as JSON");
  cmd->callback([o, exit_code] {
    auto m = FormatLedger(o->data, o->shards, o->segment_mib << 20, o->utc_offset_minutes);
    if (!m.ok()) {
      *exit_code = ReportError(m.status());
      return;
    }
    if (o->json) {
      std::printf("%s\n", ManifestToJson(m.value()).c_str());
    } else {
      std::printf("formatted ledger %s in %s: %u shards, %s segments, UTC offset %+d min\n",
                  m->ledger_id.c_str(), o->data.c_str(), m->shard_count,
                  HumanBytes(m->segment_bytes).c_str(), m->utc_offset_minutes);
      for (uint32_t s = 0; s < m->shard_count; ++s) {
        std::printf("  shard %u  public key %s\n", s, ToHex(m->public_keys[s]).c_str());
      }
    }
    *exit_code = kExitOk;
  });
}

}  // namespace giftledger::cli

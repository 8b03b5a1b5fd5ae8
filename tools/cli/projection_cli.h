// The projections' subcommands (`project`, `rebuild`, `query`, registered
// together by RegisterProjections) and the output forms they share.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "projections/store.h"

namespace giftledger::cli {

void RegisterProjectAndRebuild(CLI::App& app, int* exit_code);
void RegisterQuery(CLI::App& app, int* exit_code);

nlohmann::json PositionsJson(const std::vector<projections::Position>& positions);
// "0:123 1:456" (shard:seq).
std::string PositionsText(const std::vector<projections::Position>& positions);

}  // namespace giftledger::cli

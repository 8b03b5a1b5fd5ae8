#include "commands/ingress/gateway_registry.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "commands/decide.h"
#include "commands/ingress/limits.h"
#include "ledger/file.h"

namespace giftledger::ingress {
namespace {

constexpr std::pair<const char*, uint32_t> kRoleNames[] = {
    {"gifts", commands::kRoleGifts},
    {"payments", commands::kRolePayments},
    {"ops", commands::kRoleOps},
    {"settlement", commands::kRoleSettlement},
    {"audit", commands::kRoleAudit},
};

}  // namespace

Result<uint32_t> ParseRoles(const std::string& csv) {
  uint32_t roles = 0;
  std::stringstream ss(csv);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name.empty()) continue;
    bool known = false;
    for (const auto& [n, bit] : kRoleNames) {
      if (name == n) {
        roles |= bit;
        known = true;
      }
    }
    if (!known) {
      return InvalidArgument("unknown role '" + name +
                             "' (roles: gifts, payments, ops, settlement, audit)");
    }
  }
  if (roles == 0) return InvalidArgument("at least one role is required");
  return roles;
}

std::string RolesToString(uint32_t roles) {
  std::string out;
  for (const auto& [n, bit] : kRoleNames) {
    if (roles & bit) out += (out.empty() ? "" : ",") + std::string(n);
  }
  return out;
}

std::string GatewaysPath(const std::string& data_dir) {
  return JoinPath(data_dir, "gateways.json");
}

Result<std::vector<GatewayEntry>> ReadGateways(const std::string& data_dir) {
  std::string path = GatewaysPath(data_dir);
  std::vector<GatewayEntry> out;
  if (!PathExists(path)) return out;
  auto text = ReadSmallFile(path, 16 << 20);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("gateways") || !j["gateways"].is_array()) {
    return DataLoss(path + ": not a gateways file");
  }
  for (const auto& g : j["gateways"]) {
    GatewayEntry e;
    if (!g.contains("name") || !g.contains("public_key") || !g.contains("roles") ||
        !g["name"].is_string() || !g["public_key"].is_string() || !g["roles"].is_string()) {
      return DataLoss(path + ": entry without name, public_key and roles");
    }
    e.name = g["name"].get<std::string>();
    if (!FromHex(g["public_key"].get<std::string>(), e.public_key.data(), e.public_key.size())) {
      return DataLoss(path + ": bad public key for gateway " + e.name);
    }
    auto roles = ParseRoles(g["roles"].get<std::string>());
    if (!roles.ok()) return DataLoss(path + ": gateway " + e.name + ": " + roles.status().message());
    e.roles = roles.value();
    out.push_back(e);
  }
  if (out.size() > kGatewaysMax) return ResourceExhausted(path + ": too many gateways");
  return out;
}

Status RegisterGateway(const std::string& data_dir, const GatewayEntry& entry) {
  auto all = ReadGateways(data_dir);
  if (!all.ok()) return all.status();
  for (const auto& e : all.value()) {
    if (e.name == entry.name) return AlreadyExists("gateway name '" + entry.name + "' is taken");
    if (e.public_key == entry.public_key) return AlreadyExists("public key already registered");
  }
  all->push_back(entry);
  nlohmann::json j;
  j["gateways"] = nlohmann::json::array();
  for (const auto& e : all.value()) {
    j["gateways"].push_back({{"name", e.name},
                             {"key_id", ToHex(KeyIdOf(e.public_key))},
                             {"public_key", ToHex(e.public_key)},
                             {"roles", RolesToString(e.roles)}});
  }
  return WriteFileAtomic(GatewaysPath(data_dir), j.dump(2) + "\n", 0644);
}

Result<GatewayRegistry> GatewayRegistry::Load(const std::string& data_dir,
                                              const BoxKeyPair& service_key) {
  auto all = ReadGateways(data_dir);
  if (!all.ok()) return all.status();
  GatewayRegistry r;
  for (const auto& e : all.value()) {
    auto shared = SharedKey::Derive(e.public_key, service_key);
    if (!shared.ok()) return DataLoss("gateway " + e.name + ": " + shared.status().message());
    r.by_id_.emplace(KeyIdOf(e.public_key), Gateway{e, shared.value()});
  }
  return r;
}

const GatewayRegistry::Gateway* GatewayRegistry::Find(const KeyId& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

}  // namespace giftledger::ingress

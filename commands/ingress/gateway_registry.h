// Registered gateways: public key, name and roles, kept in DIR/gateways.json
// and read by the service at start and on SIGHUP (docs/protocol.md, "Keys").
#pragma once

#include <map>
#include <string>
#include <vector>

#include "commands/ingress/box.h"
#include "ledger/status.h"

namespace giftledger::ingress {

// "gifts,payments" -> role bits (commands/decide.h Role); INVALID_ARGUMENT on
// an unknown name.
Result<uint32_t> ParseRoles(const std::string& csv);
std::string RolesToString(uint32_t roles);

struct GatewayEntry {
  std::string name;
  BoxPublicKey public_key{};
  uint32_t roles = 0;
};

std::string GatewaysPath(const std::string& data_dir);
Result<std::vector<GatewayEntry>> ReadGateways(const std::string& data_dir);
// Adds an entry (ALREADY_EXISTS for a taken name or key) and rewrites the file
// atomically.
Status RegisterGateway(const std::string& data_dir, const GatewayEntry& entry);

// The service's view: key id -> entry and precomputed shared key.
class GatewayRegistry {
 public:
  struct Gateway {
    GatewayEntry entry;
    SharedKey shared;
  };
  static Result<GatewayRegistry> Load(const std::string& data_dir, const BoxKeyPair& service_key);
  const Gateway* Find(const KeyId& id) const;
  size_t size() const { return by_id_.size(); }

 private:
  std::map<KeyId, Gateway> by_id_;
};

}  // namespace giftledger::ingress

// giftledger keys: the service's X25519 key, gateway keys and their roles,
// and the protocol's test vectors (docs/protocol.md, "Keys").
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands/ingress/box.h"
#include "commands/ingress/gateway_registry.h"
#include "commands/ingress/service.h"
#include "commands/ingress/test_vectors.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using ingress::BoxKeyPair;

Status CheckLedger(const std::string& data) {
  auto m = LoadManifest(data);
  if (!m.ok()) return FailedPrecondition(data + " holds no ledger: " + m.status().message());
  return Status::Ok();
}

// Letters, digits, '.', '_' and '-': the name ends up in file names and logs.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

Status CreateServiceKey(const std::string& data, BoxKeyPair* out) {
  GL_RETURN_IF_ERROR(CheckLedger(data));
  const std::string key_path = ingress::ServiceKeyPath(data);
  if (PathExists(key_path)) {
    return AlreadyExists(key_path + " exists; a new service key would orphan every gateway");
  }
  *out = BoxKeyPair::Generate();
  GL_RETURN_IF_ERROR(out->Save(key_path));
  return WriteFileAtomic(ingress::ServicePublicKeyPath(data), ToHex(out->public_key()) + "\n",
                         0644);
}

void RegisterKeysService(CLI::App& keys, int* exit_code) {
  auto* cmd = keys.add_subcommand("service", "Create the ledger's X25519 service key");
  struct Opts {
    std::string data;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "Ledger data directory")->required();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    BoxKeyPair key;
    Status st = CreateServiceKey(o->data, &key);
    if (!st.ok()) {
      *exit_code = ReportError(st);
      return;
    }
    const std::string pub = ToHex(key.public_key());
    if (o->json) {
      nlohmann::json j{{"secret_key_file", ingress::ServiceKeyPath(o->data)},
                       {"public_key_file", ingress::ServicePublicKeyPath(o->data)},
                       {"public_key", pub}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("service key written to %s (0600)\npublic key %s\n",
                  ingress::ServiceKeyPath(o->data).c_str(), pub.c_str());
    }
    *exit_code = kExitOk;
  });
}

void RegisterKeysGateway(CLI::App& keys, int* exit_code) {
  auto* cmd = keys.add_subcommand(
      "gateway", "Create a gateway X25519 key and register its public key and roles");
  struct Opts {
    std::string data, name, roles, out;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "Ledger data directory")->required();
  cmd->add_option("--name", o->name, "Gateway name (letters, digits, . _ -)")->required();
  cmd->add_option("--roles", o->roles, "Comma-separated: gifts,payments,ops,settlement,audit")
      ->required();
  cmd->add_option("--out", o->out, "Secret key file to write (default NAME.gateway.key)");
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    if (!ValidName(o->name)) {
      std::fprintf(stderr, "giftledger: --name must be 1-64 letters, digits, '.', '_', '-'\n");
      *exit_code = kExitUsage;
      return;
    }
    auto roles = ingress::ParseRoles(o->roles);
    if (!roles.ok()) {
      std::fprintf(stderr, "giftledger: --roles: %s\n", roles.status().message().c_str());
      *exit_code = kExitUsage;
      return;
    }
    const std::string out = o->out.empty() ? o->name + ".gateway.key" : o->out;
    Status st = CheckLedger(o->data);
    if (st.ok() && PathExists(out)) st = AlreadyExists(out + " exists; refusing to overwrite");
    const BoxKeyPair key = BoxKeyPair::Generate();
    // Key file first: a registered key nobody holds is worse than a key
    // file that registration refused (removed below).
    if (st.ok()) st = key.Save(out);
    if (st.ok()) {
      st = ingress::RegisterGateway(o->data, {o->name, key.public_key(), roles.value()});
      if (!st.ok()) ::unlink(out.c_str());
    }
    if (!st.ok()) {
      *exit_code = ReportError(st);
      return;
    }
    const std::string pub = ToHex(key.public_key());
    const std::string key_id = ToHex(ingress::KeyIdOf(key.public_key()));
    const std::string role_names = ingress::RolesToString(roles.value());
    if (o->json) {
      nlohmann::json j{{"name", o->name},        {"roles", role_names},
                       {"key_id", key_id},       {"public_key", pub},
                       {"secret_key_file", out}, {"registry", ingress::GatewaysPath(o->data)}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("gateway %s (%s) registered in %s\nkey id %s, secret key in %s (0600)\n",
                  o->name.c_str(), role_names.c_str(), ingress::GatewaysPath(o->data).c_str(),
                  key_id.c_str(), out.c_str());
      std::printf("a running service picks it up on SIGHUP\n");
    }
    *exit_code = kExitOk;
  });
}

void RegisterKeysNode(CLI::App& keys, int* exit_code) {
  auto* cmd = keys.add_subcommand(
      "node", "List a node that may lead replicated shards in the manifest (before copying it)");
  struct Opts {
    std::string data, name;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "Ledger data directory")->required();
  cmd->add_option("--name", o->name, "Node name, as `start --node` gives it")->required();
  cmd->add_flag("--json", o->json, "One JSON object on stdout");
  cmd->callback([o, exit_code] {
    auto id = RegisterNode(o->data, o->name);
    if (id.status().code() == Code::kInvalidArgument) {
      std::fprintf(stderr, "giftledger: --name: %s\n", id.status().message().c_str());
      *exit_code = kExitUsage;
      return;
    }
    if (!id.ok()) {
      *exit_code = ReportError(id.status());
      return;
    }
    if (o->json) {
      nlohmann::json j{{"name", o->name}, {"id", id.value()}, {"manifest", ManifestPath(o->data)}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("node %s listed as id %u in %s\ncopy the data directory to the node after this\n",
                  o->name.c_str(), id.value(), ManifestPath(o->data).c_str());
    }
    *exit_code = kExitOk;
  });
}

void RegisterKeysTestVectors(CLI::App& keys, int* exit_code) {
  auto* cmd = keys.add_subcommand("test-vectors", "Print the protocol test vectors (hex)");
  cmd->callback([exit_code] {
    const ingress::TestVectors v = ingress::ComputeTestVectors();
    nlohmann::json j{{"gateway_secret_key", v.gateway_secret_key},
                     {"gateway_public_key", v.gateway_public_key},
                     {"service_secret_key", v.service_secret_key},
                     {"service_public_key", v.service_public_key},
                     {"gateway_key_id", v.gateway_key_id},
                     {"shared_key", v.shared_key},
                     {"nonce", v.nonce},
                     {"request", v.request},
                     {"ciphertext", v.ciphertext},
                     {"envelope", v.envelope}};
    std::printf("%s\n", j.dump(2).c_str());
    *exit_code = kExitOk;
  });
}

}  // namespace

void RegisterKeys(CLI::App& app, int* exit_code) {
  auto* keys =
      app.add_subcommand("keys", "Service and gateway keys of the command protocol, nodes");
  keys->require_subcommand(1);
  RegisterKeysService(*keys, exit_code);
  RegisterKeysGateway(*keys, exit_code);
  RegisterKeysNode(*keys, exit_code);
  RegisterKeysTestVectors(*keys, exit_code);
}

}  // namespace giftledger::cli

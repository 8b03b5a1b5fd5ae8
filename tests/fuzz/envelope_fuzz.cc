// The service side of the protocol on hostile input. The first byte picks the
// layer: 0 feeds raw bytes to Gatekeeper::Admit (envelope parsing, key
// lookup, MAC); 1 seals the rest as a plaintext under the registered
// gateway's real key, so the fuzzer reaches Request parsing, batch limits and
// the replay window. Every rejection must be a parseable error reply.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "commands/decide.h"
#include "commands/ingress/gatekeeper.h"
#include "commands/ingress/limits.h"
#include "ledger/crypto.h"
#include "tests/fuzz/fuzz_keys.h"

using namespace giftledger;
using namespace giftledger::ingress;

namespace {

struct Fixture {
  BoxKeyPair service, gateway;
  GatewayRegistry registry;
  SharedKey shared;
  KeyId key_id;
};

const Fixture& Get() {
  static const Fixture f = [] {
    CryptoInit();
    Fixture x;
    auto s = fuzz::Filled(fuzz::kServiceSecretByte), g = fuzz::Filled(fuzz::kGatewaySecretByte);
    x.service = BoxKeyPair::FromSecret(s.data());
    x.gateway = BoxKeyPair::FromSecret(g.data());
    std::string tmpl = "/tmp/giftledger-fuzz-XXXXXX";
    GL_ASSERT(::mkdtemp(tmpl.data()) != nullptr);
    GL_ASSERT(RegisterGateway(tmpl, {"fuzz", x.gateway.public_key(), commands::kRoleGifts}).ok());
    x.registry = GatewayRegistry::Load(tmpl, x.service).value();
    std::filesystem::remove_all(tmpl);
    x.shared = SharedKey::Derive(x.service.public_key(), x.gateway).value();
    x.key_id = KeyIdOf(x.gateway.public_key());
    return x;
  }();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = Get();
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 1) {
    BoxNonce nonce{};
    schemas::Envelope env;
    env.set_version(1);
    env.set_gateway_key_id(std::string(reinterpret_cast<const char*>(f.key_id.data()), 8));
    env.set_nonce(std::string(reinterpret_cast<const char*>(nonce.data()), nonce.size()));
    env.set_ciphertext(f.shared.Seal(bytes, nonce));
    bytes = env.SerializeAsString();
  }
  NonceWindow window(30'000'000, 64);
  Gatekeeper gk(&f.registry, &window);
  AdmittedRequest req;
  std::string error_reply;
  if (gk.Admit(bytes, fuzz::kNowUs, &req, &error_reply)) {
    GL_ASSERT(!req.commands.empty() && req.commands.size() <= kBatchCommandsMax);
    GL_ASSERT(req.gateway != nullptr);
  } else {
    schemas::Envelope reply;
    GL_ASSERT(reply.ParseFromString(error_reply));
    GL_ASSERT(reply.error() != schemas::ENVELOPE_OK || !reply.ciphertext().empty());
  }
  return 0;
}

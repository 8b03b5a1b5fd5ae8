// The service side of an envelope: parse, find the gateway, open the box,
// check version, window, nonce and batch size. A request that passes becomes
// commands plus the caller's roles; one that fails becomes the error reply to
// send, encrypted when the gateway and MAC were good. No ledger access here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "commands/ingress/gateway_registry.h"
#include "commands/ingress/nonce_window.h"
#include "schemas/giftledger.pb.h"
#include "schemas/protocol.pb.h"

namespace giftledger::ingress {

struct AdmittedRequest {
  const GatewayRegistry::Gateway* gateway = nullptr;
  BoxNonce request_nonce{};
  std::vector<schemas::Command> commands;
};

class Gatekeeper {
 public:
  Gatekeeper(const GatewayRegistry* registry, NonceWindow* window)
      : registry_(registry), window_(window) {}

  // True with *out filled when admitted; false with *error_reply set to the
  // bytes to answer with.
  bool Admit(std::string_view envelope_bytes, int64_t now_us, AdmittedRequest* out,
             std::string* error_reply) const;

  // The encrypted reply carrying one result per command.
  static std::string SealResults(const AdmittedRequest& req,
                                 const std::vector<schemas::CommandResult>& results,
                                 int64_t now_us);
  // An encrypted envelope-level error (the gateway is known, the MAC good).
  static std::string SealError(const GatewayRegistry::Gateway& gw, const BoxNonce& request_nonce,
                               schemas::EnvelopeError error, const std::string& message,
                               int64_t now_us);
  static std::string PlainError(schemas::EnvelopeError error, const std::string& message);

 private:
  const GatewayRegistry* registry_;
  NonceWindow* window_;
};

// Gateway side: build a request envelope and open its reply.
std::string SealRequest(const KeyId& key_id, const SharedKey& shared, const BoxNonce& nonce,
                        const schemas::Request& request);
// OK with the reply; INVALID_ARGUMENT for a plaintext error reply or a reply
// to another request; the envelope error code is in reply->error().
Result<schemas::Reply> OpenReply(std::string_view envelope_bytes, const SharedKey& shared,
                                 const BoxNonce& request_nonce);

}  // namespace giftledger::ingress

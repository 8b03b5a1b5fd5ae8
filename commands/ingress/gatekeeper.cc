#include "commands/ingress/gatekeeper.h"

#include <cstring>

#include "commands/ingress/limits.h"

namespace giftledger::ingress {
namespace {

template <size_t N>
bool CopyExact(const std::string& from, std::array<uint8_t, N>* to) {
  if (from.size() != N) return false;
  std::memcpy(to->data(), from.data(), N);
  return true;
}

std::string AsString(const BoxNonce& n) {
  return std::string(reinterpret_cast<const char*>(n.data()), n.size());
}

std::string SealReply(const SharedKey& key, const schemas::Reply& reply) {
  BoxNonce nonce = RandomNonce();
  schemas::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_nonce(AsString(nonce));
  env.set_ciphertext(key.Seal(reply.SerializeAsString(), nonce));
  return env.SerializeAsString();
}

}  // namespace

std::string Gatekeeper::PlainError(schemas::EnvelopeError error, const std::string& message) {
  schemas::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_error(error);
  env.set_error_message(message);
  return env.SerializeAsString();
}

std::string Gatekeeper::SealError(const GatewayRegistry::Gateway& gw, const BoxNonce& request_nonce,
                                  schemas::EnvelopeError error, const std::string& message,
                                  int64_t now_us) {
  schemas::Reply reply;
  reply.set_request_nonce(AsString(request_nonce));
  reply.set_timestamp_us(now_us);
  reply.set_error(error);
  reply.set_error_message(message);
  return SealReply(gw.shared, reply);
}

std::string Gatekeeper::SealResults(const AdmittedRequest& req,
                                    const std::vector<schemas::CommandResult>& results,
                                    int64_t now_us) {
  GL_ASSERT(req.gateway != nullptr);
  GL_ASSERT(results.size() == req.commands.size());
  schemas::Reply reply;
  reply.set_request_nonce(AsString(req.request_nonce));
  reply.set_timestamp_us(now_us);
  for (const auto& r : results) *reply.add_results() = r;
  return SealReply(req.gateway->shared, reply);
}

bool Gatekeeper::Admit(std::string_view bytes, int64_t now_us, AdmittedRequest* out,
                       std::string* error_reply) const {
  schemas::Envelope env;
  KeyId key_id;
  if (bytes.size() > kEnvelopeBytesMax) {
    *error_reply = PlainError(schemas::BATCH_TOO_LARGE, "envelope larger than 1 MiB");
    return false;
  }
  if (!env.ParseFromArray(bytes.data(), int(bytes.size())) ||
      !CopyExact(env.gateway_key_id(), &key_id) || !CopyExact(env.nonce(), &out->request_nonce)) {
    *error_reply = PlainError(schemas::MALFORMED, "not an envelope (key id 8 B, nonce 24 B)");
    return false;
  }
  if (env.version() != kProtocolVersion) {
    *error_reply = PlainError(schemas::UNSUPPORTED_VERSION, "protocol version must be 1");
    return false;
  }
  const GatewayRegistry::Gateway* gw = registry_->Find(key_id);
  if (gw == nullptr) {
    *error_reply = PlainError(schemas::UNKNOWN_GATEWAY, "gateway key id not registered");
    return false;
  }
  auto plain = gw->shared.Open(env.ciphertext(), out->request_nonce);
  if (!plain.ok()) {
    *error_reply = PlainError(schemas::BAD_MAC, "ciphertext does not open with this key");
    return false;
  }
  schemas::Request req;
  if (!req.ParseFromString(plain.value())) {
    *error_reply = SealError(*gw, out->request_nonce, schemas::MALFORMED,
                             "plaintext is not a Request", now_us);
    return false;
  }
  if (req.commands_size() == 0 || uint32_t(req.commands_size()) > kBatchCommandsMax) {
    *error_reply = SealError(*gw, out->request_nonce, schemas::BATCH_TOO_LARGE,
                             "a batch holds 1 to 8190 commands", now_us);
    return false;
  }
  schemas::EnvelopeError w = window_->Admit(key_id, out->request_nonce, req.timestamp_us(), now_us);
  if (w != schemas::ENVELOPE_OK) {
    *error_reply = SealError(*gw, out->request_nonce, w,
                             w == schemas::STALE     ? "timestamp outside the ±30 s window"
                             : w == schemas::REPLAYED ? "nonce already seen"
                                                      : "nonce cache full; retry",
                             now_us);
    return false;
  }
  out->gateway = gw;
  out->commands.assign(req.commands().begin(), req.commands().end());
  return true;
}

std::string SealRequest(const KeyId& key_id, const SharedKey& shared, const BoxNonce& nonce,
                        const schemas::Request& request) {
  schemas::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_gateway_key_id(std::string(reinterpret_cast<const char*>(key_id.data()), key_id.size()));
  env.set_nonce(AsString(nonce));
  env.set_ciphertext(shared.Seal(request.SerializeAsString(), nonce));
  return env.SerializeAsString();
}

Result<schemas::Reply> OpenReply(std::string_view bytes, const SharedKey& shared,
                                 const BoxNonce& request_nonce) {
  schemas::Envelope env;
  BoxNonce nonce;
  if (!env.ParseFromArray(bytes.data(), int(bytes.size()))) {
    return InvalidArgument("reply is not an envelope");
  }
  if (env.error() != schemas::ENVELOPE_OK) {
    return InvalidArgument(std::string("rejected: ") + schemas::EnvelopeError_Name(env.error()) +
                           ": " + env.error_message());
  }
  if (!CopyExact(env.nonce(), &nonce)) return InvalidArgument("reply nonce is not 24 bytes");
  auto plain = shared.Open(env.ciphertext(), nonce);
  if (!plain.ok()) return InvalidArgument("reply does not open: " + plain.status().message());
  schemas::Reply reply;
  if (!reply.ParseFromString(plain.value())) return InvalidArgument("reply plaintext malformed");
  if (reply.request_nonce() != AsString(request_nonce)) {
    return InvalidArgument("reply belongs to another request");
  }
  return reply;
}

}  // namespace giftledger::ingress

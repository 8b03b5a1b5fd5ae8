#include "commands/ingress/test_vectors.h"

#include <sodium.h>

#include <array>

#include "commands/ingress/box.h"
#include "commands/ingress/gatekeeper.h"
#include "ledger/types.h"

namespace giftledger::ingress {
namespace {

std::string Hex(const std::string& bytes) {
  return ToHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

schemas::Request TestVectorRequest() {
  schemas::Request r;
  r.set_timestamp_us(1'700'000'000'000'000);
  schemas::Command* c = r.add_commands();
  c->set_tx_id(std::string(16, '\x44'));
  c->mutable_top_up()->set_user(7);
  c->mutable_top_up()->set_amount(100);
  c->mutable_top_up()->set_payment_ref("pay-1");
  return r;
}

TestVectors ComputeTestVectors() {
  std::array<uint8_t, kBoxKeyBytes> gw_secret, svc_secret;
  gw_secret.fill(0x11);
  svc_secret.fill(0x22);
  BoxNonce nonce;
  nonce.fill(0x33);
  const BoxKeyPair gateway = BoxKeyPair::FromSecret(gw_secret.data());
  const BoxKeyPair service = BoxKeyPair::FromSecret(svc_secret.data());
  auto shared = SharedKey::Derive(service.public_key(), gateway);
  GL_ASSERT(shared.ok());
  const KeyId key_id = KeyIdOf(gateway.public_key());
  const schemas::Request request = TestVectorRequest();

  TestVectors v;
  v.gateway_secret_key = ToHex(gw_secret);
  v.gateway_public_key = ToHex(gateway.public_key());
  v.service_secret_key = ToHex(svc_secret);
  v.service_public_key = ToHex(service.public_key());
  v.gateway_key_id = ToHex(key_id);
  // Straight from libsodium, as a gateway in another language computes it.
  std::array<uint8_t, crypto_box_BEFORENMBYTES> k;
  GL_ASSERT(crypto_box_beforenm(k.data(), service.public_key().data(), gw_secret.data()) == 0);
  v.shared_key = ToHex(k);
  v.nonce = ToHex(nonce);
  v.request = Hex(request.SerializeAsString());
  v.ciphertext = Hex(shared->Seal(request.SerializeAsString(), nonce));
  v.envelope = Hex(SealRequest(key_id, shared.value(), nonce, request));
  return v;
}

}  // namespace giftledger::ingress

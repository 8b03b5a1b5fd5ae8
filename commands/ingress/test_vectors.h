// The protocol's published test vectors (docs/protocol.md, "Test vectors"):
// fixed keys, nonce and request, and every byte string derived from them, so
// a gateway in another language can check its crypto and encoding.
#pragma once

#include <string>

#include "schemas/protocol.pb.h"

namespace giftledger::ingress {

// All byte strings are lowercase hex.
struct TestVectors {
  std::string gateway_secret_key;  // 32 × 0x11
  std::string gateway_public_key;  // crypto_scalarmult_base(gateway secret)
  std::string service_secret_key;  // 32 × 0x22
  std::string service_public_key;
  std::string gateway_key_id;  // BLAKE2b-256(gateway public)[0..8]
  std::string shared_key;      // crypto_box_beforenm(service public, gateway secret)
  std::string nonce;           // 24 × 0x33
  std::string request;         // serialized Request (the plaintext)
  std::string ciphertext;      // crypto_box_easy_afternm(request, nonce, shared key)
  std::string envelope;        // serialized Envelope{1, key id, nonce, ciphertext}
};

// Request{timestamp_us = 1700000000000000, commands = [Command{tx_id = 16 ×
// 0x44, top_up = TopUp{user = 7, amount = 100, payment_ref = "pay-1"}}]}.
schemas::Request TestVectorRequest();
TestVectors ComputeTestVectors();

}  // namespace giftledger::ingress

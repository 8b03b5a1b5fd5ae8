// The test vectors published in docs/protocol.md: these exact bytes, from
// fixed keys and nonce, so a gateway in another language can check itself.
#include <gtest/gtest.h>

#include "commands/decide.h"
#include "commands/ingress/gatekeeper.h"
#include "commands/ingress/limits.h"
#include "commands/ingress/test_vectors.h"
#include "ledger/crypto.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::ingress {
namespace {

// Copied from docs/protocol.md, "Test vectors"; change both together.
constexpr char kGatewayPublic[] =
    "7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13";
constexpr char kServicePublic[] =
    "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20";
constexpr char kKeyId[] = "0c56bcb294e2bcf2";
constexpr char kSharedKey[] = "8abe7c8ae6800b76d4f5986b04b77f6e9b4f332403c90df02428336e8bd9b525";
constexpr char kRequest[] =
    "088080f9c0c1c48203121f0a1044444444444444444444444444444444520b080710641a057061792d31";
constexpr char kCiphertext[] =
    "c6d5571a112565b09f7e01540cb437423e9c4e607e2829dea3a0042989b08201b953759eb54295e12c85ca93db41"
    "f75fedab34e9df83393aea34";
constexpr char kEnvelope[] =
    "080112080c56bcb294e2bcf21a18333333333333333333333333333333333333333333333333223ac6d5571a1125"
    "65b09f7e01540cb437423e9c4e607e2829dea3a0042989b08201b953759eb54295e12c85ca93db41f75fedab34e9"
    "df83393aea34";

std::string Unhex(const std::string& hex) {
  std::string out(hex.size() / 2, '\0');
  GL_ASSERT(FromHex(hex, reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

TEST(ProtocolVectorsTest, DerivedBytesMatchThePublishedVectors) {
  CryptoInit();
  const TestVectors v = ComputeTestVectors();
  EXPECT_EQ(v.gateway_secret_key, std::string(64, '1'));
  EXPECT_EQ(v.service_secret_key, std::string(64, '2'));
  EXPECT_EQ(v.nonce, std::string(48, '3'));
  EXPECT_EQ(v.gateway_public_key, kGatewayPublic);
  EXPECT_EQ(v.service_public_key, kServicePublic);
  EXPECT_EQ(v.gateway_key_id, kKeyId);
  EXPECT_EQ(v.shared_key, kSharedKey);
  EXPECT_EQ(v.request, kRequest);
  EXPECT_EQ(v.ciphertext, kCiphertext);
  EXPECT_EQ(v.envelope, kEnvelope);
  // 16-byte MAC in front of the encrypted plaintext.
  EXPECT_EQ(v.ciphertext.size(), v.request.size() + 2 * kBoxMacBytes);
}

TEST(ProtocolVectorsTest, ServiceAdmitsThePublishedEnvelope) {
  CryptoInit();
  testing::TempDir dir;
  uint8_t secret[32];
  std::fill(secret, secret + 32, 0x11);
  const BoxKeyPair gateway = BoxKeyPair::FromSecret(secret);
  std::fill(secret, secret + 32, 0x22);
  const BoxKeyPair service = BoxKeyPair::FromSecret(secret);
  ASSERT_TRUE(
      RegisterGateway(dir.path(), {"vectors", gateway.public_key(), commands::kRolePayments}).ok());
  auto registry = GatewayRegistry::Load(dir.path(), service);
  ASSERT_TRUE(registry.ok());
  NonceWindow window(kReplayWindowUs, 16);
  Gatekeeper gk(&registry.value(), &window);
  AdmittedRequest req;
  std::string err;
  const int64_t now_us = TestVectorRequest().timestamp_us();
  ASSERT_TRUE(gk.Admit(Unhex(kEnvelope), now_us, &req, &err));
  ASSERT_EQ(req.commands.size(), 1u);
  EXPECT_EQ(req.commands[0].SerializeAsString(),
            TestVectorRequest().commands(0).SerializeAsString());
  EXPECT_EQ(req.gateway->entry.name, "vectors");
}

}  // namespace
}  // namespace giftledger::ingress

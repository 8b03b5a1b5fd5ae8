#include "commands/ingress/gatekeeper.h"

#include <gtest/gtest.h>

#include "commands/decide.h"
#include "commands/ingress/limits.h"
#include "ledger/crypto.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::ingress {
namespace {

constexpr int64_t kNowUs = 1'700'000'000'000'000;

schemas::Command TopUpCommand(uint64_t user, int64_t amount, uint8_t tx_byte) {
  schemas::Command c;
  c.set_tx_id(std::string(16, char(tx_byte)));
  c.mutable_top_up()->set_user(user);
  c.mutable_top_up()->set_amount(amount);
  c.mutable_top_up()->set_payment_ref("pay-1");
  return c;
}

class GatekeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    service_ = BoxKeyPair::Generate();
    gateway_ = BoxKeyPair::Generate();
    ASSERT_TRUE(RegisterGateway(dir_.path(), {"app", gateway_.public_key(),
                                              commands::kRoleGifts | commands::kRolePayments})
                    .ok());
    auto reg = GatewayRegistry::Load(dir_.path(), service_);
    ASSERT_TRUE(reg.ok());
    registry_ = std::move(reg.value());
    auto shared = SharedKey::Derive(service_.public_key(), gateway_);
    ASSERT_TRUE(shared.ok());
    shared_ = shared.value();
  }

  std::string Request(int n, int64_t ts, const BoxNonce& nonce) {
    schemas::Request r;
    r.set_timestamp_us(ts);
    for (int i = 0; i < n; ++i) *r.add_commands() = TopUpCommand(7, 100, uint8_t(i + 1));
    return SealRequest(KeyIdOf(gateway_.public_key()), shared_, nonce, r);
  }

  schemas::Envelope Parse(const std::string& bytes) {
    schemas::Envelope e;
    EXPECT_TRUE(e.ParseFromString(bytes));
    return e;
  }

  testing::TempDir dir_;
  BoxKeyPair service_, gateway_;
  GatewayRegistry registry_;
  SharedKey shared_;
  NonceWindow window_{kReplayWindowUs, 1000};
};

TEST_F(GatekeeperTest, AdmittedRequestCarriesCommandsRolesAndRepliesOpen) {
  Gatekeeper gk(&registry_, &window_);
  BoxNonce nonce = RandomNonce();
  AdmittedRequest req;
  std::string err;
  ASSERT_TRUE(gk.Admit(Request(3, kNowUs, nonce), kNowUs, &req, &err)) << err;
  ASSERT_EQ(req.commands.size(), 3u);
  EXPECT_EQ(req.gateway->entry.name, "app");
  EXPECT_EQ(req.gateway->entry.roles, commands::kRoleGifts | commands::kRolePayments);
  std::vector<schemas::CommandResult> results(3);
  for (int i = 0; i < 3; ++i) results[i].set_seq(uint64_t(i + 1));
  auto reply = OpenReply(Gatekeeper::SealResults(req, results, kNowUs), shared_, nonce);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_EQ(reply->results_size(), 3);
  EXPECT_EQ(reply->results(2).seq(), 3u);
}

TEST_F(GatekeeperTest, UnknownGatewayGetsPlaintextError) {
  Gatekeeper gk(&registry_, &window_);
  BoxKeyPair stranger = BoxKeyPair::Generate();
  auto shared = SharedKey::Derive(service_.public_key(), stranger).value();
  schemas::Request r;
  r.set_timestamp_us(kNowUs);
  *r.add_commands() = TopUpCommand(1, 1, 1);
  AdmittedRequest req;
  std::string err;
  EXPECT_FALSE(gk.Admit(SealRequest(KeyIdOf(stranger.public_key()), shared, RandomNonce(), r),
                        kNowUs, &req, &err));
  EXPECT_EQ(Parse(err).error(), schemas::UNKNOWN_GATEWAY);
}

TEST_F(GatekeeperTest, FlippedCiphertextByteIsBadMac) {
  Gatekeeper gk(&registry_, &window_);
  schemas::Envelope env = Parse(Request(1, kNowUs, RandomNonce()));
  std::string ct = env.ciphertext();
  ct[ct.size() / 2] ^= 1;
  env.set_ciphertext(ct);
  AdmittedRequest req;
  std::string err;
  EXPECT_FALSE(gk.Admit(env.SerializeAsString(), kNowUs, &req, &err));
  EXPECT_EQ(Parse(err).error(), schemas::BAD_MAC);
}

TEST_F(GatekeeperTest, GarbageBytesAreMalformed) {
  Gatekeeper gk(&registry_, &window_);
  AdmittedRequest req;
  std::string err;
  EXPECT_FALSE(gk.Admit("\xff\xff\xff not protobuf", kNowUs, &req, &err));
  EXPECT_EQ(Parse(err).error(), schemas::MALFORMED);
}

TEST_F(GatekeeperTest, WrongVersionIsUnsupported) {
  Gatekeeper gk(&registry_, &window_);
  schemas::Envelope env = Parse(Request(1, kNowUs, RandomNonce()));
  env.set_version(2);
  AdmittedRequest req;
  std::string err;
  EXPECT_FALSE(gk.Admit(env.SerializeAsString(), kNowUs, &req, &err));
  EXPECT_EQ(Parse(err).error(), schemas::UNSUPPORTED_VERSION);
}

TEST_F(GatekeeperTest, StaleTimestampIsRejectedEncrypted) {
  Gatekeeper gk(&registry_, &window_);
  BoxNonce nonce = RandomNonce();
  AdmittedRequest req;
  std::string err;
  EXPECT_FALSE(gk.Admit(Request(1, kNowUs - kReplayWindowUs - 1, nonce), kNowUs, &req, &err));
  auto reply = OpenReply(err, shared_, nonce);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->error(), schemas::STALE);
  EXPECT_EQ(reply->results_size(), 0);
}

TEST_F(GatekeeperTest, ReplayedNonceIsRejectedInsideTheWindow) {
  Gatekeeper gk(&registry_, &window_);
  BoxNonce nonce = RandomNonce();
  std::string bytes = Request(1, kNowUs, nonce);
  AdmittedRequest req;
  std::string err;
  ASSERT_TRUE(gk.Admit(bytes, kNowUs, &req, &err));
  EXPECT_FALSE(gk.Admit(bytes, kNowUs + 1000, &req, &err));
  auto reply = OpenReply(err, shared_, nonce);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->error(), schemas::REPLAYED);
  // Once the timestamp has left the window the same bytes are stale, not new.
  EXPECT_FALSE(gk.Admit(bytes, kNowUs + kReplayWindowUs + 1, &req, &err));
  EXPECT_EQ(OpenReply(err, shared_, nonce)->error(), schemas::STALE);
}

TEST_F(GatekeeperTest, OversizeBatchIsRejected) {
  Gatekeeper gk(&registry_, &window_);
  BoxNonce nonce = RandomNonce();
  AdmittedRequest req;
  std::string err;
  EXPECT_FALSE(gk.Admit(Request(int(kBatchCommandsMax) + 1, kNowUs, nonce), kNowUs, &req, &err));
  EXPECT_EQ(OpenReply(err, shared_, nonce)->error(), schemas::BATCH_TOO_LARGE);
  EXPECT_FALSE(gk.Admit(Request(0, kNowUs, RandomNonce()), kNowUs, &req, &err));
}

TEST_F(GatekeeperTest, ReplyToAnotherRequestIsRefusedByTheClient) {
  Gatekeeper gk(&registry_, &window_);
  AdmittedRequest req;
  std::string err;
  ASSERT_TRUE(gk.Admit(Request(1, kNowUs, RandomNonce()), kNowUs, &req, &err));
  std::string reply = Gatekeeper::SealResults(req, {schemas::CommandResult()}, kNowUs);
  EXPECT_FALSE(OpenReply(reply, shared_, RandomNonce()).ok());
}

TEST(NonceWindow, FullCacheRefusesInsteadOfForgetting) {
  NonceWindow w(kReplayWindowUs, 2);
  KeyId k{};
  BoxNonce a{}, b{}, c{};
  b[0] = 1;
  c[0] = 2;
  EXPECT_EQ(w.Admit(k, a, kNowUs, kNowUs), schemas::ENVELOPE_OK);
  EXPECT_EQ(w.Admit(k, b, kNowUs, kNowUs), schemas::ENVELOPE_OK);
  EXPECT_EQ(w.Admit(k, c, kNowUs, kNowUs), schemas::BUSY);
  // After the window the old nonces are evicted and room is free again.
  EXPECT_EQ(w.Admit(k, c, kNowUs + kReplayWindowUs + 1, kNowUs + kReplayWindowUs + 1),
            schemas::ENVELOPE_OK);
  EXPECT_EQ(w.size(), 1u);
}

TEST(GatewayRegistry, RolesParseAndUnknownRoleIsRefused) {
  EXPECT_EQ(ParseRoles("gifts,ops").value(), commands::kRoleGifts | commands::kRoleOps);
  EXPECT_FALSE(ParseRoles("gifts,admin").ok());
  EXPECT_FALSE(ParseRoles("").ok());
  EXPECT_EQ(RolesToString(commands::kRolePayments | commands::kRoleAudit), "payments,audit");
}

TEST(GatewayRegistry, DuplicateNameOrKeyIsRefused) {
  CryptoInit();
  testing::TempDir dir;
  BoxKeyPair a = BoxKeyPair::Generate(), b = BoxKeyPair::Generate();
  ASSERT_TRUE(RegisterGateway(dir.path(), {"a", a.public_key(), commands::kRoleGifts}).ok());
  EXPECT_EQ(RegisterGateway(dir.path(), {"a", b.public_key(), commands::kRoleGifts}).code(),
            Code::kAlreadyExists);
  EXPECT_EQ(RegisterGateway(dir.path(), {"b", a.public_key(), commands::kRoleGifts}).code(),
            Code::kAlreadyExists);
  auto all = ReadGateways(dir.path());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

}  // namespace
}  // namespace giftledger::ingress

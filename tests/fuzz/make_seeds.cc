// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/),
// signed and sealed with the fixed keys of fuzz_keys.h:
//   make_seeds OUT_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "commands/ingress/gatekeeper.h"
#include "commands/routing.h"
#include "ledger/block.h"
#include "ledger/crypto.h"
#include "schemas/protocol.pb.h"
#include "tests/fuzz/fuzz_keys.h"

using namespace giftledger;

namespace {

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string Block(const SigningKey& key, Seq first, const Hash32& prev, int events, Hash32* hash) {
  BlockEncoder enc;
  EventBatch batch;
  for (int i = 0; i < events; ++i) {
    GL_ASSERT(batch.Add("event-" + std::to_string(first.value + uint64_t(i))).ok());
  }
  enc.Add(batch);
  BlockHeader h;
  h.first_seq = first;
  h.ledger_time_us = fuzz::kNowUs;
  h.prev_block_hash = prev;
  h.durable_seq = Seq{first.value - 1};
  BlockHeader out;
  return enc.Finish(h, key, hash, &out);
}

std::string Tx(uint64_t n) {
  std::string t(16, '\0');
  for (int i = 0; i < 8; ++i) t[size_t(i)] = char(n >> (8 * i));
  t[15] = 0x42;
  return t;
}

schemas::Request GiftStory() {
  schemas::Request r;
  r.set_timestamp_us(1'000'000);
  auto add = [&](uint64_t n) {
    schemas::Command* c = r.add_commands();
    c->set_tx_id(Tx(n));
    return c;
  };
  add(1)->mutable_top_up()->set_user(1), r.mutable_commands(0)->mutable_top_up()->set_amount(500);
  auto* po = add(2)->mutable_place_order();
  po->set_payer(1), po->set_host(9), po->set_room(7), po->set_gift(2), po->set_count(3);
  po->set_ttl_us(60'000'000);
  auto* co = add(3)->mutable_consume_order();
  co->set_payer(1), co->set_order_id(Tx(2)), co->set_combo_id(Tx(50)), co->set_combo_count(1);
  auto* po2 = add(4)->mutable_place_order();
  po2->set_payer(2), po2->set_host(9), po2->set_room(7), po2->set_gift(1), po2->set_count(1);
  po2->set_ttl_us(2'000'000);
  auto* cc = add(5)->mutable_cancel_order();
  cc->set_payer(2), cc->set_order_id(Tx(4));
  auto* rf = add(6)->mutable_refund();
  rf->set_payer(1), rf->set_order_id(Tx(2)), rf->set_reason("test");
  auto* sl = add(7)->mutable_set_limits();
  sl->set_user(3), sl->set_day_max(50);
  auto* hc = r.add_commands();
  hc->set_tx_id(commands::DeriveHostCreditTxId(ShardId{0}, *commands::TxId::FromBytes(Tx(3))).str());
  auto* h = hc->mutable_host_credit();
  h->set_host(9), h->set_amount(30), h->set_gift_tx_id(Tx(3)), h->set_gift_seq(3);
  auto* pay = add(9)->mutable_payout();
  pay->set_host(9), pay->set_amount(10);
  add(10)->mutable_set_privacy()->set_user(1);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  std::string out = argv[1];
  CryptoInit();
  auto seed = fuzz::Filled(fuzz::kSigningSeedByte);
  SigningKey key = SigningKey::FromSeed(seed.data()).value();
  Hash32 h1, h2, h3;
  std::string b1 = Block(key, Seq{1}, Hash32{}, 1, &h1);
  std::string b2 = Block(key, Seq{2}, h1, 5, &h2);
  std::string b3 = Block(key, Seq{7}, h2, 2, &h3);
  Write(out + "/block_decoder", "one_event", b1);
  Write(out + "/block_decoder", "five_events", b2);
  Write(out + "/segment_recovery", "three_blocks", b1 + b2 + b3);
  Write(out + "/segment_recovery", "torn_tail", b1 + b2 + b3.substr(0, b3.size() / 2));
  schemas::Request story = GiftStory();
  Write(out + "/command", "gift_story", story.SerializeAsString());
  auto s = fuzz::Filled(fuzz::kServiceSecretByte), g = fuzz::Filled(fuzz::kGatewaySecretByte);
  auto service = ingress::BoxKeyPair::FromSecret(s.data());
  auto gateway = ingress::BoxKeyPair::FromSecret(g.data());
  auto shared = ingress::SharedKey::Derive(service.public_key(), gateway).value();
  story.set_timestamp_us(fuzz::kNowUs);
  ingress::BoxNonce nonce{};
  nonce[0] = 1;
  std::string env =
      ingress::SealRequest(ingress::KeyIdOf(gateway.public_key()), shared, nonce, story);
  Write(out + "/envelope", "sealed_request", std::string(1, '\0') + env);
  Write(out + "/envelope", "plaintext_request", std::string(1, '\1') + story.SerializeAsString());
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}

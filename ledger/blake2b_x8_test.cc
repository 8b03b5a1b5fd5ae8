#include "ledger/blake2b_x8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ledger/crypto.h"

namespace giftledger {
namespace {

Hash32 Reference(uint8_t prefix, const std::string& data) {
  std::string all(1, char(prefix));
  all += data;
  return Blake2b256(reinterpret_cast<const uint8_t*>(all.data()), all.size());
}

// Lengths straddle every block boundary, lanes mix short and long messages.
TEST(Blake2bX8, MatchesLibsodiumForMixedLengthsAcrossBlockBoundaries) {
  CryptoInit();
  std::mt19937 rng(7);
  std::vector<size_t> sizes = {0, 1, 63, 64, 126, 127, 128, 129, 160, 255, 256, 257, 1000, 4096};
  for (int round = 0; round < 40; ++round) {
    size_t n = 1 + rng() % 37;
    std::vector<std::string> data(n);
    std::vector<PrefixedMessage> msgs(n);
    for (size_t i = 0; i < n; ++i) {
      data[i].resize(sizes[rng() % sizes.size()]);
      for (char& c : data[i]) c = char(rng());
      msgs[i] = {uint8_t(rng() % 2), reinterpret_cast<const uint8_t*>(data[i].data()),
                 data[i].size()};
    }
    std::vector<Hash32> out(n);
    Blake2b256Prefixed(msgs.data(), n, out.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[i], Reference(msgs[i].prefix, data[i])) << "round " << round << " msg " << i
                                                            << " size " << data[i].size();
    }
  }
}

TEST(Blake2bX8, LeafHashOfEventEqualsScalarLeafHash) {
  CryptoInit();
  std::vector<std::string> events;
  for (int i = 0; i < 16; ++i) events.push_back(std::string(160, char('a' + i)));
  std::vector<PrefixedMessage> msgs;
  for (auto& e : events) msgs.push_back({0x00, reinterpret_cast<const uint8_t*>(e.data()), e.size()});
  std::vector<Hash32> out(msgs.size());
  Blake2b256Prefixed(msgs.data(), msgs.size(), out.data());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(out[i], LeafHash(events[i]));
}

}  // namespace
}  // namespace giftledger

// Fixed keys for the fuzz targets and their seed corpora: seeds are signed
// and sealed with these, so that mutations start from inputs that pass.
#pragma once

#include <array>
#include <cstdint>

namespace giftledger::fuzz {

inline std::array<uint8_t, 32> Filled(uint8_t byte) {
  std::array<uint8_t, 32> a;
  a.fill(byte);
  return a;
}

inline constexpr uint8_t kSigningSeedByte = 0x5a;
inline constexpr uint8_t kGatewaySecretByte = 0x11;
inline constexpr uint8_t kServiceSecretByte = 0x22;
// 2024-03-10T12:00:00Z, the time every fuzzed request and command uses.
inline constexpr int64_t kNowUs = 1'710'072'000'000'000;

}  // namespace giftledger::fuzz

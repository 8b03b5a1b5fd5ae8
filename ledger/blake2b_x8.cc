#include "ledger/blake2b_x8.h"

// GCC 12's _mm512_ror_epi64 passes an "undefined" vector as its unused mask
// source, which -Wmaybe-uninitialized misreads (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "ledger/status.h"

namespace giftledger {
namespace {

constexpr uint64_t kIv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

constexpr uint8_t kSigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

constexpr size_t kLanes = 8;
constexpr size_t kBlockBytes = 128;

// Bytes [offset, offset+128) of a prefixed message, zero padded.
void LoadBlock(const PrefixedMessage& m, size_t offset, uint8_t* out) {
  std::memset(out, 0, kBlockBytes);
  size_t total = 1 + m.size;
  if (offset >= total) return;
  size_t pos = 0;
  if (offset == 0) out[pos++] = m.prefix;
  size_t data_from = offset == 0 ? 0 : offset - 1;
  size_t n = std::min(kBlockBytes - pos, m.size - std::min(m.size, data_from));
  if (n > 0) std::memcpy(out + pos, m.data + data_from, n);
}

size_t BlockCount(const PrefixedMessage& m) { return (1 + m.size + kBlockBytes - 1) / kBlockBytes; }

__attribute__((target("avx512f"))) inline void G(__m512i& a, __m512i& b, __m512i& c, __m512i& d,
                                                 __m512i x, __m512i y) {
  a = _mm512_add_epi64(_mm512_add_epi64(a, b), x);
  d = _mm512_ror_epi64(_mm512_xor_si512(d, a), 32);
  c = _mm512_add_epi64(c, d);
  b = _mm512_ror_epi64(_mm512_xor_si512(b, c), 24);
  a = _mm512_add_epi64(_mm512_add_epi64(a, b), y);
  d = _mm512_ror_epi64(_mm512_xor_si512(d, a), 16);
  c = _mm512_add_epi64(c, d);
  b = _mm512_ror_epi64(_mm512_xor_si512(b, c), 63);
}

// Eight messages, one per lane; lanes with fewer blocks keep their state
// (masked) once they are done.
__attribute__((target("avx512f"))) void HashEight(const PrefixedMessage* msgs, Hash32* out) {
  __m512i h[8];
  for (int i = 0; i < 8; ++i) h[i] = _mm512_set1_epi64(int64_t(kIv[i]));
  h[0] = _mm512_xor_si512(h[0], _mm512_set1_epi64(0x01010020));  // digest 32, no key, fanout 1
  size_t blocks[kLanes], most = 0;
  for (size_t l = 0; l < kLanes; ++l) most = std::max(most, blocks[l] = BlockCount(msgs[l]));
  alignas(64) uint8_t raw[kLanes][kBlockBytes];
  alignas(64) uint64_t words[16][kLanes];
  alignas(64) uint64_t counter[kLanes], final_flag[kLanes];
  for (size_t k = 0; k < most; ++k) {
    __mmask8 active = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      LoadBlock(msgs[l], k * kBlockBytes, raw[l]);
      bool last = k + 1 == blocks[l];
      if (k < blocks[l]) active |= __mmask8(1u << l);
      counter[l] = last ? 1 + msgs[l].size : (k + 1) * kBlockBytes;
      final_flag[l] = last ? ~0ULL : 0;
      for (int w = 0; w < 16; ++w) std::memcpy(&words[w][l], raw[l] + 8 * w, 8);
    }
    __m512i m[16];
    for (int w = 0; w < 16; ++w) m[w] = _mm512_load_si512(words[w]);
    __m512i v[16];
    for (int i = 0; i < 8; ++i) v[i] = h[i];
    for (int i = 0; i < 8; ++i) v[8 + i] = _mm512_set1_epi64(int64_t(kIv[i]));
    v[12] = _mm512_xor_si512(v[12], _mm512_load_si512(counter));
    v[14] = _mm512_xor_si512(v[14], _mm512_load_si512(final_flag));
    for (int r = 0; r < 12; ++r) {
      const uint8_t* s = kSigma[r];
      G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
      G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
      G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
      G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
      G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
      G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
      G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
      G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; ++i) {
      __m512i next = _mm512_xor_si512(h[i], _mm512_xor_si512(v[i], v[i + 8]));
      h[i] = _mm512_mask_blend_epi64(active, h[i], next);
    }
  }
  alignas(64) uint64_t state[4][kLanes];
  for (int i = 0; i < 4; ++i) _mm512_store_si512(state[i], h[i]);
  for (size_t l = 0; l < kLanes; ++l) {
    for (int i = 0; i < 4; ++i) std::memcpy(out[l].data() + 8 * i, &state[i][l], 8);
  }
}

void HashOne(const PrefixedMessage& m, Hash32* out) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kHashBytes);
  crypto_generichash_update(&st, &m.prefix, 1);
  if (m.size > 0) crypto_generichash_update(&st, m.data, m.size);
  crypto_generichash_final(&st, out->data(), kHashBytes);
}

bool DetectAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

}  // namespace

bool Blake2bX8Available() {
  static const bool available = DetectAvx512();
  return available;
}

void Blake2b256Prefixed(const PrefixedMessage* msgs, size_t n, Hash32* out) {
  size_t i = 0;
  if (Blake2bX8Available()) {
    for (; i + kLanes <= n; i += kLanes) HashEight(msgs + i, out + i);
  }
  for (; i < n; ++i) HashOne(msgs[i], out + i);
}

}  // namespace giftledger

// Arbitrary bytes through the block decoder and every block check: nothing
// may crash, read out of bounds or accept a block whose checks fail.
#include <cstddef>
#include <cstdint>

#include "ledger/block.h"
#include "ledger/crypto.h"
#include "tests/fuzz/fuzz_keys.h"

using namespace giftledger;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SigningKey key = [] {
    CryptoInit();
    auto seed = fuzz::Filled(fuzz::kSigningSeedByte);
    return SigningKey::FromSeed(seed.data()).value();
  }();
  BlockView b;
  if (!ParseBlock(data, size, &b).ok()) return 0;
  GL_ASSERT(b.size_bytes() <= size);
  bool hash_ok = CheckBlockHash(b).ok();
  bool sig_ok = CheckBlockSignature(b, key.public_key()).ok();
  if (!CheckBlockBody(b).ok()) return 0;
  uint64_t events = 0, bytes = 0;
  ForEachEvent(b, [&](Seq seq, std::string_view ev) {
    GL_ASSERT(seq.value == b.header.first_seq.value + events);
    GL_ASSERT(!ev.empty() && ev.size() <= kEventBytesMax);
    ++events;
    bytes += kEventFrameBytes + ev.size();
  });
  GL_ASSERT(events == b.header.event_count);
  GL_ASSERT(bytes == b.header.body_bytes);
  (void)hash_ok;
  (void)sig_ok;
  return 0;
}

// Arbitrary bytes as the only segment of a shard, then the read-only scan and
// the recovering open: either a typed error, or a log whose every block
// verifies after recovery. Never a crash, never a silently accepted bad block.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ledger/crypto.h"
#include "ledger/recovery.h"
#include "ledger/segment.h"
#include "tests/fuzz/fuzz_keys.h"

using namespace giftledger;

namespace {

// Leaked on purpose: the exit handler that removes the directory runs after
// static destructors would have freed it.
const std::string& ShardDirForRun() {
  static const std::string* dir = [] {
    // tmpfs when there is one: recovery fsyncs, and a disk flush per input
    // would cut the executions a hundredfold.
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = base + "/giftledger-fuzz-XXXXXX";
    GL_ASSERT(::mkdtemp(tmpl.data()) != nullptr);
    auto* d = new std::string(tmpl);
    std::atexit([] { std::filesystem::remove_all(ShardDirForRun()); });
    return d;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const PublicKey key = [] {
    CryptoInit();
    auto seed = fuzz::Filled(fuzz::kSigningSeedByte);
    return SigningKey::FromSeed(seed.data()).value().public_key();
  }();
  const std::string& dir = ShardDirForRun();
  std::string seg = dir + "/" + SegmentFileName(Seq{1});
  {
    std::ofstream f(seg, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  ScanOptions opt;
  opt.check_all_bodies = true;
  auto before = ScanShard(dir, ShardId{0}, key, opt);
  auto rec = RecoverShard(FileSystem::Default(), dir, ShardId{0}, key,
                          RecoveryMode::kTruncateTornTail, size + 4096);
  GL_ASSERT(before.ok() == rec.ok());
  if (rec.ok()) {
    // After recovery the shard must verify in full, with the same events.
    auto after = ScanShard(dir, ShardId{0}, key, opt);
    GL_ASSERT(after.ok());
    GL_ASSERT(!after->torn_tail);
    GL_ASSERT(after->next_seq == before->next_seq);
  } else {
    GL_ASSERT(rec.status().code() == Code::kDataLoss);
  }
  ::unlink(seg.c_str());
  return 0;
}

#include "commands/run_index.h"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <thread>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace giftledger::commands {

namespace {

constexpr char kRunSuffix[] = ".run";
constexpr char kTempSuffix[] = ".run.tmp";

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t CrcPortable(uint32_t crc, const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t CrcHardware(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = uint32_t(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

// SplitMix64's finalizer: spreads the Bloom hash over the in-block bits.
uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t BloomHash(const SipKey& key, const TxId& tx) {
  const uint64_t m[2] = {GetU64(tx.bytes.data()), GetU64(tx.bytes.data() + 8)};
  return SipHash<1, 3>(key, m);
}

// The 64-byte block of `h` and its kRunBloomK bit positions (9 bits each).
uint64_t BloomBlock(uint64_t h, uint64_t blocks) { return (uint64_t(uint32_t(h)) * blocks) >> 32; }

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

uint32_t Crc32cPortable(const uint8_t* data, size_t size) { return ~CrcPortable(~0u, data, size); }

uint32_t Crc32cExtend(uint32_t crc, const uint8_t* data, size_t size) {
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return ~CrcHardware(~crc, data, size);
#endif
  return ~CrcPortable(~crc, data, size);
}

uint32_t Crc32c(const uint8_t* data, size_t size) { return Crc32cExtend(0, data, size); }

namespace run_detail {

std::string RunName(const char* prefix, uint64_t seq_lo, uint64_t seq_hi) {
  char name[96];
  std::snprintf(name, sizeof(name), "%s-%020llu-%020llu.run", prefix,
                static_cast<unsigned long long>(seq_lo), static_cast<unsigned long long>(seq_hi));
  return name;
}

bool ParseRunName(const std::string& name, const char* prefix, uint64_t* lo, uint64_t* hi) {
  // prefix "-" 20 digits "-" 20 digits ".run"
  const size_t p = std::strlen(prefix);
  if (name.size() != p + 1 + 20 + 1 + 20 + 4 || name.compare(0, p, prefix) != 0 || name[p] != '-' ||
      name[p + 21] != '-' || name.compare(p + 42, 4, kRunSuffix) != 0) {
    return false;
  }
  auto digits = [&](size_t at, uint64_t* v) {
    *v = 0;
    for (size_t i = at; i < at + 20; ++i) {
      if (name[i] < '0' || name[i] > '9') return false;
      *v = *v * 10 + uint64_t(name[i] - '0');
    }
    return true;
  };
  return digits(p + 1, lo) && digits(p + 22, hi);
}

bool IsTempName(const std::string& name) { return EndsWith(name, kTempSuffix); }

RunFileWriter::~RunFileWriter() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(temp_path_.c_str());  // never finished: nothing durable was promised
}

Status RunFileWriter::Create(const std::string& path, const uint8_t* header,
                             const char* footer_magic, uint64_t count, size_t record_bytes,
                             uint64_t bloom_blocks, const SipKey& bloom_key, bool sync,
                             uint64_t bytes_per_s) {
  GL_ASSERT(fd_ < 0 && record_bytes > 0 && record_bytes <= kRunWriteChunkBytes);
  path_ = path;
  std::memcpy(footer_magic_, footer_magic, sizeof(footer_magic_));
  temp_path_ = path + ".tmp";
  count_ = count;
  record_bytes_ = record_bytes;
  bloom_.assign(size_t(bloom_blocks * 64), 0);
  bloom_blocks_ = bloom_blocks;
  bloom_key_ = bloom_key;
  sync_ = sync;
  bytes_per_s_ = bytes_per_s;
  started_ = std::chrono::steady_clock::now();
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) return ErrnoStatus("open " + temp_path_, errno);
  buffer_.reserve(kRunWriteChunkBytes);
  return Append(header, kRunHeaderBytes);
}

Status RunFileWriter::Add(const uint8_t* record) {
  GL_ASSERT(fd_ >= 0 && added_ < count_);
  if (added_ > 0) GL_ASSERT(std::memcmp(last_key_, record, sizeof(last_key_)) < 0);
  std::memcpy(last_key_, record, sizeof(last_key_));
  ++added_;
  if (bloom_blocks_ != 0) {
    TxId tx;
    std::memcpy(tx.bytes.data(), record, sizeof(last_key_));
    BloomSet(bloom_.data(), bloom_blocks_, bloom_key_, tx);
  }
  return Append(record, record_bytes_);
}

Status RunFileWriter::Finish() {
  GL_ASSERT(fd_ >= 0 && added_ == count_);
  GL_RETURN_IF_ERROR(Append(bloom_.data(), bloom_.size()));
  uint8_t footer[kRunFooterBytes];
  PutU32(footer, crc_);
  std::memcpy(footer + 4, footer_magic_, 4);
  GL_RETURN_IF_ERROR(Append(footer, sizeof(footer)));
  GL_RETURN_IF_ERROR(Flush());
  if (sync_ && ::fsync(fd_) != 0) return ErrnoStatus("fsync " + temp_path_, errno);
  if (::close(std::exchange(fd_, -1)) != 0) {
    ::unlink(temp_path_.c_str());
    return ErrnoStatus("close " + temp_path_, errno);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return ErrnoStatus("rename " + temp_path_, err);
  }
  return sync_ ? FileSystem::Default()->SyncDir(DirName(path_)) : Status::Ok();
}

Status RunFileWriter::Append(const uint8_t* data, size_t size) {
  crc_ = Crc32cExtend(crc_, data, size);
  while (size > 0) {
    const size_t n = std::min(size, kRunWriteChunkBytes - buffer_.size());
    buffer_.insert(buffer_.end(), data, data + n);
    data += n;
    size -= n;
    if (buffer_.size() == kRunWriteChunkBytes) GL_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

// Each chunk is handed to writeback as soon as it is written and waited for
// one chunk later (RocksDB's bytes_per_sync): a run of 100 MB dirtied at once
// and fsynced at the end queues that much ahead of the log's small
// fdatasyncs on the same disk, and stalled the shard's commits for seconds in
// the soak. Errors surface in the fsync of Finish, the one that counts; these
// calls only pace the writeback.
Status RunFileWriter::Flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("write " + temp_path_, errno);
    done += size_t(n);
  }
  const uint64_t before = written_bytes_;
  written_bytes_ += buffer_.size();
  buffer_.clear();
  if (bytes_per_s_ != 0) {
    // Not before written / rate seconds since Create.
    const auto due =
        started_ + std::chrono::microseconds(written_bytes_ * 1'000'000 / bytes_per_s_);
    std::this_thread::sleep_until(due);
  }
  if (!sync_ || written_bytes_ == before) return Status::Ok();
  (void)::sync_file_range(fd_, off_t(before), off_t(written_bytes_ - before),
                          SYNC_FILE_RANGE_WRITE);
  if (before > synced_bytes_) {
    (void)::sync_file_range(
        fd_, off_t(synced_bytes_), off_t(before - synced_bytes_),
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    synced_bytes_ = before;
  }
  return Status::Ok();
}

SipKey RandomBloomKey() { return DrawProcessHashKey(); }

void BloomSet(uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx) {
  const uint64_t h = BloomHash(key, tx);
  uint8_t* block = bloom + BloomBlock(h, blocks) * 64;
  const uint64_t g = Mix64(h);
  for (uint32_t k = 0; k < kRunBloomK; ++k) {
    const uint32_t bit = uint32_t(g >> (9 * k)) & 511;
    block[bit / 8] |= uint8_t(1u << (bit % 8));
  }
}

bool BloomTest(const uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx) {
  return BloomProbeTest(BloomLocate(bloom, blocks, key, tx));
}

BloomProbe BloomLocate(const uint8_t* bloom, uint64_t blocks, const SipKey& key, const TxId& tx) {
  GL_ASSERT(blocks > 0);
  const uint64_t h = BloomHash(key, tx);
  return BloomProbe{bloom + BloomBlock(h, blocks) * 64, Mix64(h)};
}

bool BloomProbeTest(const BloomProbe& probe) {
  if (probe.block == nullptr) return true;
  for (uint32_t k = 0; k < kRunBloomK; ++k) {
    const uint32_t bit = uint32_t(probe.bits >> (9 * k)) & 511;
    if ((probe.block[bit / 8] & (1u << (bit % 8))) == 0) return false;
  }
  return true;
}

Result<std::vector<std::string>> ListRunDir(const std::string& dir) {
  if (!PathExists(dir)) {
    GL_RETURN_IF_ERROR(MakeDir(dir, 0700));
    GL_RETURN_IF_ERROR(FileSystem::Default()->SyncDir(DirName(dir)));
  }
  return ListDir(dir);
}

}  // namespace run_detail

}  // namespace giftledger::commands

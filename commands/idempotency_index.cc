#include "commands/idempotency_index.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "ledger/coding.h"

namespace giftledger::commands {

namespace {

constexpr uint8_t kMagic[4] = {'G', 'L', 'I', '1'};
constexpr uint8_t kFooterMagic[4] = {'G', 'L', 'I', 'F'};
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

// The 64-byte block of `h` and its kIdempotencyBloomK bit positions (9 bits each).
uint64_t BloomBlock(uint64_t h, uint64_t blocks) { return (uint64_t(uint32_t(h)) * blocks) >> 32; }

bool ParseRunName(const std::string& name, uint64_t* lo, uint64_t* hi) {
  // "idem-" 20 digits "-" 20 digits ".run"
  if (name.size() != 5 + 20 + 1 + 20 + 4 || name.compare(0, 5, "idem-") != 0 || name[25] != '-' ||
      name.compare(46, 4, kRunSuffix) != 0) {
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
  return digits(5, lo) && digits(26, hi);
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

Status WriteAll(int fd, const std::string& path, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("write " + path, errno);
    done += size_t(n);
  }
  return Status::Ok();
}

// temp + (fsync) + rename + (directory fsync).
Status WriteFileDurably(const std::string& path, const std::string& bytes, bool sync) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + tmp, errno);
  Status st = WriteAll(fd, tmp, bytes);
  if (st.ok() && sync && ::fsync(fd) != 0) st = ErrnoStatus("fsync " + tmp, errno);
  ::close(fd);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  return sync ? FileSystem::Default()->SyncDir(DirName(path)) : Status::Ok();
}

SipKey RandomBloomKey() { return DrawProcessHashKey(); }

}  // namespace

uint32_t Crc32cPortable(const uint8_t* data, size_t size) { return ~CrcPortable(~0u, data, size); }

uint32_t Crc32c(const uint8_t* data, size_t size) {
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return ~CrcHardware(~0u, data, size);
#endif
  return Crc32cPortable(data, size);
}

std::string IdempotencyDir(const std::string& shard_dir) {
  return JoinPath(shard_dir, "idempotency");
}

std::string IdempotencyRunName(uint64_t seq_lo, uint64_t seq_hi) {
  char name[64];
  std::snprintf(name, sizeof(name), "idem-%020llu-%020llu.run",
                static_cast<unsigned long long>(seq_lo), static_cast<unsigned long long>(seq_hi));
  return name;
}

// ---- IdempotencyRun ----------------------------------------------------------

Status IdempotencyRun::Write(const std::string& dir, uint64_t seq_lo, uint64_t seq_hi,
                             const std::vector<IdempotencyRecord>& sorted,
                             const IdempotencyIndexOptions& options) {
  GL_ASSERT(seq_lo < seq_hi);
  const uint64_t bits = uint64_t(sorted.size()) * options.bloom_bits_per_entry;
  const uint64_t blocks = (bits + 511) / 512;
  const SipKey key = RandomBloomKey();
  std::string f(kIdempotencyRunHeaderBytes + sorted.size() * kIdempotencyRecordBytes + blocks * 64 +
                    kIdempotencyRunFooterBytes,
                '\0');
  auto* p = reinterpret_cast<uint8_t*>(f.data());
  std::memcpy(p, kMagic, 4);
  PutU16(p + 4, 1);
  PutU16(p + 6, uint16_t(kIdempotencyRunHeaderBytes));
  PutU32(p + 8, uint32_t(kIdempotencyRecordBytes));
  PutU32(p + 12, kIdempotencyBloomK);
  PutU64(p + 16, sorted.size());
  PutU64(p + 24, seq_lo);
  PutU64(p + 32, seq_hi);
  PutU64(p + 40, blocks * 64);
  PutU64(p + 48, key.k0);
  PutU64(p + 56, key.k1);
  uint8_t* r = p + kIdempotencyRunHeaderBytes;
  uint8_t* bloom = r + sorted.size() * kIdempotencyRecordBytes;
  for (size_t i = 0; i < sorted.size(); ++i, r += kIdempotencyRecordBytes) {
    const IdempotencyRecord& rec = sorted[i];
    GL_ASSERT(i == 0 || sorted[i - 1].tx < rec.tx);
    GL_ASSERT(rec.entry.seq > seq_lo && rec.entry.seq <= seq_hi);
    std::memcpy(r, rec.tx.bytes.data(), kTxIdBytes);
    std::memcpy(r + 16, rec.entry.hash.data(), kCommandHashBytes);
    PutU64(r + 32, rec.entry.seq);
    PutU32(r + 40, uint32_t(rec.entry.code));
    if (blocks == 0) continue;
    const uint64_t h = BloomHash(key, rec.tx);
    uint8_t* block = bloom + BloomBlock(h, blocks) * 64;
    const uint64_t g = Mix64(h);
    for (uint32_t k = 0; k < kIdempotencyBloomK; ++k) {
      const uint32_t bit = uint32_t(g >> (9 * k)) & 511;
      block[bit / 8] |= uint8_t(1u << (bit % 8));
    }
  }
  uint8_t* footer = p + f.size() - kIdempotencyRunFooterBytes;
  PutU32(footer, Crc32c(p, f.size() - kIdempotencyRunFooterBytes));
  std::memcpy(footer + 4, kFooterMagic, 4);
  return WriteFileDurably(JoinPath(dir, IdempotencyRunName(seq_lo, seq_hi)), f, options.sync);
}

Result<std::shared_ptr<const IdempotencyRun>> IdempotencyRun::Open(const std::string& path) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  std::shared_ptr<IdempotencyRun> run(new IdempotencyRun());
  run->path_ = path;
  run->file_ = std::move(file.value());
  const uint8_t* p = run->file_->data();
  const uint64_t size = run->file_->size();
  auto bad = [&](const std::string& why) { return DataLoss(path + ": idempotency run " + why); };
  if (size < kIdempotencyRunHeaderBytes + kIdempotencyRunFooterBytes) return bad("truncated");
  if (std::memcmp(p, kMagic, 4) != 0 || GetU16(p + 4) != 1 ||
      GetU16(p + 6) != kIdempotencyRunHeaderBytes || GetU32(p + 8) != kIdempotencyRecordBytes) {
    return bad("header is not version 1");
  }
  const uint64_t count = GetU64(p + 16);
  const uint64_t bloom_bytes = GetU64(p + 40);
  const uint64_t body = size - kIdempotencyRunHeaderBytes - kIdempotencyRunFooterBytes;
  if (count > body / kIdempotencyRecordBytes || bloom_bytes % 64 != 0 ||
      count * kIdempotencyRecordBytes + bloom_bytes != body) {
    return bad("size does not match its header (truncated?)");
  }
  const uint8_t* footer = p + size - kIdempotencyRunFooterBytes;
  if (std::memcmp(footer + 4, kFooterMagic, 4) != 0) return bad("footer missing (truncated?)");
  if (Crc32c(p, size - kIdempotencyRunFooterBytes) != GetU32(footer)) {
    return bad("checksum mismatch");
  }
  if (GetU32(p + 12) != kIdempotencyBloomK) return bad("unknown Bloom filter parameters");
  run->count_ = size_t(count);
  run->seq_lo_ = GetU64(p + 24);
  run->seq_hi_ = GetU64(p + 32);
  run->bloom_blocks_ = bloom_bytes / 64;
  run->bloom_key_ = SipKey{GetU64(p + 48), GetU64(p + 56)};
  run->records_ = p + kIdempotencyRunHeaderBytes;
  run->bloom_ = run->records_ + count * kIdempotencyRecordBytes;
  uint64_t lo = 0, hi = 0;
  const size_t slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (!ParseRunName(name, &lo, &hi) || lo != run->seq_lo_ || hi != run->seq_hi_ || lo >= hi) {
    return bad("seq range differs from its file name");
  }
  // A checksummed file can still hold what a bug wrote: check what lookups
  // rely on (binary search needs strict order; seqs inside the range).
  for (size_t i = 0; i < run->count_; ++i) {
    const uint8_t* r = run->records_ + i * kIdempotencyRecordBytes;
    if (i > 0 && std::memcmp(r - kIdempotencyRecordBytes, r, kTxIdBytes) >= 0) {
      return bad("records not in strictly ascending tx id order");
    }
    const uint64_t seq = GetU64(r + 32);
    if (seq <= lo || seq > hi) return bad("record seq outside the run's range");
  }
  ::madvise(const_cast<uint8_t*>(p), size, MADV_RANDOM);
  return std::shared_ptr<const IdempotencyRun>(std::move(run));
}

TxId IdempotencyRun::tx(size_t i) const {
  TxId t;
  std::memcpy(t.bytes.data(), records_ + i * kIdempotencyRecordBytes, kTxIdBytes);
  return t;
}

IdempotencyRecord IdempotencyRun::record(size_t i) const {
  const uint8_t* r = records_ + i * kIdempotencyRecordBytes;
  IdempotencyRecord rec;
  std::memcpy(rec.tx.bytes.data(), r, kTxIdBytes);
  std::memcpy(rec.entry.hash.data(), r + 16, kCommandHashBytes);
  rec.entry.seq = GetU64(r + 32);
  rec.entry.code = schemas::ResultCode(GetU32(r + 40));
  return rec;
}

bool IdempotencyRun::MayContain(const TxId& tx) const {
  if (bloom_blocks_ == 0) return true;
  const uint64_t h = BloomHash(bloom_key_, tx);
  const uint8_t* block = bloom_ + BloomBlock(h, bloom_blocks_) * 64;
  const uint64_t g = Mix64(h);
  for (uint32_t k = 0; k < kIdempotencyBloomK; ++k) {
    const uint32_t bit = uint32_t(g >> (9 * k)) & 511;
    if ((block[bit / 8] & (1u << (bit % 8))) == 0) return false;
  }
  return true;
}

std::optional<IdempotencyEntry> IdempotencyRun::Find(const TxId& tx) const {
  if (!MayContain(tx)) return std::nullopt;
  size_t lo = 0, hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const int c =
        std::memcmp(records_ + mid * kIdempotencyRecordBytes, tx.bytes.data(), kTxIdBytes);
    if (c == 0) return record(mid).entry;
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return std::nullopt;
}

// ---- IdempotencyIndex --------------------------------------------------------

Result<std::shared_ptr<const IdempotencyIndex>> IdempotencyIndex::Open(
    const std::string& dir, const IdempotencyIndexOptions& options) {
  if (!PathExists(dir)) {
    GL_RETURN_IF_ERROR(MakeDir(dir, 0700));
    GL_RETURN_IF_ERROR(FileSystem::Default()->SyncDir(DirName(dir)));
  }
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  struct Found {
    uint64_t lo, hi;
    std::string path;
  };
  std::vector<Found> found;
  for (const std::string& n : names.value()) {
    if (EndsWith(n, kTempSuffix)) {  // a write that never reached its rename
      ::unlink(JoinPath(dir, n).c_str());
      continue;
    }
    uint64_t lo, hi;
    if (ParseRunName(n, &lo, &hi)) found.push_back({lo, hi, JoinPath(dir, n)});
  }
  // Tile (0, covered] from the left, widest run first at each start: a run
  // inside the covered range is the source of a merge that crashed before
  // deleting it.
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return a.lo != b.lo ? a.lo < b.lo : a.hi > b.hi;
  });
  std::shared_ptr<IdempotencyIndex> index(new IdempotencyIndex(dir, options));
  for (const Found& f : found) {
    if (f.hi <= index->covered_seq_) {
      spdlog::info("idempotency: {} is contained in a merged run; removed", f.path);
      ::unlink(f.path.c_str());
      continue;
    }
    if (f.lo != index->covered_seq_) {
      return DataLoss(dir + ": idempotency runs do not cover seqs (" +
                      std::to_string(index->covered_seq_) + ", " + std::to_string(f.lo) +
                      "] (a run file is missing); next run " + f.path);
    }
    auto run = IdempotencyRun::Open(f.path);
    if (!run.ok()) return run.status();
    index->runs_.push_back(std::move(run.value()));
    index->covered_seq_ = f.hi;
  }
  return std::shared_ptr<const IdempotencyIndex>(std::move(index));
}

std::optional<IdempotencyEntry> IdempotencyIndex::Find(const TxId& tx) const {
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    if (auto e = (*it)->Find(tx)) return e;
  }
  return std::nullopt;
}

size_t IdempotencyIndex::entries() const {
  size_t n = 0;
  for (const auto& r : runs_) n += r->count();
  return n;
}

Result<std::shared_ptr<const IdempotencyIndex>> IdempotencyIndex::Add(
    const std::vector<IdempotencyRecord>& sorted, uint64_t seq_hi) const {
  if (seq_hi <= covered_seq_) return InvalidArgument("idempotency run before the covered seq");
  GL_RETURN_IF_ERROR(IdempotencyRun::Write(dir_, covered_seq_, seq_hi, sorted, options_));
  auto run = IdempotencyRun::Open(JoinPath(dir_, IdempotencyRunName(covered_seq_, seq_hi)));
  if (!run.ok()) return run.status();
  std::shared_ptr<IdempotencyIndex> next(new IdempotencyIndex(*this));
  next->runs_.push_back(std::move(run.value()));
  next->covered_seq_ = seq_hi;
  while (next->runs_.size() >= 2) {
    const size_t n = next->runs_.size();
    if (next->runs_[n - 2]->count() > 2 * next->runs_[n - 1]->count()) break;
    if (Status st = next->MergeNewestTwo(); !st.ok()) {
      spdlog::warn("idempotency: merge failed, runs kept unmerged: {}", st.ToString());
      break;
    }
  }
  return std::shared_ptr<const IdempotencyIndex>(std::move(next));
}

Status IdempotencyIndex::MergeNewestTwo() {
  const size_t n = runs_.size();
  const IdempotencyRun& a = *runs_[n - 2];
  const IdempotencyRun& b = *runs_[n - 1];
  GL_ASSERT(a.seq_hi() == b.seq_lo());
  std::vector<IdempotencyRecord> merged;
  merged.reserve(a.count() + b.count());
  size_t i = 0, j = 0;
  while (i < a.count() || j < b.count()) {
    if (j == b.count() || (i < a.count() && a.tx(i) < b.tx(j))) {
      merged.push_back(a.record(i++));
    } else {
      merged.push_back(b.record(j++));
    }
  }
  GL_RETURN_IF_ERROR(IdempotencyRun::Write(dir_, a.seq_lo(), b.seq_hi(), merged, options_));
  auto run = IdempotencyRun::Open(JoinPath(dir_, IdempotencyRunName(a.seq_lo(), b.seq_hi())));
  if (!run.ok()) return run.status();
  // The merged run is durable: its sources can go (a crash before this is
  // cleaned by Open). Index objects still holding them keep their mappings.
  ::unlink(a.path().c_str());
  ::unlink(b.path().c_str());
  runs_.pop_back();
  runs_.back() = std::move(run.value());
  return Status::Ok();
}

void IdempotencyIndex::ForEach(const std::function<void(const IdempotencyRecord&)>& fn) const {
  std::vector<size_t> pos(runs_.size(), 0);
  for (;;) {
    int best = -1;
    TxId best_tx;
    for (size_t r = 0; r < runs_.size(); ++r) {
      if (pos[r] == runs_[r]->count()) continue;
      const TxId t = runs_[r]->tx(pos[r]);
      if (best < 0 || t < best_tx) {
        best = int(r);
        best_tx = t;
      }
    }
    if (best < 0) return;
    fn(runs_[size_t(best)]->record(pos[size_t(best)]++));
  }
}

}  // namespace giftledger::commands

#include "ledger/testing/shard_util.h"

#include <fcntl.h>
#include <unistd.h>

#include "ledger/coding.h"
#include "ledger/file.h"
#include "ledger/reader.h"
#include "ledger/segment.h"

namespace giftledger::testing {
namespace {

uint8_t FillerByte(uint64_t id, size_t i) { return uint8_t((id * 131 + i * 7 + (i >> 8)) & 0xff); }

int OpenOrDie(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  GL_ASSERT(fd >= 0);
  return fd;
}

}  // namespace

std::string EventFor(uint64_t id, size_t size_bytes) {
  GL_ASSERT(size_bytes >= 8);
  std::string e(size_bytes, '\0');
  PutU64(reinterpret_cast<uint8_t*>(e.data()), id);
  for (size_t i = 8; i < size_bytes; ++i) e[i] = char(FillerByte(id, i));
  return e;
}

bool IdOfEvent(std::string_view event, uint64_t* id) {
  if (event.size() < 8) return false;
  *id = GetU64(reinterpret_cast<const uint8_t*>(event.data()));
  return event == EventFor(*id, event.size());
}

EventBatch BatchOf(const std::vector<std::string>& events) {
  EventBatch b;
  for (const auto& e : events) GL_ASSERT(b.Add(e).ok());
  return b;
}

TestLedger FormatTestLedger(const std::string& dir) {
  CryptoInit();
  auto m = FormatLedger(dir, 1, kSegmentBytesMin);
  GL_ASSERT(m.ok());
  auto key = SigningKey::Load(SigningKeyPath(dir, ShardId{0}));
  GL_ASSERT(key.ok());
  return TestLedger{dir, m.value(), key.value(), ShardDir(dir, ShardId{0})};
}

WriterOptions SmallSegmentOptions(FileSystem* fs) {
  WriterOptions o;
  o.fs = fs;
  o.segment_bytes = kSegmentBytesMin;
  return o;
}

Result<std::unique_ptr<Writer>> OpenTestWriter(const TestLedger& l, WriterOptions options) {
  return Writer::Open(l.shard_dir, ShardId{0}, l.key, std::move(options));
}

std::vector<BlockExtent> ListBlocks(const std::string& segment_path) {
  auto f = MappedFile::Open(segment_path);
  GL_ASSERT(f.ok());
  const uint8_t* p = f.value()->data();
  uint64_t size = f.value()->size(), off = 0;
  std::vector<BlockExtent> out;
  while (off < size && !IsZeroHeader(p + off, size - off)) {
    BlockView b;
    if (!ParseBlock(p + off, size - off, &b).ok()) break;
    out.push_back({off, b.size_bytes(), b.header.first_seq, b.header.event_count});
    off += b.size_bytes();
  }
  return out;
}

std::vector<std::string> SegmentPaths(const std::string& shard_dir) {
  auto segs = ListSegments(shard_dir);
  GL_ASSERT(segs.ok());
  std::vector<std::string> out;
  for (const auto& s : segs.value()) out.push_back(s.path);
  return out;
}

uint64_t FileSize(const std::string& path) {
  int fd = OpenOrDie(path, O_RDONLY);
  off_t size = ::lseek(fd, 0, SEEK_END);
  ::close(fd);
  GL_ASSERT(size >= 0);
  return uint64_t(size);
}

std::string ReadRange(const std::string& path, uint64_t offset, uint64_t size_bytes) {
  int fd = OpenOrDie(path, O_RDONLY);
  std::string out(size_bytes, '\0');
  ssize_t n = ::pread(fd, out.data(), size_bytes, off_t(offset));
  ::close(fd);
  GL_ASSERT(n >= 0);
  out.resize(size_t(n));
  return out;
}

void WriteRange(const std::string& path, uint64_t offset, const std::string& bytes) {
  int fd = OpenOrDie(path, O_WRONLY);
  ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), off_t(offset));
  ::close(fd);
  GL_ASSERT(n == ssize_t(bytes.size()));
}

void FlipBit(const std::string& path, uint64_t offset, int bit) {
  std::string b = ReadRange(path, offset, 1);
  GL_ASSERT(b.size() == 1);
  b[0] = char(uint8_t(b[0]) ^ uint8_t(1u << bit));
  WriteRange(path, offset, b);
}

void TruncateFile(const std::string& path, uint64_t size_bytes) {
  GL_ASSERT(::truncate(path.c_str(), off_t(size_bytes)) == 0);
}

Result<std::vector<std::string>> ReadAllEvents(const std::string& shard_dir, ShardId shard,
                                               const PublicKey& key) {
  auto reader = LogReader::Open(shard_dir, shard, key);
  if (!reader.ok()) return reader.status();
  std::vector<std::string> events;
  Status gap;
  Status st = reader.value()->ReadEvents(Seq{1}, [&](Seq seq, std::string_view ev) {
    if (seq.value != events.size() + 1) {
      gap = DataLoss("read seq " + std::to_string(seq.value) + " after " +
                     std::to_string(events.size()));
      return false;
    }
    events.emplace_back(ev);
    return true;
  });
  if (!st.ok()) return st;
  if (!gap.ok()) return gap;
  return events;
}

Result<ShardScan> VerifyShardFully(const std::string& shard_dir, ShardId shard,
                                   const PublicKey& key) {
  ScanOptions opt;
  opt.check_all_bodies = true;
  auto scan = ScanShard(shard_dir, shard, key, opt);
  if (!scan.ok()) return scan.status();
  if (scan->torn_tail) {
    return DataLoss("torn tail at offset " + std::to_string(scan->torn_offset) + ": " +
                    scan->torn_reason);
  }
  return scan;
}

}  // namespace giftledger::testing

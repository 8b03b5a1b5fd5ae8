#include "commands/ingress/redo_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ledger/coding.h"
#include "ledger/crypto.h"
#include "ledger/file.h"

namespace giftledger::ingress {
namespace {

// Compact the file in place once nothing is pending and it grew this large.
constexpr uint64_t kCompactBytesMin = 16 << 20;
constexpr size_t kJournalBytesMax = size_t(4) << 30;

uint64_t Checksum(const uint8_t* len_type_payload, size_t size) {
  Hash32 h = Blake2b256(len_type_payload, size);
  return GetU64(h.data());
}

void PutRecord(RedoRecordType type, const std::string& payload, std::string* out) {
  GL_ASSERT(payload.size() <= kRedoRecordPayloadBytesMax);
  const size_t at = out->size();
  out->resize(at + kRedoRecordHeaderBytes + payload.size());
  auto* p = reinterpret_cast<uint8_t*>(out->data() + at);
  PutU32(p + 8, uint32_t(payload.size()));
  p[12] = uint8_t(type);
  std::memcpy(p + kRedoRecordHeaderBytes, payload.data(), payload.size());
  PutU64(p, Checksum(p + 8, 4 + 1 + payload.size()));
}

std::string SentPayload(uint32_t shard, const schemas::Command& c) {
  std::string p = c.tx_id();
  uint8_t s[4];
  PutU32(s, shard);
  p.append(reinterpret_cast<const char*>(s), 4);
  p += c.SerializeAsString();
  return p;
}

std::string AnsweredPayload(const std::string& tx_id, const schemas::CommandResult& r) {
  std::string p = tx_id;
  uint8_t b[12];
  PutU32(b, uint32_t(r.code()));
  PutU64(b + 4, r.seq());
  p.append(reinterpret_cast<const char*>(b), sizeof b);
  return p;
}

// The outcome of scanning a journal image.
struct Scan {
  std::vector<RedoEntry> pending;  // first-sent order
  RedoJournalStats stats;
  uint64_t valid_bytes = 0;  // header + every good record
};

// Applies one good record to the pending set (ordered by first SENT).
Status ApplyRecord(RedoRecordType type, const uint8_t* p, size_t n, uint64_t offset,
                   std::map<std::string, std::pair<uint64_t, RedoEntry>>* pending, uint64_t* order,
                   RedoJournalStats* stats) {
  auto bad = [&](const char* why) {
    return DataLoss("redo journal record at offset " + std::to_string(offset) + ": " + why);
  };
  if (n < kTxIdBytes) return bad("payload shorter than a tx id");
  std::string tx(reinterpret_cast<const char*>(p), kTxIdBytes);
  if (type == RedoRecordType::kSent) {
    if (n < kTxIdBytes + 4) return bad("SENT payload too short");
    RedoEntry e;
    e.tx_id = tx;
    e.shard = GetU32(p + kTxIdBytes);
    if (!e.command.ParseFromArray(p + kTxIdBytes + 4, int(n - kTxIdBytes - 4)) ||
        e.command.tx_id() != tx) {
      return bad("SENT command does not parse or names another tx id");
    }
    ++stats->sent;
    if (pending->count(tx) == 0) pending->emplace(tx, std::make_pair((*order)++, std::move(e)));
    return Status::Ok();
  }
  if (type == RedoRecordType::kAnswered) {
    if (n != kTxIdBytes + 12) return bad("ANSWERED payload has the wrong size");
    ++stats->answered;
    pending->erase(tx);
    return Status::Ok();
  }
  return bad("unknown record type");
}

Result<Scan> ScanImage(const std::string& image) {
  Scan scan;
  if (image.size() < kRedoJournalMagicBytes) {
    // A crash while creating the file: nothing was ever sent through it.
    scan.stats.torn_tail_bytes = image.size();
    return scan;
  }
  if (std::memcmp(image.data(), kRedoJournalMagic, kRedoJournalMagicBytes) != 0) {
    return DataLoss("not a redo journal (bad magic)");
  }
  const auto* base = reinterpret_cast<const uint8_t*>(image.data());
  const uint64_t size = image.size();
  uint64_t off = kRedoJournalMagicBytes;
  std::map<std::string, std::pair<uint64_t, RedoEntry>> pending;
  uint64_t order = 0;
  while (off < size) {
    const uint64_t left = size - off;
    if (left < kRedoRecordHeaderBytes) break;  // torn header
    const uint32_t len = GetU32(base + off + 8);
    const uint64_t end = off + kRedoRecordHeaderBytes + uint64_t(len);
    const bool fits = len <= kRedoRecordPayloadBytesMax && end <= size;
    const bool sum_ok = fits && Checksum(base + off + 8, 5 + len) == GetU64(base + off);
    if (!sum_ok) {
      // Torn only when nothing follows the bad record; else corruption.
      if (!fits || end == size) break;
      return DataLoss("redo journal: checksum mismatch at offset " + std::to_string(off) +
                      " with " + std::to_string(size - end) + " bytes after it");
    }
    GL_RETURN_IF_ERROR(ApplyRecord(RedoRecordType(base[off + 12]),
                                   base + off + kRedoRecordHeaderBytes, len, off, &pending, &order,
                                   &scan.stats));
    ++scan.stats.records;
    off = end;
  }
  scan.valid_bytes = off;
  scan.stats.torn_tail_bytes = size - off;
  std::vector<std::pair<uint64_t, RedoEntry>> sorted;
  for (auto& [tx, v] : pending) sorted.push_back(std::move(v));
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [o, e] : sorted) scan.pending.push_back(std::move(e));
  return scan;
}

Result<std::string> ReadImage(const std::string& path) {
  if (!PathExists(path)) return std::string();
  return ReadSmallFile(path, kJournalBytesMax);
}

}  // namespace

Result<std::vector<RedoEntry>> RedoJournal::ReadPending(const std::string& path,
                                                        RedoJournalStats* stats) {
  auto image = ReadImage(path);
  if (!image.ok()) return image.status();
  auto scan = ScanImage(image.value());
  if (!scan.ok()) return scan.status();
  if (stats != nullptr) *stats = scan->stats;
  return std::move(scan->pending);
}

Result<std::unique_ptr<RedoJournal>> RedoJournal::Open(const std::string& path) {
  auto image = ReadImage(path);
  if (!image.ok()) return image.status();
  auto scan = ScanImage(image.value());
  if (!scan.ok()) return scan.status();
  std::unique_ptr<RedoJournal> j(new RedoJournal());
  j->path_ = path;
  j->stats_ = scan->stats;
  // Rewrite (temp + fsync + rename) to drop answered commands and a torn
  // tail; the unanswered SENT records are kept byte for byte in meaning.
  std::string fresh(kRedoJournalMagic, kRedoJournalMagicBytes);
  for (const RedoEntry& e : scan->pending) {
    PutRecord(RedoRecordType::kSent, SentPayload(e.shard, e.command), &fresh);
  }
  if (fresh.size() != image->size() || scan->stats.answered > 0) {
    GL_RETURN_IF_ERROR(WriteFileAtomic(path, fresh, 0600));
  }
  j->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (j->fd_ < 0) return ErrnoStatus("open " + path, errno);
  j->size_bytes_ = fresh.size();
  for (RedoEntry& e : scan->pending) {
    std::string tx = e.tx_id;
    j->pending_.emplace(tx, PendingEntry{j->next_order_++, std::move(e)});
  }
  return j;
}

RedoJournal::~RedoJournal() {
  if (fd_ >= 0) ::close(fd_);
}

Status RedoJournal::AppendLocked(const std::string& bytes, bool sync) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("write " + path_, errno);
    done += size_t(n);
  }
  size_bytes_ += bytes.size();
  if (sync && ::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync " + path_, errno);
  return Status::Ok();
}

Status RedoJournal::AppendSent(uint32_t shard, const std::vector<schemas::Command>& commands) {
  std::string bytes;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const schemas::Command*> fresh;
  for (const auto& c : commands) {
    if (c.tx_id().size() != kTxIdBytes) return InvalidArgument("tx id must be 16 bytes");
    if (pending_.count(c.tx_id()) == 0) fresh.push_back(&c);
  }
  if (fresh.empty()) return Status::Ok();
  if (pending_.size() + fresh.size() > kRedoPendingCommandsMax) {
    return ResourceExhausted("redo journal holds too many unanswered commands; run redo");
  }
  for (const auto* c : fresh) PutRecord(RedoRecordType::kSent, SentPayload(shard, *c), &bytes);
  GL_RETURN_IF_ERROR(AppendLocked(bytes, /*sync=*/true));
  for (const auto* c : fresh) {
    pending_.emplace(c->tx_id(), PendingEntry{next_order_++, RedoEntry{c->tx_id(), shard, *c}});
  }
  return Status::Ok();
}

Status RedoJournal::MarkAnswered(const std::vector<schemas::Command>& commands,
                                 const std::vector<schemas::CommandResult>& results) {
  GL_ASSERT(commands.size() == results.size());
  std::string bytes;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < commands.size(); ++i) {
    if (pending_.erase(commands[i].tx_id()) == 0) continue;
    PutRecord(RedoRecordType::kAnswered, AnsweredPayload(commands[i].tx_id(), results[i]), &bytes);
  }
  if (bytes.empty()) return Status::Ok();
  if (pending_.empty() && size_bytes_ >= kCompactBytesMin) {
    // Nothing unanswered: the whole history can go.
    if (::ftruncate(fd_, kRedoJournalMagicBytes) != 0) return ErrnoStatus("ftruncate", errno);
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync " + path_, errno);
    size_bytes_ = kRedoJournalMagicBytes;
    return Status::Ok();
  }
  return AppendLocked(bytes, /*sync=*/false);
}

std::vector<RedoEntry> RedoJournal::Pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<uint64_t, const RedoEntry*>> v;
  for (const auto& [tx, p] : pending_) v.emplace_back(p.order, &p.entry);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<RedoEntry> out;
  for (const auto& [o, e] : v) out.push_back(*e);
  return out;
}

size_t RedoJournal::pending_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

}  // namespace giftledger::ingress

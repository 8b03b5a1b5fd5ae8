#include "replay/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "ledger/checkpoint.h"
#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/segment.h"

namespace giftledger {
namespace {

constexpr size_t kCopyChunkBytes = 4 << 20;
// Files of the data dir root besides the manifest: public ones always,
// the secret one only with keys.
constexpr const char* kPublicRootFiles[] = {"gateways.json", "service.pub"};
constexpr const char* kSecretRootFiles[] = {"service.key"};

uint64_t SizeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

Status WriteAll(int fd, const uint8_t* p, uint64_t size, const std::string& path) {
  uint64_t done = 0;
  while (done < size) {
    size_t n = size_t(std::min<uint64_t>(kCopyChunkBytes, size - done));
    ssize_t w = ::write(fd, p + done, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoStatus("write " + path, errno);
    done += uint64_t(w);
  }
  return Status::Ok();
}

// src -> dst via dst.tmp, fsync, read back and compare BLAKE2b-256, rename,
// fsync of the directory.
Status CopyVerified(const std::string& src, const std::string& dst, int mode, uint64_t* bytes) {
  auto in = MappedFile::Open(src);
  if (!in.ok()) return in.status();
  Hash32 want = Blake2b256(in.value()->data(), in.value()->size());
  std::string tmp = dst + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("open " + tmp, errno);
  ::fchmod(fd, mode);
  Status st = WriteAll(fd, in.value()->data(), in.value()->size(), tmp);
  if (st.ok() && ::fsync(fd) != 0) st = ErrnoStatus("fsync " + tmp, errno);
  ::close(fd);
  if (st.ok()) {
    auto back = MappedFile::Open(tmp);
    if (!back.ok()) {
      st = back.status();
    } else if (Blake2b256(back.value()->data(), back.value()->size()) != want) {
      st = DataLoss("copy of " + src + " reads back different bytes");
    }
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), dst.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  *bytes += in.value()->size();
  return FileSystem::Default()->SyncDir(DirName(dst));
}

Status EnsureDir(const std::string& path, int mode) {
  if (PathExists(path)) return Status::Ok();
  GL_RETURN_IF_ERROR(MakeDir(path, mode));
  return FileSystem::Default()->SyncDir(DirName(path));
}

struct Copier {
  uint64_t copied = 0, present = 0, bytes = 0;

  // Copies when dst is absent; an existing dst must have the same size
  // (the files backed up never change once written).
  Status CopyOnce(const std::string& src, const std::string& dst, int mode) {
    if (PathExists(dst)) {
      if (SizeOf(dst) != SizeOf(src)) {
        return DataLoss(dst + " differs in size from " + src + "; the backup is not of this log");
      }
      present++;
      return Status::Ok();
    }
    GL_RETURN_IF_ERROR(CopyVerified(src, dst, mode, &bytes));
    copied++;
    return Status::Ok();
  }
  // Files that may change (gateway registry): copied whenever they differ.
  Status CopyIfChanged(const std::string& src, const std::string& dst, int mode) {
    if (!PathExists(src)) return Status::Ok();
    if (PathExists(dst)) {
      auto a = ReadSmallFile(src, 64 << 20), b = ReadSmallFile(dst, 64 << 20);
      if (a.ok() && b.ok() && a.value() == b.value()) {
        present++;
        return Status::Ok();
      }
    }
    GL_RETURN_IF_ERROR(CopyVerified(src, dst, mode, &bytes));
    copied++;
    return Status::Ok();
  }
};

// Sealed segments (every one but the shard's last, which is still being
// appended) and the checkpoints they cover.
Status BackupShard(const std::string& src, const std::string& dst, bool with_keys, Copier* c) {
  GL_RETURN_IF_ERROR(EnsureDir(dst, 0700));
  auto segs = ListSegments(src);
  if (!segs.ok()) return segs.status();
  uint64_t end_seq = 0;  // last seq in the sealed segments
  for (size_t i = 0; i + 1 < segs->size(); ++i) {
    const SegmentFile& s = segs.value()[i];
    GL_RETURN_IF_ERROR(c->CopyOnce(s.path, JoinPath(dst, SegmentFileName(s.first_seq)), 0644));
    end_seq = segs.value()[i + 1].first_seq.value - 1;
  }
  auto cps = ListCheckpoints(src);
  if (!cps.ok()) return cps.status();
  for (const auto& e : cps.value()) {
    if (e.tree_size > end_seq) continue;
    GL_RETURN_IF_ERROR(EnsureDir(CheckpointDir(dst), 0755));
    GL_RETURN_IF_ERROR(
        c->CopyOnce(e.path, JoinPath(CheckpointDir(dst), CheckpointFileName(e.tree_size)), 0644));
  }
  std::string key = JoinPath(src, "signing.key");
  if (with_keys && PathExists(key)) {
    GL_RETURN_IF_ERROR(c->CopyOnce(key, JoinPath(dst, "signing.key"), 0600));
  }
  return Status::Ok();
}

// backup_dir is new, empty, or a backup of the same ledger.
Status CheckBackupTarget(const std::string& dir, const Manifest& m) {
  if (!PathExists(dir)) return EnsureDir(dir, 0700);
  if (PathExists(ManifestPath(dir))) {
    auto other = LoadManifest(dir);
    if (!other.ok()) return other.status();
    if (other->ledger_id != m.ledger_id) {
      return FailedPrecondition(dir + " holds a backup of another ledger (" + other->ledger_id +
                                ")");
    }
    return Status::Ok();
  }
  auto names = ListDir(dir);
  if (!names.ok()) return names.status();
  if (!names->empty()) return FailedPrecondition(dir + " is neither empty nor a backup");
  return Status::Ok();
}

Status CheckVerified(const Result<VerifyReport>& rep, const std::string& what) {
  if (!rep.ok()) return rep.status();
  if (rep.value().ok) return Status::Ok();
  for (const auto& s : rep.value().shards) {
    if (!s.ok)
      return DataLoss(what + " does not verify: shard " + std::to_string(s.shard.value) + ": " +
                      s.error);
  }
  return DataLoss(what + " does not verify");
}

}  // namespace

Result<BackupReport> BackupLedger(const BackupOptions& o) {
  CryptoInit();
  auto m = LoadManifest(o.data_dir);
  if (!m.ok()) return m.status();
  GL_RETURN_IF_ERROR(CheckBackupTarget(o.backup_dir, m.value()));
  Copier c;
  for (uint32_t s = 0; s < m->shard_count; ++s) {
    GL_RETURN_IF_ERROR(BackupShard(ShardDir(o.data_dir, ShardId{s}),
                                   ShardDir(o.backup_dir, ShardId{s}), o.with_keys, &c));
  }
  for (const char* f : kPublicRootFiles) {
    GL_RETURN_IF_ERROR(c.CopyIfChanged(JoinPath(o.data_dir, f), JoinPath(o.backup_dir, f), 0644));
  }
  for (const char* f : kSecretRootFiles) {
    if (o.with_keys && PathExists(JoinPath(o.data_dir, f))) {
      GL_RETURN_IF_ERROR(c.CopyOnce(JoinPath(o.data_dir, f), JoinPath(o.backup_dir, f), 0600));
    }
  }
  // The manifest last: a backup directory with a manifest is complete.
  GL_RETURN_IF_ERROR(c.CopyOnce(ManifestPath(o.data_dir), ManifestPath(o.backup_dir), 0644));
  BackupReport r;
  r.files_copied = c.copied;
  r.files_present = c.present;
  r.bytes_copied = c.bytes;
  auto v = VerifyLedger(o.backup_dir, nullptr);
  GL_RETURN_IF_ERROR(CheckVerified(v, "the backup " + o.backup_dir));
  r.verify = v.value();
  return r;
}

Result<RestoreReport> RestoreLedger(const std::string& backup_dir, const std::string& data_dir) {
  CryptoInit();
  auto m = LoadManifest(backup_dir);
  if (!m.ok()) return m.status();
  GL_RETURN_IF_ERROR(CheckVerified(VerifyLedger(backup_dir, nullptr), "the backup " + backup_dir));
  if (PathExists(data_dir)) {
    auto names = ListDir(data_dir);
    if (!names.ok()) return names.status();
    if (!names->empty()) return AlreadyExists(data_dir + " is not empty; restore never overwrites");
  } else {
    GL_RETURN_IF_ERROR(EnsureDir(data_dir, 0700));
  }
  Copier c;
  for (uint32_t s = 0; s < m->shard_count; ++s) {
    std::string src = ShardDir(backup_dir, ShardId{s}), dst = ShardDir(data_dir, ShardId{s});
    GL_RETURN_IF_ERROR(EnsureDir(dst, 0700));
    auto segs = ListSegments(src);
    if (!segs.ok()) return segs.status();
    for (const auto& seg : segs.value()) {
      GL_RETURN_IF_ERROR(c.CopyOnce(seg.path, JoinPath(dst, SegmentFileName(seg.first_seq)), 0644));
    }
    auto cps = ListCheckpoints(src);
    if (!cps.ok()) return cps.status();
    for (const auto& e : cps.value()) {
      GL_RETURN_IF_ERROR(EnsureDir(CheckpointDir(dst), 0755));
      GL_RETURN_IF_ERROR(
          c.CopyOnce(e.path, JoinPath(CheckpointDir(dst), CheckpointFileName(e.tree_size)), 0644));
    }
    std::string key = JoinPath(src, "signing.key");
    if (PathExists(key)) GL_RETURN_IF_ERROR(c.CopyOnce(key, JoinPath(dst, "signing.key"), 0600));
  }
  for (const char* f : kPublicRootFiles) {
    GL_RETURN_IF_ERROR(c.CopyIfChanged(JoinPath(backup_dir, f), JoinPath(data_dir, f), 0644));
  }
  for (const char* f : kSecretRootFiles) {
    if (PathExists(JoinPath(backup_dir, f))) {
      GL_RETURN_IF_ERROR(c.CopyOnce(JoinPath(backup_dir, f), JoinPath(data_dir, f), 0600));
    }
  }
  GL_RETURN_IF_ERROR(c.CopyOnce(ManifestPath(backup_dir), ManifestPath(data_dir), 0644));
  RestoreReport r;
  r.files_copied = c.copied;
  r.bytes_copied = c.bytes;
  auto v = VerifyLedger(data_dir, nullptr);
  GL_RETURN_IF_ERROR(CheckVerified(v, "the restored ledger " + data_dir));
  r.verify = v.value();
  return r;
}

}  // namespace giftledger

// The small file-I/O interface the log writes through. Production uses POSIX
// calls; tests substitute a FileSystem that injects EIO, ENOSPC and short
// writes, so that the failure paths of the writer are exercised for real.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ledger/status.h"

namespace giftledger {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of iov at offset (loops over short writes); any error is final.
  virtual Status WriteAt(uint64_t offset, const struct iovec* iov, int iov_count) = 0;
  virtual Status DataSync() = 0;
  virtual Status Truncate(uint64_t size_bytes) = 0;
  // Reserves disk blocks up to size_bytes (fallocate), keeping contents.
  virtual Status Allocate(uint64_t size_bytes) = 0;
  virtual Status Close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  static FileSystem* Default();

  // Opens an existing file, or creates it when create is true.
  virtual Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                             bool create) = 0;
  // fsync of a directory, so that created/renamed entries are durable.
  virtual Status SyncDir(const std::string& path) = 0;
};

// A read-only memory map of a whole file (empty files map to nothing).
class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // An upper bound of where written bytes end at or after `from`: the start
  // of a trailing hole or unwritten preallocated extent (SEEK_HOLE/SEEK_DATA),
  // so that scans need not fault in a segment's zeroed rest. size() when the
  // file system cannot tell.
  uint64_t WrittenEnd(uint64_t from) const;

 private:
  MappedFile() = default;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

Result<std::string> ReadSmallFile(const std::string& path, size_t size_max_bytes);
// temp file + write + fsync + rename + fsync(dir).
Status WriteFileAtomic(const std::string& path, const std::string& contents, int mode);
Result<std::vector<std::string>> ListDir(const std::string& path);
bool PathExists(const std::string& path);
Status MakeDir(const std::string& path, int mode);
std::string DirName(const std::string& path);
std::string JoinPath(const std::string& a, const std::string& b);

}  // namespace giftledger

#include "ledger/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace giftledger {
namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status WriteAt(uint64_t offset, const struct iovec* iov, int iov_count) override {
    std::vector<struct iovec> rest(iov, iov + iov_count);
    size_t first = 0;
    while (first < rest.size()) {
      ssize_t n = ::pwritev(fd_, rest.data() + first, int(std::min<size_t>(rest.size() - first, IOV_MAX)),
                            off_t(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pwritev " + path_, errno);
      }
      if (n == 0) return Unavailable("pwritev " + path_ + ": wrote 0 bytes");
      offset += uint64_t(n);
      size_t left = size_t(n);
      while (left > 0 && first < rest.size()) {
        if (left >= rest[first].iov_len) {
          left -= rest[first].iov_len;
          ++first;
        } else {
          rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + left;
          rest[first].iov_len -= left;
          left = 0;
        }
      }
    }
    return Status::Ok();
  }

  Status DataSync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync " + path_, errno);
    return Status::Ok();
  }

  Status Truncate(uint64_t size_bytes) override {
    if (::ftruncate(fd_, off_t(size_bytes)) != 0) return ErrnoStatus("ftruncate " + path_, errno);
    return Status::Ok();
  }

  Status Allocate(uint64_t size_bytes) override {
    int rc = ::posix_fallocate(fd_, 0, off_t(size_bytes));
    if (rc != 0) return ErrnoStatus("fallocate " + path_, rc);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus("close " + path_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                     bool create) override {
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return ErrnoStatus("open " + path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open dir " + path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync dir " + path, err);
    return Status::Ok();
  }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static PosixFileSystem fs;
  return &fs;
}

Result<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("fstat " + path, err);
  }
  std::unique_ptr<MappedFile> m(new MappedFile());
  m->size_ = uint64_t(st.st_size);
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("mmap " + path, err);
    }
    ::madvise(p, m->size_, MADV_SEQUENTIAL);
    m->data_ = static_cast<const uint8_t*>(p);
  }
  m->fd_ = fd;
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

uint64_t MappedFile::WrittenEnd(uint64_t from) const {
  if (from >= size_) return size_;
  off_t hole = ::lseek(fd_, off_t(from), SEEK_HOLE);
  if (hole < 0 || uint64_t(hole) >= size_) return size_;
  off_t data = ::lseek(fd_, hole, SEEK_DATA);
  if (data < 0 && errno == ENXIO) return uint64_t(hole);  // nothing written after
  return size_;
}

Result<std::string> ReadSmallFile(const std::string& path, size_t size_max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  std::string out;
  static thread_local char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
    if (out.size() > size_max_bytes) {
      ::close(fd);
      return InvalidArgument(path + ": larger than " + std::to_string(size_max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, const std::string& contents, int mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("open " + tmp, errno);
  ::fchmod(fd, mode);  // umask must not widen or narrow a key file's mode
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("write " + tmp, err);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("fsync " + tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  return FileSystem::Default()->SyncDir(DirName(path));
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return ErrnoStatus("opendir " + path, errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status MakeDir(const std::string& path, int mode) {
  if (::mkdir(path.c_str(), mode_t(mode)) != 0) return ErrnoStatus("mkdir " + path, errno);
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty() || a.back() == '/') return a + b;
  return a + "/" + b;
}

}  // namespace giftledger

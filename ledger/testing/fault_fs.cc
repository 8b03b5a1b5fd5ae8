#include "ledger/testing/fault_fs.h"

#include <cerrno>

namespace giftledger::testing {
namespace {

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultFileSystem* fs, std::unique_ptr<WritableFile> inner)
      : fs_(fs), inner_(std::move(inner)) {}
  Status WriteAt(uint64_t offset, const struct iovec* iov, int n) override {
    bool handled = false;
    Status st = fs_->BeforeWrite(*inner_, offset, iov, n, &handled);
    if (!st.ok() || handled) return st;
    return inner_->WriteAt(offset, iov, n);
  }
  Status DataSync() override {
    GL_RETURN_IF_ERROR(fs_->BeforeSync());
    return inner_->DataSync();
  }
  Status Truncate(uint64_t size) override { return inner_->Truncate(size); }
  Status Allocate(uint64_t size) override { return inner_->Allocate(size); }
  Status Close() override { return inner_->Close(); }

 private:
  FaultFileSystem* fs_;
  std::unique_ptr<WritableFile> inner_;
};

bool IsWriteFault(Fault f) {
  return f == Fault::kWriteEio || f == Fault::kWriteEnospc || f == Fault::kShortWrite;
}

}  // namespace

void FaultFileSystem::Arm(Fault fault, int after_calls) {
  countdown_ = after_calls;
  fault_ = fault;
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::OpenWritable(const std::string& path,
                                                                    bool create) {
  auto f = Default()->OpenWritable(path, create);
  if (!f.ok()) return f.status();
  return std::unique_ptr<WritableFile>(new FaultFile(this, std::move(f.value())));
}

Status FaultFileSystem::SyncDir(const std::string& path) { return Default()->SyncDir(path); }

Status FaultFileSystem::BeforeWrite(WritableFile& inner, uint64_t offset,
                                    const struct iovec* iov, int n, bool* handled) {
  writes_++;
  Fault f = fault_.load();
  if (!IsWriteFault(f) || --countdown_ > 0) return Status::Ok();
  *handled = true;
  if (f == Fault::kWriteEio) return ErrnoStatus("injected write", EIO);
  if (f == Fault::kWriteEnospc) return ErrnoStatus("injected write", ENOSPC);
  // Short write: half of the first buffer reaches the file, then the error.
  struct iovec half = iov[0];
  half.iov_len /= 2;
  if (half.iov_len > 0) GL_RETURN_IF_ERROR(inner.WriteAt(offset, &half, 1));
  (void)n;
  return ErrnoStatus("injected short write", EIO);
}

Status FaultFileSystem::BeforeSync() {
  syncs_++;
  if (fault_.load() != Fault::kSyncEio || --countdown_ > 0) return Status::Ok();
  return ErrnoStatus("injected fdatasync", EIO);
}

}  // namespace giftledger::testing

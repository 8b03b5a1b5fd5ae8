// A FileSystem that passes through to POSIX but fails on command: EIO on a
// write or an fdatasync, ENOSPC, or a short write that then fails. Used to
// prove that the writer fails closed and acknowledges nothing after a fault.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "ledger/file.h"

namespace giftledger::testing {

enum class Fault { kNone, kWriteEio, kSyncEio, kWriteEnospc, kShortWrite };

class FaultFileSystem final : public FileSystem {
 public:
  // The fault fires on the n-th matching call from now (1 = the next one),
  // then on every later call of that kind.
  void Arm(Fault fault, int after_calls = 1);
  void Disarm() { fault_ = Fault::kNone; }
  int syncs() const { return syncs_.load(); }
  int writes() const { return writes_.load(); }

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                     bool create) override;
  Status SyncDir(const std::string& path) override;

  // Called by the wrapped files.
  Status BeforeWrite(WritableFile& inner, uint64_t offset, const struct iovec* iov, int n,
                     bool* handled);
  Status BeforeSync();

 private:
  std::atomic<Fault> fault_{Fault::kNone};
  std::atomic<int> countdown_{0};
  std::atomic<int> syncs_{0};
  std::atomic<int> writes_{0};
};

}  // namespace giftledger::testing

// Disaster recovery is replay: a backup is a verified copy of the immutable
// parts of a ledger (sealed segments, the checkpoints they cover, manifest,
// gateway registry), taken incrementally; a restore verifies the backup and
// lays it out as a ledger that `start` replays. docs/operations.md.
#pragma once

#include <cstdint>
#include <string>

#include "ledger/status.h"
#include "replay/verifier.h"

namespace giftledger {

struct BackupOptions {
  std::string data_dir;
  std::string backup_dir;
  // Also copy the secret keys (shard signing keys, service.key), mode 0600.
  // Without them the backup can be verified and proven from, not written.
  bool with_keys = false;
};

struct BackupReport {
  uint64_t files_copied = 0;
  uint64_t files_present = 0;  // already in the backup, checked equal in size
  uint64_t bytes_copied = 0;
  VerifyReport verify;  // of the backup after the copy
};

// Copies what the backup lacks, each file through a temp file, fsync, a
// read-back hash compare and a rename; then verifies the whole backup.
// FAILED_PRECONDITION when backup_dir holds another ledger or other files;
// DATA_LOSS when a copy or the backup does not verify.
Result<BackupReport> BackupLedger(const BackupOptions& options);

struct RestoreReport {
  uint64_t files_copied = 0;
  uint64_t bytes_copied = 0;
  VerifyReport verify;  // of the restored ledger
};

// Verifies the backup, then copies it into data_dir, which must be absent or
// empty (a restore never overwrites), and verifies the result.
Result<RestoreReport> RestoreLedger(const std::string& backup_dir, const std::string& data_dir);

}  // namespace giftledger

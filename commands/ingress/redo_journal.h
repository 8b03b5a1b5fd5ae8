// The gateway client's redo journal: commands sent to the ledger whose answer
// has not arrived yet. A command is appended (and fdatasync'ed) BEFORE its
// request leaves, and marked answered once a definite reply came back, so a
// client crash can never lose a command that may have been applied;
// `giftledger redo` resubmits the unanswered ones with their same tx ids.
//
// File layout (little-endian, docs/protocol.md "Redo journal"):
//
//   header:  "GLREDO01" (8 bytes)
//   record:  +----------+-----------+------+-----------------+
//            | sum u64  | len u32   | type | payload (len B) |
//            +----------+-----------+------+-----------------+
//            sum = first 8 bytes of BLAKE2b-256(len || type || payload)
//   type 1 SENT:     tx_id (16) | shard u32 | serialized schemas::Command
//   type 2 ANSWERED: tx_id (16) | code u32 | seq u64
//
// A record cut short or failing its checksum at the end of the file is a torn
// tail (a crash during an append that was never fdatasync'ed, hence never
// sent): it is ignored and truncated. A bad record followed by more bytes is
// corruption and is reported, never skipped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ledger/status.h"
#include "schemas/giftledger.pb.h"

namespace giftledger::ingress {

inline constexpr char kRedoJournalMagic[] = "GLREDO01";
inline constexpr size_t kRedoJournalMagicBytes = 8;
inline constexpr size_t kRedoRecordHeaderBytes = 8 + 4 + 1;
inline constexpr size_t kTxIdBytes = 16;
// A Command is far smaller; a larger length field is corruption.
inline constexpr uint32_t kRedoRecordPayloadBytesMax = 1 << 20;
// Unanswered commands one journal holds; Append refuses beyond it.
inline constexpr size_t kRedoPendingCommandsMax = 1 << 20;

enum class RedoRecordType : uint8_t { kSent = 1, kAnswered = 2 };

// One unanswered command.
struct RedoEntry {
  std::string tx_id;  // 16 bytes
  uint32_t shard = 0;
  schemas::Command command;
};

// What Open found.
struct RedoJournalStats {
  uint64_t records = 0;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t torn_tail_bytes = 0;  // ignored and truncated
};

class RedoJournal {
 public:
  // Opens (creating when absent) and recovers the journal: a torn tail is
  // truncated, answered commands are compacted away (temp + rename).
  // DATA_LOSS for a bad record in the middle. Thread-safe afterwards.
  static Result<std::unique_ptr<RedoJournal>> Open(const std::string& path);
  // Reads without changing the file (inspection while a client writes it).
  static Result<std::vector<RedoEntry>> ReadPending(const std::string& path,
                                                    RedoJournalStats* stats = nullptr);
  ~RedoJournal();
  RedoJournal(const RedoJournal&) = delete;
  RedoJournal& operator=(const RedoJournal&) = delete;

  // Appends a SENT record for every command not already pending, then
  // fdatasyncs: when this returns OK the commands survive a crash. Call it
  // before sending. Commands must carry a 16-byte tx id.
  Status AppendSent(uint32_t shard, const std::vector<schemas::Command>& commands);
  // Appends ANSWERED records (no fdatasync: a lost mark only makes `redo`
  // resubmit a command, which the ledger answers with its original result).
  Status MarkAnswered(const std::vector<schemas::Command>& commands,
                      const std::vector<schemas::CommandResult>& results);
  // The unanswered commands, in the order they were first sent.
  std::vector<RedoEntry> Pending() const;
  size_t pending_count() const;
  const RedoJournalStats& open_stats() const { return stats_; }
  const std::string& path() const { return path_; }

 private:
  RedoJournal() = default;
  Status AppendLocked(const std::string& bytes, bool sync);

  std::string path_;
  int fd_ = -1;
  RedoJournalStats stats_;
  mutable std::mutex mu_;
  uint64_t size_bytes_ = 0;  // guarded by mu_
  uint64_t next_order_ = 0;  // guarded by mu_
  struct PendingEntry {
    uint64_t order = 0;
    RedoEntry entry;
  };
  std::map<std::string, PendingEntry> pending_;  // by tx id, guarded by mu_
};

}  // namespace giftledger::ingress

// Helpers shared by the ledger's unit tests and the crash tests: a freshly
// formatted one-shard ledger, events whose bytes follow from an id, and raw
// byte surgery on segment files (flip a bit, tear a tail) to fake damage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/block.h"
#include "ledger/crypto.h"
#include "ledger/manifest.h"
#include "ledger/recovery.h"
#include "ledger/writer.h"

namespace giftledger::testing {

// The bytes of event `id`: the id (8 bytes, little-endian) then a filler that
// depends on id, so that a reader can tell which event it holds and whether
// every byte is intact. size_bytes >= 8.
std::string EventFor(uint64_t id, size_t size_bytes);
// Recovers the id of an event made by EventFor; false when the bytes differ.
bool IdOfEvent(std::string_view event, uint64_t* id);

// A batch of the given events; aborts when one is refused (test bug).
EventBatch BatchOf(const std::vector<std::string>& events);

struct TestLedger {
  std::string dir;
  Manifest manifest;
  SigningKey key;  // shard 0
  std::string shard_dir;
  const PublicKey& public_key() const { return manifest.public_keys[0]; }
};

// FormatLedger with one shard and the smallest segments (kSegmentBytesMin).
TestLedger FormatTestLedger(const std::string& dir);

// Writer options with the smallest segments over the given file system.
WriterOptions SmallSegmentOptions(FileSystem* fs = FileSystem::Default());
Result<std::unique_ptr<Writer>> OpenTestWriter(const TestLedger& l,
                                               WriterOptions options = SmallSegmentOptions());

struct BlockExtent {
  uint64_t offset = 0;
  uint64_t size_bytes = 0;
  Seq first_seq;
  uint32_t event_count = 0;
};

// Blocks of one segment file, walking headers from offset 0 until zeros, the
// end of the file or a header that does not parse. Checks nothing else.
std::vector<BlockExtent> ListBlocks(const std::string& segment_path);
// Segment file paths of the shard, in log order.
std::vector<std::string> SegmentPaths(const std::string& shard_dir);

// Raw file surgery; abort on I/O errors (the test itself is broken then).
uint64_t FileSize(const std::string& path);
std::string ReadRange(const std::string& path, uint64_t offset, uint64_t size_bytes);
void WriteRange(const std::string& path, uint64_t offset, const std::string& bytes);
void FlipBit(const std::string& path, uint64_t offset, int bit);
void TruncateFile(const std::string& path, uint64_t size_bytes);

// Every event of the shard, element i holding seq i+1, read with LogReader
// (every block fully checked). Fails on any error.
Result<std::vector<std::string>> ReadAllEvents(const std::string& shard_dir, ShardId shard,
                                               const PublicKey& key);
// ScanShard with check_all_bodies; DATA_LOSS also for a torn tail, so that OK
// means every byte of the shard checks out.
Result<ShardScan> VerifyShardFully(const std::string& shard_dir, ShardId shard,
                                   const PublicKey& key);

}  // namespace giftledger::testing

// Segment files: a shard's log is a list of files, each named by the seq of
// its first block (20 digits + ".seg"), so that names sort in log order.
#pragma once

#include <string>
#include <vector>

#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger {

std::string SegmentFileName(Seq first_seq);
// True and *first_seq set for a well-formed segment file name.
bool ParseSegmentFileName(const std::string& name, Seq* first_seq);

struct SegmentFile {
  Seq first_seq;
  std::string path;
};

// Segment files of a shard directory in log order; other files are ignored.
Result<std::vector<SegmentFile>> ListSegments(const std::string& shard_dir);

}  // namespace giftledger

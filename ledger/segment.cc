#include "ledger/segment.h"

#include <cstdio>

#include "ledger/file.h"

namespace giftledger {

std::string SegmentFileName(Seq first_seq) {
  char name[40];
  std::snprintf(name, sizeof(name), "%020llu.seg", static_cast<unsigned long long>(first_seq.value));
  return name;
}

bool ParseSegmentFileName(const std::string& name, Seq* first_seq) {
  if (name.size() != 24 || name.compare(20, 4, ".seg") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    uint64_t next = v * 10 + uint64_t(c - '0');
    if (next / 10 != v) return false;  // overflow
    v = next;
  }
  if (v == 0) return false;
  first_seq->value = v;
  return true;
}

Result<std::vector<SegmentFile>> ListSegments(const std::string& shard_dir) {
  auto names = ListDir(shard_dir);
  if (!names.ok()) return names.status();
  std::vector<SegmentFile> out;
  for (const auto& n : names.value()) {
    Seq s;
    if (ParseSegmentFileName(n, &s)) out.push_back({s, JoinPath(shard_dir, n)});
  }
  // Zero-padded names sort numerically; ListDir returns them sorted.
  return out;
}

}  // namespace giftledger

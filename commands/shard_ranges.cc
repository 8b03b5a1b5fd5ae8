#include "commands/shard_ranges.h"

#include <algorithm>

#include "ledger/limits.h"

namespace giftledger::commands {
namespace {

// A decimal shard id below kShardsMax, nothing else (no sign, no blanks).
bool ParseShard(const std::string& text, uint32_t* out) {
  if (text.empty() || text.size() > 4) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint32_t(c - '0');
  }
  if (v >= kShardsMax) return false;
  *out = v;
  return true;
}

Status AddItem(const std::string& item, std::vector<uint32_t>* out) {
  const size_t dash = item.find('-');
  uint32_t first = 0, last = 0;
  if (dash == std::string::npos) {
    if (!ParseShard(item, &first)) {
      return InvalidArgument("shards: '" + item + "' is not a shard (0.." +
                             std::to_string(kShardsMax - 1) + ") or a range A-B");
    }
    last = first;
  } else if (!ParseShard(item.substr(0, dash), &first) ||
             !ParseShard(item.substr(dash + 1), &last) || first > last) {
    return InvalidArgument("shards: '" + item + "' is not a range A-B with A <= B < " +
                           std::to_string(kShardsMax));
  }
  for (uint32_t s = first; s <= last; ++s) out->push_back(s);
  return Status::Ok();
}

}  // namespace

Result<std::vector<uint32_t>> ParseShardRanges(const std::vector<std::string>& items) {
  std::vector<uint32_t> out;
  for (const std::string& list : items) {
    size_t begin = 0;
    while (true) {
      const size_t comma = list.find(',', begin);
      const size_t end = comma == std::string::npos ? list.size() : comma;
      GL_RETURN_IF_ERROR(AddItem(list.substr(begin, end - begin), &out));
      if (comma == std::string::npos) break;
      begin = comma + 1;
    }
  }
  if (out.empty()) return InvalidArgument("shards: empty list");
  std::sort(out.begin(), out.end());
  const auto dup = std::adjacent_find(out.begin(), out.end());
  if (dup != out.end()) {
    return InvalidArgument("shards: shard " + std::to_string(*dup) + " is named twice");
  }
  return out;
}

std::string FormatShardRanges(const std::vector<uint32_t>& shards) {
  std::string out;
  for (size_t i = 0; i < shards.size();) {
    size_t j = i;
    while (j + 1 < shards.size() && shards[j + 1] == shards[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(shards[i]);
    if (j > i) out += "-" + std::to_string(shards[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace giftledger::commands

#include "commands/ingress/replay_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ledger/coding.h"

namespace giftledger::ingress {
namespace {

constexpr char kPageMagic[] = "GLRP";
constexpr char kErrorMagic[] = "GLRE";
constexpr size_t kMagicBytes = 4;
constexpr int64_t kDrainTimeoutMs = 5'000;

Code CodeFromName(const std::string& name) {
  for (Code c : {Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
                 Code::kFailedPrecondition, Code::kAborted, Code::kOutOfRange,
                 Code::kResourceExhausted, Code::kUnavailable, Code::kDataLoss}) {
    if (name == CodeName(c)) return c;
  }
  return Code::kInternal;
}

}  // namespace

Result<ReplayRequest> ParseReplayRequest(std::string_view body) {
  ReplayRequest r;
  if (body.empty()) return r;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("replay request: not a JSON object");
  auto u64 = [&](const char* key, uint64_t* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_number_unsigned()) return false;
    *out = j[key].get<uint64_t>();
    return true;
  };
  uint64_t from = r.from_seq, events = r.max_events, bytes = r.max_bytes;
  if (!u64("from_seq", &from) || !u64("max_events", &events) || !u64("max_bytes", &bytes)) {
    return InvalidArgument("replay request: from_seq, max_events, max_bytes are unsigned integers");
  }
  if (from == 0) return InvalidArgument("replay request: from_seq starts at 1");
  r.from_seq = from;
  r.max_events = uint32_t(std::clamp<uint64_t>(events, 1, kReplayPageEventsMax));
  r.max_bytes = size_t(std::clamp<uint64_t>(bytes, 1, kReplayPageBytesMax));
  return r;
}

std::string EncodeReplayRequest(const ReplayRequest& request) {
  nlohmann::json j;
  j["from_seq"] = request.from_seq;
  j["max_events"] = request.max_events;
  j["max_bytes"] = request.max_bytes;
  return j.dump();
}

std::string EncodeReplayPage(const ReplayPage& page) {
  GL_ASSERT(page.events.size() <= kReplayPageEventsMax);
  GL_ASSERT(page.next_seq == page.from_seq + page.events.size());
  size_t size = kReplayPageHeaderBytes;
  for (const auto& e : page.events) size += kReplayEventFrameBytes + e.second.size();
  std::string out(size, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(p, kPageMagic, kMagicBytes);
  PutU32(p + 4, uint32_t(page.events.size()));
  PutU64(p + 8, page.from_seq);
  PutU64(p + 16, page.next_seq);
  PutU64(p + 24, page.durable_next_seq);
  size_t off = kReplayPageHeaderBytes;
  for (const auto& [seq, bytes] : page.events) {
    PutU64(p + off, seq);
    PutU32(p + off + 8, uint32_t(bytes.size()));
    std::memcpy(p + off + kReplayEventFrameBytes, bytes.data(), bytes.size());
    off += kReplayEventFrameBytes + bytes.size();
  }
  GL_ASSERT(off == size);
  return out;
}

std::string EncodeReplayError(const Status& status) {
  GL_ASSERT(!status.ok());
  nlohmann::json j;
  j["code"] = CodeName(status.code());
  j["message"] = status.message();
  return std::string(kErrorMagic) + j.dump();
}

Result<ReplayPage> DecodeReplayReply(std::string_view reply) {
  if (reply.size() >= kMagicBytes && reply.substr(0, kMagicBytes) == kErrorMagic) {
    nlohmann::json j = nlohmann::json::parse(reply.substr(kMagicBytes), nullptr, false);
    if (!j.is_object() || !j.contains("code") || !j["code"].is_string()) {
      return InvalidArgument("replay reply: malformed error");
    }
    return Status(CodeFromName(j["code"].get<std::string>()), j.value("message", ""));
  }
  if (reply.size() < kReplayPageHeaderBytes || reply.substr(0, kMagicBytes) != kPageMagic) {
    return InvalidArgument("replay reply: not a page");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(reply.data());
  ReplayPage page;
  const uint32_t count = GetU32(p + 4);
  page.from_seq = GetU64(p + 8);
  page.next_seq = GetU64(p + 16);
  page.durable_next_seq = GetU64(p + 24);
  if (count > kReplayPageEventsMax || page.next_seq != page.from_seq + count) {
    return InvalidArgument("replay reply: bad header");
  }
  size_t off = kReplayPageHeaderBytes;
  for (uint32_t i = 0; i < count; ++i) {
    if (reply.size() - off < kReplayEventFrameBytes) return InvalidArgument("replay reply: short");
    const uint64_t seq = GetU64(p + off);
    const uint32_t bytes = GetU32(p + off + 8);
    off += kReplayEventFrameBytes;
    if (reply.size() - off < bytes) return InvalidArgument("replay reply: short event");
    if (seq != page.from_seq + i) return InvalidArgument("replay reply: seqs not contiguous");
    page.events.emplace_back(seq, std::string(reply.substr(off, bytes)));
    off += bytes;
  }
  if (off != reply.size()) return InvalidArgument("replay reply: trailing bytes");
  return page;
}

uint64_t ShardReplayer::CursorSeq() const {
  if (!tailer_) return 0;
  if (buffered_pos_ < buffered_.size()) return buffered_[buffered_pos_].first;
  return tailer_->next_seq().value;
}

Result<ReplayPage> ShardReplayer::ReadPage(const ReplayRequest& request) {
  GL_ASSERT(request.from_seq >= 1);
  ReplayPage page;
  page.from_seq = request.from_seq;
  page.durable_next_seq = source_.durable_next_seq();
  page.next_seq = request.from_seq;
  if (request.from_seq >= page.durable_next_seq) return page;
  if (CursorSeq() != request.from_seq) {
    auto t = LogTailer::Open(source_.shard_dir, source_.shard, source_.key, Seq{request.from_seq});
    if (!t.ok()) return t.status();
    tailer_ = std::move(t.value());
    buffered_.clear();
    buffered_pos_ = 0;
  }
  size_t bytes = kReplayPageHeaderBytes;
  while (page.events.size() < request.max_events) {
    if (buffered_pos_ == buffered_.size()) {
      buffered_.clear();
      buffered_pos_ = 0;
      if (tailer_->next_seq().value >= page.durable_next_seq) break;
      auto polled =
          tailer_->Poll(Seq{page.durable_next_seq}, request.max_events - page.events.size(),
                        [&](Seq seq, std::string_view ev) {
                          buffered_.emplace_back(seq.value, std::string(ev));
                        });
      if (!polled.ok()) {
        tailer_.reset();
        return polled.status();
      }
      if (polled.value() == 0) break;
      continue;
    }
    auto& e = buffered_[buffered_pos_];
    const size_t size = kReplayEventFrameBytes + e.second.size();
    if (!page.events.empty() && bytes + size > request.max_bytes) break;
    GL_ASSERT(e.first == request.from_seq + page.events.size());
    bytes += size;
    page.events.push_back(std::move(e));
    ++buffered_pos_;
  }
  page.next_seq = request.from_seq + page.events.size();
  return page;
}

Result<std::unique_ptr<ReplayService>> ReplayService::Start(natsConnection* nc,
                                                            std::vector<ShardLogSource> shards) {
  std::unique_ptr<ReplayService> s(new ReplayService());
  const int64_t max_payload = natsConnection_GetMaxPayload(nc);
  for (auto& src : shards) {
    auto shard = std::make_unique<Shard>();
    shard->nc = nc;
    shard->shard = src.shard.value;
    if (max_payload > 0) {
      shard->reply_bytes_max = std::min<size_t>(kReplayPageBytesMax, size_t(max_payload));
    }
    shard->replayer = std::make_unique<ShardReplayer>(std::move(src));
    const std::string subject = ReplaySubject(shard->shard);
    natsStatus st = natsConnection_Subscribe(&shard->sub, nc, subject.c_str(),
                                             &ReplayService::OnMsg, shard.get());
    if (st != NATS_OK) {
      return Unavailable("subscribe " + subject + ": " + natsStatus_GetText(st));
    }
    s->shards_.push_back(std::move(shard));
  }
  return s;
}

ReplayService::~ReplayService() { Stop(); }

void ReplayService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& shard : shards_) {
    if (shard->sub != nullptr) (void)natsSubscription_Drain(shard->sub);
  }
  for (auto& shard : shards_) {
    if (shard->sub == nullptr) continue;
    (void)natsSubscription_WaitForDrainCompletion(shard->sub, kDrainTimeoutMs);
    natsSubscription_Destroy(shard->sub);
    shard->sub = nullptr;
  }
}

void ReplayService::OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* shard = static_cast<Shard*>(closure);
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr && *reply != '\0') {
    const std::string_view body(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg)));
    std::string out;
    auto request = ParseReplayRequest(body);
    if (!request.ok()) {
      out = EncodeReplayError(request.status());
    } else {
      request->max_bytes = std::min(request->max_bytes, shard->reply_bytes_max);
      std::lock_guard<std::mutex> lock(shard->mu);
      auto page = shard->replayer->ReadPage(request.value());
      if (!page.ok()) {
        spdlog::error("replay shard {} from {}: {}", shard->shard, request->from_seq,
                      page.status().ToString());
      }
      out = page.ok() ? EncodeReplayPage(page.value()) : EncodeReplayError(page.status());
    }
    natsStatus s = natsConnection_Publish(shard->nc, reply, out.data(), int(out.size()));
    if (s != NATS_OK) spdlog::warn("replay reply not sent: {}", natsStatus_GetText(s));
  }
  natsMsg_Destroy(msg);
}

}  // namespace giftledger::ingress

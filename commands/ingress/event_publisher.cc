#include "commands/ingress/event_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

#include "ledger/tailer.h"

namespace giftledger::ingress {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

Status JsError(const std::string& what, natsStatus s, jsErrCode code) {
  std::string m = what + ": " + natsStatus_GetText(s);
  if (code != 0) m += " (jetstream error " + std::to_string(int(code)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') m += std::string(" — ") + last;
  return Unavailable(m);
}

// Parses a decimal header value; false when absent or not a number.
bool HeaderU64(natsMsg* msg, const char* key, uint64_t* out) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(msg, key, &v) != NATS_OK || v == nullptr || *v == '\0') return false;
  char* end = nullptr;
  *out = std::strtoull(v, &end, 10);
  return end != nullptr && *end == '\0';
}

}  // namespace

struct EventPublisher::Worker {
  ShardLogSource shard;
  std::string subject;
  jsCtx* js = nullptr;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool notified = false;  // guarded by mu
  // Publisher-thread state.
  bool synced = false;
  bool fenced = false;           // the stream is ahead of this ledger: publish nothing
  uint64_t next_seq = 0;         // next ledger seq to publish
  uint64_t last_stream_seq = 0;  // stream sequence of the subject's last message
  std::unique_ptr<LogTailer> tailer;
  int64_t backoff_ms = 0;
  Clock::time_point last_lag_log = Clock::now();
  uint64_t last_logged_lag = 0;
  uint64_t published = 0;
  std::atomic<uint64_t> published_next{0};
  uint32_t window = 1;  // events in flight in the next window (publisher thread)
  // The acks of the window in flight, by seq - window_first_seq; written by
  // OnAck on the jsCtx's reply thread.
  struct Ack {
    bool received = false;
    bool stored = false;  // a positive ack, not a duplicate
    bool duplicate = false;
    uint64_t stream_seq = 0;
    natsStatus err = NATS_OK;
    jsErrCode code = jsErrCode(0);
    std::string text;
  };
  std::mutex ack_mu;
  uint64_t window_first_seq = 0;  // guarded by ack_mu
  std::vector<Ack> acks;          // guarded by ack_mu
};

EventPublisher::EventPublisher(natsConnection* nc, EventPublisherOptions options)
    : nc_(nc), options_(std::move(options)) {}

std::unique_ptr<EventPublisher> EventPublisher::Start(natsConnection* nc,
                                                      EventPublisherOptions options,
                                                      std::vector<ShardLogSource> shards) {
  std::unique_ptr<EventPublisher> p(new EventPublisher(nc, std::move(options)));
  for (auto& s : shards) {
    auto w = std::make_unique<Worker>();
    w->subject = EventSubject(s.shard.value);
    w->shard = std::move(s);
    GL_ASSERT(p->options_.window_events_max >= 1);
    w->window = p->options_.window_events_max;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = p->options_.publish_timeout_ms;
    jo.PublishAsync.MaxPending = p->options_.window_events_max;
    jo.PublishAsync.AckHandler = &EventPublisher::OnAck;
    jo.PublishAsync.AckHandlerClosure = w.get();
    natsStatus st = natsConnection_JetStream(&w->js, nc, &jo);
    GL_ASSERT(st == NATS_OK);  // only allocation can fail here
    p->workers_.push_back(std::move(w));
  }
  for (auto& w : p->workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([self = p.get(), raw] { self->Run(raw); });
  }
  return p;
}

EventPublisher::~EventPublisher() { Stop(); }

void EventPublisher::Stop() {
  if (stopping_.exchange(true)) return;
  for (auto& w : workers_) {
    {
      std::lock_guard<std::mutex> lock(w->mu);
      w->notified = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    jsCtx_Destroy(w->js);
    w->js = nullptr;
    spdlog::info("events: shard {} stopped at seq {} ({} published)", w->shard.shard.value,
                 w->published_next.load(), w->published);
  }
}

EventPublisher::Worker* EventPublisher::Find(uint32_t shard) const {
  for (const auto& w : workers_) {
    if (w->shard.shard.value == shard) return w.get();
  }
  return nullptr;
}

void EventPublisher::Notify(uint32_t shard) {
  Worker* w = Find(shard);
  if (w == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    w->notified = true;
  }
  w->cv.notify_one();
}

bool EventPublisher::WaitCaughtUp(int64_t timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (const auto& w : workers_) {
    while (w->published_next.load() < w->shard.durable_next_seq()) {
      if (Clock::now() >= deadline) return false;
      Notify(w->shard.shard.value);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return true;
}

uint64_t EventPublisher::published_next_seq(uint32_t shard) const {
  Worker* w = Find(shard);
  return w == nullptr ? 0 : w->published_next.load();
}

// Sleeps up to ms or until notified; false when stopping.
bool EventPublisher::WaitFor(Worker* w, int64_t ms) {
  std::unique_lock<std::mutex> lock(w->mu);
  w->cv.wait_for(lock, std::chrono::milliseconds(ms),
                 [&] { return w->notified || stopping_.load(); });
  w->notified = false;
  return !stopping_.load();
}

void EventPublisher::Backoff(Worker* w) {
  w->backoff_ms = w->backoff_ms == 0 ? options_.backoff_ms_min
                                     : std::min(w->backoff_ms * 2, options_.backoff_ms_max);
  std::unique_lock<std::mutex> lock(w->mu);
  w->cv.wait_for(lock, std::chrono::milliseconds(w->backoff_ms), [&] { return stopping_.load(); });
}

void EventPublisher::Run(Worker* w) {
  while (!stopping_.load()) {
    if (natsConnection_Status(nc_) != NATS_CONN_STATUS_CONNECTED) {
      Backoff(w);
      continue;
    }
    if (!w->synced && !Resync(w)) {
      Backoff(w);
      continue;
    }
    if (w->fenced) {
      WaitFor(w, options_.backoff_ms_max);
      continue;
    }
    const uint64_t durable_next = w->shard.durable_next_seq();
    if (w->next_seq >= durable_next) {
      LogLag(w, durable_next, false);
      WaitFor(w, options_.idle_wait_ms);
      continue;
    }
    Status st = PublishPending(w);
    if (!st.ok()) {
      spdlog::warn("events: shard {} at seq {}: {}; resuming from the stream", w->shard.shard.value,
                   w->next_seq, st.ToString());
      w->synced = false;
      Backoff(w);
      continue;
    }
    w->backoff_ms = 0;
    LogLag(w, w->shard.durable_next_seq(), false);
  }
}

Status EventPublisher::EnsureStream() {
  std::lock_guard<std::mutex> lock(stream_mu_);
  if (stream_ready_) return Status::Ok();
  jsCtx* js = workers_.front()->js;
  jsStreamInfo* si = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&si, js, options_.stream.name.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    stream_ready_ = true;
    return Status::Ok();
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    return JsError("stream info " + options_.stream.name, s, code);
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {kEventSubjectsWildcard};
  cfg.Name = options_.stream.name.c_str();
  cfg.Description = "giftledger events, one subject per shard (docs/protocol.md)";
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Discard = js_DiscardOld;
  cfg.Replicas = options_.stream.replicas;
  cfg.MaxAge = options_.stream.max_age_s * 1'000'000'000;  // ns
  cfg.Duplicates = options_.stream.duplicate_window_ms * 1'000'000;
  cfg.AllowDirect = true;
  code = jsErrCode(0);
  s = js_AddStream(&si, js, &cfg, nullptr, &code);
  if (s != NATS_OK && code != JSStreamNameExistErr) {
    return JsError("create stream " + options_.stream.name, s, code);
  }
  jsStreamInfo_Destroy(si);
  spdlog::info("events: created stream {} ({}, replicas {})", options_.stream.name,
               kEventSubjectsWildcard, options_.stream.replicas);
  stream_ready_ = true;
  return Status::Ok();
}

// Finds where the shard's subject ends in the stream; true when the worker
// knows what to publish next.
bool EventPublisher::Resync(Worker* w) {
  const uint32_t shard = w->shard.shard.value;
  Status st = EnsureStream();
  if (!st.ok()) {
    spdlog::warn("events: {}", st.ToString());
    return false;
  }
  natsMsg* last = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s =
      js_GetLastMsg(&last, w->js, options_.stream.name.c_str(), w->subject.c_str(), nullptr, &code);
  uint64_t published_last_seq = 0;
  uint64_t stream_seq = 0;
  if (s == NATS_OK) {
    stream_seq = natsMsg_GetSequence(last);
    const bool ok = HeaderU64(last, kSeqHeader, &published_last_seq) && published_last_seq > 0;
    natsMsg_Destroy(last);
    if (!ok) {
      spdlog::error("events: last message on {} has no {} header: not ours", w->subject,
                    kSeqHeader);
      w->fenced = true;
      w->synced = true;
      return true;
    }
  } else if (code == JSNoMessageFoundErr || s == NATS_NOT_FOUND) {
    if (code == JSStreamNotFoundErr) {
      std::lock_guard<std::mutex> lock(stream_mu_);
      stream_ready_ = false;  // deleted under us: recreate on the next try
      return false;
    }
  } else {
    spdlog::warn("events: {}", JsError("last message on " + w->subject, s, code).ToString());
    return false;
  }
  const uint64_t durable_next = w->shard.durable_next_seq();
  if (published_last_seq >= durable_next) {
    spdlog::error(
        "events: stream {} holds shard {} up to seq {} but the ledger is durable only below {}: "
        "the stream belongs to another ledger or this one lost events; not publishing",
        options_.stream.name, shard, published_last_seq, durable_next);
    w->fenced = true;
    w->synced = true;
    return true;
  }
  w->next_seq = published_last_seq + 1;
  w->last_stream_seq = stream_seq;
  w->published_next.store(w->next_seq);
  w->synced = true;
  w->fenced = false;
  spdlog::info("events: shard {} resumes at seq {} (stream seq {}), durable next {}", shard,
               w->next_seq, stream_seq, durable_next);
  return true;
}

// Reads up to poll_events_max durable events from next_seq and publishes
// them in order, in windows (window_events_max).
Status EventPublisher::PublishPending(Worker* w) {
  const uint64_t durable_next = w->shard.durable_next_seq();
  if (!w->tailer || w->tailer->next_seq().value != w->next_seq) {
    auto t = LogTailer::Open(w->shard.shard_dir, w->shard.shard, w->shard.key, Seq{w->next_seq});
    if (!t.ok()) return t.status();
    w->tailer = std::move(t.value());
  }
  std::vector<std::pair<uint64_t, std::string>> events;
  auto polled = w->tailer->Poll(
      Seq{durable_next}, options_.poll_events_max,
      [&](Seq seq, std::string_view ev) { events.emplace_back(seq.value, std::string(ev)); });
  if (!polled.ok()) {
    w->tailer.reset();
    return polled.status();
  }
  size_t done = 0;
  while (done < events.size() && !stopping_.load()) {
    const size_t n = std::min<size_t>(w->window, events.size() - done);
    size_t stored = 0;
    Status st = PublishWindow(w, events, done, n, &stored);
    done += stored;
    if (!st.ok()) {
      // The tailer is past the refused events; reopen at next_seq after the resync.
      w->tailer.reset();
      return st;
    }
    if (stored == 0) break;  // stopping
    if (stored < n) {
      // Another process's message came between two of the chain: one at a
      // time until windows go through whole again.
      w->window = 1;
    } else {
      w->window = uint32_t(std::min<uint64_t>(options_.window_events_max, uint64_t(w->window) * 2));
    }
  }
  if (w->tailer && w->tailer->next_seq().value != w->next_seq) w->tailer.reset();
  return Status::Ok();
}

void EventPublisher::OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* w = static_cast<Worker*>(closure);
  uint64_t seq = 0;
  if (msg != nullptr && HeaderU64(msg, kSeqHeader, &seq)) {
    std::lock_guard<std::mutex> lock(w->ack_mu);
    if (seq >= w->window_first_seq && seq - w->window_first_seq < w->acks.size()) {
      Worker::Ack& a = w->acks[seq - w->window_first_seq];
      a.received = true;
      if (pa != nullptr) {
        a.duplicate = pa->Duplicate;
        a.stored = !pa->Duplicate;
        a.stream_seq = pa->Sequence;
      } else if (pae != nullptr) {
        a.err = pae->Err;
        a.code = pae->ErrCode;
        a.text = pae->ErrText != nullptr ? pae->ErrText : "";
      }
    }
  }
  natsMsg_Destroy(msg);
}

Status EventPublisher::PublishWindow(Worker* w,
                                     const std::vector<std::pair<uint64_t, std::string>>& events,
                                     size_t begin, size_t n, size_t* stored) {
  GL_ASSERT(n >= 1 && begin + n <= events.size());
  *stored = 0;
  const uint32_t shard = w->shard.shard.value;
  const std::string shard_str = std::to_string(shard);
  const uint64_t first = events[begin].first;
  GL_ASSERT(first == w->next_seq);
  {
    std::lock_guard<std::mutex> lock(w->ack_mu);
    w->window_first_seq = first;
    w->acks.assign(n, Worker::Ack{});
  }
  std::lock_guard<std::mutex> turn(window_mu_);
  size_t sent = 0;
  natsStatus s = NATS_OK;
  for (; sent < n && !stopping_.load(); ++sent) {
    const auto& [seq, bytes] = events[begin + sent];
    GL_ASSERT(seq == first + sent);
    natsMsg* msg = nullptr;
    s = natsMsg_Create(&msg, w->subject.c_str(), nullptr, bytes.data(), int(bytes.size()));
    const std::string seq_str = std::to_string(seq);
    const std::string msg_id = EventMsgId(shard, seq);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kShardHeader, shard_str.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kSeqHeader, seq_str.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kMsgIdHeader, msg_id.c_str());
    if (sent == 0) {
      // Set by hand: jsPubOptions cannot say "expect no message yet" (0).
      const std::string expected = std::to_string(w->last_stream_seq);
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, kExpectedLastSubjectSeqHeader, expected.c_str());
    } else {
      // The stream's last message must be the previous event: nothing came
      // between, and nothing after a refused event can be stored.
      const std::string previous = EventMsgId(shard, seq - 1);
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, kExpectedLastMsgIdHeader, previous.c_str());
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options_.publish_timeout_ms;
    if (s == NATS_OK) s = js_PublishMsgAsync(w->js, &msg, &po);
    natsMsg_Destroy(msg);  // no-op when the library took the message
    if (s != NATS_OK) break;
  }
  if (sent > 0) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = options_.publish_timeout_ms + 1'000;
    if (js_PublishAsyncComplete(w->js, &wait) != NATS_OK) {
      // Acks still missing: their outcome is unknown (the resync asks the
      // stream); late ones are dropped with the pending list.
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, w->js) == NATS_OK) natsMsgList_Destroy(&pending);
    }
  }
  std::lock_guard<std::mutex> lock(w->ack_mu);
  size_t i = 0;
  for (; i < sent && w->acks[i].stored; ++i) {
    w->last_stream_seq = w->acks[i].stream_seq;
    w->next_seq = first + i + 1;
    ++w->published;
  }
  w->published_next.store(w->next_seq);
  *stored = i;
  if (i == n) return Status::Ok();
  for (size_t j = i + 1; j < sent; ++j) {
    if (w->acks[j].stored) {
      spdlog::error("events: shard {}: seq {} was stored after seq {} was not", shard, first + j,
                    first + i);
      break;
    }
  }
  const std::string msg_id = EventMsgId(shard, first + i);
  if (i == sent) {
    if (stopping_.load()) return Status::Ok();
    return JsError("publish " + msg_id, s, jsErrCode(0));
  }
  const Worker::Ack& a = w->acks[i];
  if (a.duplicate) {
    // Stored before (an ack lost in a reconnect): our view of the subject is
    // stale, so ask the stream again where it ends.
    return Status(Code::kAborted, "publish " + msg_id + ": duplicate of stream seq " +
                                      std::to_string(a.stream_seq));
  }
  if (a.received && i > 0 && a.code == JSStreamWrongLastMsgIDErr) return Status::Ok();
  if (!a.received) return JsError("publish " + msg_id + ": no ack", NATS_TIMEOUT, jsErrCode(0));
  return JsError("publish " + msg_id + (a.text.empty() ? "" : " (" + a.text + ")"), a.err, a.code);
}

void EventPublisher::LogLag(Worker* w, uint64_t durable_next, bool force) {
  const uint64_t lag = durable_next > w->next_seq ? durable_next - w->next_seq : 0;
  const bool due = ElapsedMs(w->last_lag_log) >= options_.lag_log_interval_ms;
  const bool caught_up = lag == 0 && w->last_logged_lag > 0;
  if (!force && !caught_up && !(lag > 0 && due)) return;
  w->last_lag_log = Clock::now();
  w->last_logged_lag = lag;
  spdlog::info("events: shard {} publish lag {} (published next {}, durable next {})",
               w->shard.shard.value, lag, w->next_seq, durable_next);
}

}  // namespace giftledger::ingress

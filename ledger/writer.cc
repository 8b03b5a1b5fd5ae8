#include "ledger/writer.h"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "ledger/segment.h"

namespace giftledger {
namespace {

int64_t WallClockUs() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

uint64_t MonoNs() {
  using namespace std::chrono;
  return uint64_t(duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count());
}

}  // namespace

Writer::Writer(std::string shard_dir, ShardId shard, SigningKey key, WriterOptions options)
    : shard_dir_(std::move(shard_dir)),
      shard_(shard),
      key_(std::move(key)),
      options_(std::move(options)) {}

namespace {

// Two writers on one shard would interleave blocks and fork the chain: the
// second open is refused while the first process holds the lock (the kernel
// drops it when that process dies, so a crash never leaves it stale).
Result<int> LockShard(const std::string& shard_dir, ShardId shard) {
  std::string path = JoinPath(shard_dir, "LOCK");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPrecondition("shard " + std::to_string(shard.value) +
                                " is open for writing by another process (" + path + ")");
    }
    return ErrnoStatus("flock " + path, err);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<Writer>> Writer::Open(const std::string& shard_dir, ShardId shard,
                                             SigningKey key, WriterOptions options) {
  CryptoInit();
  if (options.segment_bytes < kSegmentBytesMin || options.segment_bytes > kSegmentBytesMax) {
    return InvalidArgument("segment bytes out of range");
  }
  if (!options.clock_us) options.clock_us = WallClockUs;
  auto lock = LockShard(shard_dir, shard);
  if (!lock.ok()) return lock.status();
  auto scan = RecoverShard(options.fs, shard_dir, shard, key.public_key(), options.recovery_mode,
                           options.segment_bytes);
  if (!scan.ok()) {
    ::close(lock.value());
    return scan.status();
  }
  std::unique_ptr<Writer> w(new Writer(shard_dir, shard, std::move(key), std::move(options)));
  w->lock_fd_ = lock.value();
  w->recovered_ = std::move(scan.value());
  w->next_seq_ = w->recovered_.next_seq;
  w->last_hash_ = w->recovered_.last_block_hash;
  w->last_time_us_ = w->recovered_.last_ledger_time_us;
  w->durable_next_seq_ = w->next_seq_.value;
  GL_RETURN_IF_ERROR(w->OpenTail());
  if (w->options_.checkpoints.enabled) {
    auto cp = Checkpointer::Open(w->shard_dir_, shard, w->key_, w->options_.signer_epoch,
                                 w->recovered_, w->options_.checkpoints);
    if (!cp.ok()) return cp.status();
    w->checkpointer_ = std::move(cp.value());
  }
  w->sealer_ = std::thread([p = w.get()] { p->SealerLoop(); });
  w->syncer_ = std::thread([p = w.get()] { p->SyncerLoop(); });
  return w;
}

// Opens the last segment for appending, or creates the first one.
Status Writer::OpenTail() {
  if (recovered_.segments.empty()) {
    segment_path_ = JoinPath(shard_dir_, SegmentFileName(next_seq_));
    auto f = options_.fs->OpenWritable(segment_path_, /*create=*/true);
    if (!f.ok()) return f.status();
    segment_ = std::move(f.value());
    segment_offset_ = 0;
    GL_RETURN_IF_ERROR(segment_->Allocate(options_.segment_bytes));
    GL_RETURN_IF_ERROR(segment_->DataSync());
    return options_.fs->SyncDir(shard_dir_);
  }
  const SegmentState& last = recovered_.segments.back();
  segment_path_ = last.path;
  auto f = options_.fs->OpenWritable(segment_path_, /*create=*/false);
  if (!f.ok()) return f.status();
  segment_ = std::move(f.value());
  segment_offset_ = last.data_bytes;
  return segment_->Allocate(options_.segment_bytes);
}

Writer::~Writer() { (void)Close(); }

Status Writer::Close() {
  if (closed_) return health();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  pending_cv_.notify_all();
  space_cv_.notify_all();
  if (sealer_.joinable()) sealer_.join();
  if (syncer_.joinable()) syncer_.join();
  closed_ = true;
  MaybeCheckpoint(/*force=*/true);
  Status st = health();
  if (segment_) {
    Status c = segment_->Close();
    if (st.ok()) st = c;
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
  return st;
}

void Writer::Append(EventBatch batch, AppendCallback done) {
  GL_ASSERT(done != nullptr);
  if (batch.empty()) {
    done({InvalidArgument("empty batch"), Seq{}, 0});
    return;
  }
  batch.HashLeaves();  // on the caller's thread, outside the lock
  Request r;
  r.batch = std::move(batch);
  r.done = std::move(done);
  Enqueue(std::move(r));
}

void Writer::AppendVerifiedBlock(std::string block, const BlockHeader& header, const Hash32& hash,
                                 std::vector<Hash32> leaves, AppendCallback done) {
  GL_ASSERT(done != nullptr);
  GL_ASSERT(block.size() == header.block_bytes());
  GL_ASSERT(leaves.size() == header.event_count);
  Request r;
  r.done = std::move(done);
  r.block = std::move(block);
  r.block_header = header;
  r.block_hash = hash;
  r.block_leaves = std::move(leaves);
  Enqueue(std::move(r));
}

void Writer::Enqueue(Request r) {
  std::unique_lock<std::mutex> lock(mu_);
  space_cv_.wait(lock, [&] { return pending_.size() < kPendingAppendsMax || closing_; });
  if (!failed_.ok() || closing_) {
    Status st = !failed_.ok() ? failed_ : FailedPrecondition("writer is closing");
    lock.unlock();
    r.done({st, Seq{}, 0});
    return;
  }
  pending_.push_back(std::move(r));
  pending_count_ = pending_.size();
  lock.unlock();
  pending_cv_.notify_one();
}

AppendOutcome Writer::AppendAndWait(EventBatch batch) {
  std::promise<AppendOutcome> p;
  auto f = p.get_future();
  Append(std::move(batch), [&p](const AppendOutcome& o) { p.set_value(o); });
  return f.get();
}

Status Writer::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

WriterStats Writer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Writer::Complete(std::vector<Request>& reqs, const Status& st, int64_t time_us) {
  for (auto& r : reqs) r.done({st, st.ok() ? r.first_seq : Seq{}, st.ok() ? time_us : 0});
}

void Writer::SpinWhileEmpty(const std::atomic<size_t>& count) const {
  if (options_.idle_spin_us == 0) return;
  uint64_t deadline = MonoNs() + uint64_t(options_.idle_spin_us) * 1000;
  while (count.load(std::memory_order_relaxed) == 0 && MonoNs() < deadline) sched_yield();
}

// Takes everything waiting (up to one block), seals it, hands it to the syncer.
void Writer::SealerLoop() {
  for (;;) {
    std::vector<Request> take;
    SpinWhileEmpty(pending_count_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      pending_cv_.wait(lock, [&] { return !pending_.empty() || closing_; });
      if (pending_.empty()) break;  // closing and drained
      // A block sealed elsewhere travels alone; batches around it wait.
      if (!pending_.front().block.empty()) {
        take.push_back(std::move(pending_.front()));
        pending_.pop_front();
      } else {
        const size_t target = options_.block_body_bytes_target;
        while (!pending_.empty() && pending_.front().block.empty() &&
               encoder_.Fits(pending_.front().batch) &&
               (target == 0 || encoder_.empty() ||
                encoder_.body_bytes() + pending_.front().batch.body_bytes() <= target)) {
          encoder_.Add(pending_.front().batch);
          take.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      }
      pending_count_ = pending_.size();
      if (!failed_.ok()) {
        Status st = failed_;
        lock.unlock();
        encoder_ = BlockEncoder();
        Complete(take, st, 0);
        space_cv_.notify_all();
        continue;
      }
    }
    space_cv_.notify_all();
    Sealed block;
    if (!take.front().block.empty()) {
      GL_ASSERT(take.size() == 1 && encoder_.empty());
      Status st = AdoptBlock(std::move(take.front()), &block);
      if (!st.ok()) {
        // Nothing written: the caller learns that the copy diverged.
        block.requests.front().done({st, Seq{}, 0});
        continue;
      }
    } else {
      block = SealBlock(std::move(take));
    }
    std::unique_lock<std::mutex> lock(mu_);
    space_cv_.wait(lock, [&] { return sealed_.size() < kSealedBlocksInFlightMax; });
    sealed_.push_back(std::move(block));
    sealed_count_ = sealed_.size();
    lock.unlock();
    sealed_cv_.notify_one();
  }
  std::lock_guard<std::mutex> lock(mu_);
  sealer_done_ = true;
  sealed_cv_.notify_one();
}

void Writer::SetLeader(uint64_t epoch, uint32_t node) {
  GL_ASSERT((epoch == 0) == (node == 0));
  GL_ASSERT(node <= kNodesMax);
  std::lock_guard<std::mutex> lock(leader_mu_);
  leader_epoch_ = epoch;
  leader_node_ = node;
}

Writer::Sealed Writer::SealBlock(std::vector<Request> requests) {
  BlockHeader h;
  h.shard = shard_;
  h.first_seq = next_seq_;
  h.ledger_time_us = std::max(last_time_us_, options_.clock_us());
  h.signer_epoch = options_.signer_epoch;
  {
    std::lock_guard<std::mutex> lock(leader_mu_);
    h.leader_epoch = leader_epoch_;
    h.leader_node = leader_node_;
  }
  h.prev_block_hash = last_hash_;
  h.durable_seq = Seq{durable_next_seq_.load() - 1};
  Sealed out;
  if (checkpointer_) out.leaves = encoder_.leaves();
  Hash32 hash;
  out.bytes = encoder_.Finish(h, key_, &hash, &out.header);
  out.hash = hash;
  uint64_t seq = next_seq_.value;
  for (auto& r : requests) {
    r.first_seq = Seq{seq};
    seq += r.batch.count();
  }
  GL_ASSERT(seq == out.header.last_seq().value + 1);
  next_seq_ = Seq{seq};
  last_hash_ = hash;
  last_time_us_ = out.header.ledger_time_us;
  out.requests = std::move(requests);
  return out;
}

Status Writer::AdoptBlock(Request request, Sealed* out) {
  const BlockHeader& h = request.block_header;
  out->requests.clear();
  Status st;
  if (h.shard != shard_) {
    st = DataLoss("block of shard " + std::to_string(h.shard.value));
  } else if (h.first_seq != next_seq_) {
    st = DataLoss("block starts at seq " + std::to_string(h.first_seq.value) + ", expected " +
                  std::to_string(next_seq_.value));
  } else if (h.prev_block_hash != last_hash_) {
    st = DataLoss("block at seq " + std::to_string(h.first_seq.value) +
                  " does not link to the previous block: the logs diverged");
  } else if (h.ledger_time_us < last_time_us_) {
    st = DataLoss("block ledger time goes back");
  }
  if (!st.ok()) {
    out->requests.push_back(std::move(request));
    return st;
  }
  out->header = h;
  out->hash = request.block_hash;
  if (checkpointer_) out->leaves = std::move(request.block_leaves);
  out->bytes = std::move(request.block);
  request.first_seq = h.first_seq;
  next_seq_ = Seq{h.last_seq().value + 1};
  last_hash_ = out->hash;
  last_time_us_ = h.ledger_time_us;
  out->requests.push_back(std::move(request));
  return Status::Ok();
}

void Writer::SyncerLoop() {
  for (;;) {
    std::vector<Sealed> group;
    SpinWhileEmpty(sealed_count_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return !sealed_.empty() || sealer_done_; };
      // Wake for the checkpoint time rule even when no block arrives.
      auto deadline = checkpointer_ ? checkpointer_->NextDeadline() : std::nullopt;
      if (deadline) {
        sealed_cv_.wait_until(lock, *deadline, ready);
      } else {
        sealed_cv_.wait(lock, ready);
      }
      if (sealed_.empty()) {
        if (sealer_done_) return;
        lock.unlock();
        MaybeCheckpoint(/*force=*/false);
        continue;
      }
      while (!sealed_.empty()) {
        group.push_back(std::move(sealed_.front()));
        sealed_.pop_front();
      }
      sealed_count_ = 0;
    }
    space_cv_.notify_all();
    Status st = health();
    if (st.ok()) st = WriteGroup(group);
    if (!st.ok()) {
      Fail(st);
      st = health();
    }
    for (auto& b : group) Complete(b.requests, st, b.header.ledger_time_us);
    if (st.ok() && checkpointer_) {
      for (auto& b : group) checkpointer_->AddDurableBlock(b.header, b.hash, b.leaves.data());
      MaybeCheckpoint(/*force=*/false);
    }
  }
}

// A checkpoint covers durable blocks only, so a failed write of one leaves
// the log intact: warn and try again at the next interval.
void Writer::MaybeCheckpoint(bool force) {
  if (!checkpointer_ || !checkpointer_->Due(force)) return;
  Status st = checkpointer_->Write(key_);
  if (!st.ok()) {
    spdlog::warn("shard {}: checkpoint at seq {} not written: {}", shard_.value,
                 checkpointer_->tree_size(), st.ToString());
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.checkpoints++;
}

// One write per segment touched and one fdatasync for the whole group.
Status Writer::WriteGroup(std::vector<Sealed>& group) {
  std::vector<struct iovec> iov;
  uint64_t start = segment_offset_, bytes = 0;
  for (auto& b : group) {
    if (segment_offset_ + bytes + b.bytes.size() > options_.segment_bytes) {
      if (!iov.empty()) GL_RETURN_IF_ERROR(segment_->WriteAt(start, iov.data(), int(iov.size())));
      segment_offset_ += bytes;
      GL_RETURN_IF_ERROR(RollSegment(b.header.first_seq));
      iov.clear();
      start = segment_offset_;
      bytes = 0;
    }
    iov.push_back({b.bytes.data(), b.bytes.size()});
    bytes += b.bytes.size();
  }
  GL_RETURN_IF_ERROR(segment_->WriteAt(start, iov.data(), int(iov.size())));
  uint64_t t0 = MonoNs();
  GL_RETURN_IF_ERROR(segment_->DataSync());
  uint64_t sync_ns = MonoNs() - t0;
  segment_offset_ += bytes;
  if (options_.on_durable_block) {
    for (auto& b : group) GL_RETURN_IF_ERROR(options_.on_durable_block(b.bytes, b.header));
  }
  if (options_.fsync_us != nullptr) options_.fsync_us->Observe(double(sync_ns) / 1000);
  if (options_.block_events != nullptr) {
    for (auto& b : group) options_.block_events->Observe(double(b.header.event_count));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& b : group) {
    stats_.blocks++;
    stats_.events += b.header.event_count;
    stats_.bytes += b.bytes.size();
  }
  stats_.fsyncs++;
  stats_.fsync_ns_total += sync_ns;
  durable_next_seq_ = group.back().header.last_seq().value + 1;
  return Status::Ok();
}

// Seals the current segment at its last block and starts a new one.
Status Writer::RollSegment(Seq next_first_seq) {
  GL_RETURN_IF_ERROR(segment_->Truncate(segment_offset_));
  GL_RETURN_IF_ERROR(segment_->DataSync());
  GL_RETURN_IF_ERROR(segment_->Close());
  segment_path_ = JoinPath(shard_dir_, SegmentFileName(next_first_seq));
  auto f = options_.fs->OpenWritable(segment_path_, /*create=*/true);
  if (!f.ok()) return f.status();
  segment_ = std::move(f.value());
  segment_offset_ = 0;
  GL_RETURN_IF_ERROR(segment_->Allocate(options_.segment_bytes));
  GL_RETURN_IF_ERROR(segment_->DataSync());
  GL_RETURN_IF_ERROR(options_.fs->SyncDir(shard_dir_));
  std::lock_guard<std::mutex> lock(mu_);
  stats_.segments_rolled++;
  return Status::Ok();
}

// Fail closed: after a write or fdatasync error nothing more is written and
// fdatasync is never retried (the kernel may have dropped the dirty pages).
void Writer::Fail(const Status& st) {
  std::deque<Request> pending;
  Status failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.ok()) {
      failed_ = Unavailable("writer failed, restart required: " + st.ToString());
      spdlog::error("shard {}: {}", shard_.value, failed_.message());
    }
    failed = failed_;
    pending.swap(pending_);
    pending_count_ = 0;
  }
  space_cv_.notify_all();
  for (auto& r : pending) r.done({failed, Seq{}, 0});
}

}  // namespace giftledger

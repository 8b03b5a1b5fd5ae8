#include "projections/settlement.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "commands/routing.h"
#include "ledger/file.h"

namespace giftledger::projections {
namespace {

constexpr size_t kStateFileBytesMax = 1 << 20;
constexpr int64_t kBackoffMsMin = 100;

std::string Hex(const std::string& bytes) {
  return ToHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string Describe(const schemas::Command& c) {
  const auto& h = c.host_credit();
  return "gift tx " + Hex(h.gift_tx_id()) + " (payer shard " + std::to_string(h.payer_shard()) +
         " seq " + std::to_string(h.gift_seq()) + "), host " + std::to_string(h.host()) +
         ", amount " + std::to_string(h.amount());
}

// A result the caller cannot fix by waiting and that is not about the gift:
// every other credit would fail the same way, so stop instead of skipping.
bool FatalForAll(schemas::ResultCode code) {
  return code == schemas::PERMISSION_DENIED || code == schemas::WRONG_SHARD;
}

}  // namespace

Result<SettlementState> LoadSettlementState(const std::string& path) {
  if (!PathExists(path)) return NotFound(path);
  auto bytes = ReadSmallFile(path, kStateFileBytesMax);
  if (!bytes.ok()) return bytes.status();
  nlohmann::json j = nlohmann::json::parse(bytes.value(), nullptr, /*allow_exceptions=*/false);
  SettlementState s;
  try {
    if (j.is_discarded() || j.at("version").get<int>() != 1) throw std::runtime_error("version");
    s.ledger_id = j.at("ledger_id").get<std::string>();
    s.settled_seq = j.at("settled_seq").get<std::vector<uint64_t>>();
  } catch (const std::exception&) {
    return DataLoss(path + ": not a settlement state file (version 1)");
  }
  return s;
}

Status SaveSettlementState(const std::string& path, const SettlementState& s) {
  nlohmann::json j{{"version", 1}, {"ledger_id", s.ledger_id}, {"settled_seq", s.settled_seq}};
  return WriteFileAtomic(path, j.dump() + "\n", 0644);
}

schemas::Command HostCreditFor(uint32_t payer_shard, uint64_t seq, const schemas::Event& e) {
  GL_ASSERT(e.has_gift_sent());
  const auto gift_tx = commands::TxId::FromBytes(e.tx_id());
  GL_ASSERT(gift_tx.has_value());
  schemas::Command c;
  c.set_tx_id(commands::DeriveHostCreditTxId(ShardId{payer_shard}, *gift_tx).str());
  auto* h = c.mutable_host_credit();
  h->set_host(e.gift_sent().host());
  h->set_amount(e.gift_sent().host_share());
  h->set_gift_tx_id(e.tx_id());
  h->set_payer_shard(payer_shard);
  h->set_gift_seq(seq);
  return c;
}

Result<std::unique_ptr<Settlement>> Settlement::Open(const SettlementOptions& o,
                                                     SettlementStats* stats) {
  std::unique_ptr<Settlement> s(new Settlement(o, stats));
  ingress::ClientOptions co;
  co.nats_url = o.url;
  co.key_file = o.key_file;
  co.timeout_ms = o.submit_timeout_ms;
  auto client = ingress::Client::Connect(co);
  if (!client.ok()) return client.status();
  s->client_ = std::move(client.value());
  const uint32_t shards = s->client_->info().shard_count;
  s->positions_.assign(shards, 0);
  s->pending_.resize(shards);
  if (!o.state_path.empty()) {
    auto state = LoadSettlementState(o.state_path);
    if (state.ok()) {
      if (state->ledger_id != s->client_->info().ledger_id || state->settled_seq.size() != shards) {
        return FailedPrecondition(o.state_path + " belongs to ledger " + state->ledger_id +
                                  " with " + std::to_string(state->settled_seq.size()) +
                                  " shards, not to " + s->client_->info().ledger_id);
      }
      s->positions_ = state->settled_seq;
    } else if (state.status().code() != Code::kNotFound) {
      return state.status();
    }
  }
  s->settled_ = s->positions_;
  return s;
}

Status Settlement::ApplyBytes(ShardId shard, uint64_t seq, std::string_view bytes) {
  GL_ASSERT(shard.value < positions_.size());
  // A long catch-up stops here too; what is pending is simply not saved.
  if (Stopped()) return Status(Code::kAborted, "stopped");
  uint64_t& pos = positions_[shard.value];
  if (seq <= pos) {
    stats_->duplicates += 1;
    return Status::Ok();
  }
  if (seq != pos + 1) {
    return OutOfRange("gap in shard " + std::to_string(shard.value) + ": expected seq " +
                      std::to_string(pos + 1) + ", got " + std::to_string(seq));
  }
  scratch_.Clear();
  if (!scratch_.ParseFromArray(bytes.data(), int(bytes.size()))) {
    return DataLoss("event at shard " + std::to_string(shard.value) + " seq " +
                    std::to_string(seq) + " does not decode");
  }
  stats_->events += 1;
  if (scratch_.has_gift_sent() && scratch_.gift_sent().host_share() > 0) {
    schemas::Command c = HostCreditFor(shard.value, seq, scratch_);
    const uint32_t host_shard = client_->ShardOf(c);
    pending_[host_shard].push_back(std::move(c));
    pending_count_ += 1;
    stats_->gifts += 1;
  } else if (scratch_.has_refunded()) {
    // The core lets the host keep a credited share (docs/commands.md, "Money
    // conservation"): a refund is the platform's loss, nothing to reverse.
    stats_->refunds_ignored += 1;
  }
  pos = seq;
  if (pending_count_ >= options_.batch_credits) return Flush();
  return Status::Ok();
}

Status Settlement::Flush() {
  if (pending_count_ > 0) {
    std::vector<std::vector<schemas::Command>> by_shard(pending_.size());
    by_shard.swap(pending_);
    GL_RETURN_IF_ERROR(SubmitUntilAnswered(std::move(by_shard)));
  }
  pending_count_ = 0;
  if (settled_ == positions_) return Status::Ok();
  if (!options_.state_path.empty()) {
    GL_RETURN_IF_ERROR(
        SaveSettlementState(options_.state_path, {client_->info().ledger_id, positions_}));
  }
  settled_ = positions_;
  stats_->batches += 1;
  return Status::Ok();
}

Status Settlement::SubmitUntilAnswered(std::vector<std::vector<schemas::Command>> by_shard) {
  const size_t chunk_max = std::max<size_t>(1, client_->info().batch_commands_max);
  int64_t backoff_ms = kBackoffMsMin;
  while (true) {
    // Every chunk of every shard in flight at once; then the answers in order.
    std::vector<std::shared_ptr<ingress::Client::Call>> calls;
    std::vector<std::pair<uint32_t, std::vector<schemas::Command>>> chunks;
    for (uint32_t shard = 0; shard < by_shard.size(); ++shard) {
      auto& credits = by_shard[shard];
      for (size_t i = 0; i < credits.size(); i += chunk_max) {
        const size_t end = std::min(credits.size(), i + chunk_max);
        chunks.emplace_back(shard, std::vector<schemas::Command>(
                                       std::make_move_iterator(credits.begin() + ptrdiff_t(i)),
                                       std::make_move_iterator(credits.begin() + ptrdiff_t(end))));
        calls.push_back(client_->Begin(shard, chunks.back().second));
        stats_->requests += 1;
      }
      credits.clear();
    }
    if (calls.empty()) return Status::Ok();
    size_t unanswered = 0;
    Status transient;
    for (size_t k = 0; k < calls.size(); ++k) {
      ingress::SubmitOutcome out = client_->Finish(calls[k]);
      const uint32_t shard = chunks[k].first;
      std::vector<schemas::Command>& chunk = chunks[k].second;
      if (out.kind == ingress::SubmitKind::kUnknownOutcome ||
          (out.kind == ingress::SubmitKind::kRefused &&
           out.status.code() != Code::kInvalidArgument)) {
        // No answer, BUSY or STALE: the same tx ids again, later.
        transient = out.status;
        unanswered += chunk.size();
        for (auto& c : chunk) by_shard[shard].push_back(std::move(c));
        continue;
      }
      if (out.kind == ingress::SubmitKind::kRefused) {
        return FailedPrecondition("shard " + std::to_string(shard) +
                                  " refused a settlement envelope: " + out.status.ToString());
      }
      GL_ASSERT(out.results.size() == chunk.size());
      for (size_t i = 0; i < chunk.size(); ++i) {
        const schemas::CommandResult& r = out.results[i];
        if (r.code() == schemas::OK) {
          stats_->credited += 1;
          stats_->credited_coins += uint64_t(chunk[i].host_credit().amount());
        } else if (r.code() == schemas::UNAVAILABLE) {
          transient = Unavailable(r.message());
          unanswered += 1;
          by_shard[shard].push_back(std::move(chunk[i]));
        } else if (FatalForAll(r.code())) {
          return FailedPrecondition("shard " + std::to_string(shard) + " answered " +
                                    schemas::ResultCode_Name(r.code()) + " (" + r.message() +
                                    ") to the credit of " + Describe(chunk[i]) +
                                    ": check the key's roles and the ledger");
        } else {
          stats_->rejected += 1;
          spdlog::error("settlement: credit REJECTED {} (seq {} on shard {}): {}: {}",
                        Describe(chunk[i]), r.seq(), shard, schemas::ResultCode_Name(r.code()),
                        r.message());
        }
      }
    }
    if (unanswered == 0) return Status::Ok();
    stats_->retries += 1;
    spdlog::warn("settlement: {} credits unanswered ({}); retrying in {} ms", unanswered,
                 transient.ToString(), backoff_ms);
    for (int64_t slept = 0; slept < backoff_ms; slept += 50) {
      if (Stopped()) return Status(Code::kAborted, "stopped while credits were unanswered");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min(backoff_ms * 2, std::max(options_.backoff_ms_max, kBackoffMsMin));
  }
}

Status Settlement::Run() {
  auto consumer = PullConsumer::Open(options_.url, options_.stream, options_.durable);
  if (!consumer.ok()) return consumer.status();
  natsConnection* nc = consumer.value()->connection();
  natsSubscription* sub = consumer.value()->subscription();
  uint64_t filled = 0;
  // The positions are the truth, the stream a transport: first bring every
  // shard to its durable end from the replay service (a new state, or a
  // consumer that acked past a lost state file); the stream then repeats it.
  for (uint32_t shard = 0; shard < shard_count(); ++shard) {
    GL_RETURN_IF_ERROR(
        FillFromReplay(nc, *this, shard, kToDurableEnd, options_.replay_timeout_ms, &filled));
    GL_RETURN_IF_ERROR(Flush());
  }
  stats_->gap_filled_events = filled;
  while (!Stopped()) {
    natsMsgList list{nullptr, 0};
    jsErrCode jerr = jsErrCode(0);
    natsStatus s =
        natsSubscription_Fetch(&list, sub, options_.fetch_max, options_.fetch_timeout_ms, &jerr);
    if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
      natsMsgList_Destroy(&list);
      if (options_.exit_when_idle) return Flush();
      continue;
    }
    if (s != NATS_OK) return NatsError("fetch", s);
    Status st;
    for (int i = 0; st.ok() && i < list.Count; ++i) {
      st = ApplyStreamMessage(nc, *this, list.Msgs[i], options_.replay_timeout_ms, &filled);
    }
    stats_->gap_filled_events = filled;
    // Ack only what the ledger answered: a crash before this line makes
    // JetStream redeliver, and the derived ids answer the original results.
    if (st.ok()) st = Flush();
    if (st.ok()) {
      for (int i = 0; i < list.Count; ++i) (void)natsMsg_Ack(list.Msgs[i], nullptr);
      (void)natsConnection_FlushTimeout(nc, options_.replay_timeout_ms);
    }
    natsMsgList_Destroy(&list);
    GL_RETURN_IF_ERROR(st);
  }
  return Flush();
}

}  // namespace giftledger::projections

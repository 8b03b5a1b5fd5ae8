#include "commands/ingress/client.h"

#include <sodium.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/ingress/gatekeeper.h"
#include "commands/ingress/limits.h"
#include "commands/ingress/nats_servers.h"
#include "commands/ingress/subjects.h"
#include "commands/routing.h"

namespace giftledger::ingress {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status NatsError(const std::string& what, natsStatus s) {
  return Unavailable(what + ": " + natsStatus_GetText(s));
}

// Authenticated envelope errors and what a gateway does about them.
Status StatusOfEnvelopeError(schemas::EnvelopeError e, const std::string& message) {
  std::string m = std::string(schemas::EnvelopeError_Name(e)) + ": " + message;
  switch (e) {
    case schemas::BUSY:
      return Unavailable(m);
    case schemas::STALE:
      return FailedPrecondition(m);
    case schemas::REPLAYED:
      return Status(Code::kAborted, m);
    default:
      return InvalidArgument(m);
  }
}

// An outcome another attempt (same tx ids, fresh nonce) may improve.
bool Retryable(const SubmitOutcome& o) {
  if (o.kind == SubmitKind::kUnknownOutcome) return true;
  if (o.kind == SubmitKind::kAnswered) {
    for (const auto& r : o.results) {
      if (r.code() == schemas::UNAVAILABLE) return true;
    }
    return false;
  }
  // REPLAYED can only follow a nonce collision or a duplicate delivery: the
  // next attempt has a fresh nonce.
  return o.status.code() == Code::kUnavailable || o.status.code() == Code::kAborted;
}

SubmitOutcome Hint(schemas::EnvelopeError hint, Status status) {
  SubmitOutcome o;
  o.kind = SubmitKind::kUnknownOutcome;
  o.envelope_error = hint;
  o.status = std::move(status);
  return o;
}

std::string Name(schemas::EnvelopeError e) { return schemas::EnvelopeError_Name(e); }

}  // namespace

Result<LedgerInfo> ParseLedgerInfo(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("info is not a JSON object");
  LedgerInfo info;
  try {
    info.protocol_version = j.at("protocol_version").get<uint32_t>();
    info.ledger_id = j.at("ledger_id").get<std::string>();
    info.shard_count = j.at("shard_count").get<uint32_t>();
    info.batch_commands_max = j.at("batch_commands_max").get<uint32_t>();
    info.window_us = j.at("window_us").get<int64_t>();
    if (!FromHex(j.at("service_public_key").get<std::string>(), info.service_public_key.data(),
                 info.service_public_key.size())) {
      return InvalidArgument("info: service_public_key is not 64 hex digits");
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("info: ") + e.what());
  }
  if (info.shard_count == 0) return InvalidArgument("info: shard_count is 0");
  return info;
}

std::string NewTxId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  // A random UUID (version 4, variant 10): never in the version-8 space the
  // ledger reserves for settlement's derived ids (commands/routing.h).
  id[6] = char((uint8_t(id[6]) & 0x0f) | 0x40);
  id[8] = char((uint8_t(id[8]) & 0x3f) | 0x80);
  return id;
}

// One Submit: its commands, every attempt's nonce (a late authenticated
// reply to an earlier attempt is as good as one to the latest), and what has
// come back so far. Shared by the caller and the reply callback.
class Client::Call {
 public:
  using Clock = std::chrono::steady_clock;

  uint32_t shard = 0;
  std::vector<schemas::Command> commands;
  std::string subject;
  Clock::time_point first_sent;

  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu.
  std::map<uint64_t, BoxNonce> nonces;  // by attempt token
  uint32_t attempts = 0;
  Clock::time_point deadline;
  bool answered = false;      // an authenticated reply ended the current attempt
  bool attempt_over = false;  // no responders / publish failed: retry now
  bool local_error = false;   // never sent (bad batch, journal error)
  SubmitOutcome outcome;      // valid when answered or local_error
  Clock::time_point answered_at;
  schemas::EnvelopeError last_hint = schemas::ENVELOPE_OK;
  uint32_t ignored = 0;
};

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  std::unique_ptr<Client> c(new Client(options));
  auto key = BoxKeyPair::Load(options.key_file);
  if (!key.ok()) return key.status();
  c->key_ = key.value();
  c->key_id_ = KeyIdOf(c->key_.public_key());

  natsStatus s = natsOptions_Create(&c->nats_options_);
  if (s == NATS_OK) s = SetNatsServers(c->nats_options_, options.nats_url);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(c->nats_options_, true);
  // Keep reconnecting while a server restarts; Submit's retries ride it out.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(c->nats_options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(c->nats_options_, 100);
  if (s == NATS_OK) s = natsOptions_SetName(c->nats_options_, "giftledger-client");
  if (s != NATS_OK) return NatsError("nats options", s);
  s = natsConnection_Connect(&c->nc_, c->nats_options_);
  if (s != NATS_OK) return NatsError("connect to " + options.nats_url, s);

  // One wildcard inbox for every reply; the last token says which attempt.
  natsInbox* inbox = nullptr;
  s = natsInbox_Create(&inbox);
  if (s != NATS_OK) return NatsError("inbox", s);
  c->inbox_prefix_ = inbox;
  natsInbox_Destroy(inbox);
  s = natsConnection_Subscribe(&c->inbox_sub_, c->nc_, (c->inbox_prefix_ + ".*").c_str(),
                               &Client::OnReply, c.get());
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(c->inbox_sub_, -1, -1);
  if (s != NATS_OK) return NatsError("subscribe to the reply inbox", s);

  Result<std::string> info_bytes = Unavailable("no info reply");
  for (uint32_t attempt = 0; attempt < std::max(1u, options.attempts_max); ++attempt) {
    info_bytes = c->RequestRaw(kInfoSubject, "", options.timeout_ms);
    if (info_bytes.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(options.backoff_ms << attempt));
  }
  if (!info_bytes.ok()) return info_bytes.status();
  auto info = ParseLedgerInfo(info_bytes.value());
  if (!info.ok()) return info.status();
  if (info->protocol_version != kProtocolVersion) {
    return FailedPrecondition("service speaks protocol " + std::to_string(info->protocol_version));
  }
  c->info_ = info.value();
  auto shared = SharedKey::Derive(c->info_.service_public_key, c->key_);
  if (!shared.ok()) return shared.status();
  c->shared_ = shared.value();
  return c;
}

Client::~Client() {
  if (inbox_sub_ != nullptr) {
    // Let a running callback finish before the client it uses goes away.
    if (natsSubscription_Drain(inbox_sub_) == NATS_OK) {
      (void)natsSubscription_WaitForDrainCompletion(inbox_sub_, 1000);
    }
    natsSubscription_Destroy(inbox_sub_);
  }
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  natsOptions_Destroy(nats_options_);
}

uint32_t Client::ShardOf(const schemas::Command& command) const {
  auto user = commands::RoutingUser(command);
  if (!user) return 0;
  return commands::ShardOf(*user, info_.shard_count).value;
}

std::string Client::SealNow(const std::vector<schemas::Command>& commands, BoxNonce* nonce) const {
  schemas::Request req;
  req.set_timestamp_us(NowUs());
  for (const auto& c : commands) *req.add_commands() = c;
  *nonce = RandomNonce();
  return SealRequest(key_id_, shared_, *nonce, req);
}

Result<std::string> Client::RequestRaw(const std::string& subject, const std::string& bytes,
                                       int64_t timeout_ms) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, nc_, subject.c_str(), bytes.data(),
                                        int(bytes.size()), timeout_ms);
  if (s != NATS_OK) return NatsError("request " + subject, s);
  std::string out(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  return out;
}

SubmitOutcome Client::DecodeReply(const std::string& reply_bytes, const BoxNonce& nonce,
                                  size_t commands) const {
  schemas::Envelope env;
  if (!env.ParseFromString(reply_bytes)) {
    return Hint(schemas::ENVELOPE_OK, Unavailable("ignored a reply that is not an envelope"));
  }
  if (env.error() != schemas::ENVELOPE_OK && env.ciphertext().empty()) {
    // Unauthenticated: anyone who can publish to our inbox could have sent
    // it. A hint for the operator, never an answer (docs/protocol.md).
    return Hint(env.error(), Unavailable("unauthenticated plaintext error " + Name(env.error()) +
                                         ": " + env.error_message()));
  }
  auto reply = OpenReply(reply_bytes, shared_, nonce);
  if (!reply.ok()) {
    return Hint(schemas::ENVELOPE_OK, Unavailable("ignored reply: " + reply.status().message()));
  }
  SubmitOutcome o;
  if (reply->error() != schemas::ENVELOPE_OK) {
    o.kind = SubmitKind::kRefused;
    o.envelope_error = reply->error();
    o.status = StatusOfEnvelopeError(reply->error(), reply->error_message());
    return o;
  }
  if (size_t(reply->results_size()) != commands) {
    return Hint(schemas::ENVELOPE_OK,
                Unavailable("ignored a reply with " + std::to_string(reply->results_size()) +
                            " results for " + std::to_string(commands) + " commands"));
  }
  o.kind = SubmitKind::kAnswered;
  o.results.assign(reply->results().begin(), reply->results().end());
  return o;
}

void Client::OnReply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<Client*>(closure);
  const char* subject = natsMsg_GetSubject(msg);
  const char* dot = std::strrchr(subject, '.');
  const uint64_t token = dot == nullptr ? 0 : std::strtoull(dot + 1, nullptr, 10);
  std::shared_ptr<Call> call;
  {
    std::lock_guard<std::mutex> lock(self->calls_mu_);
    auto it = self->calls_.find(token);
    if (it != self->calls_.end()) call = it->second;
  }
  if (call == nullptr) {  // a late reply to a finished call, or noise
    natsMsg_Destroy(msg);
    return;
  }
  BoxNonce nonce{};
  {
    std::lock_guard<std::mutex> lock(call->mu);
    nonce = call->nonces[token];
  }
  if (natsMsg_IsNoResponders(msg)) {
    // Nobody serves the shard now: retry at once (retrying is always safe).
    std::lock_guard<std::mutex> lock(call->mu);
    call->attempt_over = true;
    call->cv.notify_all();
    natsMsg_Destroy(msg);
    return;
  }
  const std::string bytes(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  SubmitOutcome o = self->DecodeReply(bytes, nonce, call->commands.size());
  std::lock_guard<std::mutex> lock(call->mu);
  if (o.kind == SubmitKind::kUnknownOutcome) {
    ++call->ignored;
    if (o.envelope_error != schemas::ENVELOPE_OK) call->last_hint = o.envelope_error;
    return;
  }
  if (call->answered) return;  // the first authenticated answer wins
  call->answered = true;
  call->answered_at = Call::Clock::now();
  call->outcome = std::move(o);
  call->cv.notify_all();
}

void Client::SendAttempt(const std::shared_ptr<Call>& call) {
  BoxNonce nonce;
  // Same commands (same tx ids), fresh nonce and timestamp every attempt.
  const std::string envelope = SealNow(call->commands, &nonce);
  uint64_t token;
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    token = next_token_++;
    calls_.emplace(token, call);
  }
  {
    std::lock_guard<std::mutex> lock(call->mu);
    call->nonces.emplace(token, nonce);
    ++call->attempts;
    call->answered = false;
    call->attempt_over = false;
    call->deadline = Call::Clock::now() + std::chrono::milliseconds(options_.timeout_ms);
  }
  const std::string reply_to = inbox_prefix_ + "." + std::to_string(token);
  natsStatus s = natsConnection_PublishRequest(nc_, call->subject.c_str(), reply_to.c_str(),
                                               envelope.data(), int(envelope.size()));
  if (s != NATS_OK) {
    std::lock_guard<std::mutex> lock(call->mu);
    call->attempt_over = true;
  }
}

void Client::Forget(const Call& call) {
  std::lock_guard<std::mutex> lock(calls_mu_);
  for (const auto& [token, nonce] : call.nonces) calls_.erase(token);
}

std::shared_ptr<Client::Call> Client::Begin(uint32_t shard,
                                            std::vector<schemas::Command> commands) {
  auto call = std::make_shared<Call>();
  call->shard = shard;
  call->commands = std::move(commands);
  call->subject = CommandSubject(shard);
  call->first_sent = Call::Clock::now();
  auto refuse = [&](Status st) {
    call->local_error = true;
    call->outcome.kind = SubmitKind::kRefused;
    call->outcome.status = std::move(st);
    return call;
  };
  if (call->commands.empty() || call->commands.size() > info_.batch_commands_max) {
    return refuse(InvalidArgument("a batch holds 1 to " + std::to_string(info_.batch_commands_max) +
                                  " commands"));
  }
  if (shard >= info_.shard_count) {
    return refuse(InvalidArgument("shard " + std::to_string(shard) + " does not exist"));
  }
  if (options_.journal != nullptr) {
    // On disk before it leaves: a crash after the send cannot lose it.
    Status st = options_.journal->AppendSent(shard, call->commands);
    if (!st.ok()) return refuse(st);
  }
  SendAttempt(call);
  return call;
}

SubmitOutcome Client::Finish(const std::shared_ptr<Call>& call) {
  if (call->local_error) return call->outcome;
  const uint32_t attempts_max = std::max(1u, options_.attempts_max);
  SubmitOutcome o;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(call->mu);
      call->cv.wait_until(lock, call->deadline,
                          [&] { return call->answered || call->attempt_over; });
      if (call->answered) {
        o = call->outcome;
        o.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(call->answered_at -
                                                                             call->first_sent)
                           .count();
      } else {
        o = Hint(call->last_hint,
                 Unavailable("outcome unknown: no authenticated reply after " +
                             std::to_string(call->attempts) + " attempts" +
                             (call->last_hint == schemas::ENVELOPE_OK
                                  ? std::string()
                                  : "; last unauthenticated hint " + Name(call->last_hint))));
      }
      o.attempts = call->attempts;
      o.ignored_replies = call->ignored;
      if (!Retryable(o) || call->attempts >= attempts_max) break;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(options_.backoff_ms << (call->attempts - 1)));
    // A late authenticated reply to an earlier attempt may have come in.
    {
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->answered && !Retryable(call->outcome)) continue;
    }
    SendAttempt(call);
  }
  Forget(*call);
  if (options_.journal != nullptr && o.kind == SubmitKind::kAnswered) {
    // Only definite per-command results leave the journal.
    std::vector<schemas::Command> done;
    std::vector<schemas::CommandResult> results;
    for (size_t i = 0; i < o.results.size(); ++i) {
      if (o.results[i].code() == schemas::UNAVAILABLE) continue;
      done.push_back(call->commands[i]);
      results.push_back(o.results[i]);
    }
    Status st = options_.journal->MarkAnswered(done, results);
    (void)st;  // a lost mark only makes `redo` ask again; the answer is the same
  }
  return o;
}

bool Client::Ready(const std::shared_ptr<Call>& call) {
  std::lock_guard<std::mutex> lock(call->mu);
  return call->local_error || (call->answered && !Retryable(call->outcome));
}

SubmitOutcome Client::Submit(uint32_t shard, const std::vector<schemas::Command>& commands) {
  return Finish(Begin(shard, commands));
}

}  // namespace giftledger::ingress

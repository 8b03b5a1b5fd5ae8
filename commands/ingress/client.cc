#include "commands/ingress/client.h"

#include <sodium.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/ingress/gatekeeper.h"
#include "commands/ingress/limits.h"
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

// Envelope errors and what a gateway does about them (docs/protocol.md).
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

bool Retryable(const SubmitOutcome& o) {
  if (o.status.ok()) {
    for (const auto& r : o.results) {
      if (r.code() == schemas::UNAVAILABLE) return true;
    }
    return false;
  }
  // REPLAYED can only follow a nonce collision or a duplicate delivery: the
  // next attempt has a fresh nonce.
  return o.status.code() == Code::kUnavailable || o.status.code() == Code::kAborted;
}

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

std::optional<uint64_t> RoutingUserOf(const schemas::Command& c) {
  using schemas::Command;
  switch (c.body_case()) {
    case Command::kTopUp:
      return c.top_up().user();
    case Command::kPlaceOrder:
      return c.place_order().payer();
    case Command::kConsumeOrder:
      return c.consume_order().payer();
    case Command::kCancelOrder:
      return c.cancel_order().payer();
    case Command::kRefund:
      return c.refund().payer();
    case Command::kHostCredit:
      return c.host_credit().host();
    case Command::kPayout:
      return c.payout().host();
    case Command::kSetLimits:
      return c.set_limits().user();
    case Command::kSetPrivacy:
      return c.set_privacy().user();
    default:
      return std::nullopt;
  }
}

std::string NewTxId() {
  std::string id(16, '\0');
  randombytes_buf(id.data(), id.size());
  return id;
}

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  std::unique_ptr<Client> c(new Client(options));
  auto key = BoxKeyPair::Load(options.key_file);
  if (!key.ok()) return key.status();
  c->key_ = key.value();
  c->key_id_ = KeyIdOf(c->key_.public_key());

  natsStatus s = natsOptions_Create(&c->nats_options_);
  if (s == NATS_OK) s = natsOptions_SetURL(c->nats_options_, options.nats_url.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(c->nats_options_, true);
  // Keep reconnecting while a server restarts; Submit's retries ride it out.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(c->nats_options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(c->nats_options_, 100);
  if (s == NATS_OK) s = natsOptions_SetName(c->nats_options_, "giftledger-client");
  if (s != NATS_OK) return NatsError("nats options", s);
  s = natsConnection_Connect(&c->nc_, c->nats_options_);
  if (s != NATS_OK) return NatsError("connect to " + options.nats_url, s);

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
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
  natsOptions_Destroy(nats_options_);
}

uint32_t Client::ShardOf(const schemas::Command& command) const {
  auto user = RoutingUserOf(command);
  if (!user) return 0;
  return commands::ShardOf(commands::UserId{*user}, info_.shard_count).value;
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
  SubmitOutcome o;
  schemas::Envelope env;
  if (!env.ParseFromString(reply_bytes)) {
    o.status = DataLoss("reply is not an envelope");
    return o;
  }
  if (env.error() != schemas::ENVELOPE_OK) {  // plaintext error
    o.envelope_error = env.error();
    o.status = StatusOfEnvelopeError(env.error(), env.error_message());
    return o;
  }
  auto reply = OpenReply(reply_bytes, shared_, nonce);
  if (!reply.ok()) {
    o.status = DataLoss(reply.status().message());
    return o;
  }
  if (reply->error() != schemas::ENVELOPE_OK) {
    o.envelope_error = reply->error();
    o.status = StatusOfEnvelopeError(reply->error(), reply->error_message());
    return o;
  }
  if (size_t(reply->results_size()) != commands) {
    o.status = DataLoss("reply holds " + std::to_string(reply->results_size()) + " results for " +
                        std::to_string(commands) + " commands");
    return o;
  }
  o.results.assign(reply->results().begin(), reply->results().end());
  return o;
}

SubmitOutcome Client::Submit(uint32_t shard, const std::vector<schemas::Command>& commands) {
  SubmitOutcome o;
  if (commands.empty() || commands.size() > info_.batch_commands_max) {
    o.status = InvalidArgument("a batch holds 1 to " + std::to_string(info_.batch_commands_max) +
                               " commands");
    return o;
  }
  if (shard >= info_.shard_count) {
    o.status = InvalidArgument("shard " + std::to_string(shard) + " does not exist");
    return o;
  }
  const std::string subject = CommandSubject(shard);
  const uint32_t attempts_max = std::max(1u, options_.attempts_max);
  for (uint32_t attempt = 1; attempt <= attempts_max; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.backoff_ms << (attempt - 2)));
    }
    // Same commands (same tx ids), fresh nonce and timestamp every attempt.
    BoxNonce nonce;
    const std::string envelope = SealNow(commands, &nonce);
    auto reply = RequestRaw(subject, envelope, options_.timeout_ms);
    if (reply.ok()) {
      o = DecodeReply(reply.value(), nonce, commands.size());
    } else {
      o = SubmitOutcome{reply.status(), schemas::ENVELOPE_OK, {}, 0};
    }
    o.attempts = attempt;
    if (!Retryable(o)) return o;
  }
  return o;
}

}  // namespace giftledger::ingress

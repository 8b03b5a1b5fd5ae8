// The C++ gateway client: connects to NATS, learns the ledger from
// giftledger.info, derives the shared key once, and submits batches with a
// timeout and retries that reuse the SAME tx ids (a fresh nonce and timestamp
// per attempt), so a retry of a committed command returns its original result
// (docs/protocol.md, "Retry rules"). Thread-safe: many threads may Submit.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/ingress/box.h"
#include "ledger/status.h"
#include "schemas/giftledger.pb.h"
#include "schemas/protocol.pb.h"

namespace giftledger::ingress {

// What giftledger.info says.
struct LedgerInfo {
  uint32_t protocol_version = 0;
  std::string ledger_id;
  uint32_t shard_count = 0;
  BoxPublicKey service_public_key{};
  uint32_t batch_commands_max = 0;
  int64_t window_us = 0;
};
Result<LedgerInfo> ParseLedgerInfo(const std::string& json);

struct ClientOptions {
  std::string nats_url;
  std::string key_file;  // the gateway's secret key (keys gateway)
  int64_t timeout_ms = 5000;
  uint32_t attempts_max = 4;
  int64_t backoff_ms = 100;  // doubled after each failed attempt
};

// How a Submit ended. status OK: one result per command, in order.
// Otherwise status says what to do (docs/protocol.md): UNAVAILABLE = no
// answer or BUSY after every attempt (retry later, same tx ids);
// INVALID_ARGUMENT = rejected at the envelope (fix the request or the keys);
// FAILED_PRECONDITION = STALE (fix the clock). envelope_error carries the
// protocol's code when the service answered with one.
struct SubmitOutcome {
  Status status;
  schemas::EnvelopeError envelope_error = schemas::ENVELOPE_OK;
  std::vector<schemas::CommandResult> results;
  uint32_t attempts = 0;
  bool ok() const { return status.ok(); }
};

// The account that decides a command's shard; nullopt for SetCatalog.
std::optional<uint64_t> RoutingUserOf(const schemas::Command& command);
// 16 random bytes for Command.tx_id.
std::string NewTxId();

class Client {
 public:
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const LedgerInfo& info() const { return info_; }
  const KeyId& key_id() const { return key_id_; }
  // The shard of the command's routing user (0 for SetCatalog).
  uint32_t ShardOf(const schemas::Command& command) const;

  // Seals, sends and waits, retrying as the protocol allows.
  SubmitOutcome Submit(uint32_t shard, const std::vector<schemas::Command>& commands);

  // Building blocks, for tests and tools: an envelope of these commands with
  // a fresh nonce and the current time; one raw request (no retry); the
  // outcome of a reply to the request sealed with `nonce`.
  std::string SealNow(const std::vector<schemas::Command>& commands, BoxNonce* nonce) const;
  Result<std::string> RequestRaw(const std::string& subject, const std::string& bytes,
                                 int64_t timeout_ms);
  SubmitOutcome DecodeReply(const std::string& reply_bytes, const BoxNonce& nonce,
                            size_t commands) const;

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}

  ClientOptions options_;
  LedgerInfo info_;
  BoxKeyPair key_;
  KeyId key_id_{};
  SharedKey shared_;
  natsOptions* nats_options_ = nullptr;
  natsConnection* nc_ = nullptr;
};

}  // namespace giftledger::ingress

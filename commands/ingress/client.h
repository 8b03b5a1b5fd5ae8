// The C++ gateway client: connects to NATS, learns the ledger from
// giftledger.info, derives the shared key once, and submits batches with a
// timeout and retries that reuse the SAME tx ids (a fresh nonce and timestamp
// per attempt), so a retry of a committed command returns its original result
// (docs/protocol.md, "Retry rules"). Replies come back on one wildcard inbox
// subscription; only an encrypted reply that opens with the shared key and
// names this request's nonce ends a request: plaintext errors and forgeries
// are hints at most. Thread-safe: many threads may Submit, and Begin/Finish
// keep many requests in flight from one thread.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "commands/ingress/box.h"
#include "commands/ingress/redo_journal.h"
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
  // When set, every command is journaled (fdatasync) before it is sent and
  // marked answered after a definite per-command result.
  std::shared_ptr<RedoJournal> journal;
};

// How a Submit ended (docs/protocol.md, "Retry rules"):
//  * kAnswered: status OK, one result per command, in order. These are the
//    ledger's final word for those tx ids (except a per-command UNAVAILABLE).
//  * kRefused: the service itself (an authenticated, encrypted reply to this
//    request) refused the whole envelope; nothing was decided. status:
//    INVALID_ARGUMENT (fix the request), FAILED_PRECONDITION (STALE: fix the
//    clock), UNAVAILABLE (BUSY after every attempt: retry later).
//  * kUnknownOutcome: no authenticated answer after every attempt (timeouts,
//    NATS down, only plaintext error hints or replies that did not open).
//    The commands may or may not be applied: resubmit them later with the
//    SAME tx ids (they stay in the redo journal); never report them rejected.
//    status is UNAVAILABLE; envelope_error is the last plaintext hint, if any.
enum class SubmitKind { kAnswered, kRefused, kUnknownOutcome };

struct SubmitOutcome {
  Status status;
  SubmitKind kind = SubmitKind::kUnknownOutcome;
  // kRefused: the service's (authenticated) code. kUnknownOutcome: the last
  // unauthenticated plaintext error seen (a hint only: anyone on NATS can
  // forge one), ENVELOPE_OK when none came.
  schemas::EnvelopeError envelope_error = schemas::ENVELOPE_OK;
  std::vector<schemas::CommandResult> results;
  uint32_t attempts = 0;
  // Replies dropped because they did not open, named another request, or
  // were plaintext errors (hints).
  uint32_t ignored_replies = 0;
  // First send to the authenticated answer (kAnswered / kRefused only).
  int64_t latency_us = 0;
  bool ok() const { return status.ok(); }
  bool unknown_outcome() const { return kind == SubmitKind::kUnknownOutcome; }
};

// The account that decides a command's shard; nullopt for SetCatalog.
std::optional<uint64_t> RoutingUserOf(const schemas::Command& command);
// A random UUIDv4 for Command.tx_id (never a reserved version-8 id).
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

  // The same in two halves, for pipelining: Begin journals and sends the
  // first attempt and returns at once; Finish waits for it, retries as
  // Submit does and returns the outcome. Every Begin needs one Finish.
  class Call;
  std::shared_ptr<Call> Begin(uint32_t shard, std::vector<schemas::Command> commands);
  SubmitOutcome Finish(const std::shared_ptr<Call>& call);
  // True when Finish would return without waiting for the network (an
  // authenticated answer is in, or the call never left).
  static bool Ready(const std::shared_ptr<Call>& call);

  // Building blocks, for tests and tools: an envelope of these commands with
  // a fresh nonce and the current time; one raw request (no retry, the first
  // reply whatever it is); the outcome of a reply to the request sealed with
  // `nonce` (kUnknownOutcome for a plaintext error or a reply that does not
  // open or names another request).
  std::string SealNow(const std::vector<schemas::Command>& commands, BoxNonce* nonce) const;
  Result<std::string> RequestRaw(const std::string& subject, const std::string& bytes,
                                 int64_t timeout_ms);
  SubmitOutcome DecodeReply(const std::string& reply_bytes, const BoxNonce& nonce,
                            size_t commands) const;

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  static void OnReply(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  // Seals and publishes one attempt of the call (a fresh nonce and token).
  void SendAttempt(const std::shared_ptr<Call>& call);
  void Forget(const Call& call);

  ClientOptions options_;
  LedgerInfo info_;
  BoxKeyPair key_;
  KeyId key_id_{};
  SharedKey shared_;
  natsOptions* nats_options_ = nullptr;
  natsConnection* nc_ = nullptr;
  natsSubscription* inbox_sub_ = nullptr;
  std::string inbox_prefix_;  // replies arrive on <inbox_prefix_>.<token>

  std::mutex calls_mu_;
  uint64_t next_token_ = 1;                          // guarded by calls_mu_
  std::map<uint64_t, std::shared_ptr<Call>> calls_;  // by attempt token, guarded
};

}  // namespace giftledger::ingress

#include "commands/ingress/block_stream.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "ledger/crypto.h"

namespace giftledger::ingress {

Status JetStreamError(const std::string& what, natsStatus s, jsErrCode code) {
  std::string m = what + ": " + natsStatus_GetText(s);
  if (code != 0) m += " (jetstream error " + std::to_string(int(code)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') m += std::string(" - ") + last;
  return Unavailable(m);
}

Status EnsureBlockStream(jsCtx* js, const BlockStreamOptions& options) {
  jsStreamInfo* si = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&si, js, options.name.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return Status::Ok();
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    return JetStreamError("stream info " + options.name, s, code);
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {kBlockSubjectsWildcard};
  cfg.Name = options.name.c_str();
  cfg.Description = "giftledger blocks, one subject per shard (docs/replication.md)";
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Discard = js_DiscardOld;
  cfg.Replicas = options.replicas;
  cfg.Duplicates = options.duplicate_window_ms * 1'000'000;  // ns
  cfg.AllowDirect = true;
  code = jsErrCode(0);
  s = js_AddStream(&si, js, &cfg, nullptr, &code);
  if (s != NATS_OK && code != JSStreamNameExistErr) {
    return JetStreamError("create stream " + options.name, s, code);
  }
  jsStreamInfo_Destroy(si);
  spdlog::info("replication: created stream {} ({}, replicas {})", options.name,
               kBlockSubjectsWildcard, options.replicas);
  return Status::Ok();
}

Result<StreamTail> ReadStreamTail(jsCtx* js, const std::string& stream, uint32_t shard) {
  natsMsg* last = nullptr;
  jsErrCode code = jsErrCode(0);
  const std::string subject = BlockSubject(shard);
  natsStatus s = js_GetLastMsg(&last, js, stream.c_str(), subject.c_str(), nullptr, &code);
  StreamTail tail;
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) {
    if (code == JSStreamNotFoundErr) return Unavailable("stream " + stream + " not found");
    return tail;
  }
  if (s != NATS_OK) return JetStreamError("last message on " + subject, s, code);
  tail.stream_seq = natsMsg_GetSequence(last);
  Status st;
  if (natsMsg_GetDataLength(last) == 0) {
    // An epoch marker.
    const char* seq = nullptr;
    const char* hash = nullptr;
    if (natsMsgHeader_Get(last, kLastSeqHeader, &seq) != NATS_OK ||
        natsMsgHeader_Get(last, kLastHashHeader, &hash) != NATS_OK || seq == nullptr ||
        hash == nullptr || !FromHex(hash, tail.block_hash.data(), tail.block_hash.size())) {
      st = DataLoss("epoch marker without " + std::string(kLastSeqHeader));
    } else {
      tail.last_seq = std::strtoull(seq, nullptr, 10);
    }
  } else {
    BlockView view;
    st = ParseBlock(reinterpret_cast<const uint8_t*>(natsMsg_GetData(last)),
                    uint64_t(natsMsg_GetDataLength(last)), &view);
    if (st.ok()) {
      tail.last_seq = view.header.last_seq().value;
      tail.block_hash = view.stored_hash;
    }
  }
  natsMsg_Destroy(last);
  if (!st.ok()) {
    return DataLoss("last message on " + subject + " is not a block: " + st.message());
  }
  return tail;
}

}  // namespace giftledger::ingress

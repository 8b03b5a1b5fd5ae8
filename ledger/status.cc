#include "ledger/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace giftledger {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "INVALID_ARGUMENT";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kAlreadyExists: return "ALREADY_EXISTS";
    case Code::kFailedPrecondition: return "FAILED_PRECONDITION";
    case Code::kAborted: return "ABORTED";
    case Code::kOutOfRange: return "OUT_OF_RANGE";
    case Code::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case Code::kUnavailable: return "UNAVAILABLE";
    case Code::kDataLoss: return "DATA_LOSS";
    case Code::kInternal: return "INTERNAL";
  }
  return "UNKNOWN";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status ErrnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  // ENOSPC and EIO are not fixed by retrying the same call; the caller's
  // state machine decides (the writer fails closed).
  if (err == ENOENT) return NotFound(msg);
  if (err == EEXIST) return AlreadyExists(msg);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(msg);
  return Unavailable(msg);
}

void AssertFail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "giftledger: assertion failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace giftledger

// Errors as values. A Status carries one of a small fixed set of codes, each
// with a clear retry meaning, and a short human message. No exception crosses
// a module boundary; functions that can fail return Status or Result<T>.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace giftledger {

// Codes follow the Abseil canon so callers know what to do without reading
// the message.
enum class Code {
  kOk = 0,
  kInvalidArgument,     // the input is wrong: never retry as is
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // refusing to overwrite
  kFailedPrecondition,  // fix the state first (e.g. format the ledger)
  kAborted,             // conflict: retry the whole operation
  kOutOfRange,          // past the end of what exists
  kResourceExhausted,   // a limit was hit: retry later or smaller
  kUnavailable,         // transient or needs a restart: retry (same tx id)
  kDataLoss,            // corruption: do not retry, investigate
  kInternal,            // an invariant broke: a bug
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status OutOfRange(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
inline Status ResourceExhausted(std::string m) {
  return {Code::kResourceExhausted, std::move(m)};
}
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// Status plus a value when ok.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok());
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() {
    assert(ok());
    return *value_;
  }
  const T& value() const {
    assert(ok());
    return *value_;
  }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

// Status from errno with the operation and path that failed.
Status ErrnoStatus(const std::string& what, int err);

#define GL_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::giftledger::Status _st = (expr);    \
    if (!_st.ok()) return _st;            \
  } while (0)

// Assertions that stay on in release builds: they guard money and durability.
[[noreturn]] void AssertFail(const char* expr, const char* file, int line);
#define GL_ASSERT(expr) \
  ((expr) ? (void)0 : ::giftledger::AssertFail(#expr, __FILE__, __LINE__))

}  // namespace giftledger

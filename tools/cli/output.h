// Shared helpers for human and machine (--json) output of the CLI.
#pragma once

#include <cstdint>
#include <string>

#include "ledger/status.h"

namespace giftledger::cli {

// A one-line progress bar on stderr, only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void Update(uint64_t done, uint64_t total);
  void Finish();

 private:
  std::string label_;
  bool tty_;
  int last_permille_ = -1;
};

// Prints "giftledger: <status>" to stderr and returns kExitError.
int ReportError(const Status& st);
std::string HumanBytes(uint64_t bytes);

}  // namespace giftledger::cli

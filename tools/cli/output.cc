#include "tools/cli/output.h"

#include <unistd.h>

#include <cstdio>

#include "tools/cli/commands.h"

namespace giftledger::cli {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) == 1) {}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!tty_ || total == 0) return;
  int permille = int(std::min<uint64_t>(1000, done * 1000 / total));
  if (permille == last_permille_) return;
  last_permille_ = permille;
  int filled = permille * 30 / 1000;
  std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%%", label_.c_str(), filled,
               "##############################", 30 - filled, "", permille / 10.0);
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (tty_ && last_permille_ >= 0) std::fprintf(stderr, "\n");
}

int ReportError(const Status& st) {
  std::fprintf(stderr, "giftledger: %s\n", st.ToString().c_str());
  return kExitError;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace giftledger::cli

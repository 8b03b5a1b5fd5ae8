#include "commands/ids.h"

#include <sys/random.h>

#include <cerrno>

#include "ledger/status.h"

namespace giftledger::commands {

SipKey DrawProcessHashKey() {
  uint64_t k[2];
  size_t got = 0;
  while (got < sizeof(k)) {
    const ssize_t n = getrandom(reinterpret_cast<char*>(k) + got, sizeof(k) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    GL_ASSERT(n > 0);
    got += size_t(n);
  }
  return SipKey{k[0], k[1]};
}

}  // namespace giftledger::commands

#include "ledger/testing/temp_dir.h"

#include <cstdlib>
#include <filesystem>

#include "ledger/status.h"

namespace giftledger::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/giftledger-test-XXXXXX";
  GL_ASSERT(::mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace giftledger::testing

// A fresh directory under $TMPDIR for one test, removed with its contents.
#pragma once

#include <string>

namespace giftledger::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace giftledger::testing

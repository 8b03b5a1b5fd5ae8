// `giftledger prove` and `giftledger verify-proof` as a user runs them: the
// proof goes to a file, is checked with the manifest alone, and exit codes
// tell a valid proof, a forged one and a bad request apart (docs/cli.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ledger/file.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"
#include "schemas/giftledger.pb.h"

#ifndef GIFTLEDGER_BIN_DEFAULT
#error "tests/CMakeLists.txt defines GIFTLEDGER_BIN_DEFAULT"
#endif

namespace giftledger {
namespace {

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

class ProofCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_ = testing::FormatTestLedger(tmp_.Sub("ledger"));
    WriterOptions o = testing::SmallSegmentOptions();
    o.checkpoints.every_blocks = 4;
    auto w = testing::OpenTestWriter(ledger_, o);
    ASSERT_TRUE(w.ok());
    for (int b = 0; b < 10; ++b) {
      EventBatch batch;
      for (int i = 0; i < 3; ++i) {
        schemas::Event ev;
        std::string tx(16, char(0x10 + b));
        tx[15] = char(i);
        ev.set_tx_id(tx);
        ev.mutable_topped_up()->set_user(uint64_t(b * 10 + i));
        ev.mutable_topped_up()->set_amount(500);
        ASSERT_TRUE(batch.Add(ev.SerializeAsString()).ok());
      }
      ASSERT_TRUE(w.value()->AppendAndWait(std::move(batch)).status.ok());
    }
    ASSERT_TRUE(w.value()->Close().ok());
  }

  // Runs giftledger with stdout to `out_path`; returns the exit code.
  int Run(const std::vector<std::string>& args, const std::string& out_path) {
    std::vector<std::string> argv_s = {Binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string err_path = tmp_.Sub("stderr");
    pid_t pid = ::fork();
    if (pid == 0) {
      int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) _exit(126);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Manifest() const { return ManifestPath(ledger_.dir); }

  testing::TempDir tmp_;
  testing::TestLedger ledger_;
};

TEST_F(ProofCliTest, InclusionProofFileVerifiesAndAForgedOneExitsOne) {
  std::string proof = tmp_.Sub("proof.json"), out = tmp_.Sub("out");
  // tx of block 5, event 2 (seq 18)
  ASSERT_EQ(
      Run({"prove", "--data", ledger_.dir, "--tx", "15151515151515151515151515151502"}, proof), 0);
  auto text = ReadSmallFile(proof, 1 << 20);
  ASSERT_TRUE(text.ok());
  nlohmann::json p = nlohmann::json::parse(text.value());
  EXPECT_EQ(p["entries"][0]["seq"].get<uint64_t>(), 18u);
  EXPECT_EQ(p["checkpoint_info"]["tree_size"].get<uint64_t>(), 30u);
  EXPECT_EQ(Run({"verify-proof", "--manifest", Manifest(), proof}, out), 0);
  EXPECT_EQ(Run({"verify-proof", "--manifest", Manifest(), "--json", proof}, out), 0);
  EXPECT_TRUE(nlohmann::json::parse(ReadSmallFile(out, 1 << 20).value())["ok"].get<bool>());

  std::string ev = p["entries"][0]["event"].get<std::string>();
  ev[ev.size() - 1] = ev.back() == '0' ? '2' : '0';  // the amount
  p["entries"][0]["event"] = ev;
  ASSERT_TRUE(WriteFileAtomic(proof, p.dump(), 0644).ok());
  EXPECT_EQ(Run({"verify-proof", "--manifest", Manifest(), proof}, out), 1);
  ASSERT_TRUE(WriteFileAtomic(proof, "{not json", 0644).ok());
  EXPECT_EQ(Run({"verify-proof", "--manifest", Manifest(), proof}, out), 1);
  EXPECT_EQ(Run({"verify-proof", "--manifest", tmp_.Sub("nope.json"), proof}, out), 3);
}

TEST_F(ProofCliTest, ConsistencyProofFileVerifies) {
  std::string proof = tmp_.Sub("proof.json"), out = tmp_.Sub("out");
  ASSERT_EQ(
      Run({"prove", "--data", ledger_.dir, "--shard", "0", "--consistency", "12", "30"}, proof), 0);
  EXPECT_EQ(Run({"verify-proof", "--manifest", Manifest(), proof}, out), 0);
}

TEST_F(ProofCliTest, BadRequestsGetUsageOrErrorExitCodes) {
  std::string out = tmp_.Sub("out");
  EXPECT_EQ(Run({"prove", "--data", ledger_.dir}, out), 2);
  EXPECT_EQ(Run({"prove", "--data", ledger_.dir, "--tx", "xyz"}, out), 2);
  EXPECT_EQ(Run({"prove", "--data", ledger_.dir, "--consistency", "12", "30"}, out), 2);
  EXPECT_EQ(Run({"prove", "--data", ledger_.dir, "--shard", "0", "--consistency", "30", "12"}, out),
            2);
  EXPECT_EQ(Run({"prove", "--data", ledger_.dir, "--tx", "ffffffffffffffffffffffffffffffff"}, out),
            3);
  EXPECT_EQ(Run({"prove", "--data", ledger_.dir, "--shard", "0", "--consistency", "13", "30"}, out),
            3);
  EXPECT_EQ(Run({"verify-proof"}, out), 2);
}

}  // namespace
}  // namespace giftledger

// End-to-end tests of the `giftledger` binary: exit codes, JSON output, and
// that verify names where a ledger was damaged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ledger/file.h"
#include "ledger/manifest.h"
#include "ledger/segment.h"
#include "ledger/testing/shard_util.h"
#include "ledger/testing/temp_dir.h"

#ifndef GIFTLEDGER_BIN_DEFAULT
#error "tests/CMakeLists.txt defines GIFTLEDGER_BIN_DEFAULT"
#endif
#ifndef GIFTLEDGER_SOURCE_DIR
#error "tests/CMakeLists.txt defines GIFTLEDGER_SOURCE_DIR"
#endif

namespace giftledger {
namespace {

std::string Binary() {
  const char* env = std::getenv("GIFTLEDGER_BIN");
  return env != nullptr && *env != '\0' ? env : GIFTLEDGER_BIN_DEFAULT;
}

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class CliTest : public ::testing::Test {
 protected:
  // Runs giftledger with args; stdout and stderr go to files, read afterwards.
  CliRun Giftledger(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s = {Binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    return RunArgv(argv_s);
  }

  // Runs argv[0] (a path) with argv; stdout and stderr go to files.
  CliRun RunArgv(std::vector<std::string> argv_s) {
    std::string out_path = tmp_.Sub("stdout"), err_path = tmp_.Sub("stderr");
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) _exit(126);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    CliRun r;
    int status = 0;
    EXPECT_GT(pid, 0);
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status)) << "giftledger died, status " << status;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    EXPECT_NE(r.exit_code, 127) << "cannot run " << Binary();
    auto out = ReadSmallFile(out_path, 64 << 20);
    auto err = ReadSmallFile(err_path, 64 << 20);
    if (out.ok()) r.out = out.value();
    if (err.ok()) r.err = err.value();
    return r;
  }

  std::string Describe(const std::vector<std::string>& args, const CliRun& r) {
    std::string s = "giftledger";
    for (const auto& a : args) s += " " + a;
    return s + "\nexit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" +
           r.err;
  }

  // Runs and expects an exit code; returns the run.
  CliRun Expect(int exit_code, const std::vector<std::string>& args) {
    CliRun r = Giftledger(args);
    EXPECT_EQ(r.exit_code, exit_code) << Describe(args, r);
    return r;
  }

  nlohmann::json Json(const CliRun& r) {
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out;
    return j;
  }

  // A formatted one-shard ledger with some blocks from a small bench run.
  void FormatAndFill(uint64_t events) {
    Expect(0, {"format", "--data", data_, "--shards", "1", "--segment-mib", "16"});
    Expect(0, {"bench", "ledger", "--data", data_, "--events", std::to_string(events),
               "--sqlite-events", "5", "--json"});
  }

  std::string Segment() {
    auto paths = testing::SegmentPaths(ShardDir(data_, ShardId{0}));
    EXPECT_EQ(paths.size(), 1u);
    return paths.empty() ? "" : paths[0];
  }

  testing::TempDir tmp_;
  std::string data_ = tmp_.Sub("ledger");
};

TEST_F(CliTest, BenchLedgerPrintsJsonWithEveryFigureAndTheLedgerVerifies) {
  Expect(0, {"format", "--data", data_, "--shards", "1", "--segment-mib", "16"});
  CliRun bench = Expect(0, {"bench", "ledger", "--data", data_, "--events", "20000",
                            "--sqlite-events", "50", "--json"});
  nlohmann::json j = Json(bench);
  for (const char* field :
       {"events_per_s", "commit_p50_us", "commit_p99_us", "fsyncs", "raw_events_per_s",
        "sqlite_naive_events_per_s", "ratio_raw", "ratio_sqlite"}) {
    ASSERT_TRUE(j.contains(field)) << field << " missing in\n" << bench.out;
    ASSERT_TRUE(j[field].is_number()) << field << " in\n" << bench.out;
    EXPECT_GT(j[field].get<double>(), 0) << field;
  }
  EXPECT_GE(j["events"].get<double>(), 20000);
  EXPECT_LE(j["commit_p50_us"].get<double>(), j["commit_p99_us"].get<double>());
  EXPECT_NEAR(j["ratio_raw"].get<double>(),
              j["events_per_s"].get<double>() / j["raw_events_per_s"].get<double>(), 1e-6);

  Expect(0, {"verify", "--data", data_});
  nlohmann::json v = Json(Expect(0, {"verify", "--data", data_, "--json"}));
  EXPECT_TRUE(v["ok"].get<bool>());
  ASSERT_EQ(v["shards"].size(), 1u);
  EXPECT_TRUE(v["shards"][0]["ok"].get<bool>());
  EXPECT_GE(v["events"].get<double>(), 20000);
}

TEST_F(CliTest, FlippedEventByteIsReportedWithShardSegmentAndOffset) {
  FormatAndFill(3000);
  const std::string seg = Segment();
  auto blocks = testing::ListBlocks(seg);
  ASSERT_GE(blocks.size(), 4u);
  const testing::BlockExtent& bad = blocks[1];
  uint64_t at = bad.offset + kBlockHeaderBytes + (bad.size_bytes - kBlockHeaderBytes - 96) / 2;
  testing::FlipBit(seg, at, 4);

  CliRun r = Expect(1, {"verify", "--data", data_, "--json"});
  nlohmann::json j = Json(r);
  EXPECT_FALSE(j["ok"].get<bool>());
  ASSERT_EQ(j["shards"].size(), 1u);
  const nlohmann::json& s = j["shards"][0];
  EXPECT_EQ(s["shard"].get<int>(), 0);
  EXPECT_FALSE(s["ok"].get<bool>());
  EXPECT_TRUE(Contains(s["segment"].get<std::string>(), SegmentFileName(Seq{1}))) << r.out;
  EXPECT_EQ(s["offset"].get<uint64_t>(), bad.offset) << r.out;
  EXPECT_EQ(s["seq"].get<uint64_t>(), bad.first_seq.value) << r.out;
  EXPECT_FALSE(s["torn_tail"].get<bool>());
  // The human report names the same place.
  CliRun human = Expect(1, {"verify", "--data", data_});
  EXPECT_TRUE(Contains(human.out, "shard 0")) << human.out;
  EXPECT_TRUE(Contains(human.out, "offset " + std::to_string(bad.offset))) << human.out;

  testing::FlipBit(seg, at, 4);
  Expect(0, {"verify", "--data", data_});
}

TEST_F(CliTest, TornTailFailsVerifyUntilTheShardIsOpenedForWriting) {
  FormatAndFill(500);
  const std::string seg = Segment();
  auto blocks = testing::ListBlocks(seg);
  ASSERT_FALSE(blocks.empty());
  uint64_t end = blocks.back().offset + blocks.back().size_bytes;
  testing::WriteRange(seg, end, "GLB1\x01\x00\x80\x00 half a block, then the power went");

  CliRun r = Expect(1, {"verify", "--data", data_, "--json"});
  nlohmann::json j = Json(r);
  const nlohmann::json& s = j["shards"][0];
  EXPECT_TRUE(s["torn_tail"].get<bool>()) << r.out;
  EXPECT_TRUE(Contains(s["reason"].get<std::string>(), "torn tail")) << r.out;
  EXPECT_EQ(s["offset"].get<uint64_t>(), end) << r.out;
  // Verify is read-only: the tail is still there.
  EXPECT_EQ(testing::ReadRange(seg, end, 4), "GLB1");
  CliRun human = Expect(1, {"verify", "--data", data_});
  EXPECT_TRUE(Contains(human.out + human.err, "torn tail")) << human.out;

  // Opening the shard for writing (bench opens writers) truncates the tail.
  Expect(0, {"bench", "ledger", "--data", data_, "--events", "10", "--sqlite-events", "1"});
  Expect(0, {"verify", "--data", data_});
}

TEST_F(CliTest, FormatOnAnExistingLedgerExitsThree) {
  Expect(0, {"format", "--data", data_, "--shards", "2", "--segment-mib", "16"});
  auto before = LoadManifest(data_);
  ASSERT_TRUE(before.ok());
  CliRun r = Expect(3, {"format", "--data", data_, "--shards", "2", "--segment-mib", "16"});
  EXPECT_TRUE(Contains(r.err, "ALREADY_EXISTS")) << r.err;
  auto after = LoadManifest(data_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->ledger_id, before->ledger_id);
}

TEST_F(CliTest, BenchVerifyReportsTheLedgerItMadeWithBaselinesAndKeepsIt) {
  CliRun bench = Expect(0, {"bench", "verify", "--data", data_, "--events", "5000",
                            "--block-events", "1000", "--runs", "1", "--json"});
  nlohmann::json j = Json(bench);
  EXPECT_EQ(j["events"].get<uint64_t>(), 5000u) << bench.out;
  EXPECT_EQ(j["blocks"].get<uint64_t>(), 5u) << bench.out;
  EXPECT_TRUE(j["ledger_made_by_bench"].get<bool>());
  for (const char* field : {"verify_events_per_s", "blake2b_events_per_s", "ratio_blake2b",
                            "ed25519_verify_per_s", "blocks_per_s", "ratio_blocks_ed25519"}) {
    ASSERT_TRUE(j.contains(field) && j[field].is_number()) << field << " in\n" << bench.out;
    EXPECT_GT(j[field].get<double>(), 0) << field;
  }
  EXPECT_NEAR(j["ratio_blake2b"].get<double>(),
              j["verify_events_per_s"].get<double>() / j["blake2b_events_per_s"].get<double>(),
              1e-6);
  // The ledger stays, verifies, and a second run reuses it without writing.
  Expect(0, {"verify", "--data", data_});
  nlohmann::json again = Json(
      Expect(0, {"bench", "verify", "--data", data_, "--events", "7", "--runs", "1", "--json"}));
  EXPECT_EQ(again["events"].get<uint64_t>(), 5000u);
  EXPECT_FALSE(again["ledger_made_by_bench"].get<bool>());
  Expect(2, {"bench", "verify", "--block-events", "0"});
  Expect(2, {"bench", "all", "--only", "ledger,nope"});
}

// tools/bench-report on a hand-made `bench all` object: one met and one
// missed target, one failed bench.
TEST_F(CliTest, BenchReportShowsMissesAsMissesAndFailedBenches) {
  const std::string json = tmp_.Sub("bench.json");
  {
    std::ofstream f(json);
    f << R"({"date":"2026-11-26T03:00:00Z","quick":true,"seconds":60,
      "machine":{"cpu":"Test CPU","cores":2,"memory":"1.0 GiB","kernel":"Linux 6 x86_64"},
      "benches":{"verify":{"verify_events_per_s":3500000,"blake2b_events_per_s":7000000,
                           "ratio_blake2b":0.5,"ed25519_verify_per_s":28000,
                           "blocks_per_s":3400,"ratio_blocks_ed25519":0.12},
                 "project":{"events_per_s":400000,"naive_sqlite_events_per_s":1000,
                            "ratio_naive_sqlite":400},
                 "e2e":{"error":"nats-server not found"}}})";
  }
  const std::string report = std::string(GIFTLEDGER_SOURCE_DIR) + "/tools/bench-report";
  CliRun r = RunArgv({report, json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_TRUE(Contains(out, "Test CPU, 2 cores, 1.0 GiB")) << out;
  EXPECT_TRUE(Contains(out,
                       "| verify | verify events/s | 3.50M | BLAKE2b-256 per event (1 lane): "
                       "7.00M | 0.50 | ≥ 3.00M | yes |"))
      << out;
  EXPECT_TRUE(Contains(out,
                       "| project | ledger → SQLite events/s | 400k | SQLite 1 tx/event: "
                       "1,000 | 400 | ≥ 500k | **no** |"))
      << out;
  EXPECT_TRUE(Contains(out, "| e2e | **failed** | nats-server not found |")) << out;
  EXPECT_EQ(RunArgv({report, tmp_.Sub("missing.json")}).exit_code, 2);
}

// A gateway SIGKILLed mid-write leaves the start of a line, and the next
// writer starts a fresh one: such lines are counted as torn, wherever they
// are. A line that is not the start of a well-formed one (two glued
// together, an unknown code) is still an error.
TEST_F(CliTest, CheckAcksCountsLinesTornByAKillAndRejectsOtherDamage) {
  Expect(0, {"format", "--data", data_, "--shards", "1", "--segment-mib", "16"});
  const std::string a = "000102030405060708090a0b0c0d0e0f";
  const std::string b = "101112131415161718191a1b1c1d1e1f";
  const std::string acks = tmp_.Sub("acks.txt");
  auto write = [&](const std::string& text) {
    std::ofstream f(acks, std::ios::trunc);
    f << text;
  };
  // Refused before the log (seq 0): present without any event to find.
  write(a + " 0 0 TX_ID_REUSED\n" + a.substr(0, 7) + "\n" + b + " 0 0 TX_ID_RE\n" + b + " 0\n" + b +
        " 0 0 TX_ID_REUSED\n" + a + " 0 ");
  nlohmann::json j = Json(Expect(0, {"check-acks", "--data", data_, "--acks", acks, "--json"}));
  EXPECT_EQ(j["acked"], 2);
  EXPECT_EQ(j["torn"], 4);
  EXPECT_EQ(j["lost"], 0);
  for (const std::string& bad : {a.substr(0, 7) + b + " 0 0 OK", a + " 0 0 NOT_A_CODE",
                                 a + " 0 0 OK extra", a + "0 0 0 OK", a + " x 0 OK"}) {
    write(a + " 0 0 TX_ID_REUSED\n" + bad + "\n" + b + " 0 0 TX_ID_REUSED\n");
    CliRun r = Giftledger({"check-acks", "--data", data_, "--acks", acks});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find(":2: malformed ack line"), std::string::npos) << bad << "\n" << r.err;
  }
}

TEST_F(CliTest, BadFlagsExitTwo) {
  Expect(2, {});
  Expect(2, {"frobnicate"});
  Expect(2, {"verify", "--data", data_, "--no-such-flag"});
  Expect(2, {"verify"});  // --data is required
  Expect(2, {"format", "--data", data_, "--shards", "0"});
  Expect(2, {"format", "--data", data_, "--segment-mib", "1"});
  Expect(2, {"bench", "ledger", "--data", data_, "--events", "many"});
  EXPECT_FALSE(PathExists(data_)) << "a refused command created the data directory";
}

// Subcommand names listed under "Subcommands:" in a --help text.
std::vector<std::string> SubcommandsIn(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool in_list = false;
  while (std::getline(in, line)) {
    if (line.rfind("Subcommands:", 0) == 0 || line.rfind("SUBCOMMANDS:", 0) == 0) {
      in_list = true;
      continue;
    }
    if (!in_list) continue;
    if (line.empty() || line[0] != ' ') break;
    std::istringstream words(line);
    std::string name;
    if (words >> name) names.push_back(name);
  }
  return names;
}

TEST_F(CliTest, KeysNodeListsANodeOnceAndRefusesBadNames) {
  Expect(0, {"format", "--data", data_, "--shards", "1", "--segment-mib", "16"});
  CliRun r = Expect(0, {"keys", "node", "--data", data_, "--name", "m1", "--json"});
  EXPECT_EQ(Json(r)["id"], 1);
  Expect(0, {"keys", "node", "--data", data_, "--name", "m2"});
  r = Expect(3, {"keys", "node", "--data", data_, "--name", "m1"});
  EXPECT_TRUE(Contains(r.err, "ALREADY_EXISTS")) << r.err;
  Expect(2, {"keys", "node", "--data", data_, "--name", "m 3"});
  auto m = LoadManifest(data_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->nodes.size(), 2u);
  EXPECT_EQ(m->FindNode("m2")->id, 2u);
  // Replication names its node; without --node it is a usage error.
  r = Expect(2, {"start", "--data", data_, "--replicate", "--nats", "nats://127.0.0.1:1"});
  EXPECT_TRUE(Contains(r.err, "--node")) << r.err;
}

TEST_F(CliTest, HelpOfEverySubcommandExitsZero) {
  std::vector<std::vector<std::string>> todo = {{}};
  int helped = 0;
  while (!todo.empty()) {
    std::vector<std::string> path = todo.back();
    todo.pop_back();
    std::vector<std::string> args = path;
    args.push_back("--help");
    CliRun r = Expect(0, args);
    EXPECT_FALSE(r.out.empty()) << Describe(args, r);
    ++helped;
    for (const auto& sub : SubcommandsIn(r.out)) {
      std::vector<std::string> next = path;
      next.push_back(sub);
      todo.push_back(next);
    }
  }
  // At least: the top level, format, verify, bench and bench ledger.
  EXPECT_GE(helped, 5);
}

// reconcile and trace through the binary: a ledger written by the real
// engine (bench engine) and projected; exit codes 0, 5, 6 and 2 (docs/cli.md).
TEST_F(CliTest, ReconcileAgreesThenNamesAnEditedWalletAndTraceExitCodes) {
  Expect(0, {"bench", "engine", "--data", data_, "--commands", "2000", "--sqlite-commands", "10",
             "--json"});
  const std::string db = tmp_.Sub("read.sqlite");
  Expect(0, {"project", "--from-ledger", data_, "--db", db});
  nlohmann::json j = Json(Expect(0, {"reconcile", "--data", data_, "--db", db, "--json"}));
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["mismatch_count"], 0);
  ASSERT_EQ(j["shards"].size(), 1u);
  EXPECT_EQ(j["shards"][0]["read_model_lag"], 0);

  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(
          h, "UPDATE wallets SET held = held + 1 WHERE user = (SELECT MIN(user) FROM wallets)",
          nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(h);
  j = Json(Expect(5, {"reconcile", "--data", data_, "--db", db, "--json"}));
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["mismatch_count"], 1);
  EXPECT_EQ(j["mismatches"][0]["source"], "read_model");
  EXPECT_EQ(j["mismatches"][0]["field"], "held");
  EXPECT_EQ(
      j["mismatches"][0]["found"].get<int64_t>() - j["mismatches"][0]["expected"].get<int64_t>(),
      1);

  Expect(6, {"trace", "--data", data_, "0123456789abcdef0123456789abcdef"});
  Expect(2, {"trace", "--data", data_, "not-hex"});
  Expect(2, {"reconcile", "--data", data_, "--every", "10m"});
}

}  // namespace
}  // namespace giftledger

#include "ledger/manifest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ledger/crypto.h"
#include "ledger/file.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger {
namespace {

using giftledger::testing::TempDir;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

int ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return int(st.st_mode & 07777);
}

TEST(FormatLedgerTest, CreatesShardDirsKeysAndAManifestThatLoadsBack) {
  TempDir tmp;
  std::string dir = tmp.Sub("ledger");
  auto made = FormatLedger(dir, 3, kSegmentBytesMin);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->shard_count, 3u);
  EXPECT_EQ(made->public_keys.size(), 3u);

  for (uint32_t s = 0; s < 3; ++s) {
    SCOPED_TRACE("shard " + std::to_string(s));
    struct stat st;
    ASSERT_EQ(::stat(ShardDir(dir, ShardId{s}).c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    std::string key_path = SigningKeyPath(dir, ShardId{s});
    EXPECT_EQ(ModeOf(key_path), 0600);
    auto key = SigningKey::Load(key_path);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->public_key(), made->public_keys[s]);
  }
  // Distinct keys per shard.
  EXPECT_NE(made->public_keys[0], made->public_keys[1]);
  EXPECT_NE(made->public_keys[1], made->public_keys[2]);

  auto loaded = LoadManifest(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->format_version, kFormatVersion);
  EXPECT_EQ(loaded->ledger_id, made->ledger_id);
  EXPECT_EQ(loaded->ledger_id.size(), 32u);
  EXPECT_EQ(loaded->shard_count, 3u);
  EXPECT_EQ(loaded->segment_bytes, kSegmentBytesMin);
  EXPECT_EQ(loaded->created_utc, made->created_utc);
  EXPECT_EQ(loaded->public_keys, made->public_keys);

  // The manifest file path is accepted as well as the directory.
  auto by_file = LoadManifest(ManifestPath(dir));
  ASSERT_TRUE(by_file.ok()) << by_file.status().ToString();
  EXPECT_EQ(by_file->public_keys, made->public_keys);
}

TEST(FormatLedgerTest, ManifestHoldsNoSecret) {
  TempDir tmp;
  auto made = FormatLedger(tmp.path(), 1, kSegmentBytesMin);
  ASSERT_TRUE(made.ok());
  auto text = ReadSmallFile(ManifestPath(tmp.path()), 1 << 20);
  ASSERT_TRUE(text.ok());
  auto seed = ReadSmallFile(SigningKeyPath(tmp.path(), ShardId{0}), 1024);
  ASSERT_TRUE(seed.ok());
  EXPECT_FALSE(Contains(text.value(), seed->substr(0, 64)));
  EXPECT_TRUE(Contains(text.value(), ToHex(made->public_keys[0])));
}

TEST(FormatLedgerTest, ExistingLedgerIsAlreadyExistsAndUntouched) {
  TempDir tmp;
  auto first = FormatLedger(tmp.path(), 2, kSegmentBytesMin);
  ASSERT_TRUE(first.ok());
  auto second = FormatLedger(tmp.path(), 2, kSegmentBytesMin);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kAlreadyExists) << second.status().ToString();
  auto loaded = LoadManifest(tmp.path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->ledger_id, first->ledger_id);
  auto key = SigningKey::Load(SigningKeyPath(tmp.path(), ShardId{0}));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->public_key(), first->public_keys[0]);
}

TEST(FormatLedgerTest, NonEmptyDirectoryIsAlreadyExists) {
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomic(tmp.Sub("notes.txt"), "keep me", 0644).ok());
  auto made = FormatLedger(tmp.path(), 1, kSegmentBytesMin);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), Code::kAlreadyExists) << made.status().ToString();
  EXPECT_FALSE(PathExists(ManifestPath(tmp.path())));
  EXPECT_FALSE(PathExists(ShardDir(tmp.path(), ShardId{0})));
  auto notes = ReadSmallFile(tmp.Sub("notes.txt"), 100);
  ASSERT_TRUE(notes.ok());
  EXPECT_EQ(notes.value(), "keep me");
}

TEST(FormatLedgerTest, EmptyExistingDirectoryIsAccepted) {
  TempDir tmp;
  auto made = FormatLedger(tmp.path(), 1, kSegmentBytesMin);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(PathExists(ManifestPath(tmp.path())));
}

TEST(FormatLedgerTest, BadShardCountIsInvalidArgument) {
  TempDir tmp;
  for (uint32_t shards : {0u, kShardsMax + 1}) {
    auto made = FormatLedger(tmp.Sub("l" + std::to_string(shards)), shards, kSegmentBytesMin);
    ASSERT_FALSE(made.ok()) << shards;
    EXPECT_EQ(made.status().code(), Code::kInvalidArgument) << made.status().ToString();
    EXPECT_FALSE(PathExists(tmp.Sub("l" + std::to_string(shards))));
  }
}

TEST(FormatLedgerTest, BadSegmentSizeIsInvalidArgument) {
  TempDir tmp;
  for (uint64_t bytes : {kSegmentBytesMin - 1, kSegmentBytesMax + 1}) {
    auto made = FormatLedger(tmp.Sub("l"), 1, bytes);
    ASSERT_FALSE(made.ok()) << bytes;
    EXPECT_EQ(made.status().code(), Code::kInvalidArgument) << made.status().ToString();
  }
}

TEST(SigningKeyTest, KeyFileReadableByOthersIsRefused) {
  TempDir tmp;
  ASSERT_TRUE(FormatLedger(tmp.path(), 1, kSegmentBytesMin).ok());
  std::string path = SigningKeyPath(tmp.path(), ShardId{0});
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto key = SigningKey::Load(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kFailedPrecondition) << key.status().ToString();
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(SigningKey::Load(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(SigningKey::Load(path).ok());
}

TEST(SigningKeyTest, SaveAndLoadRoundTripTheSameKey) {
  CryptoInit();
  TempDir tmp;
  SigningKey key = SigningKey::Generate();
  ASSERT_TRUE(key.Save(tmp.Sub("k")).ok());
  EXPECT_EQ(ModeOf(tmp.Sub("k")), 0600);
  auto loaded = SigningKey::Load(tmp.Sub("k"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->public_key(), key.public_key());
  Hash32 msg = Blake2b256(reinterpret_cast<const uint8_t*>("m"), 1);
  EXPECT_TRUE(VerifySignature(key.public_key(), msg, loaded->Sign(msg)));
}

TEST(SigningKeyTest, MalformedKeyFileIsDataLoss) {
  TempDir tmp;
  ASSERT_TRUE(WriteFileAtomic(tmp.Sub("k"), "not hex at all\n", 0600).ok());
  auto key = SigningKey::Load(tmp.Sub("k"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kDataLoss) << key.status().ToString();
}

TEST(LoadManifestTest, CorruptManifestIsDataLoss) {
  TempDir tmp;
  ASSERT_TRUE(FormatLedger(tmp.path(), 2, kSegmentBytesMin).ok());
  auto text = ReadSmallFile(ManifestPath(tmp.path()), 1 << 20);
  ASSERT_TRUE(text.ok());
  std::string good = text.value();
  // A torn file, plain garbage, and a key list that no longer matches.
  std::string second_shard = "\"shard\": 1";
  ASSERT_NE(good.find(second_shard), std::string::npos) << good;
  std::string dup = good;
  dup.replace(dup.find(second_shard), second_shard.size(), "\"shard\": 7");
  std::string bad_hex = good;
  size_t at = bad_hex.find("public_key_hex");
  ASSERT_NE(at, std::string::npos);
  bad_hex.replace(bad_hex.find('"', at + 16) + 1, 2, "zz");
  for (const std::string& corrupt :
       {good.substr(0, good.size() / 2), std::string("\x01garbage"), dup, bad_hex}) {
    ASSERT_TRUE(WriteFileAtomic(ManifestPath(tmp.path()), corrupt, 0644).ok());
    auto m = LoadManifest(tmp.path());
    ASSERT_FALSE(m.ok()) << corrupt;
    EXPECT_EQ(m.status().code(), Code::kDataLoss) << m.status().ToString();
    EXPECT_TRUE(Contains(m.status().message(), "manifest.json")) << m.status().ToString();
  }
}

TEST(LoadManifestTest, MissingManifestIsFailedPrecondition) {
  TempDir tmp;
  auto m = LoadManifest(tmp.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kFailedPrecondition) << m.status().ToString();
}

}  // namespace
}  // namespace giftledger

namespace giftledger {
namespace {

TEST(ManifestUtcOffset, OffsetIsKeptAndOutOfRangeIsRefused) {
  testing::TempDir tmp;
  auto made = FormatLedger(tmp.Sub("a"), 1, kSegmentBytesMin, 480);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto loaded = LoadManifest(tmp.Sub("a"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->utc_offset_minutes, 480);
  auto bad = FormatLedger(tmp.Sub("b"), 1, kSegmentBytesMin, 15 * 60);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(PathExists(ManifestPath(tmp.Sub("b"))));
}

}  // namespace
}  // namespace giftledger

namespace giftledger {
namespace {

std::string ManifestText(const std::string& dir) {
  auto text = ReadSmallFile(ManifestPath(dir), 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? text.value() : "";
}

TEST(RegisterNodeTest, NodesGetIdsInOrderAndLoadBack) {
  testing::TempDir tmp;
  ASSERT_TRUE(FormatLedger(tmp.path(), 1, kSegmentBytesMin).ok());
  auto a = RegisterNode(tmp.path(), "node-a");
  auto b = RegisterNode(tmp.path(), "node.b_2");
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
  EXPECT_EQ(a.value(), 1u);
  EXPECT_EQ(b.value(), 2u);
  auto m = LoadManifest(tmp.path());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_NE(m->FindNode("node.b_2"), nullptr);
  EXPECT_EQ(m->FindNode("node.b_2")->id, 2u);
  ASSERT_NE(m->FindNode(1), nullptr);
  EXPECT_EQ(m->FindNode(1)->name, "node-a");
  EXPECT_EQ(m->FindNode(3), nullptr);
}

TEST(RegisterNodeTest, SecondRegistrationOfANameIsAlreadyExistsAndKeepsTheManifest) {
  testing::TempDir tmp;
  ASSERT_TRUE(FormatLedger(tmp.path(), 1, kSegmentBytesMin).ok());
  ASSERT_TRUE(RegisterNode(tmp.path(), "a").ok());
  const std::string before = ManifestText(tmp.path());
  EXPECT_EQ(RegisterNode(tmp.path(), "a").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(ManifestText(tmp.path()), before);
}

TEST(RegisterNodeTest, BadNameIsInvalidArgumentAndKeepsTheManifest) {
  testing::TempDir tmp;
  ASSERT_TRUE(FormatLedger(tmp.path(), 1, kSegmentBytesMin).ok());
  const std::string before = ManifestText(tmp.path());
  for (const std::string& name : {std::string(), std::string("a b"), std::string("x/y"),
                                  std::string(kNodeNameBytesMax + 1, 'n')}) {
    EXPECT_EQ(RegisterNode(tmp.path(), name).status().code(), Code::kInvalidArgument) << name;
  }
  EXPECT_EQ(ManifestText(tmp.path()), before);
}

}  // namespace
}  // namespace giftledger

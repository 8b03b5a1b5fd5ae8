#include "ledger/block.h"

#include <gtest/gtest.h>

#include <cstring>

#include "ledger/coding.h"
#include "ledger/crypto.h"

namespace giftledger {
namespace {

constexpr uint64_t kFirstSeq = 41;
constexpr int64_t kTimeUs = 1'700'000'000'000'000;

class BlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    key_ = SigningKey::Generate();
    events_ = {"alpha", std::string(300, 'b'), "c"};
  }

  // Encodes events_ as one block: the first two events as one batch, the third as another.
  std::string Encode(Hash32* hash = nullptr, BlockHeader* out_header = nullptr) {
    EventBatch a, b;
    EXPECT_TRUE(a.Add(events_[0]).ok());
    EXPECT_TRUE(a.Add(events_[1]).ok());
    EXPECT_TRUE(b.Add(events_[2]).ok());
    BlockEncoder enc;
    EXPECT_TRUE(enc.Fits(a));
    enc.Add(a);
    EXPECT_TRUE(enc.Fits(b));
    enc.Add(b);
    BlockHeader h;
    h.shard = ShardId{7};
    h.first_seq = Seq{kFirstSeq};
    h.ledger_time_us = kTimeUs;
    h.signer_epoch = 3;
    h.leader_epoch = 0x1122334455667788;
    h.leader_node = 5;
    h.prev_block_hash.fill(0xab);
    Hash32 unused_hash;
    BlockHeader unused_header;
    return enc.Finish(h, key_, hash != nullptr ? hash : &unused_hash,
                      out_header != nullptr ? out_header : &unused_header);
  }

  static const uint8_t* Bytes(const std::string& s) {
    return reinterpret_cast<const uint8_t*>(s.data());
  }

  SigningKey key_;
  std::vector<std::string> events_;
};

TEST_F(BlockTest, EncodedBlockParsesBackWithEveryFieldAndEvent) {
  Hash32 hash;
  BlockHeader written;
  std::string block = Encode(&hash, &written);
  size_t body_bytes = 3 * kEventFrameBytes + 5 + 300 + 1;
  ASSERT_EQ(block.size(), kBlockHeaderBytes + body_bytes + kBlockTrailerBytes);
  EXPECT_EQ(0, std::memcmp(block.data(), "GLB1", 4));

  BlockView b;
  ASSERT_TRUE(ParseBlock(Bytes(block), block.size(), &b).ok());
  EXPECT_EQ(b.header.shard, ShardId{7});
  EXPECT_EQ(b.header.event_count, 3u);
  EXPECT_EQ(b.header.first_seq, Seq{kFirstSeq});
  EXPECT_EQ(b.header.last_seq(), Seq{kFirstSeq + 2});
  EXPECT_EQ(b.header.ledger_time_us, kTimeUs);
  EXPECT_EQ(b.header.body_bytes, body_bytes);
  EXPECT_EQ(b.header.signer_epoch, 3u);
  EXPECT_EQ(b.header.leader_epoch, 0x1122334455667788u);
  EXPECT_EQ(b.header.leader_node, 5u);
  Hash32 prev;
  prev.fill(0xab);
  EXPECT_EQ(b.header.prev_block_hash, prev);
  EXPECT_EQ(b.header.merkle_root, written.merkle_root);
  EXPECT_EQ(b.stored_hash, hash);
  EXPECT_EQ(b.size_bytes(), block.size());
  EXPECT_EQ(hash, Blake2b256(Bytes(block), kBlockHeaderBytes));

  EXPECT_TRUE(CheckBlockHash(b).ok());
  EXPECT_TRUE(CheckBlockSignature(b, key_.public_key()).ok());
  EXPECT_TRUE(CheckBlockBody(b).ok());

  std::vector<std::pair<uint64_t, std::string>> read;
  ForEachEvent(b, [&](Seq s, std::string_view ev) { read.emplace_back(s.value, ev); });
  ASSERT_EQ(read.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(read[i].first, kFirstSeq + i);
    EXPECT_EQ(read[i].second, events_[i]);
  }
}

TEST_F(BlockTest, MerkleRootIsRfc9162RootOfEventLeaves) {
  BlockHeader h;
  std::string block = Encode(nullptr, &h);
  Hash32 l0 = LeafHash(events_[0]), l1 = LeafHash(events_[1]), l2 = LeafHash(events_[2]);
  EXPECT_EQ(h.merkle_root, NodeHash(NodeHash(l0, l1), l2));
}

TEST_F(BlockTest, EncoderIsReusableAfterFinish) {
  std::string first = Encode();
  std::string second = Encode();
  // Same inputs, and Ed25519 is deterministic: identical bytes show no state leaked.
  EXPECT_EQ(first, second);
}

TEST(EventBatchTest, EmptyEventIsInvalidArgument) {
  CryptoInit();
  EventBatch b;
  Status st = b.Add("");
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.body_bytes(), 0u);
}

TEST(EventBatchTest, OversizeEventIsInvalidArgument) {
  CryptoInit();
  EventBatch b;
  Status st = b.Add(std::string(kEventBytesMax + 1, 'x'));
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.Add(std::string(kEventBytesMax, 'x')).ok());
  EXPECT_EQ(b.count(), 1u);
  EXPECT_EQ(b.body_bytes(), kEventFrameBytes + kEventBytesMax);
}

TEST(EventBatchTest, MoreEventsThanABlockHoldsIsResourceExhausted) {
  CryptoInit();
  EventBatch b;
  for (uint32_t i = 0; i < kBlockEventsMax; ++i) ASSERT_TRUE(b.Add("e").ok()) << i;
  Status st = b.Add("e");
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  EXPECT_EQ(b.count(), kBlockEventsMax);
}

TEST(EventBatchTest, MoreBytesThanABlockHoldsIsResourceExhausted) {
  CryptoInit();
  EventBatch b;
  std::string big(kEventBytesMax, 'z');
  size_t fit = kBlockBodyBytesMax / (kEventFrameBytes + kEventBytesMax);
  for (size_t i = 0; i < fit; ++i) ASSERT_TRUE(b.Add(big).ok()) << i;
  Status st = b.Add(big);
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  EXPECT_EQ(b.count(), fit);
  EXPECT_LE(b.body_bytes(), kBlockBodyBytesMax);
}

TEST(BlockEncoderTest, BatchesBeyondBlockLimitsDoNotFit) {
  CryptoInit();
  EventBatch half;
  std::string big(kEventBytesMax, 'z');
  size_t fit = kBlockBodyBytesMax / (kEventFrameBytes + kEventBytesMax);
  for (size_t i = 0; i < fit / 2 + 1; ++i) ASSERT_TRUE(half.Add(big).ok());
  BlockEncoder enc;
  ASSERT_TRUE(enc.Fits(half));
  enc.Add(half);
  EXPECT_FALSE(enc.Fits(half));
}

// Which check must catch a flipped bit depends on where it lands.
enum class Region { kHeader, kBody, kHash, kSignature };

TEST_F(BlockTest, EverySingleBitFlipIsDetectedByTheRightCheck) {
  const std::string pristine = Encode();
  const size_t body_end = pristine.size() - kBlockTrailerBytes;
  const size_t hash_end = body_end + kHashBytes;
  int header_parse_rejects = 0;
  for (size_t byte = 0; byte < pristine.size(); ++byte) {
    Region region = byte < kBlockHeaderBytes ? Region::kHeader
                    : byte < body_end        ? Region::kBody
                    : byte < hash_end        ? Region::kHash
                                             : Region::kSignature;
    for (int bit = 0; bit < 8; ++bit) {
      std::string block = pristine;
      block[byte] = char(uint8_t(block[byte]) ^ (1u << bit));
      SCOPED_TRACE("byte " + std::to_string(byte) + " bit " + std::to_string(bit));
      BlockView b;
      Status parsed = ParseBlock(Bytes(block), block.size(), &b);
      if (region == Region::kHeader) {
        // Either the header is rejected outright, or its hash no longer matches.
        if (!parsed.ok()) {
          ++header_parse_rejects;
          EXPECT_TRUE(parsed.code() == Code::kDataLoss || parsed.code() == Code::kOutOfRange)
              << parsed.ToString();
        } else {
          EXPECT_EQ(CheckBlockHash(b).code(), Code::kDataLoss);
        }
        continue;
      }
      ASSERT_TRUE(parsed.ok()) << parsed.ToString();
      Status hash = CheckBlockHash(b);
      Status sig = CheckBlockSignature(b, key_.public_key());
      Status body = CheckBlockBody(b);
      switch (region) {
        case Region::kBody:
          EXPECT_TRUE(hash.ok());
          EXPECT_TRUE(sig.ok());
          EXPECT_EQ(body.code(), Code::kDataLoss);
          break;
        case Region::kHash:
          EXPECT_EQ(hash.code(), Code::kDataLoss);
          // The signature is over the stored hash, so it fails as well.
          EXPECT_EQ(sig.code(), Code::kDataLoss);
          EXPECT_TRUE(body.ok());
          break;
        case Region::kSignature:
          EXPECT_TRUE(hash.ok());
          EXPECT_EQ(sig.code(), Code::kDataLoss);
          EXPECT_TRUE(body.ok());
          break;
        case Region::kHeader:
          break;
      }
    }
  }
  // Magic, version, header size, reserved bytes, counts: many header flips
  // never get as far as the hash.
  EXPECT_GT(header_parse_rejects, 0);
}

TEST_F(BlockTest, WrongPublicKeyFailsSignature) {
  std::string block = Encode();
  BlockView b;
  ASSERT_TRUE(ParseBlock(Bytes(block), block.size(), &b).ok());
  SigningKey other = SigningKey::Generate();
  EXPECT_EQ(CheckBlockSignature(b, other.public_key()).code(), Code::kDataLoss);
  EXPECT_TRUE(CheckBlockHash(b).ok());
  EXPECT_TRUE(CheckBlockSignature(b, key_.public_key()).ok());
}

TEST_F(BlockTest, NonZeroReservedByteIsRejected) {
  const std::string pristine = Encode();
  for (size_t i = 124; i < kBlockHeaderBytes; ++i) {
    std::string block = pristine;
    block[i] = 1;
    BlockView b;
    Status st = ParseBlock(Bytes(block), block.size(), &b);
    EXPECT_EQ(st.code(), Code::kDataLoss) << "byte " << i;
    EXPECT_NE(st.message().find("reserved"), std::string::npos) << st.ToString();
  }
}

TEST_F(BlockTest, LeaderEpochWithoutLeaderNodeOrTheReverseIsDataLoss) {
  const std::string pristine = Encode();
  for (size_t offset : {size_t{112}, size_t{120}}) {
    std::string block = pristine;
    std::memset(block.data() + offset, 0, offset == 112 ? 8 : 4);  // clear one of the pair
    BlockView b;
    Status st = ParseBlock(Bytes(block), block.size(), &b);
    EXPECT_EQ(st.code(), Code::kDataLoss) << "offset " << offset;
    EXPECT_NE(st.message().find("leader"), std::string::npos) << st.ToString();
  }
}

TEST_F(BlockTest, LeaderNodeIdPastTheManifestLimitIsDataLoss) {
  std::string block = Encode();
  PutU32(reinterpret_cast<uint8_t*>(block.data()) + 120, kNodesMax + 1);
  BlockView b;
  EXPECT_EQ(ParseBlock(Bytes(block), block.size(), &b).code(), Code::kDataLoss);
}

TEST_F(BlockTest, DurableSeqAtOrPastTheBlockIsDataLoss) {
  std::string block = Encode();
  BlockView b;
  ASSERT_TRUE(ParseBlock(Bytes(block), block.size(), &b).ok());
  // durable_seq (offset 104) may only name seqs before the block's first.
  uint64_t first = b.header.first_seq.value;
  for (int i = 0; i < 8; ++i) block[104 + i] = char(uint8_t(first >> (8 * i)));
  Status st = ParseBlock(Bytes(block), block.size(), &b);
  EXPECT_EQ(st.code(), Code::kDataLoss);
  EXPECT_NE(st.message().find("durable seq"), std::string::npos) << st.ToString();
}

TEST_F(BlockTest, BadMagicVersionAndHeaderSizeAreDataLoss) {
  const std::string pristine = Encode();
  struct Case {
    size_t offset;
    uint8_t value;
  };
  for (Case c : {Case{0, 'X'}, Case{3, '2'}, Case{4, 2}, Case{6, 64}}) {
    std::string block = pristine;
    block[c.offset] = char(c.value);
    BlockView b;
    EXPECT_EQ(ParseBlock(Bytes(block), block.size(), &b).code(), Code::kDataLoss)
        << "offset " << c.offset;
  }
}

TEST_F(BlockTest, ZeroEventCountAndZeroFirstSeqAreDataLoss) {
  const std::string pristine = Encode();
  std::string block = pristine;
  PutU32(reinterpret_cast<uint8_t*>(block.data()) + 12, 0);
  BlockView b;
  EXPECT_EQ(ParseBlock(Bytes(block), block.size(), &b).code(), Code::kDataLoss);
  block = pristine;
  PutU64(reinterpret_cast<uint8_t*>(block.data()) + 16, 0);
  EXPECT_EQ(ParseBlock(Bytes(block), block.size(), &b).code(), Code::kDataLoss);
  block = pristine;
  PutU32(reinterpret_cast<uint8_t*>(block.data()) + 12, kBlockEventsMax + 1);
  EXPECT_EQ(ParseBlock(Bytes(block), block.size(), &b).code(), Code::kDataLoss);
}

TEST_F(BlockTest, TruncatedBufferIsOutOfRange) {
  const std::string block = Encode();
  for (size_t avail = 0; avail < block.size(); ++avail) {
    BlockView b;
    Status st = ParseBlock(Bytes(block), avail, &b);
    EXPECT_EQ(st.code(), Code::kOutOfRange) << "avail " << avail << ": " << st.ToString();
  }
  BlockView b;
  EXPECT_TRUE(ParseBlock(Bytes(block), block.size(), &b).ok());
}

TEST_F(BlockTest, BodySizeSmallerThanFramingIsRejected) {
  std::string block = Encode();
  // 3 events need at least 3 * (4 + 1) body bytes.
  PutU32(reinterpret_cast<uint8_t*>(block.data()) + 32, 14);
  BlockView b;
  EXPECT_EQ(ParseBlock(Bytes(block), block.size(), &b).code(), Code::kDataLoss);
}

TEST(BlockZeroHeaderTest, OnlyAllZeroHeaderIsTheCleanEnd) {
  std::vector<uint8_t> zeros(kBlockHeaderBytes + 10, 0);
  EXPECT_TRUE(IsZeroHeader(zeros.data(), zeros.size()));
  EXPECT_TRUE(IsZeroHeader(zeros.data(), 5));  // a short all-zero tail is also the end
  for (size_t i = 0; i < kBlockHeaderBytes; ++i) {
    zeros[i] = 1;
    EXPECT_FALSE(IsZeroHeader(zeros.data(), zeros.size())) << i;
    zeros[i] = 0;
  }
  zeros[kBlockHeaderBytes] = 1;  // beyond the header: not looked at
  EXPECT_TRUE(IsZeroHeader(zeros.data(), zeros.size()));
}

}  // namespace
}  // namespace giftledger

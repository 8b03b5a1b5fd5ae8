// Replay pages without NATS: the request and page encodings, and a
// ShardReplayer paging over a log the engine wrote, compared event by event
// with LogReader.
#include "commands/ingress/replay_service.h"

#include <gtest/gtest.h>

#include "commands/engine.h"
#include "commands/test_util.h"
#include "ledger/manifest.h"
#include "ledger/reader.h"
#include "ledger/testing/temp_dir.h"

namespace giftledger::ingress {
namespace {

using commands::testing::TopUpCmd;
using commands::testing::Tx;

TEST(ReplayRequestTest, EmptyBodyMeansFromSeqOneFullPage) {
  auto r = ParseReplayRequest("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->from_seq, 1u);
  EXPECT_EQ(r->max_events, kReplayPageEventsMax);
  EXPECT_EQ(r->max_bytes, kReplayPageBytesMax);
}

TEST(ReplayRequestTest, OversizeLimitsAreClamped) {
  auto r = ParseReplayRequest(R"({"from_seq":5,"max_events":100000,"max_bytes":99999999})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->from_seq, 5u);
  EXPECT_EQ(r->max_events, kReplayPageEventsMax);
  EXPECT_EQ(r->max_bytes, kReplayPageBytesMax);
}

TEST(ReplayRequestTest, SeqZeroAndMalformedBodiesAreInvalidArgument) {
  EXPECT_EQ(ParseReplayRequest(R"({"from_seq":0})").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseReplayRequest("not json").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseReplayRequest(R"({"from_seq":-3})").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseReplayRequest("[1]").status().code(), Code::kInvalidArgument);
}

TEST(ReplayPageTest, EncodeDecodeRoundTrip) {
  ReplayPage page;
  page.from_seq = 7;
  page.events = {{7, "abc"}, {8, std::string("\0x\0", 3)}};
  page.next_seq = 9;
  page.durable_next_seq = 12;
  const std::string bytes = EncodeReplayPage(page);
  EXPECT_EQ(bytes.substr(0, 4), "GLRP");
  EXPECT_EQ(bytes.size(), kReplayPageHeaderBytes + 2 * kReplayEventFrameBytes + 6);
  auto back = DecodeReplayReply(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->from_seq, 7u);
  EXPECT_EQ(back->next_seq, 9u);
  EXPECT_EQ(back->durable_next_seq, 12u);
  EXPECT_EQ(back->events, page.events);
  EXPECT_FALSE(DecodeReplayReply(bytes.substr(0, bytes.size() - 1)).ok());
}

TEST(ReplayPageTest, ErrorReplyKeepsItsCode) {
  const std::string bytes = EncodeReplayError(DataLoss("chain broken"));
  EXPECT_EQ(bytes.substr(0, 4), "GLRE");
  auto back = DecodeReplayReply(bytes);
  EXPECT_EQ(back.status().code(), Code::kDataLoss);
  EXPECT_EQ(back.status().message(), "chain broken");
}

class ShardReplayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(FormatLedger(dir_.path(), 1, kSegmentBytesMin).ok());
    auto key = SigningKey::Load(SigningKeyPath(dir_.path(), ShardId{0}));
    ASSERT_TRUE(key.ok());
    key_ = key->public_key();
    commands::EngineOptions o;
    o.writer.segment_bytes = kSegmentBytesMin;
    auto e = commands::ShardEngine::Open(shard_dir(), commands::ShardConfig{ShardId{0}, 1, 0},
                                         key.value(), o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e.value());
    // Several blocks of different sizes, so pages end inside blocks.
    uint64_t n = 1;
    for (int batch = 1; batch <= 12; ++batch) {
      std::vector<schemas::Command> cmds;
      for (int i = 0; i < batch * 3; ++i, ++n) cmds.push_back(TopUpCmd(Tx(n), 100 + n % 7, 5));
      for (const auto& r : engine_->SubmitAndWait(cmds)) ASSERT_EQ(r.code(), schemas::OK);
    }
    ASSERT_GT(engine_->durable_next_seq(), 200u);
  }

  std::string shard_dir() const { return ShardDir(dir_.path(), ShardId{0}); }

  ShardLogSource Source() {
    commands::ShardEngine* e = engine_.get();
    return ShardLogSource{ShardId{0}, shard_dir(), key_, [e] { return e->durable_next_seq(); }};
  }

  std::vector<std::pair<uint64_t, std::string>> LogEvents(uint64_t from) {
    auto reader = LogReader::Open(shard_dir(), ShardId{0}, key_);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<std::pair<uint64_t, std::string>> out;
    EXPECT_TRUE((*reader)
                    ->ReadEvents(Seq{from},
                                 [&](Seq seq, std::string_view ev) {
                                   if (seq.value >= from) out.emplace_back(seq.value, ev);
                                   return true;
                                 })
                    .ok());
    return out;
  }

  // Pages from `from` to the durable end with the given limits.
  std::vector<std::pair<uint64_t, std::string>> PageAll(ShardReplayer& r, uint64_t from,
                                                        uint32_t max_events, size_t max_bytes,
                                                        size_t* pages) {
    std::vector<std::pair<uint64_t, std::string>> out;
    ReplayRequest req{from, max_events, max_bytes};
    *pages = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      auto page = r.ReadPage(req);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      EXPECT_LE(page->events.size(), max_events);
      if (page->events.empty()) {
        EXPECT_EQ(page->next_seq, page->durable_next_seq);
        break;
      }
      ++*pages;
      // The page survives its own encoding.
      auto decoded = DecodeReplayReply(EncodeReplayPage(page.value()));
      EXPECT_TRUE(decoded.ok());
      for (auto& e : page->events) out.push_back(std::move(e));
      req.from_seq = page->next_seq;
    }
    return out;
  }

  ::giftledger::testing::TempDir dir_;
  PublicKey key_{};
  std::unique_ptr<commands::ShardEngine> engine_;
};

TEST_F(ShardReplayerTest, PagesFromSeqOneEqualTheLog) {
  ShardReplayer r(Source());
  size_t pages = 0;
  auto got = PageAll(r, 1, 7, kReplayPageBytesMax, &pages);
  const auto want = LogEvents(1);
  ASSERT_EQ(want.size(), engine_->durable_next_seq() - 1);
  EXPECT_EQ(got, want);
  EXPECT_EQ(pages, (want.size() + 6) / 7);
}

TEST_F(ShardReplayerTest, TinyByteLimitStillMovesOneEventAPage) {
  ShardReplayer r(Source());
  size_t pages = 0;
  auto got = PageAll(r, 40, kReplayPageEventsMax, 1, &pages);
  const auto want = LogEvents(40);
  EXPECT_EQ(got, want);
  EXPECT_EQ(pages, want.size());
}

TEST_F(ShardReplayerTest, JumpingAroundReopensAtTheAskedSeq) {
  ShardReplayer r(Source());
  const auto all = LogEvents(1);
  for (uint64_t from : {150u, 3u, 3u, 199u, 1u}) {
    auto page = r.ReadPage(ReplayRequest{from, 5, kReplayPageBytesMax});
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_EQ(page->events.size(), 5u);
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(page->events[i], all[from - 1 + i]);
  }
}

TEST_F(ShardReplayerTest, FromTheDurableEndOrBeyondIsAnEmptyPage) {
  ShardReplayer r(Source());
  const uint64_t end = engine_->durable_next_seq();
  for (uint64_t from : {end, end + 10}) {
    auto page = r.ReadPage(ReplayRequest{from, 10, kReplayPageBytesMax});
    ASSERT_TRUE(page.ok());
    EXPECT_TRUE(page->events.empty());
    EXPECT_EQ(page->next_seq, from);
    EXPECT_EQ(page->durable_next_seq, end);
  }
}

TEST_F(ShardReplayerTest, NewDurableEventsAreServedAfterCatchingUp) {
  ShardReplayer r(Source());
  size_t pages = 0;
  auto first = PageAll(r, 1, 100, kReplayPageBytesMax, &pages);
  const uint64_t end = engine_->durable_next_seq();
  ASSERT_EQ(first.size(), end - 1);
  for (const auto& res :
       engine_->SubmitAndWait({TopUpCmd(Tx(9000), 3, 1), TopUpCmd(Tx(9001), 4, 1)})) {
    ASSERT_EQ(res.code(), schemas::OK);
  }
  auto more = PageAll(r, end, 100, kReplayPageBytesMax, &pages);
  EXPECT_EQ(more, LogEvents(end));
  EXPECT_FALSE(more.empty());
}

}  // namespace
}  // namespace giftledger::ingress

#include "commands/ingress/nats_servers.h"

#include <gtest/gtest.h>

namespace giftledger::ingress {
namespace {

TEST(NatsServersTest, CommaSeparatedListIsSplitAndTrimmed) {
  EXPECT_EQ(SplitNatsUrls("nats://127.0.0.1:4222"),
            std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(SplitNatsUrls("nats://a:1, nats://b:2 ,nats://c:3"),
            (std::vector<std::string>{"nats://a:1", "nats://b:2", "nats://c:3"}));
}

TEST(NatsServersTest, EmptyEntryIsRefused) {
  natsOptions* opts = nullptr;
  ASSERT_EQ(natsOptions_Create(&opts), NATS_OK);
  EXPECT_EQ(SetNatsServers(opts, ""), NATS_INVALID_ARG);
  EXPECT_EQ(SetNatsServers(opts, "nats://a:1,,nats://b:2"), NATS_INVALID_ARG);
  EXPECT_EQ(SetNatsServers(opts, "nats://a:1,"), NATS_INVALID_ARG);
  EXPECT_EQ(SetNatsServers(opts, "nats://a:1,nats://b:2"), NATS_OK);
  natsOptions_Destroy(opts);
}

}  // namespace
}  // namespace giftledger::ingress

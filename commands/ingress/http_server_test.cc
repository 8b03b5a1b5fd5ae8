#include "commands/ingress/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace giftledger::ingress {
namespace {

// Sends `request` to 127.0.0.1:port and reads until `enough` returns true,
// the peer closes, or 10 s pass without data.
std::string Exchange(uint16_t port, const std::string& request,
                     const std::function<bool(const std::string&)>& enough) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
    char buf[4096];
    for (ssize_t n; !enough(got) && (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      got.append(buf, size_t(n));
    }
  }
  ::close(fd);
  return got;
}

std::string Get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = HttpServer::Start(
        "127.0.0.1:0", [this](const std::string& method, const std::string& target) {
          HttpResponse r;
          if (target == "/hello" && method == "GET") {
            r.body = "hi\n";
          } else if (target == "/events") {
            r.event_source = [this] { return "n=" + std::to_string(++ticks_) + "\nsecond line"; };
            r.event_interval_ms = 50;
          } else {
            r.status = 404;
            r.body = "no\n";
          }
          return r;
        });
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s.value());
  }

  std::atomic<int> ticks_{0};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, AnswersKnownPathsAndNotFoundForOthers) {
  const auto never = [](const std::string&) { return false; };
  const std::string ok = Exchange(server_->port(), Get("/hello"), never);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("\r\n\r\nhi\n"), std::string::npos) << ok;
  const std::string missing = Exchange(server_->port(), Get("/other"), never);
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0u) << missing;
}

TEST_F(HttpServerTest, EventStreamSendsEachPayloadLineAsDataUntilTheClientLeaves) {
  const std::string got = Exchange(server_->port(), Get("/events"), [](const std::string& s) {
    return s.find("data: n=3\n") != std::string::npos;
  });
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Content-Type: text/event-stream\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("data: n=1\ndata: second line\n\ndata: n=2\ndata: second line\n\n"),
            std::string::npos)
      << got;
}

TEST_F(HttpServerTest, OversizeRequestHeaderIsDropped) {
  std::string req =
      "GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(kHttpRequestBytesMax + 1, 'a') +
      "\r\n\r\n";
  const std::string got = Exchange(server_->port(), req, [](const std::string&) { return false; });
  EXPECT_EQ(got.find("hi\n"), std::string::npos) << got.substr(0, 200);
}

TEST(ParseHostPort, MalformedAddressesAreInvalidArgument) {
  std::string host;
  uint16_t port = 0;
  EXPECT_TRUE(ParseHostPort("127.0.0.1:8080", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  for (const char* bad : {"", "8080", ":80", "host:", "h:99999", "h:8x"}) {
    EXPECT_EQ(ParseHostPort(bad, &host, &port).code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace giftledger::ingress

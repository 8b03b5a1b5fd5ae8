#include "commands/ingress/http_server.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

namespace giftledger::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Status ParseHostPort(const std::string& host_port, std::string* host, uint16_t* port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    return InvalidArgument("expected HOST:PORT, got '" + host_port + "'");
  }
  const std::string p = host_port.substr(colon + 1);
  if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(p) > 65535) {
    return InvalidArgument("bad port in '" + host_port + "'");
  }
  *host = host_port.substr(0, colon);
  *port = uint16_t(std::stoul(p));
  return Status::Ok();
}

namespace {

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler* handler)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), handler_(handler) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(kHttpRequestBytesMax);
    parser_->body_limit(kHttpRequestBytesMax);
    stream_.expires_after(std::chrono::seconds(kHttpIdleTimeoutS));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->Answer();
                     });
  }

 private:
  void Answer() {
    const auto& req = parser_->get();
    HttpResponse r = (*handler_)(std::string(req.method_string()), std::string(req.target()));
    if (r.event_source) {
      StartEvents(std::move(r));
      return;
    }
    auto res =
        std::make_shared<http::response<http::string_body>>(http::status(r.status), req.version());
    res->set(http::field::server, "giftledger");
    res->set(http::field::content_type, r.content_type);
    res->keep_alive(req.keep_alive());
    res->body() = std::move(r.body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (res->keep_alive()) {
                          self->Read();
                        } else {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        }
                      });
  }

  // text/event-stream: the header once, then one event per interval.
  void StartEvents(HttpResponse r) {
    source_ = std::move(r.event_source);
    interval_ms_ = std::max(r.event_interval_ms, kHttpEventIntervalMsMin);
    stream_.expires_never();
    auto header = std::make_shared<std::string>(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: keep-alive\r\nServer: giftledger\r\n\r\n");
    asio::async_write(stream_.socket(), asio::buffer(*header),
                      [self = shared_from_this(), header](beast::error_code ec, size_t) {
                        if (!ec) self->SendEvent();
                      });
  }

  void SendEvent() {
    // Each line of the payload is one data: field; a blank line ends it.
    auto msg = std::make_shared<std::string>();
    const std::string payload = source_();
    size_t at = 0;
    do {
      const size_t nl = payload.find('\n', at);
      *msg += "data: " + payload.substr(at, nl == std::string::npos ? nl : nl - at) + "\n";
      at = nl == std::string::npos ? payload.size() + 1 : nl + 1;
    } while (at <= payload.size());
    *msg += "\n";
    asio::async_write(stream_.socket(), asio::buffer(*msg),
                      [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                        if (ec) return;  // the client went away
                        self->timer_.expires_after(std::chrono::milliseconds(self->interval_ms_));
                        self->timer_.async_wait([self](beast::error_code e) {
                          if (!e) self->SendEvent();
                        });
                      });
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  std::function<std::string()> source_;
  int interval_ms_ = 1000;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler* handler_;
};

}  // namespace

struct HttpServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  HttpHandler handler;
  std::thread thread;
  uint16_t port = 0;
  bool stopped = false;

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed by Stop
      std::make_shared<Session>(std::move(socket), &handler)->Read();
      Accept();
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& host_port,
                                                      HttpHandler handler) {
  std::string host;
  uint16_t port = 0;
  GL_RETURN_IF_ERROR(ParseHostPort(host_port, &host, &port));
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("bad address '" + host + "': " + ec.message());
  const tcp::endpoint endpoint(address, port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + host_port + ": " + ec.message());
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->io, [raw = impl_.get()] {
    beast::error_code ignored;
    raw->acceptor.close(ignored);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<HttpServer>> StartMetricsServer(const std::string& host_port,
                                                       std::function<std::string()> metrics_text) {
  return HttpServer::Start(host_port, [text = std::move(metrics_text)](const std::string& method,
                                                                       const std::string& target) {
    HttpResponse r;
    const std::string path = target.substr(0, target.find('?'));
    if (method != "GET") {
      r.status = 405;
      r.body = "only GET\n";
    } else if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = text();
    } else if (path == "/healthz") {
      r.body = "ok\n";
    } else {
      r.status = 404;
      r.body = "not found; try /metrics\n";
    }
    return r;
  });
}

}  // namespace giftledger::ingress

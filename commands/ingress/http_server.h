// A small HTTP/1.1 server (Boost.Beast) for operational endpoints such as
// `/metrics` (Prometheus text) of `giftledger start` and the projector. One
// thread runs the io_context; each request is answered by a handler
// callback, so it must be quick (it reads counters, it never blocks on I/O).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ledger/status.h"

namespace giftledger::ingress {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Server-sent events: when set, the response is a text/event-stream that
  // sends `data: <event_source()>` every event_interval_ms until the client
  // goes away (body and content_type are ignored).
  std::function<std::string()> event_source;
  int event_interval_ms = 1000;
};
// method ("GET", ...) and target ("/metrics?x") of the request.
using HttpHandler =
    std::function<HttpResponse(const std::string& method, const std::string& target)>;

inline constexpr size_t kHttpRequestBytesMax = 16 * 1024;
inline constexpr int kHttpIdleTimeoutS = 30;
inline constexpr int kHttpEventIntervalMsMin = 50;

// "HOST:PORT" (PORT 0 = any free port); INVALID_ARGUMENT when malformed.
Status ParseHostPort(const std::string& host_port, std::string* host, uint16_t* port);

class HttpServer {
 public:
  // Binds and starts serving; UNAVAILABLE when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& host_port,
                                                   HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Stops accepting, closes connections and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A server with GET /metrics (Prometheus text from `metrics_text`, called per
// request), GET /healthz ("ok") and 404 elsewhere; 405 for other methods. The
// ledger service, the projector and settlement all serve exactly this.
Result<std::unique_ptr<HttpServer>> StartMetricsServer(const std::string& host_port,
                                                       std::function<std::string()> metrics_text);

}  // namespace giftledger::ingress

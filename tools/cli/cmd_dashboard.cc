// giftledger dashboard: one web page (Boost.Beast, no external assets) that
// shows a running system live over server-sent events. It is a NATS client
// like any other: room gift lines, banners and level-ups from the
// projector's broadcasts, leaderboards from its hot queries
// (giftledger.q.leaderboard), commit rates and latency from the ledger
// service's /metrics, checkpoints from the data directory when given.
// docs/dashboard.md describes the page and the JSON of each event.
#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands/ingress/http_server.h"
#include "commands/ingress/nats_servers.h"
#include "tools/cli/commands.h"
#include "tools/cli/dashboard_page.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kFeedItemsMax = 25;
constexpr size_t kRoomsShownMax = 6;
constexpr int kQueryTimeoutMs = 500;
const char* const kWindows[] = {"hour", "day", "week", "month", "all"};

struct DashboardOpts {
  std::string nats = "nats://127.0.0.1:4222";
  std::string http = "127.0.0.1:8080";
  std::string ledger_metrics;  // http://HOST:PORT/metrics of giftledger start
  std::string data;            // ledger data dir, for checkpoints (read only)
  int refresh_ms = 1000;
  int top = 10;
  double duration_s = 0;  // 0 = until SIGINT/SIGTERM
};

volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnDashboardSignal(int) { g_stop = 1; }

// GET of a plain http://host:port/path URL; empty on any failure.
std::string HttpGetUrl(const std::string& url) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return "";
  const size_t slash = url.find('/', prefix.size());
  const std::string host_port = url.substr(prefix.size(), slash - prefix.size());
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  std::string host;
  uint16_t port = 0;
  if (!ingress::ParseHostPort(host_port, &host, &port).ok()) return "";
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  std::string all;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1 &&
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: " + host_port + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
      char buf[65536];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) all.append(buf, size_t(n));
    }
  }
  ::close(fd);
  const size_t body = all.find("\r\n\r\n");
  return all.rfind("HTTP/1.1 200", 0) == 0 && body != std::string::npos ? all.substr(body + 4) : "";
}

// What one scrape of the ledger's /metrics says.
struct LedgerScrape {
  double commands = 0;
  std::map<double, double> commit_buckets;  // le -> cumulative count (summed over shards)
  std::map<int, double> durable_next_seq;
};

LedgerScrape ParseMetrics(const std::string& text) {
  LedgerScrape s;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const double v = std::strtod(line.c_str() + sp + 1, nullptr);
    if (line.rfind("giftledger_command_results_total{", 0) == 0) {
      s.commands += v;
    } else if (line.rfind("giftledger_commit_latency_us_bucket{", 0) == 0) {
      const size_t le = line.find("le=\"");
      if (le == std::string::npos) continue;
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      s.commit_buckets[bound == "+Inf" ? 1e300 : std::strtod(bound.c_str(), nullptr)] += v;
    } else if (line.rfind("giftledger_durable_next_seq{", 0) == 0) {
      const size_t sh = line.find("shard=\"");
      if (sh != std::string::npos) s.durable_next_seq[std::atoi(line.c_str() + sh + 7)] = v;
    }
  }
  return s;
}

// The quantile's bucket bound from the difference of two cumulative
// histograms (what histogram_quantile does, without interpolation).
double QuantileUs(const std::map<double, double>& now, const std::map<double, double>& before,
                  double q) {
  if (now.empty()) return 0;
  const double total = now.rbegin()->second - (before.empty() ? 0 : before.rbegin()->second);
  if (total <= 0) return 0;
  for (const auto& [le, cum] : now) {
    const auto b = before.find(le);
    if (cum - (b == before.end() ? 0 : b->second) >= q * total) return le > 1e200 ? 1e6 : le;
  }
  return 0;
}

class Dashboard {
 public:
  explicit Dashboard(const DashboardOpts& o) : o_(o) {}
  ~Dashboard() {
    for (natsSubscription* s : subs_) natsSubscription_Destroy(s);
    natsConnection_Destroy(nc_);
  }

  Status Connect() {
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = ingress::SetNatsServers(opts, o_.nats);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetName(opts, "giftledger-dashboard");
    if (s == NATS_OK) s = natsConnection_Connect(&nc_, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) return Unavailable("NATS " + o_.nats + ": " + natsStatus_GetText(s));
    for (const char* subject : {"giftledger.room.*.gifts", "giftledger.banner",
                                "giftledger.user.*.level", "giftledger.reconcile"}) {
      natsSubscription* sub = nullptr;
      s = natsConnection_Subscribe(&sub, nc_, subject, &Dashboard::OnMsg, this);
      if (s != NATS_OK) return Unavailable(std::string("subscribe: ") + natsStatus_GetText(s));
      subs_.push_back(sub);
    }
    return Status::Ok();
  }

  // Refreshes boards, rates and shards; called every refresh_ms.
  void Refresh() {
    json boards = {{"global_hosts", Board("hosts", 0)}, {"global_gifters", Board("gifters", 0)}};
    json rooms = json::array();
    std::vector<std::pair<double, uint64_t>> busiest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [room, coins] : room_coins_) busiest.emplace_back(coins, room);
    }
    std::sort(busiest.rbegin(), busiest.rend());
    for (size_t i = 0; i < busiest.size() && i < kRoomsShownMax; ++i) {
      rooms.push_back({{"room", busiest[i].second}, {"windows", Board("room", busiest[i].second)}});
    }
    boards["rooms"] = rooms;
    json rates = Rates();
    std::lock_guard<std::mutex> lock(mu_);
    state_["boards"] = boards;
    state_["rates"] = rates;
    state_["shards"] = Shards();
    state_["banners"] = json(banners_);
    state_["levelups"] = json(levelups_);
    state_["gift_lines"] = json(lines_);
    state_["reconcile"] = reconcile_;
    state_["events_projected"] = events_projected_;
    state_["t_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    text_ = state_.dump();
  }

  std::string StateText() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_.empty() ? "{}" : text_;
  }

 private:
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Dashboard*>(closure);
    const std::string subject = natsMsg_GetSubject(msg);
    json j = json::parse(natsMsg_GetData(msg), natsMsg_GetData(msg) + natsMsg_GetDataLength(msg),
                         nullptr, false);
    natsMsg_Destroy(msg);
    if (j.is_discarded() || !j.is_object()) return;
    self->OnBroadcast(subject, j);
  }

  static std::string Who(const json& v, const char* kind) {
    return v.is_number_unsigned() ? std::string(kind) + " " + std::to_string(v.get<uint64_t>())
                                  : "anonymous";
  }

  static void Push(std::deque<json>* feed, json item) {
    feed->push_front(std::move(item));
    if (feed->size() > kFeedItemsMax) feed->pop_back();
  }

  void OnBroadcast(const std::string& subject, const json& j) {
    std::lock_guard<std::mutex> lock(mu_);
    if (subject == "giftledger.reconcile") {
      reconcile_ = j;
      return;
    }
    if (subject.rfind("giftledger.user.", 0) == 0) {
      Push(&levelups_,
           {{"user", Who(j.value("user", json()), "user")}, {"level", j.value("level", 0)}});
      return;
    }
    json line = {{"payer", Who(j.value("payer", json()), "user")},
                 {"host", Who(j.value("host", json()), "host")},
                 {"room", j.value("room", 0)},
                 {"gift", "gift #" + std::to_string(j.value("gift", 0))},
                 {"count", j.value("count", 0)},
                 {"coins", j.value("amount", 0)},
                 {"combo", j.value("streak", 0)}};
    if (subject == "giftledger.banner") {
      Push(&banners_, line);
      return;
    }
    room_coins_[j.value("room", uint64_t{0})] += j.value("amount", 0.0);
    gifts_seen_ += j.value("count", 0);
    Push(&lines_, line);
  }

  // Top entries of one board in every window, from the projector's memory.
  json Board(const char* board, uint64_t key) {
    json out = json::object();
    for (const char* window : kWindows) {
      const std::string req =
          json{{"board", board}, {"key", key}, {"window", window}, {"top", o_.top}}.dump();
      natsMsg* reply = nullptr;
      json rows = json::array();
      if (natsConnection_Request(&reply, nc_, "giftledger.q.leaderboard", req.data(),
                                 int(req.size()), kQueryTimeoutMs) == NATS_OK) {
        json a = json::parse(natsMsg_GetData(reply),
                             natsMsg_GetData(reply) + natsMsg_GetDataLength(reply), nullptr, false);
        natsMsg_Destroy(reply);
        if (a.is_object()) {
          const bool hosts = std::string(board) == "hosts";
          for (const auto& e : a.value("entries", json::array())) {
            rows.push_back({{"name", Who(e.value("member", json()), hosts ? "host" : "user")},
                            {"coins", e.value("score", 0)}});
          }
          RecordPositions(a.value("positions", json::array()));
        }
      }
      out[window] = rows;
    }
    return out;
  }

  void RecordPositions(const json& positions) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t total = 0;
    for (const auto& p : positions) {
      const int shard = p.value("shard", -1);
      const uint64_t seq = p.value("seq", uint64_t{0});
      if (shard >= 0) projected_[shard] = seq;
      total += seq;
    }
    if (!positions.empty()) events_projected_ = total;
  }

  json Rates() {
    json r = json::object();
    const auto now = Clock::now();
    const double dt = std::chrono::duration<double>(now - last_rates_at_).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (dt > 0 && last_rates_at_ != Clock::time_point{}) {
        r["gifts_per_s"] = std::llround(double(gifts_seen_ - gifts_at_last_) / dt);
      }
      gifts_at_last_ = gifts_seen_;
    }
    if (!o_.ledger_metrics.empty()) {
      const std::string text = HttpGetUrl(o_.ledger_metrics);
      if (!text.empty()) {
        LedgerScrape s = ParseMetrics(text);
        if (dt > 0 && last_rates_at_ != Clock::time_point{}) {
          r["commands_per_s"] = std::llround((s.commands - last_scrape_.commands) / dt);
          r["commit_p50_ms"] =
              QuantileUs(s.commit_buckets, last_scrape_.commit_buckets, 0.5) / 1000;
          r["commit_p99_ms"] =
              QuantileUs(s.commit_buckets, last_scrape_.commit_buckets, 0.99) / 1000;
        }
        last_scrape_ = std::move(s);
      }
    }
    last_rates_at_ = now;
    return r;
  }

  // Per shard: projected seq (from query answers), ledger seq (metrics),
  // newest checkpoint tree size (data dir). Called with mu_ held.
  json Shards() {
    std::map<int, json> rows;
    for (const auto& [shard, seq] : projected_) rows[shard]["projected_seq"] = seq;
    for (const auto& [shard, next] : last_scrape_.durable_next_seq) {
      rows[shard]["ledger_seq"] = uint64_t(next > 0 ? next - 1 : 0);
    }
    if (!o_.data.empty()) {
      std::error_code ec;
      for (const auto& d : std::filesystem::directory_iterator(o_.data, ec)) {
        const std::string name = d.path().filename().string();
        if (name.rfind("shard-", 0) != 0) continue;
        const int shard = std::atoi(name.c_str() + 6);
        uint64_t newest = 0;
        std::error_code ec2;
        for (const auto& f : std::filesystem::directory_iterator(d.path() / "checkpoints", ec2)) {
          if (f.path().extension() == ".ckpt") {
            newest =
                std::max<uint64_t>(newest, std::strtoull(f.path().stem().c_str(), nullptr, 10));
          }
        }
        if (newest > 0) rows[shard]["checkpoint_seq"] = newest;
      }
    }
    json out = json::array();
    for (auto& [shard, row] : rows) {
      row["shard"] = shard;
      out.push_back(row);
    }
    return out;
  }

  const DashboardOpts& o_;
  natsConnection* nc_ = nullptr;
  std::vector<natsSubscription*> subs_;
  std::mutex mu_;  // everything below
  json state_ = json::object();
  std::string text_;
  std::deque<json> banners_, levelups_, lines_;
  json reconcile_;
  std::map<uint64_t, double> room_coins_;
  uint64_t gifts_seen_ = 0, gifts_at_last_ = 0, events_projected_ = 0;
  std::map<int, uint64_t> projected_;
  LedgerScrape last_scrape_;
  Clock::time_point last_rates_at_{};
};

int RunDashboard(const DashboardOpts& o) {
  Dashboard dash(o);
  if (Status st = dash.Connect(); !st.ok()) return ReportError(st);
  dash.Refresh();
  auto server = ingress::HttpServer::Start(
      o.http, [&dash, &o](const std::string& method, const std::string& target) {
        ingress::HttpResponse r;
        const std::string path = target.substr(0, target.find('?'));
        if (method != "GET") {
          r.status = 405;
          r.body = "only GET\n";
        } else if (path == "/" || path == "/index.html") {
          r.content_type = "text/html; charset=utf-8";
          r.body = kDashboardPage;
        } else if (path == "/events") {
          r.event_source = [&dash] { return dash.StateText(); };
          r.event_interval_ms = o.refresh_ms;
        } else if (path == "/api/state") {
          r.content_type = "application/json";
          r.body = dash.StateText();
        } else {
          r.status = 404;
          r.body = "not found; the page is at /\n";
        }
        return r;
      });
  if (!server.ok()) return ReportError(server.status());
  std::string host;
  uint16_t port = 0;
  (void)ingress::ParseHostPort(o.http, &host, &port);
  std::printf("ready http://%s:%u/\n", host.c_str(), unsigned((*server)->port()));
  std::fflush(stdout);
  g_stop = 0;
  std::signal(SIGINT, OnDashboardSignal);
  std::signal(SIGTERM, OnDashboardSignal);
  const auto end = Clock::now() + std::chrono::milliseconds(int64_t(o.duration_s * 1000));
  while (!g_stop && (o.duration_s <= 0 || Clock::now() < end)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.refresh_ms));
    dash.Refresh();
  }
  (*server)->Stop();
  return kExitOk;
}

}  // namespace

void RegisterDashboard(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<DashboardOpts>();
  auto* cmd = app.add_subcommand(
      "dashboard",
      "Live web dashboard (one page, server-sent events): gifts/s, commit latency, "
      "leaderboards, banners, level-ups, shard positions and checkpoints");
  cmd->add_option("--nats", o->nats, "NATS server URL")->capture_default_str();
  cmd->add_option("--http", o->http, "Listen on HOST:PORT (port 0 = any; printed)")
      ->capture_default_str();
  cmd->add_option("--ledger-metrics", o->ledger_metrics,
                  "The ledger service's metrics URL (start --metrics), for rates and latency");
  cmd->add_option("--data", o->data, "Ledger data directory, read only, for checkpoints");
  cmd->add_option("--refresh-ms", o->refresh_ms, "Refresh and event interval")
      ->capture_default_str()
      ->check(CLI::Range(100, 60'000));
  cmd->add_option("--top", o->top, "Entries per board")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--duration", o->duration_s, "Seconds to serve, 0 = until SIGINT/SIGTERM")
      ->capture_default_str();
  cmd->callback([o, exit_code] {
    *exit_code = RunDashboard(*o);
    nats_Close();
  });
}

}  // namespace giftledger::cli

#include "projections/query_server.h"

#include <nlohmann/json.hpp>

#include "projections/limits.h"
#include "projections/query.h"

namespace giftledger::projections {
namespace {

constexpr char kPrefix[] = "giftledger.q.";

nlohmann::json Error(const char* code, const std::string& message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

nlohmann::json Positions(const std::vector<Position>& positions) {
  nlohmann::json a = nlohmann::json::array();
  for (size_t s = 0; s < positions.size(); ++s) {
    a.push_back({{"shard", s}, {"seq", positions[s].seq}});
  }
  return a;
}

}  // namespace

Result<std::unique_ptr<HotQueryServer>> HotQueryServer::Start(natsConnection* nc, Projector* p,
                                                              std::mutex* mu) {
  std::unique_ptr<HotQueryServer> s(new HotQueryServer(nc, p, mu));
  natsStatus st = natsConnection_Subscribe(&s->sub_, nc, "giftledger.q.*", OnMsg, s.get());
  if (st != NATS_OK)
    return Unavailable(std::string("nats: subscribe giftledger.q.*: ") + natsStatus_GetText(st));
  st = natsConnection_Flush(nc);
  if (st != NATS_OK) return Unavailable(std::string("nats: flush: ") + natsStatus_GetText(st));
  return s;
}

HotQueryServer::~HotQueryServer() {
  if (sub_) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
}

void HotQueryServer::OnMsg(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<HotQueryServer*>(closure);
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr && reply[0] != '\0') {
    const std::string a =
        self->Answer(natsMsg_GetSubject(msg),
                     std::string_view(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg))));
    // Counted before the answer leaves: a scrape after it sees the request.
    if (ProjectorMetrics* m = self->p_->metrics()) {
      m->query_requests.fetch_add(1, std::memory_order_relaxed);
      if (a.rfind("{\"error\"", 0) == 0) m->query_errors.fetch_add(1, std::memory_order_relaxed);
    }
    (void)natsConnection_Publish(nc, reply, a.data(), int(a.size()));
  }
  natsMsg_Destroy(msg);
}

std::string HotQueryServer::Answer(const std::string& subject, std::string_view request) {
  const std::string what = subject.rfind(kPrefix, 0) == 0 ? subject.substr(sizeof kPrefix - 1) : "";
  nlohmann::json req = nlohmann::json::parse(request.empty() ? std::string_view("{}") : request,
                                             nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) {
    return Error("INVALID_ARGUMENT", "request must be a JSON object").dump();
  }
  std::lock_guard<std::mutex> lock(*mu_);
  nlohmann::json out;
  ReadModels& m = p_->models();
  try {
    if (what == "leaderboard") {
      auto board = ParseBoard(req.value("board", std::string()));
      auto window = ParseWindow(req.value("window", std::string("all")));
      const uint64_t key = req.value("key", uint64_t(0));
      const size_t top = req.value("top", size_t(10));
      if (!board || !window || top == 0 || top > kHotTopMax ||
          (IsGlobalBoard(*board) && key != 0)) {
        return Error("INVALID_ARGUMENT",
                     "board room|host|hosts|gifters, window hour|day|week|month|all, top 1..1000")
            .dump();
      }
      std::vector<RankEntry> entries;
      int64_t period = 0;
      const bool any = m.hot().Top(*board, key, *window, top, &entries, &period);
      nlohmann::json e = nlohmann::json::array();
      for (size_t i = 0; i < entries.size(); ++i) {
        e.push_back({{"rank", i + 1},
                     {"member", m.IsHidden(entries[i].member) ? nlohmann::json(nullptr)
                                                              : nlohmann::json(entries[i].member)},
                     {"score", entries[i].score}});
      }
      out = {{"board", BoardName(*board)},
             {"key", key},
             {"window", WindowName(*window)},
             {"period", any ? period : 0},
             {"entries", e}};
    } else if (what == "wallet" || what == "level") {
      const uint64_t user = req.at("user").get<uint64_t>();
      const LevelRow* l = m.levels.find(user);
      out = {{"user", user},
             {"level", l ? l->level : 0},
             {"experience", l ? l->experience : 0},
             {"hidden", m.IsHidden(user)}};
      if (what == "wallet") {
        const WalletRow* w = m.wallets.find(user);
        const HostRow* h = m.hosts.find(user);
        out["wallet"] = w ? nlohmann::json{{"available", w->available}, {"held", w->held}}
                          : nlohmann::json(nullptr);
        out["host"] = h ? nlohmann::json{{"earned", h->earned}, {"paid_out", h->paid_out}}
                        : nlohmann::json(nullptr);
      }
    } else if (what == "gift") {
      // The gift records live in SQLite only: read them on the projector's
      // own connection, under the lock, so they are exactly the committed
      // ones (the positions come from the same read).
      uint8_t tx[16];
      if (!FromHex(req.value("tx", std::string()), tx, sizeof tx)) {
        return Error("INVALID_ARGUMENT", "tx must be 32 hex digits").dump();
      }
      if (p_->store() == nullptr) return Error("UNAVAILABLE", "no database").dump();
      auto a = QueryGift(*p_->store(), std::string(reinterpret_cast<const char*>(tx), 16));
      if (!a.ok()) return Error(CodeName(a.status().code()), a.status().message()).dump();
      nlohmann::json rows = nlohmann::json::array();
      for (const GiftRecord& g : a->rows) rows.push_back(GiftRecordJson(g));
      out = {{"tx", req.value("tx", std::string())}, {"rows", rows}};
    } else {
      return Error("INVALID_ARGUMENT", "unknown query '" + what + "'").dump();
    }
  } catch (const nlohmann::json::exception& e) {
    return Error("INVALID_ARGUMENT", e.what()).dump();
  }
  out["positions"] = Positions(p_->committed_positions());
  return out.dump();
}

}  // namespace giftledger::projections

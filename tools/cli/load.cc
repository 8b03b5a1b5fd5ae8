#include "tools/cli/load.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "commands/ingress/client.h"
#include "commands/ingress/redo_journal.h"
#include "ledger/coding.h"
#include "ledger/status.h"
#include "ledger/types.h"

namespace giftledger::cli {
namespace {

using ingress::Client;
using schemas::Command;
using Clock = std::chrono::steady_clock;

// The demo catalog: cheap gifts are common, expensive ones rare.
struct Gift {
  uint32_t id;
  const char* name;
  int64_t price_coins;
  double weight;
};
constexpr Gift kGifts[] = {
    {1, "rose", 1, 40},       {2, "heart", 5, 25},       {3, "lollipop", 10, 15},
    {4, "star", 50, 10},      {5, "crown", 200, 5},      {6, "sports-car", 1000, 3},
    {7, "rocket", 5000, 1.5}, {8, "castle", 20000, 0.5},
};
constexpr uint32_t kHostShareBps = 5000;
constexpr uint64_t kViewerIdFirst = 1;
constexpr uint64_t kHostIdFirst = 1'000'000;
constexpr int64_t kOrderTtlUs = 60'000'000;
constexpr size_t kConsumedRingMax = 20'000;
constexpr uint32_t kComboLengthMax = 12;
constexpr double kTickS = 0.005;

// What a command is for, so that its result can be judged.
enum class Kind : uint8_t { kTopUp, kPlace, kConsume, kCancel, kRefund, kReplay, kCatalog };

// Samples 0..n-1 with P(k) ∝ 1 / (k+1)^s.
class Zipf {
 public:
  Zipf(uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (uint32_t k = 0; k < n; ++k) cdf_[k] = sum += 1.0 / std::pow(double(k) + 1, s);
    for (double& c : cdf_) c /= sum;
  }
  uint32_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return uint32_t(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

struct Viewer {
  uint64_t id;
  uint32_t shard;
  int64_t coins;  // the generator's conservative estimate of `available`
};

struct Consumed {
  uint64_t payer;
  std::string order_id;
  uint32_t shard;
};

// Commands of one shard waiting for the next request, with their kinds.
struct Outbox {
  std::vector<Command> commands;
  std::vector<Kind> kinds;
};

struct InFlight {
  std::shared_ptr<Client::Call> call;
  Client* client;
  uint32_t shard;
  std::vector<Command> commands;
  std::vector<Kind> kinds;
  double lateness_us;
};

struct Window {
  uint64_t commands = 0, gifts = 0, expected_rejections = 0, unexpected = 0, unknown = 0;
  std::vector<double> latency_us;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

Command NewCommand() {
  Command c;
  c.set_tx_id(ingress::NewTxId());
  return c;
}

class Generator {
 public:
  Generator(const LoadOptions& o, Client* app, Client* ops)
      : o_(o), app_(app), ops_(ops), rng_(o.seed), zipf_(o.hosts, o.zipf_s) {
    const uint32_t shards = app->info().shard_count;
    outbox_.resize(shards);
    ops_outbox_.resize(shards);
    Command probe;
    for (uint32_t i = 0; i < o.viewers; ++i) {
      probe.mutable_top_up()->set_user(kViewerIdFirst + i);
      viewers_.push_back({kViewerIdFirst + i, app->ShardOf(probe), 0});
    }
    double total = 0;
    for (const Gift& g : kGifts) gift_cdf_.push_back(total += g.weight);
    if (!o.acks_path.empty()) acks_fd_ = OpenAcks(o.acks_path);
  }
  ~Generator() {
    if (acks_fd_ >= 0) ::close(acks_fd_);
  }

  Status Open() const {
    if (!o_.acks_path.empty() && acks_fd_ < 0) {
      return Unavailable("cannot open the acks file " + o_.acks_path);
    }
    return Status::Ok();
  }

  Status LoadCatalog();
  Result<nlohmann::json> Run(const volatile bool* stop);

 private:
  void GenerateActions(uint64_t actions);
  void GiftAction();
  void Flush();
  void Send(Client* client, uint32_t shard, Outbox* box);
  void FinishFront();
  void Judge(const InFlight& f, const ingress::SubmitOutcome& out);
  static int OpenAcks(const std::string& path);
  void WriteAcks();
  void Report(double t_s, double span_s, bool final_line);
  const Gift& PickGift();
  void Add(Outbox* box, Command c, Kind k) {
    box->commands.push_back(std::move(c));
    box->kinds.push_back(k);
  }

  const LoadOptions& o_;
  Client* app_;
  Client* ops_;
  std::mt19937_64 rng_;
  Zipf zipf_;
  std::vector<double> gift_cdf_;
  std::vector<Viewer> viewers_;
  std::vector<Outbox> outbox_, ops_outbox_;
  std::deque<InFlight> inflight_;
  std::deque<Consumed> consumed_;
  int acks_fd_ = -1;      // O_APPEND; one write per answered request
  std::string acks_buf_;  // that write's lines
  Status acks_status_;    // the first failed write of the acks file
  Window window_, total_;
  std::map<std::string, uint64_t> codes_;
  uint64_t requests_ = 0;
  uint64_t actions_ = 0;
};

const Gift& Generator::PickGift() {
  const double u = std::uniform_real_distribution<double>(0, gift_cdf_.back())(rng_);
  const size_t k =
      size_t(std::lower_bound(gift_cdf_.begin(), gift_cdf_.end(), u) - gift_cdf_.begin());
  return kGifts[std::min(k, std::size(kGifts) - 1)];
}

Status Generator::LoadCatalog() {
  for (uint32_t s = 0; s < ops_->info().shard_count; ++s) {
    std::vector<Command> batch;
    for (const Gift& g : kGifts) {
      Command c = NewCommand();
      auto* sc = c.mutable_set_catalog();
      sc->set_gift(g.id);
      sc->set_name(g.name);
      sc->set_price(g.price_coins);
      sc->set_active(true);
      sc->set_host_share_bps(kHostShareBps);
      batch.push_back(std::move(c));
    }
    auto out = ops_->Submit(s, batch);
    if (!out.ok()) return out.status;
    for (const auto& r : out.results) {
      if (r.code() != schemas::OK) {
        return FailedPrecondition("loading the catalog on shard " + std::to_string(s) + ": " +
                                  schemas::ResultCode_Name(r.code()) +
                                  " (the --ops-key needs "
                                  "role ops)");
      }
    }
  }
  return Status::Ok();
}

// One viewer's action in a host's room: mostly a gift (sometimes a combo
// streak), sometimes a cancelled order, a refund or a replayed consume.
void Generator::GiftAction() {
  Viewer& v = viewers_[std::uniform_int_distribution<size_t>(0, viewers_.size() - 1)(rng_)];
  const uint32_t host = zipf_(rng_);
  const Gift& gift = PickGift();
  const uint32_t dice = std::uniform_int_distribution<uint32_t>(0, 999)(rng_);
  Outbox& box = outbox_[v.shard];
  if (dice < 10 && ops_ != nullptr && !consumed_.empty()) {  // 1 %: ops refunds a gift
    Consumed c = std::move(consumed_.front());
    consumed_.pop_front();
    Command r = NewCommand();
    r.mutable_refund()->set_payer(c.payer);
    r.mutable_refund()->set_order_id(c.order_id);
    r.mutable_refund()->set_reason("viewer complaint");
    Add(&ops_outbox_[c.shard], std::move(r), Kind::kRefund);
    return;
  }
  if (dice < 20 && !consumed_.empty()) {  // 1 %: a consumed order sent again, new tx id
    Consumed c = std::move(consumed_.back());
    consumed_.pop_back();
    Command r = NewCommand();
    r.mutable_consume_order()->set_payer(c.payer);
    r.mutable_consume_order()->set_order_id(c.order_id);
    Add(&outbox_[c.shard], std::move(r), Kind::kReplay);
    return;
  }
  const bool combo = dice >= 20 && dice < 120;    // 10 %: a combo streak
  const bool cancel = dice >= 120 && dice < 160;  // 4 %: ordered, then cancelled
  const uint32_t length =
      combo ? std::uniform_int_distribution<uint32_t>(3, kComboLengthMax)(rng_) : 1;
  const int64_t need = gift.price_coins * length;
  if (v.coins < need) {
    Command t = NewCommand();
    const int64_t amount = need + std::uniform_int_distribution<int64_t>(1'000, 20'000)(rng_);
    t.mutable_top_up()->set_user(v.id);
    t.mutable_top_up()->set_amount(amount);
    t.mutable_top_up()->set_payment_ref("load");
    Add(&box, std::move(t), Kind::kTopUp);
    v.coins += amount;
  }
  std::string combo_id;
  if (combo) {
    combo_id.resize(8);
    const uint64_t r = rng_();
    PutU64(reinterpret_cast<uint8_t*>(combo_id.data()), r);
  }
  for (uint32_t i = 0; i < length; ++i) {
    Command place = NewCommand();
    auto* p = place.mutable_place_order();
    p->set_payer(v.id);
    p->set_host(kHostIdFirst + host);
    p->set_room(host + 1);
    p->set_gift(gift.id);
    p->set_count(1);
    p->set_ttl_us(kOrderTtlUs);
    Command next = NewCommand();
    if (cancel) {
      next.mutable_cancel_order()->set_payer(v.id);
      next.mutable_cancel_order()->set_order_id(place.tx_id());
    } else {
      auto* c = next.mutable_consume_order();
      c->set_payer(v.id);
      c->set_order_id(place.tx_id());
      if (combo) {
        c->set_combo_id(combo_id);
        c->set_combo_count(i + 1);
      }
      v.coins -= gift.price_coins;
    }
    Add(&box, std::move(place), Kind::kPlace);
    Add(&box, std::move(next), cancel ? Kind::kCancel : Kind::kConsume);
  }
}

void Generator::GenerateActions(uint64_t actions) {
  for (uint64_t i = 0; i < actions; ++i) {
    GiftAction();
    ++actions_;
    // A place and its consume never straddle two requests: requests to one
    // shard may be decided in any order.
    for (uint32_t s = 0; s < outbox_.size(); ++s) {
      if (outbox_[s].commands.size() + 2 * kComboLengthMax + 1 > o_.request_commands_max) {
        Send(app_, s, &outbox_[s]);
      }
    }
  }
}

void Generator::Flush() {
  for (uint32_t s = 0; s < outbox_.size(); ++s) {
    if (!outbox_[s].commands.empty()) Send(app_, s, &outbox_[s]);
    if (!ops_outbox_[s].commands.empty()) Send(ops_, s, &ops_outbox_[s]);
  }
}

void Generator::Send(Client* client, uint32_t shard, Outbox* box) {
  while (inflight_.size() >= o_.inflight_max) FinishFront();
  InFlight f;
  f.client = client;
  f.shard = shard;
  f.commands = std::move(box->commands);
  f.kinds = std::move(box->kinds);
  f.lateness_us = 0;
  box->commands.clear();
  box->kinds.clear();
  f.call = client->Begin(shard, f.commands);
  inflight_.push_back(std::move(f));
}

void Generator::FinishFront() {
  InFlight f = std::move(inflight_.front());
  inflight_.pop_front();
  const ingress::SubmitOutcome out = f.client->Finish(f.call);
  ++requests_;
  Judge(f, out);
}

void Generator::Judge(const InFlight& f, const ingress::SubmitOutcome& out) {
  if (!out.ok()) {
    window_.unknown += f.commands.size();
    total_.unknown += f.commands.size();
    codes_["UNKNOWN_OUTCOME"] += f.commands.size();
    return;
  }
  window_.latency_us.push_back(double(out.latency_us) + f.lateness_us);
  total_.latency_us.push_back(double(out.latency_us) + f.lateness_us);
  for (size_t k = 0; k < f.commands.size() && k < out.results.size(); ++k) {
    const auto& r = out.results[k];
    const Kind kind = f.kinds[k];
    ++codes_[schemas::ResultCode_Name(r.code())];
    ++window_.commands;
    ++total_.commands;
    const bool expected = kind == Kind::kReplay ? r.code() == schemas::ORDER_ALREADY_CONSUMED
                                                : r.code() == schemas::OK;
    if (!expected) {
      ++window_.unexpected;
      ++total_.unexpected;
    } else if (kind == Kind::kReplay) {
      ++window_.expected_rejections;
      ++total_.expected_rejections;
    }
    if (kind == Kind::kConsume && r.code() == schemas::OK) {
      ++window_.gifts;
      ++total_.gifts;
      const Command& c = f.commands[k];
      if (consumed_.size() < kConsumedRingMax) {
        consumed_.push_back({c.consume_order().payer(), c.consume_order().order_id(), f.shard});
      }
    }
    if (acks_fd_ >= 0) {
      const std::string& tx = f.commands[k].tx_id();
      acks_buf_ += ToHex(reinterpret_cast<const uint8_t*>(tx.data()), tx.size());
      acks_buf_ += ' ' + std::to_string(f.shard) + ' ' + std::to_string(r.seq()) + ' ' +
                   schemas::ResultCode_Name(r.code()) + '\n';
    }
  }
  if (acks_fd_ >= 0) WriteAcks();
}

// The acks file is the crash test's record of what the gateway was told, and
// the gateway is SIGKILLed mid-write: lines go out in whole requests with one
// write (stdio's buffer cut them anywhere, and a kill left half a line that
// the next writer's first line was glued to), and a file that ends mid-line
// gets a newline first, so a torn line stays alone on its line
// (`check-acks` counts it as torn).
int Generator::OpenAcks(const std::string& path) {
  // Read-write so that the same fd reads the last byte (pread ignores O_APPEND).
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  struct stat st;
  char last = '\n';
  if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) != 1) {
    last = '\n';
  }
  if (last != '\n' && ::write(fd, "\n", 1) != 1) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void Generator::WriteAcks() {
  size_t done = 0;
  while (done < acks_buf_.size()) {
    const ssize_t n = ::write(acks_fd_, acks_buf_.data() + done, acks_buf_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // The record is incomplete from here on: the run fails at its end.
      if (acks_status_.ok()) acks_status_ = ErrnoStatus("write " + o_.acks_path, errno);
      break;
    }
    done += size_t(n);
  }
  acks_buf_.clear();
}

void Generator::Report(double t_s, double span_s, bool final_line) {
  if (o_.quiet || span_s <= 0) return;
  const double p50 = Percentile(window_.latency_us, 0.50) / 1000;
  const double p99 = Percentile(window_.latency_us, 0.99) / 1000;
  if (o_.report_json_lines) {
    nlohmann::json j = {{"t_s", std::round(t_s * 10) / 10},
                        {"commands_per_s", std::llround(double(window_.commands) / span_s)},
                        {"gifts_per_s", std::llround(double(window_.gifts) / span_s)},
                        {"p50_us", std::llround(p50 * 1000)},
                        {"p99_us", std::llround(p99 * 1000)},
                        {"expected_rejections", window_.expected_rejections},
                        {"unexpected", window_.unexpected},
                        {"unknown_outcome", window_.unknown}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  } else if (!final_line) {
    std::fprintf(stderr,
                 "load t=%5.1fs  gifts/s %8.0f  commands/s %8.0f  p50 %6.2f ms  p99 %6.2f ms  "
                 "refused-as-expected %llu  unexpected %llu\n",
                 t_s, double(window_.gifts) / span_s, double(window_.commands) / span_s, p50, p99,
                 static_cast<unsigned long long>(window_.expected_rejections),
                 static_cast<unsigned long long>(window_.unexpected + window_.unknown));
  }
  window_ = Window{};
}

Result<nlohmann::json> Generator::Run(const volatile bool* stop) {
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o_.duration_s));
  auto next_report = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o_.report_every_s));
  auto last_report = start;
  uint64_t generated = 0;
  while (Clock::now() < end && (stop == nullptr || !*stop)) {
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    if (o_.rate_per_s > 0) {
      const uint64_t due = uint64_t(elapsed_s * o_.rate_per_s);
      GenerateActions(due - std::min(due, generated));
      generated = std::max(generated, due);
      Flush();
      while (!inflight_.empty() && Client::Ready(inflight_.front().call)) FinishFront();
      std::this_thread::sleep_for(std::chrono::duration<double>(kTickS));
    } else {
      GenerateActions(o_.request_commands_max / 3);
      Flush();
    }
    if (Clock::now() >= next_report) {
      const auto now = Clock::now();
      Report(std::chrono::duration<double>(now - start).count(),
             std::chrono::duration<double>(now - last_report).count(), false);
      last_report = now;
      next_report = now + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(o_.report_every_s));
    }
  }
  Flush();
  while (!inflight_.empty()) FinishFront();
  if (!acks_status_.ok()) return acks_status_;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  nlohmann::json codes = nlohmann::json::object();
  for (const auto& [name, n] : codes_) codes[name] = n;
  std::vector<double>& lat = total_.latency_us;
  return nlohmann::json{{"duration_s", std::round(seconds * 100) / 100},
                        {"shards", app_->info().shard_count},
                        {"viewers", o_.viewers},
                        {"hosts", o_.hosts},
                        {"requests", requests_},
                        {"actions", actions_},
                        {"actions_per_s", std::llround(double(actions_) / seconds)},
                        {"commands", total_.commands},
                        {"commands_per_s", std::llround(double(total_.commands) / seconds)},
                        {"gifts", total_.gifts},
                        {"gifts_per_s", std::llround(double(total_.gifts) / seconds)},
                        {"p50_us", std::llround(Percentile(lat, 0.50))},
                        {"p99_us", std::llround(Percentile(lat, 0.99))},
                        {"p999_us", std::llround(Percentile(lat, 0.999))},
                        {"expected_rejections", total_.expected_rejections},
                        {"unexpected", total_.unexpected},
                        {"unknown_outcome", total_.unknown},
                        {"codes", codes}};
}

Result<std::unique_ptr<Client>> ConnectAs(const LoadOptions& o, const std::string& key,
                                          const std::string& journal_path) {
  ingress::ClientOptions co;
  co.nats_url = o.nats_url;
  co.key_file = key;
  co.timeout_ms = o.timeout_ms;
  if (!journal_path.empty()) {
    auto journal = ingress::RedoJournal::Open(journal_path);
    if (!journal.ok()) return journal.status();
    co.journal = std::move(journal.value());
  }
  return Client::Connect(co);
}

}  // namespace

Result<nlohmann::json> RunLoad(const LoadOptions& o, const volatile bool* stop) {
  if (o.viewers == 0 || o.hosts == 0) return InvalidArgument("--viewers and --hosts must be > 0");
  if (o.request_commands_max < 4 * kComboLengthMax) {
    return InvalidArgument("--request-commands must be at least " +
                           std::to_string(4 * kComboLengthMax));
  }
  auto app = ConnectAs(o, o.key_file, o.journal_path);
  if (!app.ok()) return app.status();
  std::unique_ptr<Client> ops;
  if (!o.ops_key_file.empty()) {
    auto c = ConnectAs(o, o.ops_key_file, o.journal_path.empty() ? "" : o.journal_path + ".ops");
    if (!c.ok()) return c.status();
    ops = std::move(c.value());
  }
  if (o.request_commands_max > (*app)->info().batch_commands_max) {
    return InvalidArgument("--request-commands is above the service's batch limit " +
                           std::to_string((*app)->info().batch_commands_max));
  }
  Generator gen(o, app->get(), ops.get());
  if (Status st = gen.Open(); !st.ok()) return st;
  if (o.load_catalog && ops != nullptr) {
    if (Status st = gen.LoadCatalog(); !st.ok()) return st;
  }
  return gen.Run(stop);
}

void PrintLoadSummaryHuman(const nlohmann::json& j) {
  std::printf("load: %s s, %s shards, %s viewers, %s hosts\n", j["duration_s"].dump().c_str(),
              j["shards"].dump().c_str(), j["viewers"].dump().c_str(), j["hosts"].dump().c_str());
  std::printf("  commands      %s (%s/s) in %s requests\n", j["commands"].dump().c_str(),
              j["commands_per_s"].dump().c_str(), j["requests"].dump().c_str());
  std::printf("  gifts sent    %s (%s/s)\n", j["gifts"].dump().c_str(),
              j["gifts_per_s"].dump().c_str());
  std::printf(
      "  latency       p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms (request, after fdatasync)\n",
      j["p50_us"].get<double>() / 1000, j["p99_us"].get<double>() / 1000,
      j["p999_us"].get<double>() / 1000);
  std::printf("  refused as expected (replayed consumes) %s, unexpected %s, unknown outcome %s\n",
              j["expected_rejections"].dump().c_str(), j["unexpected"].dump().c_str(),
              j["unknown_outcome"].dump().c_str());
  std::printf("  codes        ");
  for (const auto& [name, n] : j["codes"].items())
    std::printf(" %s=%s", name.c_str(), n.dump().c_str());
  std::printf("\n");
}

}  // namespace giftledger::cli

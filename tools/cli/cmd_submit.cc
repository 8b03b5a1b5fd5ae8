// giftledger submit: send commands to a running `giftledger start` as a
// gateway (the C++ client: encrypted envelope, timeout, retries with the same
// tx ids) and print one result per command.
#include <google/protobuf/util/json_util.h>
#include <nats/nats.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "commands/ingress/client.h"
#include "ledger/file.h"
#include "tools/cli/commands.h"
#include "tools/cli/output.h"

namespace giftledger::cli {
namespace {

using schemas::Command;

struct SubmitOpts {
  std::string nats = "nats://127.0.0.1:4222";
  std::string key;
  int64_t shard = -1;  // -1: route by the command's user
  std::string json_commands;
  std::string journal;  // redo journal file; empty = none
  int64_t timeout_ms = 5000;
  uint32_t attempts = 4;
  bool json = false;
  std::vector<Command> commands;  // filled by the command subcommands
  Status parse_error;
};

bool ParseId16(const std::string& hex, std::string* out) {
  uint8_t b[16];
  if (!FromHex(hex, b, sizeof b)) return false;
  out->assign(reinterpret_cast<const char*>(b), sizeof b);
  return true;
}

std::string Hex(const std::string& bytes) {
  return ToHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// A JSON array of commands in the protobuf JSON mapping (bytes in base64,
// field names as in the schema); a command without tx_id gets a fresh one.
Status ParseJsonCommands(const std::string& source, std::vector<Command>* out) {
  std::string text;
  if (source == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    auto t = ReadSmallFile(source, 64 << 20);
    if (!t.ok()) return t.status();
    text = t.value();
  }
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("commands")) j = j["commands"];
  if (!j.is_array()) return InvalidArgument(source + ": expected a JSON array of commands");
  for (const auto& item : j) {
    Command c;
    auto st = google::protobuf::util::JsonStringToMessage(item.dump(), &c);
    if (!st.ok()) return InvalidArgument(source + ": " + std::string(st.message()));
    if (c.tx_id().empty()) c.set_tx_id(ingress::NewTxId());
    out->push_back(std::move(c));
  }
  if (out->empty()) return InvalidArgument(source + ": no commands");
  return Status::Ok();
}

nlohmann::json ResultJson(const Command& c, const schemas::CommandResult& r, uint32_t shard) {
  google::protobuf::util::JsonPrintOptions po;
  po.preserve_proto_field_names = true;
  std::string cmd_json;
  (void)google::protobuf::util::MessageToJsonString(c, &cmd_json, po);
  nlohmann::json j = nlohmann::json::parse(cmd_json);
  j.erase("tx_id");  // base64 there; hex below
  j["code"] = schemas::ResultCode_Name(r.code());
  j["tx_id"] = Hex(c.tx_id());
  j["shard"] = shard;
  j["seq"] = r.seq();
  if (!r.message().empty()) j["message"] = r.message();
  return j;
}

int RunSubmit(SubmitOpts& o) {
  if (!o.parse_error.ok()) {
    std::fprintf(stderr, "giftledger: %s\n", o.parse_error.message().c_str());
    return kExitUsage;
  }
  if (!o.json_commands.empty()) {
    Status st = ParseJsonCommands(o.json_commands, &o.commands);
    if (!st.ok()) return ReportError(st);
  }
  if (o.commands.empty()) {
    std::fprintf(stderr, "giftledger: no command (a subcommand or --json-commands)\n");
    return kExitUsage;
  }
  ingress::ClientOptions co;
  co.nats_url = o.nats;
  co.key_file = o.key;
  co.timeout_ms = o.timeout_ms;
  co.attempts_max = o.attempts;
  if (!o.journal.empty()) {
    auto journal = ingress::RedoJournal::Open(o.journal);
    if (!journal.ok()) return ReportError(journal.status());
    if (size_t n = journal.value()->pending_count(); n > 0) {
      std::fprintf(stderr,
                   "giftledger: %s holds %zu unanswered command(s) from earlier; "
                   "`giftledger redo` resubmits them\n",
                   o.journal.c_str(), n);
    }
    co.journal = std::move(journal.value());
  }
  auto client = ingress::Client::Connect(co);
  if (!client.ok()) return ReportError(client.status());
  // One request per shard, commands in their given order within it; every
  // shard's request is in flight at once.
  std::map<uint32_t, std::vector<size_t>> by_shard;
  for (size_t i = 0; i < o.commands.size(); ++i) {
    by_shard[o.shard >= 0 ? uint32_t(o.shard) : client.value()->ShardOf(o.commands[i])].push_back(
        i);
  }
  std::vector<std::shared_ptr<ingress::Client::Call>> calls;
  for (const auto& [shard, idx] : by_shard) {
    std::vector<Command> batch;
    for (size_t i : idx) batch.push_back(o.commands[i]);
    calls.push_back(client.value()->Begin(shard, std::move(batch)));
  }
  std::vector<schemas::CommandResult> results(o.commands.size());
  std::vector<uint32_t> shards(o.commands.size());
  int failure = kExitOk;
  size_t call_index = 0;
  for (const auto& [shard, idx] : by_shard) {
    ingress::SubmitOutcome out = client.value()->Finish(calls[call_index++]);
    if (out.unknown_outcome()) {
      std::fprintf(stderr, "giftledger: shard %u: %s%s\n", shard, out.status.ToString().c_str(),
                   o.journal.empty() ? "; resubmit with the same --tx"
                                     : "; kept in the journal, run `giftledger redo`");
      failure = kExitError;
      continue;
    }
    if (!out.ok()) {
      std::fprintf(stderr, "giftledger: shard %u: %s (after %u attempts)\n", shard,
                   out.status.ToString().c_str(), out.attempts);
      if (failure == kExitOk) {
        failure = out.status.code() == Code::kUnavailable ? kExitError : kExitRejected;
      }
      continue;
    }
    for (size_t k = 0; k < idx.size(); ++k) {
      results[idx[k]] = out.results[k];
      shards[idx[k]] = shard;
    }
  }
  if (failure != kExitOk) return failure;
  bool all_ok = true;
  nlohmann::json arr = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    all_ok &= results[i].code() == schemas::OK;
    if (o.json) {
      arr.push_back(ResultJson(o.commands[i], results[i], shards[i]));
    } else {
      std::printf("%-22s tx %s  shard %u  seq %llu%s%s\n",
                  schemas::ResultCode_Name(results[i].code()).c_str(),
                  Hex(o.commands[i].tx_id()).c_str(), shards[i],
                  (unsigned long long)results[i].seq(), results[i].message().empty() ? "" : "  ",
                  results[i].message().c_str());
    }
  }
  if (o.json) std::printf("%s\n", (arr.size() == 1 ? arr[0] : arr).dump(2).c_str());
  return all_ok ? kExitOk : kExitRejected;
}

// Adds --tx to a command subcommand: a fixed tx id (32 hex digits) makes a
// resubmission recognisable; default random.
void AddTx(CLI::App* sub, std::shared_ptr<std::string> tx) {
  sub->add_option("--tx", *tx, "tx id, 32 hex digits (default: random)");
}

Command NewCommand(const std::string& tx_hex, Status* err) {
  Command c;
  if (tx_hex.empty()) {
    c.set_tx_id(ingress::NewTxId());
  } else if (std::string id; ParseId16(tx_hex, &id)) {
    c.set_tx_id(id);
  } else {
    *err = InvalidArgument("--tx must be 32 hex digits");
  }
  return c;
}

void SetOrderId(const std::string& hex, std::string* field, Status* err) {
  if (!ParseId16(hex, field)) *err = InvalidArgument("--order must be 32 hex digits");
}

void RegisterCommandSubcommands(CLI::App* submit, std::shared_ptr<SubmitOpts> o) {
  struct Fields {
    std::string tx, ref, order, name, reason;
    uint64_t user = 0, host = 0, room = 0;
    uint32_t gift = 0, count = 1, share_bps = 0;
    int64_t amount = 0, ttl_ms = 60'000;
    bool inactive = false;
  };
  auto f = std::make_shared<Fields>();
  auto tx = std::shared_ptr<std::string>(f, &f->tx);

  auto* topup = submit->add_subcommand("topup", "TopUp{user, amount, payment_ref} (payments)");
  topup->add_option("--user", f->user)->required();
  topup->add_option("--amount", f->amount, "coins")->required();
  topup->add_option("--ref", f->ref, "payment reference");
  AddTx(topup, tx);
  topup->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    c.mutable_top_up()->set_user(f->user);
    c.mutable_top_up()->set_amount(f->amount);
    c.mutable_top_up()->set_payment_ref(f->ref);
    o->commands.push_back(c);
  });

  auto* order =
      submit->add_subcommand("order", "PlaceOrder{payer, host, room, gift, count} (gifts)");
  order->add_option("--payer", f->user)->required();
  order->add_option("--host", f->host)->required();
  order->add_option("--room", f->room)->required();
  order->add_option("--gift", f->gift)->required();
  order->add_option("--count", f->count)->capture_default_str();
  order->add_option("--ttl-ms", f->ttl_ms, "order expiry")->capture_default_str();
  AddTx(order, tx);
  order->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    auto* p = c.mutable_place_order();
    p->set_payer(f->user);
    p->set_host(f->host);
    p->set_room(f->room);
    p->set_gift(f->gift);
    p->set_count(f->count);
    p->set_ttl_us(f->ttl_ms * 1000);
    o->commands.push_back(c);
  });

  auto* consume = submit->add_subcommand("consume", "ConsumeOrder{payer, order_id} (gifts)");
  auto* cancel = submit->add_subcommand("cancel", "CancelOrder{payer, order_id} (gifts)");
  auto* refund = submit->add_subcommand("refund", "Refund{payer, order_id, reason} (ops)");
  for (auto* sub : {consume, cancel, refund}) {
    sub->add_option("--payer", f->user)->required();
    sub->add_option("--order", f->order, "order id = tx id of the PlaceOrder (32 hex)")->required();
    AddTx(sub, tx);
  }
  refund->add_option("--reason", f->reason);
  consume->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    c.mutable_consume_order()->set_payer(f->user);
    SetOrderId(f->order, c.mutable_consume_order()->mutable_order_id(), &o->parse_error);
    o->commands.push_back(c);
  });
  cancel->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    c.mutable_cancel_order()->set_payer(f->user);
    SetOrderId(f->order, c.mutable_cancel_order()->mutable_order_id(), &o->parse_error);
    o->commands.push_back(c);
  });
  refund->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    c.mutable_refund()->set_payer(f->user);
    c.mutable_refund()->set_reason(f->reason);
    SetOrderId(f->order, c.mutable_refund()->mutable_order_id(), &o->parse_error);
    o->commands.push_back(c);
  });

  auto* catalog = submit->add_subcommand("catalog", "SetCatalog{gift, name, price} (ops)");
  catalog->add_option("--gift", f->gift)->required();
  catalog->add_option("--name", f->name)->required();
  catalog->add_option("--price", f->amount, "coins per gift")->required();
  catalog->add_option("--share-bps", f->share_bps, "host share, basis points");
  catalog->add_flag("--inactive", f->inactive);
  AddTx(catalog, tx);
  catalog->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    auto* s = c.mutable_set_catalog();
    s->set_gift(f->gift);
    s->set_name(f->name);
    s->set_price(f->amount);
    s->set_active(!f->inactive);
    s->set_host_share_bps(f->share_bps);
    o->commands.push_back(c);
  });

  auto* payout = submit->add_subcommand("payout", "Payout{host, amount, payment_ref} (payments)");
  payout->add_option("--host", f->host)->required();
  payout->add_option("--amount", f->amount)->required();
  payout->add_option("--ref", f->ref);
  AddTx(payout, tx);
  payout->callback([o, f] {
    Command c = NewCommand(f->tx, &o->parse_error);
    c.mutable_payout()->set_host(f->host);
    c.mutable_payout()->set_amount(f->amount);
    c.mutable_payout()->set_payment_ref(f->ref);
    o->commands.push_back(c);
  });
}

}  // namespace

void RegisterSubmit(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "submit", "Send commands to a running service as a gateway and print the results");
  auto o = std::make_shared<SubmitOpts>();
  cmd->add_option("--nats", o->nats, "NATS server URL")->capture_default_str();
  cmd->add_option("--key", o->key, "Gateway secret key file (keys gateway)")->required();
  cmd->add_option("--shard", o->shard, "Send to this shard (default: the command's user's shard)");
  cmd->add_option("--json-commands", o->json_commands,
                  "File (or - for stdin) with a JSON array of commands (protobuf JSON)");
  cmd->add_option("--journal", o->journal,
                  "Redo journal file: commands are on disk before they are sent, until answered");
  cmd->add_option("--timeout-ms", o->timeout_ms, "Per attempt")->capture_default_str();
  cmd->add_option("--attempts", o->attempts, "Attempts (same tx ids)")->capture_default_str();
  cmd->add_flag("--json", o->json, "JSON on stdout: one object per command");
  RegisterCommandSubcommands(cmd, o);
  cmd->require_subcommand(0, 1);
  // --json, --shard, ... may also follow the command subcommand.
  for (auto* sub : cmd->get_subcommands({})) sub->fallthrough();
  // Runs after the command subcommand's callback has built the command.
  cmd->final_callback([o, exit_code] {
    *exit_code = RunSubmit(*o);
    nats_Close();
  });
}

}  // namespace giftledger::cli

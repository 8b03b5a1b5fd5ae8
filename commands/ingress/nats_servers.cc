#include "commands/ingress/nats_servers.h"

namespace giftledger::ingress {

std::vector<std::string> SplitNatsUrls(const std::string& urls) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    const size_t comma = urls.find(',', begin);
    const size_t end = comma == std::string::npos ? urls.size() : comma;
    size_t a = begin, b = end;
    while (a < b && (urls[a] == ' ' || urls[a] == '\t')) ++a;
    while (b > a && (urls[b - 1] == ' ' || urls[b - 1] == '\t')) --b;
    out.push_back(urls.substr(a, b - a));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}

natsStatus SetNatsServers(natsOptions* opts, const std::string& urls) {
  const std::vector<std::string> list = SplitNatsUrls(urls);
  std::vector<const char*> servers;
  for (const std::string& u : list) {
    if (u.empty()) return NATS_INVALID_ARG;
    servers.push_back(u.c_str());
  }
  return natsOptions_SetServers(opts, servers.data(), int(servers.size()));
}

}  // namespace giftledger::ingress

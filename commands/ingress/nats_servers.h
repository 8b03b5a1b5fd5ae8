// A NATS server list as operators write it, "nats://a:4222,nats://b:4222":
// every NATS connection of giftledger takes one, so that a NATS cluster is
// reached (and, after a node fails, reconnected) through any of its nodes.
// NATS.c's natsOptions_SetURL takes a single URL only.
#pragma once

#include <nats/nats.h>

#include <string>
#include <vector>

namespace giftledger::ingress {

// The URLs of a comma-separated list, blanks around each trimmed; empty
// entries are kept (as "") so that the caller can refuse them.
std::vector<std::string> SplitNatsUrls(const std::string& urls);

// natsOptions_SetServers with the URLs of the list. NATS_INVALID_ARG for an
// empty list or an empty entry ("a,,b", "a,"); nothing is set then.
natsStatus SetNatsServers(natsOptions* opts, const std::string& urls);

}  // namespace giftledger::ingress

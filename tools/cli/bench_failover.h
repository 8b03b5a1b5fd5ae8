// `giftledger bench failover`: replication's cost and a failover, measured
// (docs/replication.md). On a nats-server of its own (free loopback port): a
// one-shard ledger and a copy of it; closed-loop `load` against a leader with
// --ack local, then --ack replicated (commands/s side by side, as a ratio);
// then a leader and a --standby under paced load with --ack replicated, the
// leader SIGKILLed a third of the way in: time until the standby leads,
// throughput before and after, and check-acks on the new leader (acked,
// lost, duplicated). Every process is stopped by pid.
#pragma once

#include <CLI/CLI.hpp>

namespace giftledger::cli {

void RegisterBenchFailover(CLI::App* bench, int* exit_code);

}  // namespace giftledger::cli

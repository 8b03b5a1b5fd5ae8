// Child processes for integration tests: run a program to completion, or
// start one in the background and stop it by its pid (never by name). A
// child is also sent SIGTERM if the test process dies first.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace giftledger::testing {

// Starts argv[0] with stdout and stderr redirected to the given files
// (empty = /dev/null); -1 when fork fails.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path);
// Waits for pid; its exit code, 128 + signal when killed, -1 on error.
int WaitExit(pid_t pid);
// Sends `signal` to pid and waits for it: the exit code as WaitExit.
int StopProcess(pid_t pid, int signal);
bool Alive(pid_t pid);
// Spawns argv like Spawn and waits (bounded, about 30 s) until the first
// line of its stdout starts with `ready_prefix`. Empty on success with *pid
// set; otherwise what went wrong, with the child's stderr (*pid is then
// still set when the child is running, so the caller can stop it).
std::string SpawnUntilReady(const std::vector<std::string>& argv, const std::string& out_path,
                            const std::string& err_path, const std::string& ready_prefix,
                            pid_t* pid);
// Runs to completion; the exit code, with stdout in *out when given.
int Run(const std::vector<std::string>& argv, std::string* out = nullptr);
std::string ReadFileOrEmpty(const std::string& path);
// The full path of an executable found on $PATH, empty when there is none.
std::string FindOnPath(const std::string& name);

// Through the giftledger binary `bin`: `format` a ledger of `shards` shards
// in data_dir (segments of segment_mib MiB; 0 = the default), its service
// key, and gateway "app" with roles gifts,payments, its secret key written to
// app_key_path. Empty on success, else the step that failed.
std::string MakeTestLedger(const std::string& bin, const std::string& data_dir, uint32_t shards,
                           const std::string& app_key_path, uint32_t segment_mib = 0);

// GET http://127.0.0.1:port/path over a plain socket (HTTP/1.1, Connection:
// close). The status code (0 when the exchange failed) and the body.
int HttpGet(int port, const std::string& path, std::string* body);

// A nats-server on a free loopback port with its own store directory,
// stopped by pid in the destructor.
class NatsServer {
 public:
  explicit NatsServer(std::string work_dir) : work_dir_(std::move(work_dir)) {}
  ~NatsServer() { Stop(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Empty on success, else what went wrong. Retries when the probed port
  // was taken by someone else before the server bound it.
  std::string Start();
  // SIGTERM and wait; no-op when not running.
  void Stop();
  // Stops the server with `signal` and starts it again on the same port with
  // the same store directory, as an operator's restart would. Empty on
  // success, else what went wrong.
  std::string Restart(int signal);
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

 private:
  std::string work_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// N nats-servers (default 3) on free loopback ports forming one JetStream
// cluster: each with its own client and route port, server name (n0, n1,
// ...) and store directory, every route listed on every node. Started as
// processes and stopped by pid (the destructor stops them all).
class NatsCluster {
 public:
  explicit NatsCluster(std::string work_dir, int nodes = 3)
      : work_dir_(std::move(work_dir)), nodes_(size_t(nodes)) {}
  ~NatsCluster() { Stop(); }
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  // Starts every node and waits (bounded, about 30 s) until the cluster has
  // a JetStream meta leader. Empty on success, else what went wrong; retries
  // on fresh ports when one was taken before its server bound it.
  std::string Start();
  // SIGTERM to every running node, and wait.
  void Stop();
  // Stops node i with `signal` and waits; its exit code as WaitExit (-1 when
  // it was not running).
  int Kill(int i, int signal);
  // Starts node i again (SIGTERM first if it still runs) on the same ports,
  // name and store directory, and waits until it listens and the cluster
  // has a meta leader. Empty on success, else what went wrong.
  std::string Restart(int i);
  // Bounded wait until $JS.API.INFO answers without an error on the
  // running nodes, i.e. the cluster has a JetStream meta leader.
  std::string WaitForMetaLeader(int timeout_ms = 30'000);
  // Index of the node leading JetStream stream `stream` (servers are named
  // n<i>), or -1 when no leader is known yet (the stream is missing or an
  // election is under way). Asks once; callers poll, bounded.
  int StreamLeader(const std::string& stream) const;

  // "nats://127.0.0.1:P0,nats://127.0.0.1:P1,...": the list `--nats`,
  // ClientOptions::nats_url and natsConnection_ConnectTo accept.
  std::string urls() const;
  std::string url(int i) const {
    return "nats://127.0.0.1:" + std::to_string(nodes_[size_t(i)].port);
  }
  pid_t pid(int i) const { return nodes_[size_t(i)].pid; }
  int size() const { return int(nodes_.size()); }

 private:
  struct Node {
    pid_t pid = -1;
    int port = 0;          // clients
    int cluster_port = 0;  // routes
  };
  // Spawns node i on its ports; waits until it listens. Empty or the error;
  // *lost_port is set when it exited (its port was taken).
  std::string SpawnNode(size_t i, bool* lost_port);
  std::string NodeDir(size_t i) const { return work_dir_ + "/nats-" + std::to_string(i); }

  std::string work_dir_;
  std::vector<Node> nodes_;
};

}  // namespace giftledger::testing

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

}  // namespace giftledger::testing

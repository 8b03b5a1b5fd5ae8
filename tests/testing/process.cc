#include "tests/testing/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace giftledger::testing {
namespace {

// A port the kernel just handed out on 127.0.0.1 (bind to 0), released again.
int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(uint16_t(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path,
            const std::string& err_path) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: never outlive a crashed test.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) _exit(125);
  int out =
      ::open(out_path.empty() ? "/dev/null" : out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err =
      ::open(err_path.empty() ? "/dev/null" : err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) _exit(126);
  ::execv(argv[0], argv.data());
  _exit(127);
}

int WaitExit(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int StopProcess(pid_t pid, int signal) {
  if (pid <= 0) return -1;
  ::kill(pid, signal);
  return WaitExit(pid);
}

bool Alive(pid_t pid) {
  int status = 0;
  return pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0;
}

std::string SpawnUntilReady(const std::vector<std::string>& argv, const std::string& out_path,
                            const std::string& err_path, const std::string& ready_prefix,
                            pid_t* pid) {
  // The child truncates out_path only once it runs: a ready line left by an
  // earlier process must not be taken for this one's.
  ::unlink(out_path.c_str());
  *pid = Spawn(argv, out_path, err_path);
  if (*pid <= 0) return "fork failed";
  for (int i = 0; i < 3000; ++i) {
    if (ReadFileOrEmpty(out_path).rfind(ready_prefix, 0) == 0) return "";
    if (!Alive(*pid)) return argv[0] + " exited: " + ReadFileOrEmpty(err_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return argv[0] + " not ready: " + ReadFileOrEmpty(err_path);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Run(const std::vector<std::string>& argv, std::string* out) {
  char tmpl[] = "/tmp/giftledger-run-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) return -1;
  ::close(fd);
  pid_t pid = Spawn(argv, tmpl, "");
  int code = pid > 0 ? WaitExit(pid) : -1;
  if (out != nullptr) *out = ReadFileOrEmpty(tmpl);
  ::unlink(tmpl);
  return code;
}

std::string MakeTestLedger(const std::string& bin, const std::string& data_dir, uint32_t shards,
                           const std::string& app_key_path, uint32_t segment_mib) {
  std::vector<std::string> format = {bin,      "format",   "--data",
                                     data_dir, "--shards", std::to_string(shards)};
  if (segment_mib > 0) {
    format.push_back("--segment-mib");
    format.push_back(std::to_string(segment_mib));
  }
  if (Run(format) != 0) return "format failed";
  if (Run({bin, "keys", "service", "--data", data_dir}) != 0) return "keys service failed";
  if (Run({bin, "keys", "gateway", "--data", data_dir, "--name", "app", "--roles", "gifts,payments",
           "--out", app_key_path}) != 0) {
    return "keys gateway app failed";
  }
  return "";
}

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

std::string NatsServer::Start() {
  const std::string bin = FindOnPath("nats-server");
  if (bin.empty()) return "nats-server not found on PATH";
  const std::string store = work_dir_ + "/nats-store";
  ::mkdir(store.c_str(), 0700);
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = FreeLoopbackPort();
    if (port_ == 0) return "no free loopback port";
    pid_ = Spawn({bin, "-a", "127.0.0.1", "-p", std::to_string(port_), "-js", "-sd", store},
                 work_dir_ + "/nats.out", work_dir_ + "/nats.err");
    if (pid_ < 0) return "fork failed";
    // Up to ~10 s for the listener; a server that exits lost the port race.
    for (int i = 0; i < 1000 && Alive(pid_); ++i) {
      if (CanConnect(port_)) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (Alive(pid_)) {
      Stop();
      return "nats-server did not listen on port " + std::to_string(port_);
    }
    WaitExit(pid_);
    pid_ = -1;
  }
  return "nats-server failed to start: " + ReadFileOrEmpty(work_dir_ + "/nats.err");
}

std::string NatsServer::Restart(int signal) {
  if (pid_ > 0) StopProcess(pid_, signal);
  pid_ = -1;
  const std::string bin = FindOnPath("nats-server");
  if (bin.empty()) return "nats-server not found on PATH";
  const std::string store = work_dir_ + "/nats-store";
  // The old listener's port can stay busy for a moment; the clients are
  // reconnecting to this very port, so wait for it rather than move.
  for (int attempt = 0; attempt < 50; ++attempt) {
    pid_ = Spawn({bin, "-a", "127.0.0.1", "-p", std::to_string(port_), "-js", "-sd", store},
                 work_dir_ + "/nats.out", work_dir_ + "/nats.err");
    if (pid_ < 0) return "fork failed";
    for (int i = 0; i < 1000 && Alive(pid_); ++i) {
      if (CanConnect(port_)) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (Alive(pid_)) {
      Stop();
      return "nats-server did not listen on port " + std::to_string(port_);
    }
    WaitExit(pid_);
    pid_ = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "nats-server failed to restart: " + ReadFileOrEmpty(work_dir_ + "/nats.err");
}

int HttpGet(int port, const std::string& path, std::string* body) {
  body->clear();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  timeval tv{10, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(uint16_t(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return 0;
  }
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    ::close(fd);
    return 0;
  }
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) all.append(buf, size_t(n));
  ::close(fd);
  const size_t head_end = all.find("\r\n\r\n");
  if (all.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) return 0;
  *body = all.substr(head_end + 4);
  return std::atoi(all.c_str() + 9);
}

void NatsServer::Stop() {
  if (pid_ > 0) StopProcess(pid_, SIGTERM);
  pid_ = -1;
}

std::string NatsCluster::urls() const {
  std::string out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (i > 0) out += ',';
    out += url(int(i));
  }
  return out;
}

std::string NatsCluster::SpawnNode(size_t i, bool* lost_port) {
  *lost_port = false;
  const std::string bin = FindOnPath("nats-server");
  if (bin.empty()) return "nats-server not found on PATH";
  const std::string dir = NodeDir(i);
  ::mkdir(dir.c_str(), 0700);
  std::string routes;
  for (size_t j = 0; j < nodes_.size(); ++j) {
    if (j == i) continue;
    if (!routes.empty()) routes += ',';
    routes += "nats://127.0.0.1:" + std::to_string(nodes_[j].cluster_port);
  }
  Node& n = nodes_[i];
  n.pid =
      Spawn({bin, "-a", "127.0.0.1", "-p", std::to_string(n.port), "-js", "-sd", dir + "/store",
             "--server_name", "n" + std::to_string(i), "--cluster_name", "giftledger-test",
             "--cluster", "nats://127.0.0.1:" + std::to_string(n.cluster_port), "--routes", routes},
            dir + "/nats.out", dir + "/nats.err");
  if (n.pid < 0) return "fork failed";
  // Up to ~10 s for the listener; a server that exits lost a port race.
  for (int k = 0; k < 1000 && Alive(n.pid); ++k) {
    if (CanConnect(n.port)) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (Alive(n.pid)) {
    StopProcess(n.pid, SIGTERM);
    n.pid = -1;
    return "nats-server n" + std::to_string(i) + " did not listen on port " +
           std::to_string(n.port);
  }
  WaitExit(n.pid);
  n.pid = -1;
  *lost_port = true;
  return "nats-server n" + std::to_string(i) + " exited: " + ReadFileOrEmpty(dir + "/nats.err");
}

std::string NatsCluster::Start() {
  std::string err;
  for (int attempt = 0; attempt < 5; ++attempt) {
    Stop();
    for (Node& n : nodes_) {
      n.port = FreeLoopbackPort();
      n.cluster_port = FreeLoopbackPort();
      if (n.port == 0 || n.cluster_port == 0) return "no free loopback port";
    }
    bool lost_port = false;
    err.clear();
    for (size_t i = 0; i < nodes_.size() && err.empty(); ++i) err = SpawnNode(i, &lost_port);
    if (err.empty()) return WaitForMetaLeader();
    if (!lost_port) break;
  }
  Stop();
  return err;
}

void NatsCluster::Stop() {
  for (Node& n : nodes_) {
    if (n.pid > 0) StopProcess(n.pid, SIGTERM);
    n.pid = -1;
  }
}

int NatsCluster::Kill(int i, int signal) {
  Node& n = nodes_.at(size_t(i));
  if (n.pid <= 0) return -1;
  const int code = StopProcess(n.pid, signal);
  n.pid = -1;
  return code;
}

std::string NatsCluster::Restart(int i) {
  if (nodes_.at(size_t(i)).pid > 0) Kill(i, SIGTERM);
  // The old listener's ports can stay busy for a moment; clients and peers
  // reconnect to these very ports, so wait for them rather than move.
  std::string err;
  for (int attempt = 0; attempt < 50; ++attempt) {
    bool lost_port = false;
    err = SpawnNode(size_t(i), &lost_port);
    if (err.empty()) return WaitForMetaLeader();
    if (!lost_port) return err;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return err;
}

std::string NatsCluster::WaitForMetaLeader(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    natsConnection* nc = nullptr;
    if (natsConnection_ConnectTo(&nc, urls().c_str()) == NATS_OK) {
      natsMsg* reply = nullptr;
      const natsStatus s = natsConnection_RequestString(&reply, nc, "$JS.API.INFO", "", 1000);
      if (s == NATS_OK) {
        last.assign(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply)));
        natsMsg_Destroy(reply);
      } else {
        last = natsStatus_GetText(s);
      }
      natsConnection_Destroy(nc);
      // An account info without an error: a meta leader answered.
      if (s == NATS_OK && last.find("account_info_response") != std::string::npos &&
          last.find("\"error\"") == std::string::npos) {
        return "";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "no JetStream meta leader: " + last;
}

int NatsCluster::StreamLeader(const std::string& stream) const {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, urls().c_str()) != NATS_OK) return -1;
  natsMsg* reply = nullptr;
  std::string info;
  if (natsConnection_RequestString(&reply, nc, ("$JS.API.STREAM.INFO." + stream).c_str(), "",
                                   1000) == NATS_OK) {
    info.assign(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply)));
    natsMsg_Destroy(reply);
  }
  natsConnection_Destroy(nc);
  // The reply's "cluster" object: {"name": ..., "leader": "n<i>", ...}.
  const std::string key = "\"leader\":\"n";
  const size_t at = info.find(key);
  if (at == std::string::npos) return -1;
  const int node = std::atoi(info.c_str() + at + key.size());
  return node >= 0 && node < size() ? node : -1;
}

}  // namespace giftledger::testing

#include "peers/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <thread>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace rtb::peers {

child_process::child_process(const child_spec& spec) {
  // Everything the child needs is built before fork(): after it, in a
  // process with threads, only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const auto name = kv.substr(0, kv.find('='));
    bool drop = false;
    for (const auto& u : spec.unset_env) drop = drop || name == u;
    for (const auto& [k, v] : spec.env) drop = drop || name == k;
    if (!drop) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings{spec.path};
  arg_strings.insert(arg_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (spec.cpu >= 0) CPU_SET(spec.cpu, &cpus);

  const int log = ::open(spec.log_path.empty() ? "/dev/null" : spec.log_path.c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot open " + spec.log_path + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    if (spec.cpu >= 0 && ::sched_setaffinity(0, sizeof cpus, &cpus) != 0) ::_exit(126);
    ::dup2(log, 1);
    ::dup2(log, 2);
    // No descriptor of ours (the fakes' sockets) leaks into the child.
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log);
  pid_ = pid;
}

child_process::~child_process() {
  if (pid_ > 0 && !reaped_) stop(std::chrono::milliseconds(2000));
}

bool child_process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return r == 0;
}

std::string child_process::stop(std::chrono::milliseconds grace) {
  auto describe = [this](const char* how) {
    std::string s;
    if (WIFEXITED(status_))
      s = "exit " + std::to_string(WEXITSTATUS(status_));
    else if (WIFSIGNALED(status_))
      s = "signal " + std::to_string(WTERMSIG(status_));
    else
      s = "status " + std::to_string(status_);
    return s + how;
  };
  if (pid_ <= 0) return "not started";
  if (!running()) return describe(" (had exited)");
  ::kill(pid_, SIGTERM);
  if (wait_until([this] { return !running(); }, grace)) return describe("");
  ::kill(pid_, SIGKILL);
  wait_until([this] { return !running(); }, std::chrono::milliseconds(2000));
  return describe(" after SIGKILL");
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool http_get_ok(int port, const std::string& path, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      pollfd p{fd, POLLIN, 0};
      char buf[64] = {};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
        ok = n > 12 && std::string_view(buf, static_cast<std::size_t>(n)).substr(9, 3) == "200";
      }
    }
  }
  ::close(fd);
  return ok;
}

void child_process::kill_now(int signal) {
  if (!running()) return;
  ::kill(pid_, signal);
  while (running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace rtb::peers

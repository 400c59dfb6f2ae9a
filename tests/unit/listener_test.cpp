// The accept loop at the open-files limit: it must stop and say so, not spin
// on a listening socket that stays readable.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <catch2/catch.hpp>

#include "lws/listener.hpp"

using rtb::lws_adapter::accept_all;
using rtb::lws_adapter::accept_outcome;
using rtb::lws_adapter::open_listener;

namespace {

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);  // completes in the backlog
  return fd;
}

/// Lowers the soft open-files limit so that the next descriptor the process
/// opens fails with EMFILE; restores it when destroyed.
class descriptor_ceiling {
 public:
  descriptor_ceiling() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    const int next = ::dup(0);  // the lowest free number: what accept4 would get
    ::close(next);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(next);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  }
  ~descriptor_ceiling() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  descriptor_ceiling(const descriptor_ceiling&) = delete;
  descriptor_ceiling& operator=(const descriptor_ceiling&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("at the open-files limit the accept loop stops and reports it, with room again it accepts everything",
          "[adapter]") {
  int port = 0;
  auto listener = open_listener("127.0.0.1", 0, port);
  REQUIRE(listener);
  const int clients[] = {connect_to(port), connect_to(port)};

  std::vector<int> adopted;
  const auto adopt = [&](int fd) { adopted.push_back(fd); };
  int error_number = 0;
  accept_outcome outcome{};
  {
    descriptor_ceiling ceiling;
    outcome = accept_all(*listener, adopt, error_number);
  }
  CHECK(outcome == accept_outcome::out_of_descriptors);
  CHECK(error_number == EMFILE);
  CHECK(adopted.empty());  // both connections still wait in the backlog

  outcome = accept_all(*listener, adopt, error_number);
  CHECK(outcome == accept_outcome::drained);
  REQUIRE(adopted.size() == 2);
  for (int fd : adopted) {
    int nodelay = 0;
    socklen_t length = sizeof nodelay;
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length);
    CHECK(nodelay == 1);  // marks must not wait behind media (Nagle)
    ::close(fd);
  }
  for (int fd : clients) ::close(fd);
  ::close(*listener);
}

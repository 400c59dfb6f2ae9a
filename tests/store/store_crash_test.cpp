// Nothing is lost on a crash: a process writing a call's items is killed with
// SIGKILL mid-call; a store opened afterwards on the same database closes the
// call as bridge_restarted, and every item the process saw committed is there.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/service/store.hpp"
#include "store/store_test_support.hpp"

extern char** environ;

namespace svc = rtb::service;
using rtb::test::postgres_db;
using rtb::test::sqlite_db;

namespace {

// Runs the crash child; returns its pid and the read end of its stdout.
std::pair<pid_t, int> spawn_child(const std::string& url, const std::string& instance, const std::string& sid) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  std::vector<std::string> args = {RTB_STORE_CRASH_CHILD, url, instance, sid};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, RTB_STORE_CRASH_CHILD, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  REQUIRE(rc == 0);
  return {pid, out[0]};
}

// Reads "written N" lines until N reaches `until`; returns the last N (-1 on
// timeout or end of output).
long long read_until(int fd, long long until) {
  std::string buffer;
  long long last = -1;
  while (last < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 30'000) <= 0) return -1;
    char chunk[256];
    const auto n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return -1;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t eol;
    while ((eol = buffer.find('\n')) != std::string::npos) {
      const std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 1);
      if (line.rfind("written ", 0) == 0) last = std::stoll(line.substr(8));
    }
  }
  return last;
}

}  // namespace

TEMPLATE_TEST_CASE("a bridge killed with SIGKILL mid-call loses no committed item and its call is closed at restart",
                   "[store][crash]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  const auto url = db.url();
  const std::string target = url.type == svc::database_url::kind::sqlite ? "sqlite://" + url.target : url.target;

  auto [pid, fd] = spawn_child(target, "bridge-crash", "CA-crash");
  const long long confirmed = read_until(fd, 20);
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  close(fd);
  REQUIRE(confirmed >= 20);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  // On PostgreSQL an instance of another name leaves the call alone...
  if constexpr (std::is_same_v<TestType, postgres_db>) {
    svc::store_options o;
    o.instance = "bridge-other";
    auto other = svc::open_call_store(url, o);
    REQUIRE(other);
    CHECK((*other)->stats().recovered_calls == 0);
    CHECK_FALSE((**(*other)->get_call("CA-crash")).call.ended_at.has_value());
  }
  // ...the restarted one closes it.
  svc::store_options o;
  o.instance = "bridge-crash";
  auto store = svc::open_call_store(url, o);
  REQUIRE(store);
  CHECK((*store)->stats().recovered_calls == 1);
  auto call = (*store)->get_call("CA-crash");
  REQUIRE(call);
  REQUIRE(call->has_value());
  const svc::call_detail& d = **call;
  CHECK(d.call.end_reason == "bridge_restarted");
  CHECK(d.call.ended_at.has_value());
  CHECK(d.call.agent == "crash");
  // Every committed item is there, in order, with no gap; items recorded
  // after the last confirmation may or may not have made it.
  REQUIRE(static_cast<long long>(d.items.size()) > confirmed);
  for (std::size_t i = 0; i < d.items.size(); ++i) CHECK(d.items[i].seq == static_cast<std::int64_t>(i));
  CHECK(static_cast<long long>(d.events.size()) >= confirmed / 2 + 1);  // one per loop, before its flush
}

// loadgen: N concurrent calls against the real server (or the floor relay),
// measured from /proc. See docs/performance.md for the method.
//
// This process holds both fake peers (callers and the fake OpenAI, each on
// its own lws service thread) and is pinned to one CPU; the target runs as a
// child pinned to another. Targets run one after the other with the same
// parameters. Exit code: 0 when every target was measured (figures are
// reported, never asserted), 1 when one could not be, 2 on a usage error.
#include <libwebsockets.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "peers/test_ca.hpp"
#include "options.hpp"
#include "peers/frame_tag.hpp"
#include "report.hpp"
#include "target_run.hpp"

int main(int argc, char** argv) {
  using namespace rtb::loadgen;
  int code = 0;
  const auto parsed = parse_options(argc, argv, code);
  if (!parsed) return code;
  const options& o = *parsed;

  std::optional<rtb::peers::test_ca_files> tls;
  if (o.openai_tls) {
    try {
      tls = rtb::peers::make_test_ca(openai_tls_dir(o.out_dir));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loadgen: %s\n", e.what());
      return 1;
    }
    std::fprintf(stderr, "loadgen: OpenAI leg over wss://: CA and certificate for 127.0.0.1 in %s\n", tls->dir.c_str());
  }

  ::signal(SIGPIPE, SIG_IGN);
  lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);
  (void)rtb::peers::frame_tag::now_us();  // the tag clock's epoch
  // 200 calls are 400+ sockets here: allow as many descriptors as we may.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (o.load_cpu >= 0) {
    // Before any thread exists: the peers' service threads inherit it.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(o.load_cpu, &cpus);
    if (::sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
      std::fprintf(stderr, "loadgen: cannot pin to CPU %d\n", o.load_cpu);
      return 1;
    }
  }

  std::vector<target_result> results;
  for (const auto& t : o.targets) {
    std::fprintf(stderr, "loadgen: %s: %d calls, %s mode ...\n", t.c_str(), o.calls, to_string(o.run_mode));
    results.push_back(run_target(o, t, tls ? &*tls : nullptr));
    if (!results.back().ok) std::fprintf(stderr, "loadgen: %s: %s\n", t.c_str(), results.back().error.c_str());
  }

  std::fputs(human_summary(o, results).c_str(), stdout);
  std::fflush(stdout);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << json_report(o, results);
    if (!out) {
      std::fprintf(stderr, "loadgen: cannot write %s\n", o.json_path.c_str());
      return 1;
    }
  }
  for (const auto& r : results)
    if (!r.ok) return 1;
  return 0;
}

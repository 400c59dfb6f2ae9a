#include "target_run.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "peers/child_process.hpp"
#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"
#include "scenario.hpp"
#include "scraper.hpp"

namespace rtb::loadgen {
using peers::child_process;
using peers::child_spec;
using peers::free_loopback_port;
using peers::http_get_ok;
using peers::wait_until;
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
namespace ft = peers::frame_tag;

/// Progress on stderr, with the time since the target's start.
class progress {
 public:
  explicit progress(std::string target) : target_(std::move(target)) {}
  void operator()(const std::string& what) const {
    std::fprintf(stderr, "loadgen: %s: %6.1f s  %s\n", target_.c_str(),
                 std::chrono::duration<double>(clock::now() - start_).count(), what.c_str());
  }

 private:
  std::string target_;
  clock::time_point start_ = clock::now();
};

cpu_sample minus(const cpu_sample& b, const cpu_sample& a) {
  cpu_sample d;
  d.sched_ns = b.sched_ns - a.sched_ns;
  d.stat_ns = b.stat_ns - a.stat_ns;
  d.utime_ns = b.utime_ns - a.utime_ns;
  d.stime_ns = b.stime_ns - a.stime_ns;
  d.voluntary_switches = b.voluntary_switches - a.voluntary_switches;
  d.involuntary_switches = b.involuntary_switches - a.involuntary_switches;
  d.threads = b.threads;
  return d;
}

/// The plain counters of b − a (the derived loss figures are left at 0).
peers::probe_totals minus(const peers::probe_totals& b, const peers::probe_totals& a) {
  peers::probe_totals d;
  d.frames_sent = b.frames_sent - a.frames_sent;
  d.appends_received = b.appends_received - a.appends_received;
  d.appends_untagged = b.appends_untagged - a.appends_untagged;
  d.appends_misrouted = b.appends_misrouted - a.appends_misrouted;
  d.deltas_sent = b.deltas_sent - a.deltas_sent;
  d.deltas_untagged_sent = b.deltas_untagged_sent - a.deltas_untagged_sent;
  d.media_received = b.media_received - a.media_received;
  d.media_untagged = b.media_untagged - a.media_untagged;
  d.media_misrouted = b.media_misrouted - a.media_misrouted;
  d.marks_received = b.marks_received - a.marks_received;
  d.marks_echoed = b.marks_echoed - a.marks_echoed;
  d.clears_received = b.clears_received - a.clears_received;
  d.responses_started = b.responses_started - a.responses_started;
  return d;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string tail(const std::string& text, std::size_t n = 600) {
  return text.size() <= n ? text : "…" + text.substr(text.size() - n);
}

void scan_log(target_result& r) {
  std::ifstream in(r.log_path);
  std::string line;
  while (std::getline(in, line)) {
    const bool err = line.find("error") != std::string::npos || line.find("ERROR") != std::string::npos ||
                     line.find("[E]") != std::string::npos;
    const bool warn = !err && (line.find("warning") != std::string::npos || line.find("WARN") != std::string::npos ||
                               line.find("[W]") != std::string::npos);
    if (err) ++r.log_errors;
    if (warn) ++r.log_warnings;
    if ((err || warn) && r.log_samples.size() < 8) r.log_samples.push_back(line.substr(0, 300));
  }
}

struct target_process {
  std::unique_ptr<child_process> child;
  int port = 0;
};

target_process start_target(const options& o, const std::string& target, const std::string& openai_url,
                            const peers::test_ca_files* tls, const std::string& log_path) {
  target_process t;
  child_spec spec;
  spec.cpu = o.server_cpu;
  spec.log_path = log_path;
  t.port = free_loopback_port();
  if (t.port <= 0) throw std::runtime_error("no free loopback port");
  if (is_bridge_target(target)) {
    spec.path = o.server;
    spec.env = {
        {"PORT", std::to_string(t.port)},
        {"BIND_ADDRESS", "127.0.0.1"},
        {"THREADS", std::to_string(o.server_threads)},
        {"OPENAI_API_KEY", "bench"},
        {"OPENAI_REALTIME_URL", openai_url},
        {"PUBLIC_URL", "http://127.0.0.1:" + std::to_string(t.port)},
        {"LOG_LEVEL", "warning"},
        {"SHUTDOWN_GRACE_SECONDS", "1"},
        // The generator's callers do not sign their upgrades: a signature is
        // one HMAC per call, nothing per relayed message, which is what this measures.
        {"ALLOW_UNSIGNED", "true"},
    };
    if (tls) spec.env.emplace_back("OPENAI_CA_FILE", tls->ca_file);  // trust the throwaway CA (wss://)
    if (target == "bridge-no-metrics") spec.env.emplace_back("METRICS_ENABLED", "false");
    for (const auto& kv : o.server_env) {  // replaces a default of the same name (getenv finds the first)
      std::erase_if(spec.env, [&](const auto& e) { return e.first == kv.first; });
      spec.env.push_back(kv);
    }
    spec.unset_env = {"TWILIO_AUTH_TOKEN", "TRACE_DIR",        "GREETING",           "SAY_FIRST",
                      "STREAM_PATH",       "REALTIME_ENABLED", "TRANSCRIPTION_MODEL"};
  } else {
    if (tls) throw std::runtime_error(target + " speaks plain ws:// only: no TLS OpenAI leg");
    spec.path = o.floor;
    const char* loop = floor_event_loop(target);
    if (!loop) throw std::runtime_error("unknown target " + target);
    spec.args = {"--port", std::to_string(t.port), "--openai-url", openai_url, "--event-loop", loop};
  }
  t.child = std::make_unique<child_process>(spec);
  const bool ready = wait_until(
      [&] {
        if (!t.child->running()) return true;
        if (is_bridge_target(target)) return http_get_ok(t.port, "/", 500ms);
        return read_file(log_path).find("floor-relay listening on port") != std::string::npos;
      },
      15s);
  if (!t.child->running())
    throw std::runtime_error(target + " exited at start-up: " + t.child->stop() +
                             "; log: " + tail(read_file(log_path)));
  if (!ready) throw std::runtime_error(target + " did not become ready within 15 s; log: " + tail(read_file(log_path)));
  return t;
}

}  // namespace

target_result run_target(const options& o, const std::string& target, const peers::test_ca_files* tls) {
  target_result r;
  r.name = target;
  ::mkdir(o.out_dir.c_str(), 0755);
  r.log_path = o.out_dir + "/" + target + ".log";
  const bool flood = o.run_mode == mode::flood;
  const progress say(target);
  try {
    auto probe = std::make_shared<peers::bench_probe>(static_cast<std::size_t>(o.calls));
    if (flood) probe->set_window(static_cast<std::uint32_t>(o.window));
    auto model = model_options(o);
    model.probe = probe;
    model.epoll = o.generator_epoll;
    model.ticker_timers = true;
    if (tls) {
      model.cert_file = tls->cert_file;
      model.key_file = tls->key_file;
    }
    auto openai = std::make_unique<peers::fake_openai>(model);
    r.openai_url = openai->url("bench");  // wss://127.0.0.1:<port>/... in TLS mode: the certificate has IP:127.0.0.1
    r.openai_leg = openai->tls() ? "wss" : "ws";

    target_process proc = start_target(o, target, r.openai_url, tls, r.log_path);
    const pid_t pid = proc.child->pid();
    say("ready (pid " + std::to_string(pid) + ", port " + std::to_string(proc.port) + ")");
    std::this_thread::sleep_for(300ms);
    if (auto m = read_memory(pid)) r.memory_idle = *m;

    peers::caller_pool_options pool_options;
    pool_options.probe = probe;
    pool_options.epoll = o.generator_epoll;
    pool_options.ticker_timers = true;
    auto pool = std::make_unique<peers::caller_pool>(pool_options);
    std::vector<int> ids;
    const auto t0 = clock::now();
    const auto ramp = std::chrono::duration<double>(o.ramp_s);
    for (int i = 0; i < o.calls; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<clock::duration>(ramp * i / o.calls));
      peers::caller_options c;
      c.url = "ws://127.0.0.1:" + std::to_string(proc.port) + "/media-stream";
      if (!flood) c.script = caller_script(o, i);
      c.keep_heard_audio = false;
      c.probe_call = i;
      c.instant_playout = flood;
      c.connect_timeout = 10s;
      ids.push_back(pool->start_call(std::move(c)));
    }
    r.calls_started = o.calls;
    say(std::to_string(o.calls) + " calls started");
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<clock::duration>(ramp + std::chrono::duration<double>(o.warmup_s)));

    // ---- the window
    const auto server0 = read_cpu(pid);
    const auto own0 = read_own_cpu();
    const auto totals0 = probe->totals();
    (void)probe->take_latencies(ft::direction::caller);
    (void)probe->take_latencies(ft::direction::ai);
    probe->set_recording(true);
    say("window open");
    const auto w0 = clock::now();
    const auto w1 = w0 + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.duration_s));
    std::optional<scraper> scrapes;
    if (o.scrape_ms > 0 && target == "bridge") scrapes.emplace(proc.port, std::chrono::milliseconds(o.scrape_ms));
    while (clock::now() < w1) {
      std::this_thread::sleep_until(std::min(w1, clock::now() + 1s));
      if (auto m = read_memory(pid)) r.rss_max_kib = std::max(r.rss_max_kib, m->vm_rss_kib);
    }
    if (scrapes) r.scrapes = scrapes->stop();
    probe->set_recording(false);
    const auto server1 = read_cpu(pid);
    const auto own1 = read_own_cpu();
    const auto w_end = clock::now();
    const auto totals1 = probe->totals();
    if (auto m = read_memory(pid)) r.memory_steady = *m;
    say("window closed");
    if (!server0 || !server1) throw std::runtime_error(target + " vanished during the window");
    r.window_s = std::chrono::duration<double>(w_end - w0).count();
    r.server_cpu = minus(*server1, *server0);
    if (own0 && own1) r.generator_cpu = minus(*own1, *own0);
    r.window = minus(totals1, totals0);
    auto in = probe->take_latencies(ft::direction::caller);
    auto out = probe->take_latencies(ft::direction::ai);
    r.inbound = summarize(in);
    r.outbound = summarize(out);
    for (int id : ids) {
      const auto res = pool->result(id);
      if (res.connected && !res.finished) ++r.calls_active_at_end;
    }

    // ---- syscalls (a separate phase: tracing slows the target)
    if (o.syscalls != syscall_tool::none) {
      const auto a = probe->totals();
      const auto p0 = clock::now();
      r.syscalls = profile_syscalls(pid, o.syscalls, o.syscalls_s, o.load_cpu,
                                    o.out_dir + "/" + target + "-syscalls." + to_string(o.syscalls) + ".txt");
      const double phase_s = std::chrono::duration<double>(clock::now() - p0).count();
      const auto b = probe->totals();
      // The counts cover syscalls_s of the phase (perf attaches first); the
      // message rate is steady, so take the phase's rate over that time.
      const auto messages = (b.appends_received - a.appends_received) + (b.media_received - a.media_received);
      r.syscall_phase_messages = static_cast<std::uint64_t>(static_cast<double>(messages) *
                                                            std::min(1.0, o.syscalls_s / std::max(phase_s, 1e-9)));
      say("syscalls counted");
    }

    // ---- integrity over the whole run; the last responses settle first
    std::this_thread::sleep_for(600ms);
    r.totals = probe->totals(500'000);
    for (int id : ids) {
      const auto res = pool->result(id);
      std::string why;
      if (!res.connected) {
        ++r.calls_not_connected;
        why = "not connected: " + (res.error.empty() ? std::to_string(res.refused_status) : res.error);
      } else if (res.finished) {
        ++r.calls_closed_early;
        why = "ended early: close " + std::to_string(res.close_code) + " " + res.close_reason + " " + res.error;
      }
      if (!res.violations.empty()) {
        ++r.calls_with_violations;
        if (why.empty()) why = "violation: " + res.violations.front();
      }
      if (!why.empty()) {
        ++r.calls_failed;
        if (r.failure_samples.size() < 5) r.failure_samples.push_back("call " + std::to_string(id) + ": " + why);
      }
      if (res.connected) ++r.calls_connected;
    }

    pool.reset();  // hangs up every call
    say("calls ended");
    r.exit = proc.child->stop();
    openai.reset();
    say("stopped (" + r.exit + ")");
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  scan_log(r);
  return r;
}

}  // namespace rtb::loadgen

#include "report.hpp"

#include <fmt/format.h>
#include <algorithm>

#include "peers/test_ca.hpp"
#include "peers/json_text.hpp"

namespace rtb::loadgen {
namespace {

using peers::json_object;

const target_result* find(const std::vector<target_result>& rs, const std::string& name) {
  for (const auto& r : rs)
    if (r.name == name && r.ok) return &r;
  return nullptr;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

// Targets from the issue, reported (never asserted).
constexpr double target_cpu_us_per_call_second = 500;
constexpr double target_p99_us = 1000;
constexpr double target_rss_kib_per_call = 32;

std::string latency_cell(const latency_summary& l) {
  if (l.count == 0) return "-";
  return fmt::format("{}/{}/{}", l.p50_us, l.p99_us, l.max_us);
}

std::string latency_json(const latency_summary& l) {
  return json_object{}
      .num("samples", static_cast<std::int64_t>(l.count))
      .dbl("mean_us", l.mean_us)
      .num("p50_us", l.p50_us)
      .num("p90_us", l.p90_us)
      .num("p99_us", l.p99_us)
      .num("p999_us", l.p999_us)
      .num("max_us", l.max_us)
      .done();
}

std::string totals_json(const peers::probe_totals& t) {
  return json_object{}
      .num("frames_sent", static_cast<std::int64_t>(t.frames_sent))
      .num("appends_received", static_cast<std::int64_t>(t.appends_received))
      .num("appends_untagged", static_cast<std::int64_t>(t.appends_untagged))
      .num("appends_misrouted", static_cast<std::int64_t>(t.appends_misrouted))
      .num("inbound_lost", static_cast<std::int64_t>(t.inbound_lost))
      .num("inbound_duplicated", static_cast<std::int64_t>(t.inbound_duplicated))
      .num("inbound_reordered", static_cast<std::int64_t>(t.inbound_reordered))
      .num("inbound_dropped_before_openai_ready", static_cast<std::int64_t>(t.inbound_skipped_at_start))
      .num("inbound_in_flight", static_cast<std::int64_t>(t.inbound_in_flight))
      .num("inbound_in_flight_max_per_call", static_cast<std::int64_t>(t.inbound_in_flight_max))
      .num("calls_with_two_openai_sessions", static_cast<std::int64_t>(t.calls_with_two_sessions))
      .num("deltas_sent", static_cast<std::int64_t>(t.deltas_sent))
      .num("deltas_sent_untagged", static_cast<std::int64_t>(t.deltas_untagged_sent))
      .num("media_received", static_cast<std::int64_t>(t.media_received))
      .num("media_untagged", static_cast<std::int64_t>(t.media_untagged))
      .num("media_misrouted", static_cast<std::int64_t>(t.media_misrouted))
      .num("outbound_lost", static_cast<std::int64_t>(t.outbound_lost))
      .num("outbound_duplicated", static_cast<std::int64_t>(t.outbound_duplicated))
      .num("outbound_reordered", static_cast<std::int64_t>(t.outbound_reordered))
      .num("outbound_cut_by_cancel", static_cast<std::int64_t>(t.outbound_cut_by_cancel))
      .num("responses_started", static_cast<std::int64_t>(t.responses_started))
      .num("responses_completed", static_cast<std::int64_t>(t.responses_completed))
      .num("responses_cancelled", static_cast<std::int64_t>(t.responses_cancelled))
      .num("responses_settled", static_cast<std::int64_t>(t.responses_settled))
      .num("marks_received", static_cast<std::int64_t>(t.marks_received))
      .num("marks_echoed", static_cast<std::int64_t>(t.marks_echoed))
      .num("clears_received", static_cast<std::int64_t>(t.clears_received))
      .done();
}

std::string memory_json(const memory_sample& m) {
  return json_object{}
      .num("vm_rss_kib", static_cast<std::int64_t>(m.vm_rss_kib))
      .num("rss_anon_kib", static_cast<std::int64_t>(m.rss_anon_kib))
      .num("vm_hwm_kib", static_cast<std::int64_t>(m.vm_hwm_kib))
      .done();
}

std::string cpu_json(const cpu_sample& c, double window_s) {
  return json_object{}
      .dbl("cpu_us", static_cast<double>(c.sched_ns) / 1000.0)
      .dbl("utilisation", window_s > 0 ? static_cast<double>(c.sched_ns) / 1e9 / window_s : 0)
      .dbl("stat_cpu_us", static_cast<double>(c.stat_ns) / 1000.0)
      .dbl("user_us", static_cast<double>(c.utime_ns) / 1000.0)
      .dbl("system_us", static_cast<double>(c.stime_ns) / 1000.0)
      .num("voluntary_context_switches", static_cast<std::int64_t>(c.voluntary_switches))
      .num("involuntary_context_switches", static_cast<std::int64_t>(c.involuntary_switches))
      .num("threads", c.threads)
      .done();
}

std::string syscalls_json(const target_result& r) {
  const auto& s = *r.syscalls;
  json_object o;
  o.boolean("ok", s.ok).str("error", s.error).dbl("seconds", s.seconds);
  o.num("relayed_messages", static_cast<std::int64_t>(r.syscall_phase_messages));
  o.num("total", static_cast<std::int64_t>(s.total));
  const double m = static_cast<double>(r.syscall_phase_messages);
  o.dbl("per_relayed_message", m > 0 ? static_cast<double>(s.total) / m : 0);
  json_object by;
  std::vector<std::pair<std::string, std::uint64_t>> sorted(s.calls.begin(), s.calls.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [name, n] : sorted)
    by.raw(name, json_object{}
                     .num("count", static_cast<std::int64_t>(n))
                     .dbl("per_relayed_message", m > 0 ? static_cast<double>(n) / m : 0)
                     .done());
  o.raw("by_syscall", by.done());
  return o.done();
}

std::string target_json(const options& o, const target_result& r) {
  json_object t;
  t.str("name", r.name).boolean("ok", r.ok).str("error", r.error).str("exit", r.exit).str("log", r.log_path);
  t.str("openai_leg", r.openai_leg).str("openai_url", r.openai_url);
  t.raw("calls", json_object{}
                     .num("started", r.calls_started)
                     .num("connected", r.calls_connected)
                     .num("active_at_window_end", r.calls_active_at_end)
                     .num("failed", r.calls_failed)
                     .num("not_connected", r.calls_not_connected)
                     .num("ended_early", r.calls_closed_early)
                     .num("with_protocol_violations", r.calls_with_violations)
                     .raw("failure_samples",
                          [&] {
                            std::string a = "[";
                            for (std::size_t i = 0; i < r.failure_samples.size(); ++i)
                              a += (i ? "," : "") + peers::json_string(r.failure_samples[i]);
                            return a + "]";
                          }())
                     .done());
  t.dbl("window_s", r.window_s);
  t.raw("cpu", json_object{}
                   .dbl("per_call_second_us", r.cpu_us_per_call_second())
                   .dbl("per_relayed_message_us", r.cpu_us_per_message())
                   .raw("target", cpu_json(r.server_cpu, r.window_s))
                   .raw("generator", cpu_json(r.generator_cpu, r.window_s))
                   .done());
  t.raw("messages", json_object{}
                        .num("relayed", static_cast<std::int64_t>(r.relayed()))
                        .str("relayed_is", "appends received by the fake OpenAI + media received by the callers")
                        .dbl("relayed_per_second", r.messages_per_second())
                        .dbl("relayed_per_target_cpu_second", r.messages_per_cpu_second())
                        .raw("window_counters", totals_json(r.window))
                        .done());
  t.raw("latency", json_object{}
                       .raw("inbound", latency_json(r.inbound))
                       .raw("outbound", latency_json(r.outbound))
                       .str("inbound_is", "caller writes a media frame -> the fake OpenAI has read its append")
                       .str("outbound_is", "the fake OpenAI writes a delta -> the caller has read its media")
                       .done());
  t.raw("memory", json_object{}
                      .raw("idle", memory_json(r.memory_idle))
                      .raw("steady", memory_json(r.memory_steady))
                      .num("window_max_vm_rss_kib", static_cast<std::int64_t>(r.rss_max_kib))
                      .dbl("rss_per_call_kib", r.rss_per_call_kib())
                      .done());
  t.raw("integrity", totals_json(r.totals));
  t.num("integrity_problems", static_cast<std::int64_t>(r.integrity_problems()));
  if (r.syscalls) t.raw("syscalls", syscalls_json(r));
  if (r.scrapes)
    t.raw("metrics_scrapes", json_object{}
                                 .num("every_ms", o.scrape_ms)
                                 .num("scrapes", static_cast<std::int64_t>(r.scrapes->scrapes))
                                 .num("failures", static_cast<std::int64_t>(r.scrapes->failures))
                                 .num("body_bytes", static_cast<std::int64_t>(r.scrapes->bytes))
                                 .raw("latency", latency_json(r.scrapes->latency))
                                 .str("latency_is", "GET /metrics written -> the whole answer read (a new connection each)")
                                 .done());
  t.raw("log", json_object{}
                   .num("warnings", r.log_warnings)
                   .num("errors", r.log_errors)
                   .raw("samples",
                        [&] {
                          std::string a = "[";
                          for (std::size_t i = 0; i < r.log_samples.size(); ++i)
                            a += (i ? "," : "") + peers::json_string(r.log_samples[i]);
                          return a + "]";
                        }())
                   .done());
  (void)o;
  return t.done();
}

}  // namespace

std::string human_summary(const options& o, const std::vector<target_result>& rs) {
  std::string s;
  s += fmt::format(
      "loadgen: {} mode, {} calls, window {:g} s after a {:g} s ramp and {:g} s warm-up; target on CPU {}, "
      "generator on CPU {}\n",
      to_string(o.run_mode), o.calls, o.duration_s, o.ramp_s, o.warmup_s, o.server_cpu, o.load_cpu);
  if (o.openai_tls)
    s += fmt::format(
        "OpenAI leg: wss (TLS): the fake OpenAI serves an {} certificate for 127.0.0.1 from a throwaway CA "
        "({}), which the bridge verifies (OPENAI_CA_FILE)\n",
        peers::test_ca_key_type, openai_tls_dir(o.out_dir));
  else
    s += "OpenAI leg: ws (plain, no TLS)\n";
  if (o.run_mode == mode::flood) s += fmt::format("flood window: {} messages in flight per call each way\n", o.window);
  s += fmt::format("\n{:<34}", "");
  for (const auto& r : rs) s += fmt::format("{:>18}", r.name);
  s += "\n";
  auto row = [&](const char* label, auto cell) {
    s += fmt::format("{:<34}", label);
    for (const auto& r : rs) s += fmt::format("{:>18}", r.ok ? cell(r) : std::string("failed"));
    s += "\n";
  };
  row("CPU µs per call-second",
      [](const target_result& r) { return fmt::format("{:.1f}", r.cpu_us_per_call_second()); });
  row("CPU µs per relayed message",
      [](const target_result& r) { return fmt::format("{:.2f}", r.cpu_us_per_message()); });
  row("target CPU use", [](const target_result& r) {
    return fmt::format("{:.1f}%", 100.0 * static_cast<double>(r.server_cpu.sched_ns) / 1e9 / r.window_s);
  });
  row("  user/system (ticks)", [](const target_result& r) {
    return fmt::format("{:.0f}/{:.0f}%", 100.0 * static_cast<double>(r.server_cpu.utime_ns) / 1e9 / r.window_s,
                       100.0 * static_cast<double>(r.server_cpu.stime_ns) / 1e9 / r.window_s);
  });
  row("relayed messages/s", [](const target_result& r) { return fmt::format("{:.0f}", r.messages_per_second()); });
  row("relayed per target CPU-second",
      [](const target_result& r) { return fmt::format("{:.0f}", r.messages_per_cpu_second()); });
  row("  appends / media (window)",
      [](const target_result& r) { return fmt::format("{}/{}", r.window.appends_received, r.window.media_received); });
  row("  marks to caller / echoed",
      [](const target_result& r) { return fmt::format("{}/{}", r.window.marks_received, r.window.marks_echoed); });
  row("latency in p50/p99/max µs", [](const target_result& r) { return latency_cell(r.inbound); });
  row("latency out p50/p99/max µs", [](const target_result& r) { return latency_cell(r.outbound); });
  row("RSS idle → steady MiB", [](const target_result& r) {
    return fmt::format("{:.1f}→{:.1f}", static_cast<double>(r.memory_idle.vm_rss_kib) / 1024.0,
                       static_cast<double>(r.memory_steady.vm_rss_kib) / 1024.0);
  });
  row("RSS per call KiB", [](const target_result& r) { return fmt::format("{:.1f}", r.rss_per_call_kib()); });
  row("in: lost/dup/reordered", [](const target_result& r) {
    return fmt::format("{}/{}/{}", r.totals.inbound_lost, r.totals.inbound_duplicated, r.totals.inbound_reordered);
  });
  row("out: lost/dup/reordered", [](const target_result& r) {
    return fmt::format("{}/{}/{}", r.totals.outbound_lost, r.totals.outbound_duplicated, r.totals.outbound_reordered);
  });
  row("misrouted in/out", [](const target_result& r) {
    return fmt::format("{}/{}", r.totals.appends_misrouted, r.totals.media_misrouted);
  });
  row("held frames dropped at start",
      [](const target_result& r) { return fmt::format("{}", r.totals.inbound_skipped_at_start); });
  row("responses done/cancelled", [](const target_result& r) {
    return fmt::format("{}/{}", r.totals.responses_completed, r.totals.responses_cancelled);
  });
  row("calls failed", [](const target_result& r) { return fmt::format("{}/{}", r.calls_failed, r.calls_started); });
  row("target log warnings/errors",
      [](const target_result& r) { return fmt::format("{}/{}", r.log_warnings, r.log_errors); });
  row("generator CPU use", [](const target_result& r) {
    return fmt::format("{:.1f}%", 100.0 * static_cast<double>(r.generator_cpu.sched_ns) / 1e9 / r.window_s);
  });

  // Syscalls per relayed message.
  bool any_sys = false;
  for (const auto& r : rs) any_sys = any_sys || (r.syscalls && r.syscalls->ok);
  if (any_sys) {
    s += fmt::format("\nsyscalls per relayed message ({}, {:.0f} s after the window):\n", to_string(o.syscalls),
                     o.syscalls_s);
    for (const auto& r : rs) {
      if (!r.syscalls) continue;
      if (!r.syscalls->ok) {
        s += fmt::format("  {}: not measured ({})\n", r.name, r.syscalls->error);
        continue;
      }
      const double m = static_cast<double>(r.syscall_phase_messages);
      s += fmt::format("  {}: {:.2f} in total over {} messages;", r.name,
                       m > 0 ? static_cast<double>(r.syscalls->total) / m : 0.0, r.syscall_phase_messages);
      std::vector<std::pair<std::string, std::uint64_t>> sorted(r.syscalls->calls.begin(), r.syscalls->calls.end());
      std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      for (std::size_t i = 0; i < sorted.size() && i < 8; ++i)
        s += fmt::format(" {} {:.3f}", sorted[i].first, m > 0 ? static_cast<double>(sorted[i].second) / m : 0.0);
      s += "\n";
    }
  }

  // What the metrics cost.
  if (const auto* b = find(rs, "bridge")) {
    if (b->scrapes)
      s += fmt::format("\nGET /metrics every {} ms during the window: {} scrapes ({} failed), {} bytes each, latency "
                       "p50/p99/max {}/{}/{} µs\n",
                       o.scrape_ms, b->scrapes->scrapes, b->scrapes->failures, b->scrapes->bytes,
                       b->scrapes->latency.p50_us, b->scrapes->latency.p99_us, b->scrapes->latency.max_us);
    if (const auto* off = find(rs, "bridge-no-metrics"))
      s += fmt::format("bridge / bridge-no-metrics (METRICS_ENABLED=false): CPU per call-second ×{:.3f} ({:.0f} vs {:.0f} µs), "
                       "relay p99 in/out {}/{} vs {}/{} µs\n",
                       ratio(b->cpu_us_per_call_second(), off->cpu_us_per_call_second()), b->cpu_us_per_call_second(),
                       off->cpu_us_per_call_second(), b->inbound.p99_us, b->outbound.p99_us, off->inbound.p99_us,
                       off->outbound.p99_us);
  }

  // Ratios to the floors.
  if (const auto* b = find(rs, "bridge")) {
    for (const char* f : floor_targets) {
      if (const auto* fl = find(rs, f))
        s += fmt::format("\nbridge / {}: CPU per call-second ×{:.2f}, CPU per relayed message ×{:.2f}", f,
                         ratio(b->cpu_us_per_call_second(), fl->cpu_us_per_call_second()),
                         ratio(b->cpu_us_per_message(), fl->cpu_us_per_message()));
    }
    s += "\n";
    if (o.run_mode == mode::realtime) {
      s += "\nissue targets (reported, not asserted) for the bridge:\n";
      s += fmt::format("  CPU per call-second {:.1f} µs (target ≤ {:.0f} at 200 calls, one core): {}\n",
                       b->cpu_us_per_call_second(), target_cpu_us_per_call_second,
                       b->cpu_us_per_call_second() <= target_cpu_us_per_call_second ? "met" : "NOT met");
      s += fmt::format("  p99 latency in/out {}/{} µs (target ≤ {:.0f} each way at 100 calls): {}\n", b->inbound.p99_us,
                       b->outbound.p99_us, target_p99_us,
                       b->inbound.p99_us <= target_p99_us && b->outbound.p99_us <= target_p99_us ? "met" : "NOT met");
      s += fmt::format("  RSS per call {:.1f} KiB (target ≤ {:.0f}): {}\n", b->rss_per_call_kib(),
                       target_rss_kib_per_call, b->rss_per_call_kib() <= target_rss_kib_per_call ? "met" : "NOT met");
      s += fmt::format("  frames lost/duplicated/reordered: {} (target 0)\n", b->integrity_problems());
    }
  }

  // Loud problems.
  std::string loud;
  for (const auto& r : rs) {
    if (!r.ok) {
      loud += fmt::format("  {}: the run could not be carried out: {}\n", r.name, r.error);
      continue;
    }
    if (r.integrity_problems() > 0)
      loud += fmt::format(
          "  {}: FRAMES LOST/DUPLICATED/REORDERED/MISROUTED: in {}/{}/{}/{}, out {}/{}/{}/{}, calls with two sessions "
          "{}\n",
          r.name, r.totals.inbound_lost, r.totals.inbound_duplicated, r.totals.inbound_reordered,
          r.totals.appends_misrouted, r.totals.outbound_lost, r.totals.outbound_duplicated, r.totals.outbound_reordered,
          r.totals.media_misrouted, r.totals.calls_with_two_sessions);
    if (r.calls_failed > 0) {
      loud += fmt::format("  {}: {} CALLS FAILED ({} not connected, {} ended early, {} with protocol violations)\n",
                          r.name, r.calls_failed, r.calls_not_connected, r.calls_closed_early, r.calls_with_violations);
      for (const auto& f : r.failure_samples) loud += "      " + f + "\n";
    }
    if (r.calls_active_at_end < r.calls_started && r.calls_failed == 0)
      loud += fmt::format("  {}: only {} of {} calls were open at the end of the window\n", r.name,
                          r.calls_active_at_end, r.calls_started);
    if (r.window.appends_untagged + r.window.media_untagged > 0)
      loud += fmt::format("  {}: untagged audio in the window: {} appends, {} media\n", r.name,
                          r.window.appends_untagged, r.window.media_untagged);
    if (r.log_errors > 0) {
      loud += fmt::format("  {}: {} error lines in {}\n", r.name, r.log_errors, r.log_path);
      for (const auto& l : r.log_samples) loud += "      " + l + "\n";
    }
  }
  if (!loud.empty()) {
    s += "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
    s += "!!! PROBLEMS\n" + loud;
    s += "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
  }
  return s;
}

std::string json_report(const options& o, const std::vector<target_result>& rs) {
  json_object opts;
  opts.str("mode", to_string(o.run_mode))
      .num("calls", o.calls)
      .dbl("duration_s", o.duration_s)
      .dbl("warmup_s", o.warmup_s)
      .dbl("ramp_s", o.ramp_s)
      .num("window", o.window)
      .num("server_cpu", o.server_cpu)
      .num("load_cpu", o.load_cpu)
      .num("server_threads", o.server_threads)
      .str("generator_loop", o.generator_epoll ? "ev" : "poll")
      .str("syscalls", to_string(o.syscalls))
      .dbl("ai_speed", o.ai_speed)
      .num("ai_response_ms", o.ai_response_ms)
      .num("seed", o.seed)
      .str("preset", o.preset)
      .boolean("openai_tls", o.openai_tls);
  json_object env;
  for (const auto& [k, v] : o.server_env) env.str(k, v);
  opts.raw("server_env", env.done());

  std::string targets = "[";
  for (std::size_t i = 0; i < rs.size(); ++i) targets += (i ? "," : "") + target_json(o, rs[i]);
  targets += "]";

  json_object ratios;
  if (const auto* b = find(rs, "bridge")) {
    for (const char* f : floor_targets) {
      if (const auto* fl = find(rs, f))
        ratios.raw(std::string("bridge/") + f,
                   json_object{}
                       .dbl("cpu_per_call_second", ratio(b->cpu_us_per_call_second(), fl->cpu_us_per_call_second()))
                       .dbl("cpu_per_relayed_message", ratio(b->cpu_us_per_message(), fl->cpu_us_per_message()))
                       .done());
    }
  }
  json_object issue;
  if (const auto* b = find(rs, "bridge")) {
    issue.raw("cpu_us_per_call_second",
              json_object{}
                  .dbl("value", b->cpu_us_per_call_second())
                  .dbl("target", target_cpu_us_per_call_second)
                  .boolean("met", b->cpu_us_per_call_second() <= target_cpu_us_per_call_second)
                  .done());
    issue.raw("p99_latency_us",
              json_object{}
                  .num("inbound", b->inbound.p99_us)
                  .num("outbound", b->outbound.p99_us)
                  .dbl("target", target_p99_us)
                  .boolean("met", b->inbound.p99_us <= target_p99_us && b->outbound.p99_us <= target_p99_us)
                  .done());
    issue.raw("rss_kib_per_call", json_object{}
                                      .dbl("value", b->rss_per_call_kib())
                                      .dbl("target", target_rss_kib_per_call)
                                      .boolean("met", b->rss_per_call_kib() <= target_rss_kib_per_call)
                                      .done());
    issue.raw("frames_lost_duplicated_reordered", json_object{}
                                                      .num("value", static_cast<std::int64_t>(b->integrity_problems()))
                                                      .num("target", 0)
                                                      .boolean("met", b->integrity_problems() == 0)
                                                      .done());
  }
  return json_object{}
             .str("tool", "loadgen")
             .num("version", 1)
             .str("openai_leg", o.openai_tls ? "wss" : "ws")
             .raw("openai_tls", o.openai_tls ? json_object{}
                                                   .str("ca_file", openai_tls_dir(o.out_dir) + "/ca.pem")
                                                   .str("key_type", peers::test_ca_key_type)
                                                   .str("verified_name", "127.0.0.1 (IP subjectAltName)")
                                                   .done()
                                             : std::string("null"))
             .raw("options", opts.done())
             .raw("targets", targets)
             .raw("ratios", ratios.done())
             .raw("issue_targets", issue.done())
             .done() +
         "\n";
}

}  // namespace rtb::loadgen

// store_bench: what the call store costs per call, on each backend.
//
// Writes N synthetic calls (call_started, call_answered, M conversation items,
// a tool call per 10 items, an event per 5 items, call_ended with real
// counters) through the store_writer from P producer threads, as fast as they
// can, then waits until everything is committed. Reports per call:
//   - CPU µs of this process (producers building and recording the records,
//     and the writer thread), and for PostgreSQL also the server's (the
//     backend processes of the store's connections, from /proc);
//   - bytes on disk (SQLite: the file after a checkpoint; PostgreSQL: the
//     tables with their indexes), the empty schema subtracted;
//   - how long record() took (p50, p99, max), the queue's high-water mark,
//     transactions, and records dropped or failed (expected 0).
//
// usage: store_bench [--backend sqlite|postgresql|both] [--calls N] [--items M] [--producers P]
//                    [--postgres-url URL] [--smoke] [--json FILE]
// PostgreSQL: --postgres-url, else RTB_TEST_POSTGRES_URL, else the file
// RTB_TEST_POSTGRES_URL_FILE names (ctest's fixture). Without one it is
// skipped, unless RTB_REQUIRE_POSTGRES=1.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/service/store.hpp"
#include "service/sql_connection.hpp"

namespace svc = rtb::service;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct options {
  std::string backend = "both";
  int calls = 1000;
  int items = 20;
  int producers = 4;
  std::string postgres_url;
  std::string json = "bench_store.json";
};

struct report {
  std::string backend;
  int calls = 0;
  int items = 0;
  std::uint64_t records = 0;
  double seconds = 0;
  double cpu_us_per_call = 0;
  std::optional<double> server_cpu_us_per_call;
  double bytes_per_call = 0;
  double record_ns_p50 = 0, record_ns_p99 = 0, record_ns_max = 0;
  svc::store_stats stats;
};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU seconds a process has used (utime + stime from /proc), or nothing.
std::optional<double> pid_cpu_seconds(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields;
  std::string field;
  for (char c : stat.substr(close + 2)) {
    if (c == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  // After the command: state is field 3, utime 14 and stime 15 (1-based).
  if (fields.size() < 13) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

std::string text_of(int n, int salt) {
  static const std::string words =
      "thanks for calling acme outfitters your order number four two shipped yesterday and should arrive by "
      "friday is there anything else I can help you with today the tracking link is in your email ";
  const std::size_t len = 60 + static_cast<std::size_t>((n * 37 + salt * 11) % 100);
  std::string out;
  while (out.size() < len) out += words.substr(static_cast<std::size_t>((n + salt) % 40), len - out.size());
  return out;
}

rtb::call_counters counters_for(int items) {
  rtb::call_counters c;
  c.twilio.media_frames = static_cast<std::uint64_t>(items) * 150;
  c.twilio.media_bytes = c.twilio.media_frames * 160;
  c.twilio.marks = static_cast<std::uint64_t>(items) * 40;
  c.openai.responses = static_cast<std::uint64_t>(items) / 2;
  c.openai.audio_deltas = static_cast<std::uint64_t>(items) * 30;
  c.openai.audio_bytes = c.openai.audio_deltas * 4000;
  c.openai.input_text_tokens = 800;
  c.openai.input_audio_tokens = 30 * items;
  c.openai.input_cached_tokens = 400;
  c.openai.output_text_tokens = 20 * items;
  c.openai.output_audio_tokens = 60 * items;
  c.playout.media_sent = c.openai.audio_deltas;
  c.playout.marks_sent = c.playout.media_sent;
  c.playout.marks_echoed = c.playout.marks_sent;
  c.playout.barge_ins = 2;
  c.caller_frames_forwarded = c.twilio.media_frames;
  c.caller_audio_appends = c.twilio.media_frames;
  return c;
}

// One call's records, recorded in the order a call would produce them.
void record_call(svc::call_store& store, const std::string& sid, int items, std::vector<std::uint64_t>& latencies) {
  const auto timed = [&](svc::record r) {
    const auto before = std::chrono::steady_clock::now();
    store.record(std::move(r));
    latencies.push_back(static_cast<std::uint64_t>((std::chrono::steady_clock::now() - before).count()));
  };
  const auto t = svc::store_now();
  svc::records::call_started s{sid,       "MZ" + sid, "+15551230000", "+15559870000", svc::call_direction::inbound,
                               "support", t};
  timed(s);
  timed(svc::records::call_answered{sid, "", t + 500ms});
  std::int64_t tool_seq = 0, event_seq = 0;
  for (int i = 0; i < items; ++i) {
    svc::records::item it;
    it.call_sid = sid;
    it.seq = i;
    it.item_id = fmt::format("item_{:016x}", i * 7919 + 17);
    it.role = i % 2 ? svc::item_role::assistant : svc::item_role::caller;
    it.text = text_of(i, static_cast<int>(sid.size()));
    it.audio_ms = 2000 + i * 13;
    it.started_at = t + std::chrono::seconds(i * 4);
    it.ended_at = it.started_at + std::chrono::milliseconds(it.audio_ms);
    if (i % 2 && i % 5 == 0) {
      it.interrupted = true;
      it.heard_ms = it.audio_ms / 2;
      it.heard_text = it.text.substr(0, it.text.size() / 2);
    }
    timed(std::move(it));
    if (i % 10 == 9) {
      timed(svc::records::tool_call{sid, tool_seq++, fmt::format("call_{}", i), "lookup_order",
                                    R"({"order_number":"42","include_tracking":true})",
                                    R"({"status":"shipped","eta":"friday","carrier":"ups"})", svc::tool_outcome::ok,
                                    t + std::chrono::seconds(i * 4), 180});
    }
    if (i % 5 == 4) {
      timed(svc::records::event{sid, event_seq++, t + std::chrono::seconds(i * 4 + 1),
                                std::string(i % 10 == 4 ? svc::event_kind::barge_in : svc::event_kind::dtmf),
                                svc::json_object({{"item", "item_1"}, {"heard_ms", std::int64_t{1340}}})});
    }
  }
  const auto c = counters_for(items);
  svc::records::call_ended e;
  e.call_sid = sid;
  e.ended_at = t + std::chrono::seconds(items * 4);
  e.end_reason = "caller_hung_up";
  e.tokens = svc::tokens_of(c);
  e.cost_usd = svc::estimate_cost(e.tokens, {4.0, 32.0, 0.4, 16.0, 64.0});
  e.counters_json = svc::counters_json(c);
  timed(std::move(e));
}

double percentile(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

std::uint64_t records_per_call(int items) {
  return 3 + static_cast<std::uint64_t>(items) + static_cast<std::uint64_t>(items / 10) +
         static_cast<std::uint64_t>((items + 1) / 5);
}

// Writes the calls through `store`; fills the timing fields of `r`.
bool run_calls(svc::call_store& store, const options& o, report& r,
               const std::function<std::optional<double>()>& server_cpu) {
  const auto cpu0 = process_cpu_seconds();
  const auto server0 = server_cpu();
  const auto wall0 = std::chrono::steady_clock::now();
  std::vector<std::vector<std::uint64_t>> latencies(static_cast<std::size_t>(o.producers));
  std::vector<std::thread> threads;
  for (int p = 0; p < o.producers; ++p) {
    threads.emplace_back([&, p] {
      auto& lat = latencies[static_cast<std::size_t>(p)];
      lat.reserve(static_cast<std::size_t>(o.calls / o.producers + 1) * records_per_call(o.items));
      for (int c = p; c < o.calls; c += o.producers) record_call(store, fmt::format("CA{:032d}", c), o.items, lat);
    });
  }
  for (auto& t : threads) t.join();
  if (!store.flush(600s)) {
    std::fprintf(stderr, "store_bench: the writer did not finish in 10 minutes\n");
    return false;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  r.cpu_us_per_call = (process_cpu_seconds() - cpu0) * 1e6 / o.calls;
  if (auto server1 = server_cpu(); server0 && server1) r.server_cpu_us_per_call = (*server1 - *server0) * 1e6 / o.calls;
  std::vector<std::uint64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  r.record_ns_p50 = percentile(all, 0.50);
  r.record_ns_p99 = percentile(all, 0.99);
  r.record_ns_max = all.empty() ? 0 : static_cast<double>(*std::max_element(all.begin(), all.end()));
  r.stats = store.stats();
  r.records = r.stats.written;
  return true;
}

svc::writer_options writer_for(const options& o) {
  svc::writer_options w;
  // Room for everything: the figure is the cost of writing all of it.
  w.queue_capacity = static_cast<std::size_t>(o.calls) * records_per_call(o.items) + 16;
  w.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };
  return w;
}

std::optional<report> bench_sqlite(const options& o) {
  std::string dir = (fs::temp_directory_path() / "rtb-store-bench-XXXXXX").string();
  if (!mkdtemp(dir.data())) return std::nullopt;
  const std::string path = dir + "/calls.db";
  const auto size = [&] {
    std::error_code ec;
    const auto n = fs::file_size(path, ec);
    return ec ? 0.0 : static_cast<double>(n);
  };
  report r;
  r.backend = "sqlite";
  r.calls = o.calls;
  r.items = o.items;
  {
    auto store = svc::open_call_store({svc::database_url::kind::sqlite, path});
    if (!store) {
      std::fprintf(stderr, "store_bench: %s\n", store.error().message.c_str());
      return std::nullopt;
    }
  }  // closing the last connection checkpoints the WAL into the file
  const double empty = size();
  {
    auto store = svc::open_call_store({svc::database_url::kind::sqlite, path}, {"bench", writer_for(o), 5s});
    if (!store || !run_calls(**store, o, r, [] { return std::optional<double>{}; })) return std::nullopt;
  }
  r.bytes_per_call = (size() - empty) / o.calls;
  fs::remove_all(dir);
  return r;
}

std::optional<report> bench_postgres(const options& o, const std::string& base) {
  auto admin = svc::detail::open_postgres_connection(base, "rtb store bench");
  if (!admin) {
    std::fprintf(stderr, "store_bench: %s\n", admin.error().message.c_str());
    return std::nullopt;
  }
  const std::string schema = fmt::format("rtb_bench_{}", getpid());
  const std::string app = fmt::format("rtb-store-bench-{}", getpid());
  if (!(*admin)->exec(fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", schema))) return std::nullopt;
  const std::string uri = fmt::format("{}{}options=-csearch_path%3D{}&application_name={}", base,
                                      base.find('?') == std::string::npos ? "?" : "&", schema, app);
  const auto table_bytes = [&]() -> double {
    auto rows = (*admin)->query(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
        std::vector<svc::detail::sql_param>{std::string_view(schema)});
    return rows && !rows->empty() && (*rows)[0][0] ? std::stod(*(*rows)[0][0]) : 0.0;
  };
  // The server's CPU for this store: its connections' backend processes.
  const auto server_cpu = [&]() -> std::optional<double> {
    auto rows = (*admin)->query("SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                                std::vector<svc::detail::sql_param>{std::string_view(app)});
    if (!rows || rows->empty()) return std::nullopt;
    double total = 0;
    for (const auto& row : *rows) {
      auto s = pid_cpu_seconds(row[0].value_or(""));
      if (!s) return std::nullopt;
      total += *s;
    }
    return total;
  };
  report r;
  r.backend = "postgresql";
  r.calls = o.calls;
  r.items = o.items;
  bool ok = false;
  {
    auto store = svc::open_call_store({svc::database_url::kind::postgresql, uri}, {"bench", writer_for(o), 5s});
    if (!store) {
      std::fprintf(stderr, "store_bench: %s\n", store.error().message.c_str());
    } else {
      const double empty = table_bytes();
      ok = run_calls(**store, o, r, server_cpu);
      r.bytes_per_call = (table_bytes() - empty) / o.calls;
    }
  }
  (void)(*admin)->exec(fmt::format("DROP SCHEMA IF EXISTS {} CASCADE", schema));
  if (!ok) return std::nullopt;
  return r;
}

std::string postgres_url(const options& o) {
  if (!o.postgres_url.empty()) return o.postgres_url;
  if (const char* u = std::getenv("RTB_TEST_POSTGRES_URL"); u && *u) return u;
  if (const char* f = std::getenv("RTB_TEST_POSTGRES_URL_FILE"); f && *f) {
    std::ifstream in(f);
    std::string url;
    if (in >> url) return url;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "store_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--backend") {
      o.backend = next();
    } else if (a == "--calls") {
      o.calls = std::stoi(next());
    } else if (a == "--items") {
      o.items = std::stoi(next());
    } else if (a == "--producers") {
      o.producers = std::stoi(next());
    } else if (a == "--postgres-url") {
      o.postgres_url = next();
    } else if (a == "--json") {
      o.json = next();
    } else if (a == "--smoke") {
      o.calls = 40;
      o.items = 10;
      o.producers = 2;
    } else {
      std::fprintf(stderr,
                   "usage: store_bench [--backend sqlite|postgresql|both] [--calls N] [--items M] [--producers P] "
                   "[--postgres-url URL] [--smoke] [--json FILE]\n");
      return 2;
    }
  }
  if (o.calls < 1 || o.items < 0 || o.producers < 1) {
    std::fprintf(stderr, "store_bench: --calls and --producers must be at least 1\n");
    return 2;
  }

  std::vector<report> reports;
  bool failed = false;
  if (o.backend == "sqlite" || o.backend == "both") {
    if (auto r = bench_sqlite(o))
      reports.push_back(*r);
    else
      failed = true;
  }
  if (o.backend == "postgresql" || o.backend == "both") {
    const std::string url = postgres_url(o);
    const char* required = std::getenv("RTB_REQUIRE_POSTGRES");
    if (url.empty()) {
      if (required && std::string_view(required) == "1") {
        std::fprintf(stderr, "store_bench: PostgreSQL is required but no server was given\n");
        failed = true;
      } else {
        std::printf(
            "postgresql: SKIPPED (no server: --postgres-url, RTB_TEST_POSTGRES_URL or RTB_TEST_POSTGRES_URL_FILE)\n");
      }
    } else if (auto r = bench_postgres(o, url)) {
      reports.push_back(*r);
    } else {
      failed = true;
    }
  }

  std::printf("%d calls of %d items (%llu records per call), %d producer threads\n", o.calls, o.items,
              static_cast<unsigned long long>(records_per_call(o.items)), o.producers);
  std::printf("%-11s %12s %14s %12s %10s %12s %12s %9s %8s %8s\n", "backend", "cpu us/call", "server us/call",
              "bytes/call", "calls/s", "record p50", "record p99", "batches", "dropped", "failed");
  for (const auto& r : reports) {
    std::printf(
        "%-11s %12.1f %14s %12.0f %10.0f %10.0fns %10.0fns %9llu %8llu %8llu\n", r.backend.c_str(), r.cpu_us_per_call,
        r.server_cpu_us_per_call ? fmt::format("{:.1f}", *r.server_cpu_us_per_call).c_str() : "-", r.bytes_per_call,
        o.calls / r.seconds, r.record_ns_p50, r.record_ns_p99, static_cast<unsigned long long>(r.stats.batches),
        static_cast<unsigned long long>(r.stats.dropped), static_cast<unsigned long long>(r.stats.failed));
    if (r.stats.dropped || r.stats.failed) failed = true;
  }

  std::string json = "{\"bench\":\"store\",\"calls\":" + std::to_string(o.calls) +
                     ",\"items_per_call\":" + std::to_string(o.items) +
                     ",\"records_per_call\":" + std::to_string(records_per_call(o.items)) +
                     ",\"producers\":" + std::to_string(o.producers) + ",\"backends\":[";
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    json += fmt::format(
        "{}{{\"backend\":\"{}\",\"seconds\":{:.3f},\"cpu_us_per_call\":{:.1f},\"server_cpu_us_per_call\":{},"
        "\"bytes_per_call\":{:.0f},\"calls_per_second\":{:.0f},\"record_ns_p50\":{:.0f},\"record_ns_p99\":{:.0f},"
        "\"record_ns_max\":{:.0f},\"records_written\":{},\"batches\":{},\"max_queue_depth\":{},\"dropped\":{},"
        "\"failed\":{}}}",
        i ? "," : "", r.backend, r.seconds, r.cpu_us_per_call,
        r.server_cpu_us_per_call ? fmt::format("{:.1f}", *r.server_cpu_us_per_call) : "null", r.bytes_per_call,
        o.calls / r.seconds, r.record_ns_p50, r.record_ns_p99, r.record_ns_max, r.stats.written, r.stats.batches,
        r.stats.max_queue_depth, r.stats.dropped, r.stats.failed);
  }
  json += "]}\n";
  std::ofstream(o.json) << json;
  std::printf("report: %s\n", o.json.c_str());
  return failed ? 1 : 0;
}

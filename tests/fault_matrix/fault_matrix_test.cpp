// The adapter's fault matrix (tools/peers/fault_plan.hpp): every cell acted out
// by the fault peers over real sockets against one running bridge, one cell
// after another. After each cell: the call ended as the matrix says (or went
// on), both of its sockets were closed, no call, descriptor or timer is left,
// lws destroyed nothing behind the adapter's back, and a normal call works.
// Run under ASan+UBSan+LSan in CI, on both event loops (RTB_TEST_EVENT_LOOP),
// label fault_matrix:  ctest -L fault_matrix
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "peers/fault_peers.hpp"
#include "peers/test_ca.hpp"
#include "realtime_bridge/lws/server.hpp"

namespace rtb {
namespace {

using namespace std::chrono_literals;
using peers::fault_caller;
using peers::fault_openai;
using peers::fault_report;
using peers::faults::cell;
using peers::faults::fault;
using peers::faults::leg_kind;
using peers::faults::stage;

// The timeouts of the bridge under test, short so that silent peers cost seconds, not minutes.
constexpr auto handshake_timeout = 1s;
constexpr auto close_timeout = 1s;
constexpr auto call_connect_timeout = 2500ms;  // longer than lws' handshake timeout
constexpr auto short_connect_timeout = 400ms;  // silent_call_first: shorter
constexpr auto wait_limit = 10s;

lws_adapter::event_loop loop_under_test() {
  const char* name = std::getenv("RTB_TEST_EVENT_LOOP");
  return name && std::string_view(name) == "poll" ? lws_adapter::event_loop::poll : lws_adapter::event_loop::automatic;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

/// Records every call's sid, end and rejections; gives each new call the
/// configuration of the cell under test.
class matrix_app final : public lws_adapter::application {
 public:
  struct ended_call {
    std::string call_sid;
    end_reason reason = end_reason::host_ended;
    std::string detail;
    std::uint64_t rejected = 0;
  };

  void use(call_config c) {
    const std::lock_guard lock(mutex_);
    config_ = std::move(c);
  }
  std::optional<call_config> config_for_call(const lws_adapter::stream_request&) override {
    const std::lock_guard lock(mutex_);
    return config_;
  }
  std::unique_ptr<call_observer> observer_for_call(lws_adapter::call_handle) override {
    return std::make_unique<observer>(*this);
  }
  std::size_t ended_count() const {
    const std::lock_guard lock(mutex_);
    return ended_.size();
  }
  bool wait_ended(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ended_.size() >= n; });
  }
  ended_call ended(std::size_t i) const {
    const std::lock_guard lock(mutex_);
    return ended_.at(i);
  }
  lws_adapter::log_function logger() {
    return [this](lws_adapter::log_level level, std::string_view line) {
      const std::lock_guard lock(mutex_);
      if (std::getenv("RTB_FAULT_LOG")) std::fprintf(stderr, "%s\n", std::string(line).c_str());
      if (level >= lws_adapter::log_level::warning) log_.emplace_back(line);
    };
  }
  std::vector<std::string> take_log() {
    const std::lock_guard lock(mutex_);
    return std::exchange(log_, {});
  }

 private:
  struct observer final : call_observer {
    explicit observer(matrix_app& a) : app(a) {}
    void on_stream_started(const to_host::stream_started& e) override { sid = std::string(e.call_sid); }
    void on_call_ended(const call_summary& s) override {
      {
        const std::lock_guard lock(app.mutex_);
        app.ended_.push_back({sid, s.reason, std::string(s.detail),
                              s.counters.rejected_openai_messages + s.counters.rejected_twilio_messages});
      }
      app.changed_.notify_all();
    }
    matrix_app& app;
    std::string sid;
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  call_config config_;
  std::vector<ended_call> ended_;
  std::vector<std::string> log_;
};

call_config matrix_config(std::chrono::milliseconds connect) {
  call_config c;
  c.openai.timeouts.connect = connect;
  c.openai.timeouts.configure = 1000ms;
  c.twilio.start = 1000ms;
  c.twilio.media_idle = 1000ms;
  c.barge_in.margin = 0ms;
  // The matrix is about what one connection's faults do to a call: the
  // outcomes are a reconnect-less bridge's (reconnect is tested in
  // tests/e2e/reconnect_test.cpp).
  c.reconnect.attempts = 0;
  return c;
}

/// One bridge and its OpenAI fault peer, and the bookkeeping between cells.
class rig {
 public:
  explicit rig(bool tls) {
    if (tls) ca_ = peers::make_test_ca(fmt::format("{}/rtb-fault-matrix-{}",
                                                   std::filesystem::temp_directory_path().string(), ::getpid()));
    fault_openai::options fo;
    if (ca_) {
      fo.cert_file = ca_->cert_file;
      fo.key_file = ca_->key_file;
    }
    openai_ = std::make_unique<fault_openai>(fo);
    app_ = std::make_shared<matrix_app>();
    app_->use(matrix_config(call_connect_timeout));
    lws_adapter::server_options o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.threads = 2;
    o.loop = loop_under_test();
    o.openai.url = openai_->url();
    o.openai.api_key = "sk-fault-matrix";
    if (ca_) o.openai.ca_file = ca_->ca_file;
    o.ping_interval = 1s;
    o.idle_hangup = 2s;
    o.handshake_timeout = handshake_timeout;
    o.close_timeout = close_timeout;
    o.log = app_->logger();
    auto started = lws_adapter::server::start(std::move(o), app_);
    if (!started) FAIL("the bridge did not start: " << started.error().message);
    server_ = std::move(*started);
    // A first call warms up every lazily opened descriptor (lws' TLS, the threads' pipes).
    normal_call("warm-up");
    baseline_fds_ = settle_fds(0);
  }
  ~rig() {
    if (server_) server_->stop();
    if (ca_) std::filesystem::remove_all(ca_->dir);
  }

  /// Runs one cell; every CHECK names it.
  void run(const cell& c) {
    const std::string name = peers::faults::name(c);
    INFO("cell " << name);
    const std::size_t ended_before = app_->ended_count();
    const std::size_t openai_before = openai_->finished().size();
    const auto stats_before = server_->stats();
    app_->use(matrix_config(c.what == fault::silent_call_first ? short_connect_timeout : call_connect_timeout));
    const std::string sid = fmt::format("CAfault{:0>25}", ++cell_number_);

    std::optional<fault_report> caller_report;
    std::size_t openai_connections = 1;
    if (c.leg == leg_kind::openai)
      caller_report = act_openai(c, sid, openai_connections);
    else
      caller_report = act_twilio(c, sid, openai_connections);

    // The call's end.
    const bool call_expected = !c.expect.reasons.empty();
    if (call_expected) {
      REQUIRE(app_->wait_ended(ended_before + 1, wait_limit));
      const auto ended = app_->ended(ended_before);
      INFO("ended: " << to_string(ended.reason) << " (" << ended.detail << ")");
      CHECK(std::find(c.expect.reasons.begin(), c.expect.reasons.end(), ended.reason) != c.expect.reasons.end());
      if (c.expect.counts_a_rejection) CHECK(ended.rejected == 1);
    }
    // Both sockets closed: by the bridge, or by the peer's own reset.
    if (caller_report) {
      INFO("caller: bridge_closed " << caller_report->bridge_closed << ", reset " << caller_report->peer_reset
                                    << ", close frame " << caller_report->close_code << ", error '"
                                    << caller_report->error << "'");
      CHECK_FALSE(caller_report->never_closed);
      CHECK((caller_report->bridge_closed || caller_report->peer_reset));
      if (c.leg == leg_kind::twilio) CHECK(caller_report->reached);
    }
    REQUIRE(openai_->wait_finished(openai_before + openai_connections, wait_limit));
    const auto finished = openai_->finished();
    for (std::size_t i = openai_before; i < finished.size(); ++i) {
      const fault_report& r = finished[i];
      INFO("OpenAI connection: bridge_closed " << r.bridge_closed << ", reset " << r.peer_reset << ", error '"
                                               << r.error << "'");
      CHECK_FALSE(r.never_closed);
      CHECK((r.bridge_closed || r.peer_reset));
      if (c.leg == leg_kind::openai && i == openai_before) CHECK(r.reached);
    }
    // Nothing left behind.
    CHECK(wait_idle());
    const auto stats = server_->stats();
    CHECK(stats.unexpected_destroys == 0);
    CHECK(stats.timers_pending == 0);
    CHECK(stats.calls_started - stats_before.calls_started == (call_expected ? 1u : 0u));
    CHECK(settle_fds(baseline_fds_) == baseline_fds_);
    // And the next call works.
    normal_call(name);
    for (const auto& line : app_->take_log())
      if (line.find("error") != std::string::npos) UNSCOPED_INFO("log: " << line);
  }

  bool tls() const { return ca_.has_value(); }

 private:
  fault_caller::options caller(const std::string& sid, stage at = stage::streaming, fault what = fault::none) {
    fault_caller::options o;
    o.port = server_->port();
    o.call_sid = sid;
    o.at = at;
    o.what = what;
    return o;
  }

  // An OpenAI-leg cell: a behaving caller; the fault peer commits the fault.
  std::optional<fault_report> act_openai(const cell& c, const std::string& sid, std::size_t& openai_connections) {
    const std::uint64_t reached = openai_->reached_count();
    auto co = caller(sid);
    if (c.at == stage::open && c.what == fault::other_leg_closes) {
      co.what = fault::reset;  // the caller resets when told
      co.fault_after = 1h;
    }
    if (c.at == stage::tcp_connecting) {
      openai_connections = 0;  // the fault peer never accepts this one
      if (c.what == fault::reset)
        openai_->refuse();
      else
        openai_->hold();
    } else {
      openai_->next(c.at, c.what);
    }
    fault_caller call(co);
    if (c.at == stage::tcp_connecting) {
      if (c.what == fault::other_leg_closes) {
        std::this_thread::sleep_for(300ms);
        call.hang_up();
      }
    } else if (c.at == stage::closing) {
      CHECK(call.wait_media(3, wait_limit));  // the session is open: hang up, and the bridge closes it
      call.hang_up();
      CHECK(openai_->wait_reached(reached, wait_limit));
    } else {
      CHECK(openai_->wait_reached(reached, wait_limit));
      if (c.what == fault::other_leg_closes) {
        if (c.at == stage::open)
          call.fire();
        else
          call.hang_up();
      }
      if (c.what == fault::simultaneous_close) {
        openai_->fire();
        call.hang_up();
      }
      if (c.what == fault::oversized && c.at == stage::open) {
        CHECK(call.wait_media(3, wait_limit));  // the session still speaks
        call.hang_up();
      }
    }
    // A call the fault does not end is ended by the caller.
    if (!app_->wait_ended(app_->ended_count() + 1, 6s)) call.hang_up();
    CHECK(call.wait_done(wait_limit));
    if (c.at == stage::tcp_connecting) openai_->restore();
    return call.result();
  }

  // A Twilio-leg cell: the caller commits the fault; the OpenAI peer behaves
  // or fails on cue.
  std::optional<fault_report> act_twilio(const cell& c, const std::string& sid, std::size_t& openai_connections) {
    const bool call_expected = !c.expect.reasons.empty();
    const std::uint64_t reached = openai_->reached_count();
    openai_connections = call_expected ? 1 : 0;
    auto co = caller(sid, c.at, c.what);
    // The OpenAI side's part: fail on cue (simultaneous_close waits for fire()).
    if (c.at == stage::closing) openai_->next(stage::open, fault::close_frame);
    if (c.at == stage::before_start && c.what == fault::other_leg_closes)
      openai_->next(stage::configuring, fault::close_frame);
    if (c.at == stage::streaming && (c.what == fault::other_leg_closes || c.what == fault::simultaneous_close))
      openai_->next(stage::open, fault::simultaneous_close);
    if (c.what == fault::stops_reading) openai_->next(stage::open, fault::stops_reading);
    fault_caller call(co);
    if (c.at == stage::streaming && c.what == fault::other_leg_closes) {
      CHECK(call.wait_reached(wait_limit));
      openai_->fire();
    }
    if (c.at == stage::streaming && c.what == fault::simultaneous_close) {
      CHECK(openai_->wait_reached(reached, wait_limit));
      CHECK(call.wait_media(3, wait_limit));
      openai_->fire();
      call.fire();
    }
    if (c.what == fault::stops_reading) {
      CHECK(call.wait_reached(wait_limit));
      openai_->fire();  // a flood of audio, then close 1011
      CHECK(app_->wait_ended(app_->ended_count() + 1, wait_limit));
      std::this_thread::sleep_for(close_timeout + 1s);
      call.fire();  // read again: the bridge has let go of the connection by now
    }
    if (c.expect.call_goes_on) {
      CHECK(call.wait_reached(wait_limit));
      CHECK(call.wait_media(3, wait_limit));
      call.hang_up();
    }
    CHECK(call.wait_done(wait_limit));
    return call.result();
  }

  void normal_call(const std::string& after) {
    INFO("a normal call after " << after);
    const std::size_t ended_before = app_->ended_count();
    app_->use(matrix_config(call_connect_timeout));
    fault_caller call(caller(fmt::format("CAnormal{:0>24}", ++cell_number_)));
    CHECK(call.wait_media(3, wait_limit));
    call.hang_up();
    CHECK(call.wait_done(wait_limit));
    REQUIRE(app_->wait_ended(ended_before + 1, wait_limit));
    CHECK(app_->ended(ended_before).reason == end_reason::caller_hung_up);
    CHECK(wait_idle());
  }

  bool wait_idle() {
    const auto deadline = std::chrono::steady_clock::now() + wait_limit;
    while (server_->stats().calls_active > 0 || openai_->connections_open() > 0) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  // The descriptor count once it stops changing (lws closes some lazily), or `want` as soon as it is reached.
  std::size_t settle_fds(std::size_t want) {
    std::size_t n = open_descriptors();
    for (int i = 0; i < 100 && n != want; ++i) {
      std::this_thread::sleep_for(20ms);
      const std::size_t again = open_descriptors();
      if (want == 0 && again == n && i > 5) break;
      n = again;
    }
    return n;
  }

  std::optional<peers::test_ca_files> ca_;
  std::unique_ptr<fault_openai> openai_;
  std::shared_ptr<matrix_app> app_;
  std::unique_ptr<lws_adapter::server> server_;
  std::size_t baseline_fds_ = 0;
  int cell_number_ = 0;
};

// RTB_FAULT_CELLS=openai/open runs only the cells whose name contains it.
void run_cells(rig& r, leg_kind leg) {
  const char* only = std::getenv("RTB_FAULT_CELLS");
  std::size_t n = 0;
  for (const cell& c : peers::faults::matrix()) {
    if (c.leg != leg) continue;
    if (c.at == stage::tls_handshake && !r.tls()) continue;
    if (only && peers::faults::name(c).find(only) == std::string::npos) continue;
    r.run(c);
    ++n;
  }
  CHECK((n > 0 || only));
}

}  // namespace

TEST_CASE("fault matrix: the OpenAI leg over wss", "[fault_matrix]") {
  rig r(true);
  run_cells(r, leg_kind::openai);
}

TEST_CASE("fault matrix: the OpenAI leg over plain ws", "[fault_matrix]") {
  rig r(false);
  run_cells(r, leg_kind::openai);
}

TEST_CASE("fault matrix: the Twilio leg", "[fault_matrix]") {
  rig r(false);
  run_cells(r, leg_kind::twilio);
}

}  // namespace rtb

// fake-openai: runs the fake OpenAI Realtime server (tools/peers/fake_openai.hpp)
// until SIGINT/SIGTERM, for manual runs of the bridge and for demos.
//
//   fake-openai [--port N] [--bind ADDR] [--tls-cert PEM --tls-key PEM]
//               [--speed X] [--chunk-ms N] [--failure NAME] [--api-key KEY]
//               [--transcript TEXT] [--audio-ms N] [--vad-dbfs DB]
//               [--function-call NAME ARGS_JSON] [--caller-transcript TEXT]...
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "peers/fake_openai.hpp"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true); }

void usage() {
  fmt::print(stderr,
             "usage: fake-openai [--port N] [--bind ADDR] [--tls-cert PEM --tls-key PEM]\n"
             "                   [--speed X] [--chunk-ms N] [--failure NAME] [--api-key KEY]\n"
             "                   [--transcript TEXT] [--audio-ms N] [--vad-dbfs DB]\n"
             "                   [--function-call NAME ARGS_JSON] [--caller-transcript TEXT]...\n"
             "failures: none, refuse_upgrade, error_then_close_3000, error_then_close_4000, model_not_found,\n"
             "          close_mid_response, go_silent\n");
}

bool parse_failure(std::string_view name, rtb::peers::failure_mode& out) {
  using rtb::peers::failure_mode;
  if (name == "none") out = failure_mode::none;
  else if (name == "refuse_upgrade") out = failure_mode::refuse_upgrade;
  else if (name == "error_then_close_3000") out = failure_mode::error_then_close_3000;
  else if (name == "error_then_close_4000") out = failure_mode::error_then_close_4000;
  else if (name == "model_not_found") out = failure_mode::model_not_found;
  else if (name == "close_mid_response") out = failure_mode::close_mid_response;
  else if (name == "go_silent") out = failure_mode::go_silent;
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  rtb::peers::fake_openai_options opt;
  rtb::peers::scripted_response script;
  bool caller_transcripts_given = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(fmt::format("{} needs a value", a));
        return argv[++i];
      };
      if (a == "--port") opt.port = std::stoi(value());
      else if (a == "--bind") opt.bind = value();
      else if (a == "--tls-cert") opt.cert_file = value();
      else if (a == "--tls-key") opt.key_file = value();
      else if (a == "--speed") opt.speed = std::stod(value());
      else if (a == "--chunk-ms") opt.chunk_ms = std::stoi(value());
      else if (a == "--api-key") opt.expected_api_key = value();
      else if (a == "--transcript") script.transcript = value();
      else if (a == "--audio-ms") script.audio_ms = std::stoi(value());
      else if (a == "--vad-dbfs") opt.vad_threshold_dbfs = std::stod(value());
      else if (a == "--function-call") {
        std::string name = value();
        script.function_call = std::make_pair(name, value());
      } else if (a == "--caller-transcript") {
        if (!caller_transcripts_given) opt.caller_transcripts.clear();
        caller_transcripts_given = true;
        opt.caller_transcripts.push_back(value());
      } else if (a == "--failure") {
        const std::string name = value();
        if (!parse_failure(name, opt.failure)) throw std::invalid_argument("unknown failure mode " + name);
      } else if (a == "-h" || a == "--help") {
        usage();
        return 0;
      } else {
        throw std::invalid_argument(fmt::format("unknown option {}", a));
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "fake-openai: {}\n", e.what());
    usage();
    return 2;
  }
  opt.script = {script};
  if (script.function_call) {
    rtb::peers::scripted_response answer;
    answer.transcript = "Here is what I found.";
    opt.script.push_back(answer);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    rtb::peers::fake_openai server(opt);
    fmt::print("{}\n", server.url());
    std::fflush(stdout);
    std::size_t reported = 0;
    while (!g_stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto sessions = server.sessions();
      for (; reported < sessions.size(); ++reported)
        fmt::print(stderr, "session {} opened: {}\n", reported + 1, sessions[reported].path);
    }
    for (std::size_t i = 0; i < server.sessions().size(); ++i) {
      const auto& s = server.sessions()[i];
      fmt::print(stderr, "session {}: {} events, {} appends, {} responses ({} cancelled), {} errors\n", i + 1,
                 s.client_event_types.size(), s.appends, s.responses, s.responses_cancelled, s.errors_sent.size());
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "fake-openai: {}\n", e.what());
    return 1;
  }
  return 0;
}

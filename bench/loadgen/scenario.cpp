#include "scenario.hpp"

#include <chrono>
#include <random>

namespace rtb::loadgen {

using namespace std::chrono_literals;
using namespace rtb::peers;

std::vector<caller_step> caller_script(const options& o, int index) {
  std::mt19937 rng(o.seed * 7919u + static_cast<unsigned>(index));
  auto ms = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const auto speech_seed = static_cast<unsigned>(rng());
  std::vector<caller_step> s;
  // a turn that lets the answer play out
  s.push_back(step::say{synthetic_speech(ms(1000, 2000), speech_seed)});
  s.push_back(step::wait_for_ai_audio{0ms, 10s});
  s.push_back(step::wait_for_ai_silence{15s});
  s.push_back(step::pause{std::chrono::milliseconds(ms(300, 800))});
  // a turn that the caller interrupts: the next say starts while the AI talks
  s.push_back(step::say{synthetic_speech(ms(1000, 2000), speech_seed + 1)});
  s.push_back(step::wait_for_ai_audio{std::chrono::milliseconds(ms(500, 1500)), 10s});
  s.push_back(step::repeat{0});
  return s;
}

fake_openai_options model_options(const options& o) {
  fake_openai_options f;
  f.bind = "127.0.0.1";
  f.speed = o.ai_speed;
  f.chunk_ms = 20;
  f.first_audio_delay = 100ms;
  f.record_client_events = false;
  f.script.clear();
  for (int k : {2, 3, 4}) {
    scripted_response r;
    r.transcript = "Sure, here is what I found about your order and when it will arrive.";
    r.audio_ms = o.ai_response_ms * k / 3;
    r.audio = tone(r.audio_ms);  // made once, not per answer
    f.script.push_back(r);
  }
  return f;
}

}  // namespace rtb::loadgen

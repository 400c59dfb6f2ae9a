// The conversation the benchmark's calls hold: what the fake callers say and
// how the fake model answers.
#pragma once

#include <vector>

#include "options.hpp"
#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"

namespace rtb::loadgen {

/// Call `index`'s script, repeated for as long as the call lasts: speak for
/// 1–2 s, wait for the answer and let it play out, pause 0.3–0.8 s; speak
/// again, and 0.5–1.5 s into the answer barge in (the next turn's speech).
/// Realtime mode only; flood calls send silence.
std::vector<peers::caller_step> caller_script(const options& o, int index);

/// The fake model: answers of 2/3, 1 and 4/3 of ai_response_ms in turn,
/// streamed in 20 ms deltas at ai_speed times real time.
peers::fake_openai_options model_options(const options& o);

}  // namespace rtb::loadgen

// call_config <-> JSON (config_json.hpp), and the checks of rtb::validate and
// rtb::openai::validate: every rejection names the offending setting.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

#include <simdjson.h>
#include <catch2/catch.hpp>

#include "config_fields.hpp"
#include "realtime_bridge/call.hpp"
#include "realtime_bridge/config_json.hpp"
#include "realtime_bridge/openai/session_config.hpp"

namespace oa = rtb::openai;
using namespace std::chrono_literals;
using Catch::Matchers::StartsWith;
using rtb::errc;

namespace {

/// call_config equality. call_config declares a defaulted operator==, but it
/// is implicitly deleted while twilio::stream_timeouts has no operator==; until
/// then compare member by member (each of the others has one).
bool same_config(const rtb::call_config& a, const rtb::call_config& b) {
  if constexpr (std::equality_comparable<rtb::call_config>) {
    return a == b;
  } else {
    return a.openai == b.openai && a.twilio.start == b.twilio.start && a.twilio.media_idle == b.twilio.media_idle &&
           a.barge_in == b.barge_in && a.limits == b.limits;
  }
}

std::string to_json(const rtb::call_config& c) {
  std::string out;
  rtb::append_config_json(out, c);
  return out;
}

rtb::call_config round_trip(const rtb::call_config& c) {
  const std::string json = to_json(c);
  INFO("JSON: " << json);
  auto back = rtb::parse_config_json(json);
  if (!back) FAIL("parse failed: " << back.error().message);
  return *back;
}

rtb::error parse_error(std::string_view json) {
  INFO("JSON: " << json);
  auto r = rtb::parse_config_json(json);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_config);
  return r.error();
}

std::string validate_message(const rtb::call_config& c) {
  auto r = rtb::validate(c);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_config);
  return r.error().message;
}

std::string validate_message(const oa::session_config& c) {
  auto r = oa::validate(c);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_config);
  return r.error().message;
}

/// A configuration in which every setting differs from its default.
rtb::call_config non_default_config() {
  rtb::call_config c;
  oa::session_config& s = c.openai.config;
  s.model = "gpt-realtime-2025-08-28";
  s.instructions = "Be \"brief\".\nUse tools \\ when needed.\tCaf\xC3\xA9 \xF0\x9F\x93\x9E \x01";
  s.voice = "cedar";
  s.modality = oa::output_modality::text;
  s.turn = oa::server_vad{0.7, 250, 650, 8000, false, false};
  s.input_transcription = oa::transcription{"whisper-1", "de", "Acme, Outfitters"};
  s.noise = oa::noise_reduction::far_field;
  s.speed = 1.25;
  s.tools = {
      oa::tool{
          "get_order_status", "Look up the shipping status of an order by its order number.",
          R"({"type":"object","properties":{"order_number":{"type":"string","description":"The order number, digits only."}},"required":["order_number"]})"},
      oa::tool{"end_call", "", R"({"type":"object","properties":{}})"},
  };
  s.tool_choice = "end_call";
  c.openai.greeting = oa::greeting{oa::greeting::style::instructions, "Greet the caller as \"Acme\"."};
  c.openai.timeouts = oa::session_timeouts{1234ms, 5678ms};
  c.twilio.start = 3000ms;
  c.twilio.media_idle = 0ms;
  c.barge_in.enabled = false;
  c.barge_in.margin = 55ms;
  c.barge_in.forget_unheard = false;
  c.barge_in.echo_guard = 700ms;
  c.barge_in.min_speech = 250ms;
  // barge_in.server_cancels is derived by rtb::call from the turn detection; it is not configuration.
  c.limits = rtb::call_limits{1500ms, 7000ms, 7, 60ms};
  return c;
}

bool has(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(json).get(root) == simdjson::SUCCESS);
  return root.at_pointer(pointer).error() == simdjson::SUCCESS;
}

}  // namespace

// ---- round trips ----

TEST_CASE("config json round-trips the default configuration", "[config][codec]") {
  const rtb::call_config defaults;
  const std::string json = to_json(defaults);
  CHECK(json.front() == '{');
  CHECK(json.back() == '}');
  CHECK(same_config(round_trip(defaults), defaults));
}

TEST_CASE("config json round-trips a configuration in which every setting differs from its default",
          "[config][codec]") {
  const rtb::call_config original = non_default_config();
  const rtb::call_config defaults;
  // The helper really changed everything it can.
  CHECK_FALSE(original.openai.config.model == defaults.openai.config.model);
  CHECK_FALSE(original.openai.greeting == defaults.openai.greeting);
  CHECK_FALSE(original.openai.timeouts == defaults.openai.timeouts);
  CHECK_FALSE(original.barge_in == defaults.barge_in);
  CHECK_FALSE(original.limits == defaults.limits);
  CHECK_FALSE(same_config(original, defaults));

  const rtb::call_config back = round_trip(original);
  CHECK(back.openai.config == original.openai.config);
  CHECK(back.openai.greeting == original.openai.greeting);
  CHECK(back.openai.timeouts == original.openai.timeouts);
  CHECK(back.twilio.start == original.twilio.start);
  CHECK(back.twilio.media_idle == original.twilio.media_idle);
  CHECK(back.barge_in == original.barge_in);
  CHECK(back.limits == original.limits);
  CHECK(same_config(back, original));
}

namespace {

namespace fields = rtb::config_fields;

/// Changes the `target`-th setting of the field list (counting every setting,
/// outermost first) away from its value, and nothing else; `leaves` counts the
/// settings seen.
class perturb_one {
 public:
  explicit perturb_one(std::size_t target) : target_(target) {}
  std::size_t leaves = 0;
  bool changed = false;
  std::string changed_name;

  void field(std::string_view k, std::string& v) {
    if (hit(k)) v += " changed \"\\ \xC3\xA9";
  }
  void field(std::string_view k, bool& v) {
    if (hit(k)) v = !v;
  }
  void field(std::string_view k, double& v) {
    if (hit(k)) v += 0.25;
  }
  void field(std::string_view k, int& v) {
    if (hit(k)) v += 7;
  }
  void field(std::string_view k, std::uint32_t& v) {
    if (hit(k)) v += 7;
  }
  void field(std::string_view k, std::chrono::milliseconds& v) {
    if (hit(k)) v += 40ms;
  }
  void field_if_set(std::string_view k, std::chrono::milliseconds& v) { field(k, v); }
  template <class T>
  void nullable(std::string_view k, std::optional<T>& v) {
    if (!hit(k)) return;
    if (v)
      v.reset();
    else
      v = T(1);
  }
  template <class E, std::size_t N>
  void enumeration_if_set(std::string_view k, E& v, const fields::enum_names<E, N>& names) {
    enumeration(k, v, names);
  }
  template <class E, std::size_t N>
  void enumeration(std::string_view k, E& v, const fields::enum_names<E, N>& names) {
    if (!hit(k)) return;
    for (std::size_t i = 0; i < N; ++i)
      if (names[i].value == v) {
        v = names[(i + 1) % N].value;
        return;
      }
  }
  template <class T>
  void object(std::string_view, T& v) {
    fields::visit_fields(*this, v);
  }
  template <class T>
  void object_if_changed(std::string_view k, T& v) {
    object(k, v);
  }
  template <class T>
  void nullable_object(std::string_view k, std::optional<T>& v) {
    if (hit(k))
      v.reset();
    else if (v)
      fields::visit_fields(*this, *v);
  }
  template <class T>
  void object_array(std::string_view k, std::vector<T>& v) {
    if (hit(k)) {
      v.clear();
      return;
    }
    for (auto& x : v) fields::visit_fields(*this, x);
  }
  void raw_object(std::string_view k, std::string& v) {
    if (hit(k)) v = R"({"changed":[1,2]})";
  }
  template <class... T, std::size_t N>
  void tagged(std::string_view k, std::variant<T...>& v, const std::array<std::string_view, N>&) {
    if (hit(k)) {
      fields::emplace_alternative(v, (v.index() + 1) % N);
      return;
    }
    std::visit([&](auto& alternative) { fields::visit_fields(*this, alternative); }, v);
  }

 private:
  bool hit(std::string_view name) {
    if (leaves++ != target_) return false;
    changed = true;
    changed_name = std::string(name);
    return true;
  }
  std::size_t target_;
};

/// The JSON pointers of every setting the field list writes for `c`.
class pointers {
 public:
  std::vector<std::string> all;
  template <class T>
  void field(std::string_view k, T&) {
    add(k);
  }
  void field_if_set(std::string_view k, std::chrono::milliseconds& v) {
    if (v.count() != 0) add(k);
  }
  template <class T>
  void nullable(std::string_view k, T&) {
    add(k);
  }
  template <class E, std::size_t N>
  void enumeration(std::string_view k, E&, const fields::enum_names<E, N>&) {
    add(k);
  }
  template <class E, std::size_t N>
  void enumeration_if_set(std::string_view k, E& v, const fields::enum_names<E, N>& names) {
    if (v != names[0].value) add(k);
  }
  template <class T>
  void object(std::string_view k, T& v) {
    nest(k, [&] { fields::visit_fields(*this, v); });
  }
  template <class T>
  void object_if_changed(std::string_view k, T& v) {
    if (!(v == T{})) object(k, v);
  }
  template <class T>
  void nullable_object(std::string_view k, std::optional<T>& v) {
    if (v)
      object(k, *v);
    else
      add(k);
  }
  template <class T>
  void object_array(std::string_view k, std::vector<T>& v) {
    add(k);
    for (std::size_t i = 0; i < v.size(); ++i)
      nest(std::string(k) + "/" + std::to_string(i), [&] { fields::visit_fields(*this, v[i]); });
  }
  void raw_object(std::string_view k, std::string&) { add(k); }
  template <class... T, std::size_t N>
  void tagged(std::string_view k, std::variant<T...>& v, const std::array<std::string_view, N>&) {
    nest(k, [&] {
      add("type");
      std::visit([&](auto& alternative) { fields::visit_fields(*this, alternative); }, v);
    });
  }

 private:
  void add(std::string_view k) { all.push_back(prefix_ + "/" + std::string(k)); }
  template <class F>
  void nest(std::string_view k, F&& f) {
    const std::string saved = prefix_;
    prefix_ += "/" + std::string(k);
    f();
    prefix_ = saved;
  }
  std::string prefix_;
};

/// A configuration in which every optional part is present, so that the
/// perturbation reaches the settings inside them.
rtb::call_config full_base(std::size_t turn_alternative) {
  rtb::call_config c;
  c.openai.config.input_transcription = oa::transcription{};
  c.openai.config.tools = {oa::tool{}};
  REQUIRE(fields::emplace_alternative(c.openai.config.turn, turn_alternative));
  return c;
}

}  // namespace

TEST_CASE("every setting of the field list survives a round trip on its own", "[config][codec]") {
  const std::size_t alternative = GENERATE(0u, 1u, 2u);
  const rtb::call_config base = full_base(alternative);
  REQUIRE(same_config(round_trip(base), base));
  std::size_t settings = 0;
  for (std::size_t target = 0;; ++target) {
    rtb::call_config c = base;
    perturb_one p(target);
    fields::visit_config(p, c);
    if (!p.changed) {
      settings = p.leaves;
      break;
    }
    INFO("setting " << target << ": " << p.changed_name);
    CHECK_FALSE(same_config(c, base));     // the list reaches the setting ...
    CHECK(same_config(round_trip(c), c));  // ... and the JSON carries it both ways
  }
  CHECK(settings >= 29);  // the test was not vacuous (29 with no turn detection)
}

TEST_CASE("the JSON has a member for every setting of the field list, and no other", "[config][codec]") {
  rtb::call_config c = non_default_config();
  pointers p;
  fields::visit_config(p, c);
  const std::string json = to_json(c);
  for (const auto& pointer : p.all) {
    INFO(pointer);
    CHECK(has(json, pointer));
  }
  // And nothing else: the JSON's own settings (raw tool parameters are one).
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(json).get(root) == simdjson::SUCCESS);
  std::vector<std::string> written;
  auto walk = [&](auto&& self, simdjson::dom::element e, const std::string& prefix) -> void {
    const simdjson::dom::object obj = e.get_object().value();
    for (auto [k, v] : obj) {
      const std::string at = prefix + "/" + std::string(k);
      if (v.is_object() && k != "parameters") {
        self(self, v, at);
        continue;
      }
      written.push_back(at);
      if (v.is_array()) {
        std::size_t i = 0;
        const simdjson::dom::array arr = v.get_array().value();
        for (auto x : arr) self(self, x, at + "/" + std::to_string(i++));
      }
    }
  };
  walk(walk, root, "");
  std::sort(written.begin(), written.end());
  std::sort(p.all.begin(), p.all.end());
  CHECK(written == p.all);
}

TEST_CASE("the bundled trace's configuration is written back byte for byte", "[config][codec]") {
  std::ifstream in(std::string(RTB_SOURCE_DIR) + "/examples/traces/barge_in.jsonl");
  std::string header;
  REQUIRE(std::getline(in, header));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(header).get(root) == simdjson::SUCCESS);
  const std::string written = simdjson::minify(root["config"].value());
  auto parsed = rtb::parse_config_json(written);
  REQUIRE(parsed);
  CHECK(to_json(*parsed) == written);
}

TEST_CASE("config json round-trips every kind of turn detection", "[config][codec]") {
  rtb::call_config c;
  SECTION("semantic_vad") { c.openai.config.turn = oa::semantic_vad{"low", false, true}; }
  SECTION("no turn detection") { c.openai.config.turn = oa::no_turn_detection{}; }
  SECTION("server_vad without idle timeout") {
    c.openai.config.turn = oa::server_vad{0.0, 0, 0, std::nullopt, true, false};
  }
  SECTION("server_vad with the largest idle timeout") {
    c.openai.config.turn = oa::server_vad{1.0, 1000, 3000, 30000, false, true};
  }
  CHECK(round_trip(c).openai.config.turn == c.openai.config.turn);
}

TEST_CASE("config json round-trips each greeting style and noise reduction", "[config][codec]") {
  rtb::call_config c;
  for (auto style : {oa::greeting::style::none, oa::greeting::style::user_message, oa::greeting::style::instructions}) {
    for (auto noise : {oa::noise_reduction::off, oa::noise_reduction::near_field, oa::noise_reduction::far_field}) {
      c.openai.greeting = oa::greeting{style, "hello"};
      c.openai.config.noise = noise;
      const auto back = round_trip(c);
      CHECK(back.openai.greeting == c.openai.greeting);
      CHECK(back.openai.config.noise == noise);
    }
  }
}

TEST_CASE("config json round-trips text that needs escaping and invalid UTF-8 as U+FFFD", "[config][codec]") {
  rtb::call_config c;
  c.openai.config.instructions = std::string("quote \" backslash \\ nul \0 end", 29);
  REQUIRE(c.openai.config.instructions.back() == 'd');
  c.openai.greeting = oa::greeting{oa::greeting::style::user_message, "line\nbreak \xF0\x9F\x98\x80"};
  auto back = round_trip(c);
  CHECK(back.openai.config.instructions == c.openai.config.instructions);
  CHECK(back.openai.greeting.text == c.openai.greeting.text);

  c.openai.config.voice = "bad \xFF";
  CHECK(round_trip(c).openai.config.voice == "bad \xEF\xBF\xBD");
}

TEST_CASE("config json keeps tool parameters as the same JSON value", "[config][codec]") {
  rtb::call_config c;
  c.openai.config.tools = {
      oa::tool{"lookup", "", "{\n  \"type\": \"object\",\n  \"properties\": {\"q\": {\"type\": \"string\"}}\n}"}};
  const auto back = round_trip(c);
  REQUIRE(back.openai.config.tools.size() == 1);
  // Whitespace is not kept: parameters come back minified.
  CHECK(back.openai.config.tools[0].parameters_json == R"({"type":"object","properties":{"q":{"type":"string"}}})");
  // Once minified, a configuration round-trips exactly.
  CHECK(same_config(round_trip(back), back));
}

TEST_CASE("barge_in.server_cancels is not part of the JSON because rtb::call derives it", "[config][codec]") {
  rtb::call_config c;
  c.openai.config.turn = oa::no_turn_detection{};
  c.barge_in.server_cancels = oa::server_interrupts(c.openai.config);
  REQUIRE_FALSE(c.barge_in.server_cancels);
  const std::string json = to_json(c);
  CHECK_FALSE(has(json, "/barge_in/server_cancels"));
  CHECK(round_trip(c).barge_in.server_cancels == rtb::barge_in_config{}.server_cancels);
}

TEST_CASE("config json writes limits.caller_audio_batch_ms only when batching is on", "[config][codec]") {
  rtb::call_config c;
  // Off: the JSON (and so every trace header) is what it was before the setting existed.
  CHECK(has(to_json(c), "/limits/max_rejected_messages"));
  CHECK_FALSE(has(to_json(c), "/limits/caller_audio_batch_ms"));
  c.limits.caller_audio_batch = 100ms;
  const std::string json = to_json(c);
  CHECK(json.find(R"("max_rejected_messages":50,"caller_audio_batch_ms":100})") != std::string::npos);
  CHECK(round_trip(c).limits.caller_audio_batch == 100ms);

  auto r = rtb::parse_config_json(R"({"limits":{"caller_audio_batch_ms":40}})");
  REQUIRE(r);
  rtb::call_config expected;
  expected.limits.caller_audio_batch = 40ms;
  CHECK(same_config(*r, expected));
}

TEST_CASE("config json writes the echo guard's settings only when they are on", "[config][codec]") {
  rtb::call_config c;
  // Off: the barge_in object is what it was before the settings existed.
  CHECK(to_json(c).find(R"("barge_in":{"enabled":true,"margin_ms":0,"forget_unheard":true})") != std::string::npos);
  c.barge_in.echo_guard = 1500ms;
  CHECK(to_json(c).find(R"("forget_unheard":true,"echo_guard_ms":1500})") != std::string::npos);
  c.barge_in.min_speech = 300ms;
  CHECK(to_json(c).find(R"("echo_guard_ms":1500,"min_speech_ms":300})") != std::string::npos);
  CHECK(round_trip(c).barge_in == c.barge_in);
  auto r = rtb::parse_config_json(R"({"barge_in":{"min_speech_ms":200}})");
  REQUIRE(r);
  CHECK(r->barge_in.min_speech == 200ms);
  CHECK(r->barge_in.echo_guard == 0ms);
}

TEST_CASE("config json appends to the output buffer without clearing it", "[config][codec]") {
  std::string out = "[";
  rtb::append_config_json(out, rtb::call_config{});
  out.push_back(']');
  CHECK(out.front() == '[');
  CHECK(has(out, "/0/openai/model"));
}

// ---- parsing what a person might write ----

TEST_CASE("config json keeps defaults for members that are absent", "[config][codec]") {
  auto empty = rtb::parse_config_json("{}");
  REQUIRE(empty);
  CHECK(same_config(*empty, rtb::call_config{}));

  auto voice_only = rtb::parse_config_json(R"({"openai":{"voice":"cedar"}})");
  REQUIRE(voice_only);
  rtb::call_config expected;
  expected.openai.config.voice = "cedar";
  CHECK(same_config(*voice_only, expected));

  auto vad = rtb::parse_config_json(R"({"openai":{"turn_detection":{"type":"server_vad","threshold":0.8}}})");
  REQUIRE(vad);
  CHECK(vad->openai.config.turn == oa::turn_detection{oa::server_vad{0.8, 300, 500, std::nullopt, true, true}});
}

TEST_CASE("config json reads null as unset for transcription, speed and idle timeout", "[config][codec]") {
  auto r = rtb::parse_config_json(
      R"({"openai":{"transcription":null,"speed":null,"turn_detection":{"type":"server_vad","idle_timeout_ms":null}}})");
  REQUIRE(r);
  CHECK_FALSE(r->openai.config.input_transcription.has_value());
  CHECK_FALSE(r->openai.config.speed.has_value());
  REQUIRE(std::holds_alternative<oa::server_vad>(r->openai.config.turn));
  CHECK_FALSE(std::get<oa::server_vad>(r->openai.config.turn).idle_timeout_ms.has_value());

  auto speed = rtb::parse_config_json(R"({"openai":{"speed":1}})");  // an integer is a number too
  REQUIRE(speed);
  CHECK(speed->openai.config.speed == 1.0);
}

TEST_CASE("config json rejects unknown members, naming their full path", "[config][codec]") {
  struct unknown_case {
    const char* json;
    const char* message;
  };
  const unknown_case cases[] = {
      {R"({"foo":1})", "unknown setting config.foo"},
      {R"({"openai":{"modle":"gpt-realtime"}})", "unknown setting openai.modle"},
      {R"({"openai":{"turn_detection":{"type":"server_vad","treshold":0.5}}})",
       "unknown setting openai.turn_detection.treshold"},
      {R"({"openai":{"turn_detection":{"type":"semantic_vad","threshold":0.5}}})",
       "unknown setting openai.turn_detection.threshold"},
      {R"({"openai":{"turn_detection":{"type":"none","eagerness":"low"}}})",
       "unknown setting openai.turn_detection.eagerness"},
      {R"({"openai":{"transcription":{"model":"whisper-1","lang":"en"}}})",
       "unknown setting openai.transcription.lang"},
      {R"({"openai":{"tools":[{"name":"x","params":{}}]}})", "unknown setting openai.tools[].params"},
      {R"({"openai":{"greeting":{"text":"hi","voice":"marin"}}})", "unknown setting openai.greeting.voice"},
      {R"({"openai":{"timeouts":{"connect":5}}})", "unknown setting openai.timeouts.connect"},
      {R"({"twilio":{"start_ms":1}})", "unknown setting twilio.start_ms"},
      {R"({"barge_in":{"server_cancels":false}})", "unknown setting barge_in.server_cancels"},
      {R"({"barge_in":{"echo_guard":500}})", "unknown setting barge_in.echo_guard"},
      {R"({"limits":{"max_rejected":1}})", "unknown setting limits.max_rejected"},
  };
  for (const auto& c : cases) CHECK(parse_error(c.json).message == c.message);
}

TEST_CASE("config json rejects members of the wrong type, naming the setting", "[config][codec]") {
  struct type_case {
    const char* json;
    const char* message;
  };
  const type_case cases[] = {
      {"[]", "config must be an object"},
      {R"({"openai":[]})", "openai must be an object"},
      {R"({"twilio":"fast"})", "twilio must be an object"},
      {R"({"openai":{"model":5}})", "openai.model must be a string"},
      {R"({"openai":{"instructions":null}})", "openai.instructions must be a string"},
      {R"({"openai":{"modality":"video"}})", "openai.modality must be audio or text"},
      {R"({"openai":{"turn_detection":"server_vad"}})", "openai.turn_detection must be an object"},
      {R"({"openai":{"turn_detection":{"threshold":0.5}}})", "openai.turn_detection.type must be a string"},
      {R"({"openai":{"turn_detection":{"type":"push_to_talk"}}})",
       "openai.turn_detection.type 'push_to_talk' is not server_vad, semantic_vad or none"},
      {R"({"openai":{"turn_detection":{"type":"server_vad","threshold":"high"}}})",
       "openai.turn_detection.threshold must be a number"},
      {R"({"openai":{"turn_detection":{"type":"server_vad","create_response":"yes"}}})",
       "openai.turn_detection.create_response must be true or false"},
      {R"({"openai":{"turn_detection":{"type":"server_vad","prefix_padding_ms":1.5}}})",
       "openai.turn_detection.prefix_padding_ms must be an integer"},
      {R"({"openai":{"turn_detection":{"type":"server_vad","silence_duration_ms":3000000000}}})",
       "openai.turn_detection.silence_duration_ms must be an integer"},
      {R"({"openai":{"turn_detection":{"type":"server_vad","idle_timeout_ms":"6s"}}})",
       "openai.turn_detection.idle_timeout_ms must be an integer"},
      {R"({"openai":{"turn_detection":{"type":"semantic_vad","eagerness":3}}})",
       "openai.turn_detection.eagerness must be a string"},
      {R"({"openai":{"transcription":"whisper-1"}})", "openai.transcription must be an object"},
      {R"({"openai":{"noise_reduction":"loud"}})", "openai.noise_reduction must be off, near_field or far_field"},
      {R"({"openai":{"noise_reduction":null}})", "openai.noise_reduction must be a string"},
      {R"({"openai":{"speed":"fast"}})", "openai.speed must be a number"},
      {R"({"openai":{"tools":{}}})", "openai.tools must be an array"},
      {R"({"openai":{"tools":[5]}})", "openai.tools[] must be an object"},
      {R"({"openai":{"tools":[{"name":"x","parameters":"{}"}]}})", "openai.tools[].parameters must be an object"},
      {R"({"openai":{"tools":[{"name":7}]}})", "openai.tools[].name must be a string"},
      {R"({"openai":{"tool_choice":{"type":"function"}}})", "openai.tool_choice must be a string"},
      {R"({"openai":{"greeting":{"style":"shout"}}})",
       "openai.greeting.style must be none, user_message or instructions"},
      {R"({"openai":{"timeouts":{"connect_ms":"10s"}}})", "openai.timeouts.connect_ms must be an integer (ms)"},
      {R"({"twilio":{"start_timeout_ms":1.5}})", "twilio.start_timeout_ms must be an integer (ms)"},
      {R"({"barge_in":{"enabled":1}})", "barge_in.enabled must be true or false"},
      {R"({"barge_in":{"margin_ms":"20"}})", "barge_in.margin_ms must be an integer (ms)"},
      {R"({"barge_in":{"echo_guard_ms":true}})", "barge_in.echo_guard_ms must be an integer (ms)"},
      {R"({"barge_in":{"min_speech_ms":0.5}})", "barge_in.min_speech_ms must be an integer (ms)"},
      {R"({"limits":{"max_rejected_messages":-1}})", "limits.max_rejected_messages must be a non-negative integer"},
      {R"({"limits":{"max_rejected_messages":4294967296}})",
       "limits.max_rejected_messages must be a non-negative integer"},
      {R"({"limits":{"caller_audio_batch_ms":"60"}})", "limits.caller_audio_batch_ms must be an integer (ms)"},
      {R"({"limits":{"caller_audio_batch_ms":60.5}})", "limits.caller_audio_batch_ms must be an integer (ms)"},
  };
  for (const auto& c : cases) CHECK(parse_error(c.json).message == c.message);
}

TEST_CASE("config json rejects text that is not JSON", "[config][codec]") {
  for (const char* text : {"", "{", "not json", R"({"openai":{}} extra)", R"({"openai":{},})"}) {
    CHECK_THAT(parse_error(text).message, StartsWith("configuration is not valid JSON"));
  }
}

// ---- rtb::validate(call_config) ----

TEST_CASE("validate accepts the default call configuration and a full one", "[config][codec]") {
  CHECK(rtb::validate(rtb::call_config{}));
  rtb::call_config full = non_default_config();
  full.openai.config.modality = oa::output_modality::audio;
  CHECK(rtb::validate(full));
}

TEST_CASE("validate names the bad setting of a call configuration", "[config][codec]") {
  rtb::call_config c;
  SECTION("text output") {
    c.openai.config.modality = oa::output_modality::text;
    CHECK(validate_message(c) == "output modality 'text' produces no audio for the caller; use 'audio'");
  }
  SECTION("a greeting without text") {
    c.openai.greeting = oa::greeting{oa::greeting::style::user_message, ""};
    CHECK(validate_message(c) == "greeting text must not be empty when a greeting is configured");
    c.openai.greeting.how = oa::greeting::style::instructions;
    CHECK(validate_message(c) == "greeting text must not be empty when a greeting is configured");
  }
  SECTION("openai timeouts") {
    c.openai.timeouts.connect = 0ms;
    CHECK(validate_message(c) == "openai timeouts must be positive");
    c.openai.timeouts.connect = 1ms;
    c.openai.timeouts.configure = -5ms;
    CHECK(validate_message(c) == "openai timeouts must be positive");
  }
  SECTION("twilio timeouts") {
    c.twilio.start = 0ms;
    CHECK(validate_message(c) == "twilio start timeout must be positive");
    c.twilio.start = 1ms;
    c.twilio.media_idle = -1ms;
    CHECK(validate_message(c) == "twilio media idle timeout must not be negative");
    c.twilio.media_idle = 0ms;  // off
    CHECK(rtb::validate(c));
  }
  SECTION("barge-in margin") {
    c.barge_in.margin = -1ms;
    CHECK(validate_message(c) == "barge-in margin must not be negative");
  }
  SECTION("held audio") {
    c.limits.held_caller_audio = -1ms;
    CHECK(validate_message(c) == "held audio limits must not be negative");
    c.limits.held_caller_audio = 0ms;
    c.limits.held_ai_audio = -1ms;
    CHECK(validate_message(c) == "held audio limits must not be negative");
  }
  SECTION("caller audio batch") {
    for (auto ok : {0ms, 40ms, 60ms, 100ms, 200ms}) {
      c.limits.caller_audio_batch = ok;
      CHECK(rtb::validate(c));
    }
    c.limits.caller_audio_batch = 50ms;
    CHECK(validate_message(c) ==
          "caller audio batch must be 0 (off) or a multiple of 20 ms from 40 to 200 ms, not 50 ms");
    c.limits.caller_audio_batch = 20ms;  // one frame: batching would only cost a decode and an encode
    CHECK(validate_message(c) ==
          "caller audio batch must be 0 (off) or a multiple of 20 ms from 40 to 200 ms, not 20 ms");
    for (auto bad : {-20ms, 10ms, 30ms, 190ms, 220ms, 1000ms}) {
      c.limits.caller_audio_batch = bad;
      CHECK_THAT(validate_message(c), StartsWith("caller audio batch must be 0 (off) or a multiple of 20 ms"));
    }
  }
  SECTION("a bad session config") {
    c.openai.config.tool_choice = "lookup";
    CHECK(validate_message(c) == "tool_choice 'lookup' is neither auto, none, required nor a configured tool");
  }
}

// ---- rtb::openai::validate(session_config) ----

TEST_CASE("openai validate accepts defaults and the values at the ends of each range", "[config][codec]") {
  CHECK(oa::validate(oa::session_config{}));
  oa::session_config c;
  for (double t : {0.0, 1.0}) {
    c.turn = oa::server_vad{t, 0, 0, 5000, true, true};
    CHECK(oa::validate(c));
  }
  c.turn = oa::server_vad{0.5, 300, 500, 30000, true, true};
  CHECK(oa::validate(c));
  for (const char* e : {"low", "medium", "high", "auto"}) {
    c.turn = oa::semantic_vad{e, true, true};
    CHECK(oa::validate(c));
  }
  c.turn = oa::no_turn_detection{};
  CHECK(oa::validate(c));
  for (double s : {0.25, 1.0, 1.5}) {
    c.speed = s;
    CHECK(oa::validate(c));
  }
}

TEST_CASE("openai validate rejects out-of-range numbers, naming the setting", "[config][codec]") {
  oa::session_config c;
  SECTION("threshold") {
    for (double t : {-0.01, 1.01, std::nan(""), std::numeric_limits<double>::infinity()}) {
      c.turn = oa::server_vad{t, 300, 500, std::nullopt, true, true};
      CHECK(validate_message(c) == "server_vad threshold must be between 0.0 and 1.0");
    }
  }
  SECTION("padding and silence") {
    c.turn = oa::server_vad{0.5, -1, 500, std::nullopt, true, true};
    CHECK(validate_message(c) == "server_vad prefix_padding_ms must not be negative");
    c.turn = oa::server_vad{0.5, 300, -1, std::nullopt, true, true};
    CHECK(validate_message(c) == "server_vad silence_duration_ms must not be negative");
  }
  SECTION("idle timeout") {
    for (int ms : {0, 4999, 30001}) {
      c.turn = oa::server_vad{0.5, 300, 500, ms, true, true};
      CHECK(validate_message(c) == "server_vad idle_timeout_ms must be between 5000 and 30000");
    }
  }
  SECTION("speed") {
    for (double s : {0.0, 0.24, 1.51, std::nan(""), -std::numeric_limits<double>::infinity()}) {
      c.speed = s;
      CHECK(validate_message(c) == "speed must be between 0.25 and 1.5");
    }
  }
}

TEST_CASE("openai validate rejects unusable names and choices, naming the setting", "[config][codec]") {
  oa::session_config c;
  SECTION("model") {
    c.model.clear();
    CHECK(validate_message(c) == "openai model must not be empty");
  }
  SECTION("eagerness") {
    c.turn = oa::semantic_vad{"eager", true, true};
    CHECK(validate_message(c) == "semantic_vad eagerness must be low, medium, high or auto");
    c.turn = oa::semantic_vad{"", true, true};
    CHECK(validate_message(c) == "semantic_vad eagerness must be low, medium, high or auto");
  }
  SECTION("transcription model") {
    c.input_transcription = oa::transcription{"", "en", ""};
    CHECK(validate_message(c) == "input transcription model must not be empty");
  }
  SECTION("text modality") {
    c.modality = oa::output_modality::text;
    CHECK(validate_message(c) == "output modality 'text' produces no audio for the caller; use 'audio'");
  }
}

TEST_CASE("openai validate rejects tools without a name or with a schema that is not a JSON object",
          "[config][codec]") {
  oa::session_config c;
  c.tools = {oa::tool{"", "nameless", R"({"type":"object"})"}};
  CHECK(validate_message(c) == "tools[0] has no name");

  for (const char* schema :
       {"[]", "\"object\"", "42", "null", "", "not json", "{\"type\":", R"({"type":"object"} {})"}) {
    INFO("schema: " << schema);
    c.tools = {oa::tool{"ok", "", R"({"type":"object","properties":{}})"}, oa::tool{"lookup", "", schema}};
    CHECK(validate_message(c) == "tools[1] (lookup) parameters are not a JSON object");
  }

  c.tools = {oa::tool{"lookup", "", "{ }"}};
  CHECK(oa::validate(c));

  c.tools = {oa::tool{"lookup", "", "{}"}, oa::tool{"lookup", "again", "{}"}};
  CHECK(validate_message(c) == "tools[1] repeats the name 'lookup'");
}

TEST_CASE("openai validate rejects a tool_choice that is neither a mode nor a configured tool", "[config][codec]") {
  oa::session_config c;
  c.tool_choice = "lookup";
  CHECK(validate_message(c) == "tool_choice 'lookup' is neither auto, none, required nor a configured tool");
  c.tool_choice = "";
  CHECK(validate_message(c) == "tool_choice '' is neither auto, none, required nor a configured tool");
  c.tool_choice = "Auto";
  CHECK(validate_message(c) == "tool_choice 'Auto' is neither auto, none, required nor a configured tool");

  c.tools = {oa::tool{"lookup", "", R"({"type":"object"})"}};
  c.tool_choice = "lookup";
  CHECK(oa::validate(c));
  for (const char* mode : {"auto", "none", "required"}) {
    c.tool_choice = mode;
    CHECK(oa::validate(c));
  }
}

TEST_CASE("server_interrupts follows interrupt_response of the turn detection", "[config][codec]") {
  oa::session_config c;
  c.turn = oa::server_vad{0.5, 300, 500, std::nullopt, true, true};
  CHECK(oa::server_interrupts(c));
  c.turn = oa::server_vad{0.5, 300, 500, std::nullopt, true, false};
  CHECK_FALSE(oa::server_interrupts(c));
  c.turn = oa::semantic_vad{"auto", false, true};
  CHECK(oa::server_interrupts(c));
  c.turn = oa::semantic_vad{"auto", true, false};
  CHECK_FALSE(oa::server_interrupts(c));
  c.turn = oa::no_turn_detection{};
  CHECK_FALSE(oa::server_interrupts(c));
}

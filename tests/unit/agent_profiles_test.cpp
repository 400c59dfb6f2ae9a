// Agent profiles: the file's shape and its errors, choosing the agent for a
// call, variables in instructions, the call configuration a profile makes.
#include <fstream>
#include <iterator>
#include <catch2/catch.hpp>

#include "realtime_bridge/service/agent_profiles.hpp"

using namespace rtb;
using namespace rtb::service;

namespace {

const char* const example = R"({
  "default": "front-desk",
  "agents": {
    "front-desk": {
      "instructions": "You answer the phone for {{business}}. The caller is {{From}}.",
      "voice": "marin",
      "greeting": "Hello, {{business}}, how can I help?",
      "numbers": ["+15551230001"],
      "language": "en",
      "tools": [{"name": "lookup_order", "description": "Look up an order.",
                 "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
                 "url": "https://crm.example/tools/lookup_order"}],
      "transfer_to": "+15550009999",
      "idle_timeout_seconds": 20,
      "max_call_seconds": 1800
    },
    "sales": {"instructions": "Sell.", "numbers": ["+15551230002", "+15551230003"], "model": "gpt-realtime-mini",
              "end_call": false, "tools": []}
  }
})";

std::string error_of(std::string_view json) {
  auto r = parse_profiles(json, "agents.json");
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

}  // namespace

TEST_CASE("a profiles file is read with every field", "[profiles]") {
  auto r = parse_profiles(example, "agents.json");
  REQUIRE(r.has_value());
  CHECK(r->default_agent == "front-desk");
  REQUIRE(r->agents.size() == 2);
  const agent_profile& f = *r->find("front-desk");
  CHECK(f.voice == "marin");
  CHECK(f.numbers == std::vector<std::string>{"+15551230001"});
  REQUIRE(f.tools.size() == 1);
  CHECK(f.tools[0].name == "lookup_order");
  CHECK(f.tools[0].url == "https://crm.example/tools/lookup_order");
  CHECK(f.tools[0].parameters_json == R"({"type":"object","properties":{"order":{"type":"string"}}})");
  CHECK(f.transfer_to == "+15550009999");
  CHECK(f.idle_timeout == std::chrono::seconds(20));
  CHECK(f.max_call == std::chrono::seconds(1800));
  CHECK(f.end_call);
  CHECK_FALSE(r->find("sales")->end_call);
  CHECK(r->find("sales")->model == "gpt-realtime-mini");
}

TEST_CASE("the agent is chosen by the number called, else by name, else the default", "[profiles]") {
  auto r = parse_profiles(example, "agents.json");
  REQUIRE(r.has_value());
  CHECK(r->select("+15551230003", "").name == "sales");
  CHECK(r->select("+15551230003", "front-desk").name == "sales");  // the number wins
  CHECK(r->select("+19999999999", "sales").name == "sales");
  CHECK(r->select("", "sales").name == "sales");
  CHECK(r->select("", "nobody").name == "front-desk");
  CHECK(r->select("", "").name == "front-desk");
}

TEST_CASE("a malformed profiles file names the file, the path and what is wrong", "[profiles]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "agents.json: not valid JSON: "},
      {R"({"agents": {}})", "agents.json: agents: at least one agent is needed"},
      {R"({"agents": {"a": {}, "b": {}}})", "agents.json: default: must name one of the agents when there are several"},
      {R"({"default": "x", "agents": {"a": {}}})", "agents.json: default: 'x' is not one of the agents"},
      {R"({"agents": {"a": {"voice": 3}}})", "agents.json: agents.a.voice: must be a string"},
      {R"({"agents": {"a": {"colour": "red"}}})", "agents.json: agents.a.colour: is not a setting this version knows"},
      {R"({"agents": {"a": {"numbers": ["555"]}}})",
       "agents.json: agents.a.numbers[0]: must be an E.164 number (+ and 8 to 15 digits)"},
      {R"({"agents": {"a": {"numbers": ["+15551230001"]}, "b": {"numbers": ["+15551230001"]}}, "default": "a"})",
       "agents.json: agents.b.numbers: +15551230001 is also a number of agent 'a'"},
      {R"({"agents": {"a": {"tools": [{"name": "t", "url": "http://crm.example/t"}]}}})",
       "agents.json: agents.a.tools[0].url: plain http:// is only allowed to a loopback host; use https://"},
      {R"({"agents": {"a": {"tools": [{"name": "t", "url": "http://127.example.com/t"}]}}})",
       "agents.json: agents.a.tools[0].url: plain http:// is only allowed to a loopback host; use https://"},
      {R"({"agents": {"a": {"tools": [{"name": "t"}]}}})",
       "agents.json: agents.a.tools[0]: needs a url (where the tool is answered)"},
      {R"({"agents": {"a": {"tools": [{"name": "bad name", "url": "https://x/t"}]}}})",
       "agents.json: agents.a.tools[0].name: must be 1-64 letters, digits, '_' or '-'"},
      {R"({"agents": {"a": {"tools": [{"name": "end_call", "url": "https://x/t"}]}}})",
       "agents.json: agents.a.tools[0].name: 'end_call' is a built-in tool; enable it instead of declaring it"},
      {R"({"agents": {"a": {"tools": [{"name": "t", "url": "https://x/t"}, {"name": "t", "url": "https://x/u"}]}}})",
       "agents.json: agents.a.tools[1].name: 't' is declared twice"},
      {R"({"agents": {"a": {"tools": [{"name": "t", "url": "https://x/t", "parameters": []}]}}})",
       "agents.json: agents.a.tools[0].parameters: must be a JSON Schema object"},
      {R"({"agents": {"a": {"idle_timeout_seconds": -1}}})",
       "agents.json: agents.a.idle_timeout_seconds: must be a whole number of seconds from 0 (off) to 3600"},
      {R"({"agents": {"a": {"transfer_to": "0800"}}})",
       "agents.json: agents.a.transfer_to: must be an E.164 number (+ and 8 to 15 digits)"},
  };
  for (const auto& [json, message] : cases) {
    CAPTURE(json);
    CHECK(error_of(json).starts_with(message));
  }
}

TEST_CASE("variables in instructions: the call's values, unknown ones left out and reported", "[profiles]") {
  const call_variables vars = {{"From", "+14155550100"}, {"business", "Acme"}};
  std::vector<std::string> missing;
  CHECK(expand_variables("Hi {{ business }}, caller {{From}}, order {{order}}.", vars, &missing) ==
        "Hi Acme, caller +14155550100, order .");
  CHECK(missing == std::vector<std::string>{"order"});
  CHECK(expand_variables("no {{ end", vars) == "no {{ end");
  CHECK(expand_variables("", vars).empty());
}

TEST_CASE("a profile's call configuration: model, voice, instructions, greeting, tools and call control",
          "[profiles]") {
  auto r = parse_profiles(example, "agents.json");
  REQUIRE(r.has_value());
  call_config base;
  base.openai.config.voice = "alloy";
  const call_config c =
      profile_call_config(*r->find("front-desk"), base, {{"From", "+14155550100"}, {"business", "Acme"}});
  const auto& s = c.openai.config;
  CHECK(s.model == "gpt-realtime");  // the server's default
  CHECK(s.voice == "marin");
  CHECK(s.instructions == "You answer the phone for Acme. The caller is +14155550100.");
  CHECK(c.openai.greeting.how == openai::greeting::style::instructions);
  CHECK(c.openai.greeting.text == "Greet the caller by saying: Hello, Acme, how can I help?");
  REQUIRE(s.input_transcription.has_value());
  CHECK(s.input_transcription->language == "en");
  REQUIRE(s.tools.size() == 3);
  CHECK(s.tools[0].name == "lookup_order");
  CHECK(s.tools[1].name == "end_call");
  CHECK(s.tools[2].name == "transfer_call");
  CHECK(validate(c).has_value());

  const call_config sales = profile_call_config(*r->find("sales"), base, {});
  CHECK(sales.openai.config.model == "gpt-realtime-mini");
  CHECK(sales.openai.config.voice == "alloy");
  CHECK(sales.openai.config.tools.empty());  // no end_call, no transfer number
}

TEST_CASE("an agent's answering-machine policy: hang up by default, or leave a message", "[profiles]") {
  auto r = parse_profiles(
      R"({"default":"a","agents":{"a":{"instructions":"x"},
          "b":{"instructions":"y","on_machine":"leave_message","voicemail_message":"Call us back at 555."}}})",
      "agents.json");
  REQUIRE(r.has_value());
  CHECK(r->find("a")->on_machine == machine_policy::hang_up);
  CHECK(r->find("b")->on_machine == machine_policy::leave_message);
  CHECK(r->find("b")->voicemail_message == "Call us back at 555.");
  CHECK(error_of(R"({"default":"a","agents":{"a":{"on_machine":"sing"}}})") ==
        R"(agents.json: agents.a.on_machine: must be "hang_up" or "leave_message")");
  CHECK(error_of(R"({"default":"a","agents":{"a":{"on_machine":"leave_message"}}})") ==
        R"(agents.json: agents.a.voicemail_message: is needed with "on_machine": "leave_message")");
  CHECK(parse_machine_policy(to_string(machine_policy::leave_message)) == machine_policy::leave_message);
}

TEST_CASE("the example agents file the docs and the simulated call use is valid", "[profiles]") {
  std::ifstream in(RTB_EXAMPLES_DIR "/agents.json");
  REQUIRE(in);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto r = parse_profiles(text, "examples/agents.json");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->default_agent == "front-desk");
  const agent_profile& front = r->select("+15551230001", "");
  CHECK(front.name == "front-desk");
  CHECK(r->select("+15551230002", "").name == "sales");
  for (const auto& [name, profile] : r->agents) {
    INFO(name);
    const call_config c = profile_call_config(profile, call_config{}, {{"From", "+14155550100"}});
    CHECK(validate(c).has_value());
  }
}

// The three OpenAI fixtures (tests/fixtures/openai, from openai-realtime.md §5)
// replayed through a whole call: their server lines are fed to a call_driver,
// their client appends become Twilio media frames, Twilio's playout is
// simulated, and what the bridge sends is compared with the fixtures' client
// lines.
#include <simdjson.h>

#include "support/fixture_call.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

std::vector<std::string> types_except_appends(const std::vector<sent_event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    if (e.type != "input_audio_buffer.append") out.push_back(e.type);
  return out;
}

std::vector<std::string> fixture_client_types(const std::vector<fixture_line>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    if (!l.server && l.type != "input_audio_buffer.append") out.push_back(l.type);
  return out;
}

std::vector<std::string> fixture_appends(const std::vector<fixture_line>& lines) {
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  for (const auto& l : lines)
    if (!l.server && l.type == "input_audio_buffer.append")
      for (int i = 0; i < l.repeat; ++i) out.push_back(l.event);
  return out;
}

std::vector<std::string> our_appends(const std::vector<sent_event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    if (e.type == "input_audio_buffer.append") out.push_back(e.json);
  return out;
}

std::size_t server_deltas(const std::vector<fixture_line>& lines) {
  std::size_t n = 0;
  for (const auto& l : lines)
    if (l.server && l.type == "response.output_audio.delta") n += static_cast<std::size_t>(l.repeat);
  return n;
}

const std::string* find_fixture_client(const std::vector<fixture_line>& lines, std::string_view type) {
  for (const auto& l : lines)
    if (!l.server && l.type == type) return &l.event;
  return nullptr;
}

}  // namespace

TEST_CASE("fixture A: greeting by user message, then one caller turn", "[fixture][call]") {
  const auto lines = load_fixture("a_greeting_then_turn");
  call_config config = acme_config();
  config.openai.greeting = {openai::greeting::style::user_message,
                            "(The caller has just connected. Greet them and ask how you can help.)"};
  fixture_call r(config, std::chrono::milliseconds(0));
  r.run(lines);
  const auto sent = r.sent_to_openai();

  REQUIRE(types_except_appends(sent) == fixture_client_types(lines));
  // session.update means what the fixture's means (the bridge adds the model, and
  // leaves max_output_tokens at its default).
  CHECK(canonical_json(sent[0].json, {"event_id", "session.model"}) ==
        canonical_json(*find_fixture_client(lines, "session.update"), {"event_id", "max_output_tokens"}));
  CHECK(canonical_json(sent[1].json, {"event_id"}) ==
        canonical_json(*find_fixture_client(lines, "conversation.item.create"), {"event_id"}));
  // Every caller frame went to OpenAI unchanged, in order.
  CHECK(our_appends(sent) == fixture_appends(lines));
  // Every AI chunk reached the caller, each followed by a mark; nothing was cleared.
  CHECK(r.twilio.violations.empty());
  CHECK(r.twilio.media_payloads.size() == server_deltas(lines));
  CHECK(r.twilio.clears == 0);
  CHECK(r.observer.saw("host.caller_transcript{item_CGX9vbzSitujSsM0dOYML, \"What time do you close today?\"}"));
  CHECK(r.observer.saw("host.ai_transcript{item_CaNpjIBPVVCOZQL14aACY, \"Hi! Thanks for calling Acme Outfitters."));
  REQUIRE(r.observer.ended == std::vector<end_reason>{end_reason::caller_hung_up});
  CHECK(r.observer.final_counters[0].playout.truncates == 0);
}

TEST_CASE("fixture B: the caller barges in, the truncate matches what the caller heard", "[fixture][call][barge_in]") {
  const auto lines = load_fixture("b_barge_in");
  // However long Twilio takes to start playing, the truncate follows the marks.
  const auto delay_ms = GENERATE(0, 37, 120);
  fixture_call r(acme_config(), std::chrono::milliseconds(delay_ms));
  r.run(lines);
  const auto sent = r.sent_to_openai();

  REQUIRE(types_except_appends(sent) == fixture_client_types(lines));
  CHECK(our_appends(sent) == fixture_appends(lines));
  CHECK(r.twilio.violations.empty());
  REQUIRE(r.twilio.clears == 1);

  simdjson::dom::parser parser;
  simdjson::dom::element ours, theirs;
  std::string ours_json;
  for (const auto& e : sent)
    if (e.type == "conversation.item.truncate") ours_json = e.json;
  REQUIRE_FALSE(parser.parse(ours_json).get(ours));
  const std::string_view ours_item = ours["item_id"].get_string().value();
  const std::int64_t ours_ms = ours["audio_end_ms"].get_int64().value();
  simdjson::dom::parser parser2;
  REQUIRE_FALSE(parser2.parse(*find_fixture_client(lines, "conversation.item.truncate")).get(theirs));
  CHECK(ours_item == std::string_view(theirs["item_id"].get_string().value()));
  CHECK(ours["content_index"].get_int64().value() == 0);

  // Ground truth: what the simulated Twilio had played when the clear arrived.
  const std::int64_t heard = r.twilio.playout.heard_at_clears().at(0);
  INFO("heard " << heard << " ms, truncated at " << ours_ms << " ms, Twilio start delay " << delay_ms << " ms");
  CHECK(ours_ms >= heard);
  CHECK(ours_ms <= heard + 20 + 1);  // the margin, plus rounding to whole ms
  CHECK(ours_ms <= 2000);            // the audio received for the item

  // The late delta of the interrupted response never reached the caller.
  CHECK(r.twilio.media_payloads.size() == server_deltas(lines) - 1);
  CHECK(r.observer.final_counters.at(0).playout.late_deltas_dropped == 1);
  // interrupt_response is on: the server cancels, the bridge does not.
  for (const auto& e : sent) CHECK(e.type != "response.cancel");
}

TEST_CASE("fixture C: a spoken preamble, a function call, its output and the answer", "[fixture][call]") {
  const auto lines = load_fixture("c_function_call");
  fixture_call r(acme_config(), std::chrono::milliseconds(0));
  r.run(lines);
  const auto sent = r.sent_to_openai();

  REQUIRE(types_except_appends(sent) == fixture_client_types(lines));
  CHECK(our_appends(sent) == fixture_appends(lines));
  REQUIRE(r.observer.saw(
      "host.tool_call{call_OwsCQGgBRWbFTumh, get_order_status, \"{\\\"order_number\\\":\\\"48217\\\"}\"}"));
  for (const auto& e : sent) {
    if (e.type == "conversation.item.create")
      CHECK(canonical_json(e.json, {"event_id"}) ==
            canonical_json(*find_fixture_client(lines, "conversation.item.create"), {"event_id"}));
  }
  CHECK(r.twilio.violations.empty());
  CHECK(r.twilio.media_payloads.size() == server_deltas(lines));
}

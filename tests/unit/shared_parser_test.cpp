// Decoders that share one parser (every call on an adapter thread does):
// they take turns in it, and each keeps its own size limit.
#include <string>
#include <variant>

#include <catch2/catch.hpp>

#include "realtime_bridge/openai/decoder.hpp"
#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/shared_parser.hpp"
#include "realtime_bridge/twilio/decoder.hpp"

namespace oa = rtb::openai;
namespace tw = rtb::twilio;

namespace {

std::string transcript_done(const std::string& escaped) {
  return R"({"type":"response.output_audio_transcript.done","event_id":"e1","response_id":"r1","item_id":"i1",)"
         R"("output_index":0,"content_index":0,"transcript":")" +
         escaped + R"("})";
}

}  // namespace

TEST_CASE("decoders sharing a parser take turns: every event is whole, every limit is the decoder's own",
          "[codec]") {
  rtb::shared_parser shared;
  oa::decoder openai_a(4 * 1024 * 1024, &shared);
  oa::decoder openai_small(64, &shared);
  tw::decoder twilio(64 * 1024, &shared);
  rtb::padded_buffer buf;

  // An unescaped transcript lives in the parser's string buffer.
  buf.assign(transcript_done(R"(Caf\u00e9, \"two\" lines\n)"));
  auto first = openai_a.decode(buf);
  REQUIRE(first);
  REQUIRE(std::holds_alternative<oa::transcript_done>(*first));
  CHECK(std::get<oa::transcript_done>(*first).transcript == "Café, \"two\" lines\n");

  buf.assign(R"({"event":"media","sequenceNumber":"2","streamSid":"MZ1","media":{"track":"inbound","chunk":"1",)"
             R"("timestamp":"102","payload":"/w=="}})");
  auto media = twilio.decode(buf);
  REQUIRE(media);
  REQUIRE(std::holds_alternative<tw::media>(*media));
  CHECK(std::get<tw::media>(*media).payload == "/w==");
  CHECK(std::get<tw::media>(*media).chunk == 1);

  // A longer message than any before: the shared parser grows for it.
  const std::string long_text(5000, 'a');
  buf.assign(transcript_done(long_text + R"(\t)"));
  auto second = openai_a.decode(buf);
  REQUIRE(second);
  CHECK(std::get<oa::transcript_done>(*second).transcript == long_text + "\t");

  // The small decoder refuses what its own limit does not allow, although the
  // shared parser has room for it.
  auto refused = openai_small.decode(buf);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == rtb::errc::too_large);
  buf.assign(R"({"type":"x"})");
  CHECK(openai_small.decode(buf));
}

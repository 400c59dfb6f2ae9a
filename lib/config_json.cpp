#include "realtime_bridge/config_json.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "json.hpp"

namespace rtb {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::string_view noise_name(openai::noise_reduction n) {
  switch (n) {
    case openai::noise_reduction::off: return "off";
    case openai::noise_reduction::near_field: return "near_field";
    case openai::noise_reduction::far_field: return "far_field";
  }
  return "off";
}

std::string_view greeting_name(openai::greeting::style s) {
  switch (s) {
    case openai::greeting::style::none: return "none";
    case openai::greeting::style::user_message: return "user_message";
    case openai::greeting::style::instructions: return "instructions";
  }
  return "none";
}

// Small writer for `"key":value` members separated by commas.
class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}
  void open() {
    out_.push_back('{');
    first_ = true;
  }
  void close() {
    out_.push_back('}');
    first_ = false;
  }
  void key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    json::append_string(out_, k);
    out_.push_back(':');
  }
  void str(std::string_view k, std::string_view v) {
    key(k);
    json::append_string(out_, v);
  }
  void num(std::string_view k, std::int64_t v) {
    key(k);
    json::append_int(out_, v);
  }
  void dbl(std::string_view k, double v) {
    key(k);
    json::append_double(out_, v);
  }
  void boolean(std::string_view k, bool v) {
    key(k);
    out_.append(v ? "true" : "false");
  }
  void null(std::string_view k) {
    key(k);
    out_.append("null");
  }
  void raw(std::string_view k, std::string_view v) {
    key(k);
    out_.append(v);
  }
  void object_member(std::string_view k) {
    key(k);
    open();
  }
  std::string& out() { return out_; }

 private:
  std::string& out_;
  bool first_ = true;
};

void write_turn(writer& w, const openai::turn_detection& t) {
  w.object_member("turn_detection");
  if (const auto* v = std::get_if<openai::server_vad>(&t)) {
    w.str("type", "server_vad");
    w.dbl("threshold", v->threshold);
    w.num("prefix_padding_ms", v->prefix_padding_ms);
    w.num("silence_duration_ms", v->silence_duration_ms);
    if (v->idle_timeout_ms)
      w.num("idle_timeout_ms", *v->idle_timeout_ms);
    else
      w.null("idle_timeout_ms");
    w.boolean("create_response", v->create_response);
    w.boolean("interrupt_response", v->interrupt_response);
  } else if (const auto* s = std::get_if<openai::semantic_vad>(&t)) {
    w.str("type", "semantic_vad");
    w.str("eagerness", s->eagerness);
    w.boolean("create_response", s->create_response);
    w.boolean("interrupt_response", s->interrupt_response);
  } else {
    w.str("type", "none");
  }
  w.close();
}

// ---- parsing ----

error bad(std::string message) { return {errc::invalid_config, std::move(message)}; }

// Visits each member of `obj`; `on` returns nullopt when it knows the key and
// read it, or an error. Unknown keys are errors naming the full path.
template <class F>
std::optional<error> members(element e, std::string_view path, F&& on) {
  object obj;
  if (e.get_object().get(obj)) return bad(fmt::format("{} must be an object", path));
  for (auto [key, value] : obj) {
    std::optional<std::optional<error>> r = on(key, value);
    if (!r) return bad(fmt::format("unknown setting {}.{}", path, key));
    if (*r) return **r;
  }
  return std::nullopt;
}

using member_result = std::optional<std::optional<error>>;
const member_result ok = std::optional<error>{};

member_result read(element v, std::string_view path, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s)) return std::optional<error>{bad(fmt::format("{} must be a string", path))};
  out.assign(s);
  return ok;
}
member_result read(element v, std::string_view path, bool& out) {
  if (v.get_bool().get(out)) return std::optional<error>{bad(fmt::format("{} must be true or false", path))};
  return ok;
}
member_result read(element v, std::string_view path, double& out) {
  if (v.get_double().get(out)) return std::optional<error>{bad(fmt::format("{} must be a number", path))};
  return ok;
}
member_result read(element v, std::string_view path, int& out) {
  std::int64_t n = 0;
  if (v.get_int64().get(n) || n < INT32_MIN || n > INT32_MAX)
    return std::optional<error>{bad(fmt::format("{} must be an integer", path))};
  out = static_cast<int>(n);
  return ok;
}
member_result read(element v, std::string_view path, std::uint32_t& out) {
  std::uint64_t n = 0;
  if (v.get_uint64().get(n) || n > UINT32_MAX)
    return std::optional<error>{bad(fmt::format("{} must be a non-negative integer", path))};
  out = static_cast<std::uint32_t>(n);
  return ok;
}
member_result read(element v, std::string_view path, std::chrono::milliseconds& out) {
  std::int64_t n = 0;
  if (v.get_int64().get(n)) return std::optional<error>{bad(fmt::format("{} must be an integer (ms)", path))};
  out = std::chrono::milliseconds(n);
  return ok;
}

std::optional<error> read_turn(element v, openai::turn_detection& out) {
  object obj;
  if (v.get_object().get(obj)) return bad("openai.turn_detection must be an object");
  std::string_view type;
  if (obj["type"].get_string().get(type)) return bad("openai.turn_detection.type must be a string");
  if (type == "none") {
    out = openai::no_turn_detection{};
    return members(v, "openai.turn_detection", [&](std::string_view k, element) -> member_result {
      if (k == "type") return ok;
      return std::nullopt;
    });
  }
  if (type == "server_vad") {
    openai::server_vad s;
    auto err = members(v, "openai.turn_detection", [&](std::string_view k, element m) -> member_result {
      if (k == "type") return ok;
      if (k == "threshold") return read(m, "openai.turn_detection.threshold", s.threshold);
      if (k == "prefix_padding_ms") return read(m, "openai.turn_detection.prefix_padding_ms", s.prefix_padding_ms);
      if (k == "silence_duration_ms")
        return read(m, "openai.turn_detection.silence_duration_ms", s.silence_duration_ms);
      if (k == "idle_timeout_ms") {
        if (m.is_null()) return ok;
        int n = 0;
        auto r = read(m, "openai.turn_detection.idle_timeout_ms", n);
        if (*r) return r;
        s.idle_timeout_ms = n;
        return ok;
      }
      if (k == "create_response") return read(m, "openai.turn_detection.create_response", s.create_response);
      if (k == "interrupt_response") return read(m, "openai.turn_detection.interrupt_response", s.interrupt_response);
      return std::nullopt;
    });
    if (err) return err;
    out = s;
    return std::nullopt;
  }
  if (type == "semantic_vad") {
    openai::semantic_vad s;
    auto err = members(v, "openai.turn_detection", [&](std::string_view k, element m) -> member_result {
      if (k == "type") return ok;
      if (k == "eagerness") return read(m, "openai.turn_detection.eagerness", s.eagerness);
      if (k == "create_response") return read(m, "openai.turn_detection.create_response", s.create_response);
      if (k == "interrupt_response") return read(m, "openai.turn_detection.interrupt_response", s.interrupt_response);
      return std::nullopt;
    });
    if (err) return err;
    out = s;
    return std::nullopt;
  }
  return bad(fmt::format("openai.turn_detection.type '{}' is not server_vad, semantic_vad or none", type));
}

std::optional<error> read_openai(element v, openai::session_options& o) {
  openai::session_config& c = o.config;
  return members(v, "openai", [&](std::string_view k, element m) -> member_result {
    if (k == "model") return read(m, "openai.model", c.model);
    if (k == "instructions") return read(m, "openai.instructions", c.instructions);
    if (k == "voice") return read(m, "openai.voice", c.voice);
    if (k == "modality") {
      std::string s;
      if (auto r = read(m, "openai.modality", s); *r) return r;
      if (s == "audio")
        c.modality = openai::output_modality::audio;
      else if (s == "text")
        c.modality = openai::output_modality::text;
      else
        return std::optional<error>{bad("openai.modality must be audio or text")};
      return ok;
    }
    if (k == "turn_detection") return std::optional<error>{read_turn(m, c.turn)};
    if (k == "transcription") {
      if (m.is_null()) {
        c.input_transcription.reset();
        return ok;
      }
      openai::transcription t;
      auto err = members(m, "openai.transcription", [&](std::string_view tk, element tm) -> member_result {
        if (tk == "model") return read(tm, "openai.transcription.model", t.model);
        if (tk == "language") return read(tm, "openai.transcription.language", t.language);
        if (tk == "prompt") return read(tm, "openai.transcription.prompt", t.prompt);
        return std::nullopt;
      });
      if (err) return std::optional<error>{err};
      c.input_transcription = t;
      return ok;
    }
    if (k == "noise_reduction") {
      std::string s;
      if (auto r = read(m, "openai.noise_reduction", s); *r) return r;
      if (s == "off")
        c.noise = openai::noise_reduction::off;
      else if (s == "near_field")
        c.noise = openai::noise_reduction::near_field;
      else if (s == "far_field")
        c.noise = openai::noise_reduction::far_field;
      else
        return std::optional<error>{bad("openai.noise_reduction must be off, near_field or far_field")};
      return ok;
    }
    if (k == "speed") {
      if (m.is_null()) {
        c.speed.reset();
        return ok;
      }
      double d = 0;
      if (auto r = read(m, "openai.speed", d); *r) return r;
      c.speed = d;
      return ok;
    }
    if (k == "tools") {
      simdjson::dom::array arr;
      if (m.get_array().get(arr)) return std::optional<error>{bad("openai.tools must be an array")};
      c.tools.clear();
      for (element t : arr) {
        openai::tool tool;
        auto err = members(t, "openai.tools[]", [&](std::string_view tk, element tm) -> member_result {
          if (tk == "name") return read(tm, "openai.tools[].name", tool.name);
          if (tk == "description") return read(tm, "openai.tools[].description", tool.description);
          if (tk == "parameters") {
            if (!tm.is_object()) return std::optional<error>{bad("openai.tools[].parameters must be an object")};
            tool.parameters_json = simdjson::minify(tm);
            return ok;
          }
          return std::nullopt;
        });
        if (err) return std::optional<error>{err};
        c.tools.push_back(std::move(tool));
      }
      return ok;
    }
    if (k == "tool_choice") return read(m, "openai.tool_choice", c.tool_choice);
    if (k == "greeting") {
      return std::optional<error>{members(m, "openai.greeting", [&](std::string_view gk, element gm) -> member_result {
        if (gk == "text") return read(gm, "openai.greeting.text", o.greeting.text);
        if (gk == "style") {
          std::string s;
          if (auto r = read(gm, "openai.greeting.style", s); *r) return r;
          if (s == "none")
            o.greeting.how = openai::greeting::style::none;
          else if (s == "user_message")
            o.greeting.how = openai::greeting::style::user_message;
          else if (s == "instructions")
            o.greeting.how = openai::greeting::style::instructions;
          else
            return std::optional<error>{bad("openai.greeting.style must be none, user_message or instructions")};
          return ok;
        }
        return std::nullopt;
      })};
    }
    if (k == "timeouts") {
      return std::optional<error>{members(m, "openai.timeouts", [&](std::string_view tk, element tm) -> member_result {
        if (tk == "connect_ms") return read(tm, "openai.timeouts.connect_ms", o.timeouts.connect);
        if (tk == "configure_ms") return read(tm, "openai.timeouts.configure_ms", o.timeouts.configure);
        return std::nullopt;
      })};
    }
    return std::nullopt;
  });
}

}  // namespace

void append_config_json(std::string& out, const call_config& config) {
  writer w(out);
  const auto& o = config.openai;
  const auto& c = o.config;
  w.open();
  w.object_member("openai");
  w.str("model", c.model);
  w.str("instructions", c.instructions);
  w.str("voice", c.voice);
  w.str("modality", c.modality == openai::output_modality::audio ? "audio" : "text");
  write_turn(w, c.turn);
  if (c.input_transcription) {
    w.object_member("transcription");
    w.str("model", c.input_transcription->model);
    w.str("language", c.input_transcription->language);
    w.str("prompt", c.input_transcription->prompt);
    w.close();
  } else {
    w.null("transcription");
  }
  w.str("noise_reduction", noise_name(c.noise));
  if (c.speed)
    w.dbl("speed", *c.speed);
  else
    w.null("speed");
  w.key("tools");
  out.push_back('[');
  for (std::size_t i = 0; i < c.tools.size(); ++i) {
    if (i) out.push_back(',');
    writer t(out);
    t.open();
    t.str("name", c.tools[i].name);
    t.str("description", c.tools[i].description);
    t.raw("parameters", c.tools[i].parameters_json);
    t.close();
  }
  out.push_back(']');
  w.str("tool_choice", c.tool_choice);
  w.object_member("greeting");
  w.str("style", greeting_name(o.greeting.how));
  w.str("text", o.greeting.text);
  w.close();
  w.object_member("timeouts");
  w.num("connect_ms", o.timeouts.connect.count());
  w.num("configure_ms", o.timeouts.configure.count());
  w.close();
  w.close();
  w.object_member("twilio");
  w.num("start_timeout_ms", config.twilio.start.count());
  w.num("media_idle_ms", config.twilio.media_idle.count());
  w.close();
  w.object_member("barge_in");
  w.boolean("enabled", config.barge_in.enabled);
  w.num("margin_ms", config.barge_in.margin.count());
  w.boolean("forget_unheard", config.barge_in.forget_unheard);
  w.close();
  w.object_member("limits");
  w.num("held_caller_audio_ms", config.limits.held_caller_audio.count());
  w.num("held_ai_audio_ms", config.limits.held_ai_audio.count());
  w.num("max_rejected_messages", config.limits.max_rejected_messages);
  // Written only when on, unlike the other members: a trace of a call that
  // does not batch keeps the exact header it had before the setting existed,
  // and tools from before it can still replay such traces.
  if (config.limits.caller_audio_batch.count() != 0)
    w.num("caller_audio_batch_ms", config.limits.caller_audio_batch.count());
  w.close();
  w.close();
}

result<call_config> parse_config_json(std::string_view text) {
  simdjson::dom::parser parser;
  element root;
  if (auto e = parser.parse(text.data(), text.size()).get(root))
    return error{errc::invalid_config, std::string("configuration is not valid JSON: ") + simdjson::error_message(e)};
  call_config c;
  auto err = members(root, "config", [&](std::string_view k, element m) -> member_result {
    if (k == "openai") return std::optional<error>{read_openai(m, c.openai)};
    if (k == "twilio") {
      return std::optional<error>{members(m, "twilio", [&](std::string_view tk, element tm) -> member_result {
        if (tk == "start_timeout_ms") return read(tm, "twilio.start_timeout_ms", c.twilio.start);
        if (tk == "media_idle_ms") return read(tm, "twilio.media_idle_ms", c.twilio.media_idle);
        return std::nullopt;
      })};
    }
    if (k == "barge_in") {
      return std::optional<error>{members(m, "barge_in", [&](std::string_view bk, element bm) -> member_result {
        if (bk == "enabled") return read(bm, "barge_in.enabled", c.barge_in.enabled);
        if (bk == "margin_ms") return read(bm, "barge_in.margin_ms", c.barge_in.margin);
        if (bk == "forget_unheard") return read(bm, "barge_in.forget_unheard", c.barge_in.forget_unheard);
        return std::nullopt;
      })};
    }
    if (k == "limits") {
      return std::optional<error>{members(m, "limits", [&](std::string_view lk, element lm) -> member_result {
        if (lk == "held_caller_audio_ms") return read(lm, "limits.held_caller_audio_ms", c.limits.held_caller_audio);
        if (lk == "held_ai_audio_ms") return read(lm, "limits.held_ai_audio_ms", c.limits.held_ai_audio);
        if (lk == "max_rejected_messages")
          return read(lm, "limits.max_rejected_messages", c.limits.max_rejected_messages);
        if (lk == "caller_audio_batch_ms") return read(lm, "limits.caller_audio_batch_ms", c.limits.caller_audio_batch);
        return std::nullopt;
      })};
    }
    return std::nullopt;
  });
  if (err) return std::move(*err);
  return c;
}

}  // namespace rtb

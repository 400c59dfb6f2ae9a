// call_config <-> JSON: a writer and a reader, both walking the one list of
// settings in config_fields.hpp.
#include "realtime_bridge/config_json.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "config_fields.hpp"
#include "json.hpp"

namespace rtb {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

/// "a", "a or b", "a, b or c".
template <class Names, class Name>
std::string one_of(const Names& names, Name&& name_of) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) s += i + 1 == names.size() ? " or " : ", ";
    s += name_of(names[i]);
  }
  return s;
}

// ---- writing ----

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  void field(std::string_view k, const std::string& v) {
    key(k);
    json::append_string(out_, v);
  }
  void field(std::string_view k, bool v) {
    key(k);
    out_.append(v ? "true" : "false");
  }
  void field(std::string_view k, double v) {
    key(k);
    json::append_double(out_, v);
  }
  void field(std::string_view k, int v) {
    key(k);
    json::append_int(out_, v);
  }
  void field(std::string_view k, std::uint32_t v) {
    key(k);
    json::append_int(out_, v);
  }
  void field(std::string_view k, std::chrono::milliseconds v) {
    key(k);
    json::append_int(out_, v.count());
  }
  void field_if_set(std::string_view k, std::chrono::milliseconds v) {
    if (v.count() != 0) field(k, v);
  }
  template <class T>
  void nullable(std::string_view k, const std::optional<T>& v) {
    if (v) {
      field(k, *v);
    } else {
      key(k);
      out_.append("null");
    }
  }
  template <class E, std::size_t N>
  void enumeration_if_set(std::string_view k, E v, const config_fields::enum_names<E, N>& names) {
    if (v != names[0].value) enumeration(k, v, names);
  }
  template <class E, std::size_t N>
  void enumeration(std::string_view k, E v, const config_fields::enum_names<E, N>& names) {
    for (const auto& n : names)
      if (n.value == v) {
        key(k);
        json::append_string(out_, n.name);
        return;
      }
  }
  template <class T>
  void object(std::string_view k, T& v) {
    key(k);
    open();
    config_fields::visit_fields(*this, v);
    close();
  }
  template <class T>
  void object_if_changed(std::string_view k, T& v) {
    if (!(v == T{})) object(k, v);
  }
  template <class T>
  void nullable_object(std::string_view k, std::optional<T>& v) {
    if (v) {
      object(k, *v);
    } else {
      key(k);
      out_.append("null");
    }
  }
  template <class T>
  void object_array(std::string_view k, std::vector<T>& v) {
    key(k);
    out_.push_back('[');
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out_.push_back(',');
      open();
      config_fields::visit_fields(*this, v[i]);
      close();
    }
    out_.push_back(']');
  }
  void raw_object(std::string_view k, const std::string& v) {
    key(k);
    out_.append(v);
  }
  template <class... T, std::size_t N>
  void tagged(std::string_view k, std::variant<T...>& v, const std::array<std::string_view, N>& tags) {
    key(k);
    open();
    key("type");
    json::append_string(out_, tags[v.index()]);
    std::visit([&](auto& alternative) { config_fields::visit_fields(*this, alternative); }, v);
    close();
  }

  void open() {
    out_.push_back('{');
    first_ = true;
  }
  void close() {
    out_.push_back('}');
    first_ = false;
  }

 private:
  void key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    json::append_string(out_, k);
    out_.push_back(':');
  }

  std::string& out_;
  bool first_ = true;
};

// ---- reading ----

error bad(std::string message) { return {errc::invalid_config, std::move(message)}; }

/// The path of member `name` of the object at `parent` ("config" is the root,
/// whose members are named without it).
std::string child_path(std::string_view parent, std::string_view name) {
  if (parent == "config") return std::string(name);
  return fmt::format("{}.{}", parent, name);
}

std::optional<error> read_value(element v, const std::string& path, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s)) return bad(path + " must be a string");
  out.assign(s);
  return std::nullopt;
}
std::optional<error> read_value(element v, const std::string& path, bool& out) {
  if (v.get_bool().get(out)) return bad(path + " must be true or false");
  return std::nullopt;
}
std::optional<error> read_value(element v, const std::string& path, double& out) {
  if (v.get_double().get(out)) return bad(path + " must be a number");
  return std::nullopt;
}
std::optional<error> read_value(element v, const std::string& path, int& out) {
  std::int64_t n = 0;
  if (v.get_int64().get(n) || n < INT32_MIN || n > INT32_MAX) return bad(path + " must be an integer");
  out = static_cast<int>(n);
  return std::nullopt;
}
std::optional<error> read_value(element v, const std::string& path, std::uint32_t& out) {
  std::uint64_t n = 0;
  if (v.get_uint64().get(n) || n > UINT32_MAX) return bad(path + " must be a non-negative integer");
  out = static_cast<std::uint32_t>(n);
  return std::nullopt;
}
std::optional<error> read_value(element v, const std::string& path, std::chrono::milliseconds& out) {
  std::int64_t n = 0;
  if (v.get_int64().get(n)) return bad(path + " must be an integer (ms)");
  out = std::chrono::milliseconds(n);
  return std::nullopt;
}

template <class T>
std::optional<error> read_object(element e, const std::string& path, T& out);

/// Reads one member of an object: visits the object's settings and reads the
/// one named `key`. `found` stays false for a key that is not a setting.
class member_reader {
 public:
  member_reader(std::string_view key, element value, std::string_view object_path)
      : key_(key), value_(value), object_path_(object_path) {}

  bool found = false;
  std::optional<error> failure;

  template <class T>
  void field(std::string_view k, T& v) {
    if (match(k)) failure = read_value(value_, path(), v);
  }
  void field_if_set(std::string_view k, std::chrono::milliseconds& v) { field(k, v); }
  template <class T>
  void nullable(std::string_view k, std::optional<T>& v) {
    if (!match(k)) return;
    if (value_.is_null()) {
      v.reset();
      return;
    }
    T x{};
    failure = read_value(value_, path(), x);
    if (!failure) v = x;
  }
  template <class E, std::size_t N>
  void enumeration_if_set(std::string_view k, E& v, const config_fields::enum_names<E, N>& names) {
    enumeration(k, v, names);
  }
  template <class E, std::size_t N>
  void enumeration(std::string_view k, E& v, const config_fields::enum_names<E, N>& names) {
    if (!match(k)) return;
    std::string s;
    if ((failure = read_value(value_, path(), s))) return;
    for (const auto& n : names)
      if (n.name == s) {
        v = n.value;
        return;
      }
    failure = bad(fmt::format("{} must be {}", path(), one_of(names, [](const auto& n) { return n.name; })));
  }
  template <class T>
  void object(std::string_view k, T& v) {
    if (match(k)) failure = read_object(value_, path(), v);
  }
  template <class T>
  void object_if_changed(std::string_view k, T& v) {
    object(k, v);
  }
  template <class T>
  void nullable_object(std::string_view k, std::optional<T>& v) {
    if (!match(k)) return;
    if (value_.is_null()) {
      v.reset();
      return;
    }
    T x{};
    failure = read_object(value_, path(), x);
    if (!failure) v = std::move(x);
  }
  template <class T>
  void object_array(std::string_view k, std::vector<T>& v) {
    if (!match(k)) return;
    simdjson::dom::array arr;
    if (value_.get_array().get(arr)) {
      failure = bad(path() + " must be an array");
      return;
    }
    const std::string element_path = path() + "[]";
    v.clear();
    for (element e : arr) {
      T x{};
      if ((failure = read_object(e, element_path, x))) return;
      v.push_back(std::move(x));
    }
  }
  void raw_object(std::string_view k, std::string& v) {
    if (!match(k)) return;
    if (!value_.is_object()) {
      failure = bad(path() + " must be an object");
      return;
    }
    v = simdjson::minify(value_);
  }
  template <class... T, std::size_t N>
  void tagged(std::string_view k, std::variant<T...>& v, const std::array<std::string_view, N>& tags) {
    if (!match(k)) return;
    const std::string p = path();
    simdjson::dom::object obj;
    if (value_.get_object().get(obj)) {
      failure = bad(p + " must be an object");
      return;
    }
    std::string_view type;
    if (obj["type"].get_string().get(type)) {
      failure = bad(p + ".type must be a string");
      return;
    }
    std::size_t index = N;
    for (std::size_t i = 0; i < N; ++i)
      if (tags[i] == type) index = i;
    std::variant<T...> x;
    if (!config_fields::emplace_alternative(x, index)) {
      failure = bad(fmt::format("{}.type '{}' is not {}", p, type, one_of(tags, [](std::string_view t) { return t; })));
      return;
    }
    std::visit([&](auto& alternative) { failure = read_members(value_, p, alternative, "type"); }, x);
    if (!failure) v = std::move(x);
  }

  /// Reads every member of the object `e` at `path` into `out`; `extra_key`
  /// (if not empty) is accepted and skipped.
  template <class T>
  static std::optional<error> read_members(element e, const std::string& path, T& out,
                                           std::string_view extra_key = {}) {
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) return bad(path + " must be an object");
    for (auto [key, value] : obj) {
      if (!extra_key.empty() && key == extra_key) continue;
      member_reader r(key, value, path);
      config_fields::visit_fields(r, out);
      if (!r.found) return bad(fmt::format("unknown setting {}.{}", path, key));
      if (r.failure) return r.failure;
    }
    return std::nullopt;
  }

 private:
  bool match(std::string_view k) {
    if (found || k != key_) return false;
    found = true;
    return true;
  }
  std::string path() const { return child_path(object_path_, key_); }

  std::string_view key_;
  element value_;
  std::string_view object_path_;
};

template <class T>
std::optional<error> read_object(element e, const std::string& path, T& out) {
  return member_reader::read_members(e, path, out);
}

}  // namespace

void append_config_json(std::string& out, const call_config& config) {
  // The visit takes settings by reference (the reader writes them); the
  // writer only reads.
  call_config copy = config;
  json_writer w(out);
  w.open();
  config_fields::visit_config(w, copy);
  w.close();
}

result<call_config> parse_config_json(std::string_view text) {
  simdjson::dom::parser parser;
  element root;
  if (auto e = parser.parse(text.data(), text.size()).get(root))
    return error{errc::invalid_config, std::string("configuration is not valid JSON: ") + simdjson::error_message(e)};
  call_config c;
  if (auto err = read_object(root, "config", c)) return std::move(*err);
  return c;
}

}  // namespace rtb

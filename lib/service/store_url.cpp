#include "realtime_bridge/service/store_url.hpp"

#include <algorithm>
#include <cctype>

namespace rtb::service {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

rtb::error bad(std::string message) { return {errc::invalid_config, "DATABASE_URL: " + std::move(message)}; }

}  // namespace

std::string database_url::redacted() const {
  if (type != kind::postgresql) return type == kind::off ? "off" : "sqlite:" + target;
  // scheme://user:password@host... -> scheme://user:***@host...
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string::npos) return target;
  const auto authority = scheme_end + 3;
  const auto at = target.find('@', authority);
  const auto slash = target.find('/', authority);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return target;
  const auto colon = target.find(':', authority);
  if (colon == std::string::npos || colon > at) return target;
  return target.substr(0, colon + 1) + "***" + target.substr(at);
}

result<database_url> parse_database_url(std::string_view url) {
  if (url.empty()) return database_url{database_url::kind::sqlite, std::string(default_sqlite_path)};
  if (iequals(url, "off")) return database_url{database_url::kind::off, {}};
  if (starts_with_icase(url, "postgresql://") || starts_with_icase(url, "postgres://")) {
    return database_url{database_url::kind::postgresql, std::string(url)};
  }
  if (starts_with_icase(url, "sqlite:")) {
    std::string_view rest = url.substr(7);
    std::string path;
    if (rest.starts_with("//")) {
      rest.remove_prefix(2);  // an authority, which must be empty: sqlite:///abs/path
      if (!rest.starts_with('/')) {
        return bad("a sqlite URL names a file, not a host: use sqlite:///absolute/path or sqlite:relative/path");
      }
      path = std::string(rest);
    } else {
      path = std::string(rest);
    }
    if (path.empty() || path.back() == '/') return bad("the sqlite URL has no file name");
    if (path.find('?') != std::string::npos) return bad("sqlite URLs take no parameters");
    return database_url{database_url::kind::sqlite, std::move(path)};
  }
  const auto colon = url.find(':');
  return bad("unknown scheme '" + std::string(url.substr(0, std::min(colon, std::size_t{20}))) +
             "' (use sqlite:///path, postgresql://... or off)");
}

}  // namespace rtb::service

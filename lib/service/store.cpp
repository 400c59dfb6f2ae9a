#include "realtime_bridge/service/store.hpp"

#include <unistd.h>

#include <climits>

namespace rtb::service {

std::string default_instance_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

result<std::unique_ptr<call_store>> open_call_store(const database_url& url, const store_options& options) {
  const std::string instance = options.instance.empty() ? default_instance_name() : options.instance;
  result<std::unique_ptr<store_backend>> backend = rtb::error{errc::invalid_config, "no store"};
  switch (url.type) {
    case database_url::kind::off: return std::unique_ptr<call_store>();
    case database_url::kind::sqlite:
      backend = open_sqlite_backend({url.target, instance, options.sqlite_busy_timeout});
      break;
    case database_url::kind::postgresql: backend = open_postgres_backend({url.target, instance}); break;
  }
  if (!backend) return backend.error();
  auto writer = store_writer::start(std::move(*backend), options.writer);
  if (!writer) return writer.error();
  return std::unique_ptr<call_store>(std::move(*writer));
}

}  // namespace rtb::service

// A bridge stand-in for the crash test: opens the store DATABASE_URL names,
// starts a call and records its items as they complete, printing
// "written <seq>" once each one is committed, until it is killed.
//   store_crash_child DATABASE_URL INSTANCE CALL_SID
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "realtime_bridge/service/store.hpp"

namespace svc = rtb::service;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: store_crash_child DATABASE_URL INSTANCE CALL_SID\n");
    return 2;
  }
  auto url = svc::parse_database_url(argv[1]);
  if (!url) {
    std::fprintf(stderr, "%s\n", url.error().message.c_str());
    return 2;
  }
  svc::store_options options;
  options.instance = argv[2];
  auto store = svc::open_call_store(*url, options);
  if (!store || !*store) {
    std::fprintf(stderr, "cannot open the store: %s\n", store ? "off" : store.error().message.c_str());
    return 1;
  }
  svc::call_recorder call(**store, argv[3]);
  svc::records::call_started started;
  started.from = "+15550001";
  started.to = "+15559999";
  started.agent = "crash";
  started.started_at = svc::store_now();
  call.started(started);
  for (;;) {
    svc::records::item item;
    item.role = svc::item_role::caller;
    item.text = "an item the caller said";
    item.started_at = svc::store_now();
    item.ended_at = item.started_at;
    const auto seq = call.item(item);
    call.event(svc::event_kind::dtmf, svc::json_object({{"digit", "1"}}));
    if (!(*store)->flush(30s)) {
      std::fprintf(stderr, "flush timed out\n");
      return 1;
    }
    std::printf("written %lld\n", static_cast<long long>(seq));
    std::fflush(stdout);
    // The next item completes while the test may already be killing us.
    call.item(item);
    std::this_thread::sleep_for(2ms);
  }
}

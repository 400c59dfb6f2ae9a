// replay: runs a recorded call trace through the realtime_bridge core and
// prints every message and host event the call produced, stamped with trace
// time. The output depends only on the trace, so it is the same on every run.
//
// usage: replay TRACE.jsonl        (or "-" for standard input)
#include <fstream>
#include <iostream>
#include <string_view>

#include "realtime_bridge/trace.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: replay TRACE.jsonl   (\"-\" reads standard input)\n";
    return 2;
  }
  const std::string_view path = argv[1];
  std::ifstream file;
  if (path != "-") {
    file.open(argv[1]);
    if (!file) {
      std::cerr << "replay: cannot open " << path << '\n';
      return 1;
    }
  }
  std::istream& in = path == "-" ? std::cin : file;
  auto r = rtb::replay_trace(in, std::cout);
  if (!r) {
    std::cerr << "replay: " << r.error().message << '\n';
    return 1;
  }
  return 0;
}

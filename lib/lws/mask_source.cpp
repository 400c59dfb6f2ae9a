#include "mask_source.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rtb::lws_adapter {

std::array<std::uint8_t, 4> mask_source::next() {
  if (used_ + 4 > pool_.size()) refill();
  std::array<std::uint8_t, 4> key;
  std::memcpy(key.data(), pool_.data() + used_, 4);
  // Each key is handed out once; wipe it from the pool.
  std::memset(pool_.data() + used_, 0, 4);
  used_ += 4;
  return key;
}

void mask_source::refill() {
  std::size_t filled = 0;
  while (filled < pool_.size()) {
    const ssize_t n = ::getrandom(pool_.data() + filled, pool_.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "realtime_bridge: getrandom failed (%s); cannot mask WebSocket frames safely\n",
                   std::strerror(errno));
      std::abort();
    }
    filled += static_cast<std::size_t>(n);
  }
  used_ = 0;
  ++refills_;
}

}  // namespace rtb::lws_adapter

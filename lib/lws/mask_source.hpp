// Masking keys for the frames a client sends (RFC 6455 §5.3): each must be
// fresh and unpredictable. lws reads four bytes from /dev/urandom per frame,
// a system call per message to OpenAI; this takes them from a block of
// kernel randomness (getrandom) refilled every 1024 frames.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace rtb::lws_adapter {

class mask_source {
 public:
  /// The next 4-byte key. Never fails: if the kernel's generator cannot be
  /// read (it always can after boot), the process aborts rather than sending
  /// predictable masks.
  std::array<std::uint8_t, 4> next();

  /// Blocks read from the kernel so far (for tests and statistics).
  std::uint64_t refills() const noexcept { return refills_; }

  static constexpr std::size_t keys_per_refill = 1024;

 private:
  void refill();
  std::array<std::uint8_t, 4 * keys_per_refill> pool_{};
  std::size_t used_ = pool_.size();  // empty: the first next() refills
  std::uint64_t refills_ = 0;
};

}  // namespace rtb::lws_adapter

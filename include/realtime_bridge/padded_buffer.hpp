// A growable byte buffer that always keeps spare capacity after its contents,
// so the JSON parser can read past the end without a copy.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rtb {

class padded_buffer {
 public:
  /// Spare bytes guaranteed after size(). Equal to simdjson's SIMDJSON_PADDING
  /// (checked by a static_assert in the library).
  static constexpr std::size_t padding = 64;

  padded_buffer() { buf_.reserve(256); }
  explicit padded_buffer(std::string_view text) { assign(text); }

  void append(std::string_view bytes) {
    reserve_for(buf_.size() + bytes.size());
    buf_.append(bytes);
  }
  void assign(std::string_view bytes) {
    buf_.clear();
    append(bytes);
  }
  /// Keeps the capacity: a buffer reused per message stops allocating once it
  /// has seen the largest message.
  void clear() noexcept { buf_.clear(); }

  const char* data() const noexcept { return buf_.data(); }
  std::size_t size() const noexcept { return buf_.size(); }
  bool empty() const noexcept { return buf_.empty(); }
  /// Bytes that may be read starting at data(): at least size() + padding.
  std::size_t readable() const noexcept { return buf_.capacity(); }
  std::string_view view() const noexcept { return buf_; }

 private:
  void reserve_for(std::size_t size) {
    if (buf_.capacity() < size + padding) {
      std::size_t want = buf_.capacity() * 2;
      if (want < size + padding) want = size + padding;
      buf_.reserve(want);
    }
  }

  std::string buf_;
};

}  // namespace rtb

// A JSON parser's working memory, shared by decoders that take turns.
#pragma once

#include <memory>

namespace rtb {

/// The decoders parse with simdjson, whose parser keeps buffers sized for the
/// largest message it has seen: about 6 bytes per byte of that message, so a
/// parser per decoder costs each call tens of KiB (more with long
/// instructions or transcripts). Decoders that never decode at the same time,
/// such as those of every call served by one thread, can share one instead:
/// give it to their constructors (or to call_driver's).
///
/// Then an event's views into the parser (unescaped strings) are valid only
/// until any decoder sharing it decodes again. Not thread-safe; it must
/// outlive the decoders that use it.
class shared_parser {
 public:
  shared_parser();
  ~shared_parser();
  shared_parser(const shared_parser&) = delete;
  shared_parser& operator=(const shared_parser&) = delete;

  struct impl;  // lib/json.hpp
  impl& get() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb

#include "upgrade_refusal.hpp"

#include <fmt/format.h>

namespace rtb::lws_adapter {

std::string describe_upgrade_refusal(unsigned status) {
  const char* meaning = "";
  switch (status) {
    case 400: meaning = ": the request was refused as malformed (an OpenAI-Beta header, or a proxy rewriting it)"; break;
    case 401: meaning = ": the API key is wrong or revoked"; break;
    case 403:
      meaning = ": the key may not use the Realtime API (a key created before the project had Realtime access: "
                "create a new key)";
      break;
    case 404: meaning = ": no such endpoint or model (check OPENAI_MODEL and the URL)"; break;
    case 429: meaning = ": rate limited or out of quota (check the account's usage and billing)"; break;
    default:
      if (status >= 500) meaning = ": OpenAI's side failed; try again";
      break;
  }
  return fmt::format("the upgrade was refused with HTTP {}{}", status, meaning);
}

}  // namespace rtb::lws_adapter

// What a refused WebSocket upgrade to OpenAI means. lws 4.1.6 reports the
// refusal only as "HS: ws upgrade response not 101", but the response's
// status is still readable when it does (lws_http_client_http_response, in
// CLIENT_CONNECTION_ERROR, before the connection's headers are freed).
#pragma once

#include <string>

namespace rtb::lws_adapter {

/// "the upgrade was refused with HTTP 401: the API key is wrong or revoked"
/// and the like, for logs, end details and the key check.
std::string describe_upgrade_refusal(unsigned status);

}  // namespace rtb::lws_adapter

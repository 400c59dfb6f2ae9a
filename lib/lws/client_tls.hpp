// The client side of every TLS connection the adapter makes (OpenAI, fetch):
// TLS 1.2 or later, peer verification against the system's CAs or a file.
#pragma once

#include <string>

#include <openssl/ssl.h>

#include "realtime_bridge/result.hpp"

namespace rtb::lws_adapter {

/// A client SSL_CTX trusting `ca_file` (PEM), or the system's CAs when empty.
/// lws turns on peer and hostname verification and SNI for every connection
/// made with it. The caller owns it (SSL_CTX_free).
[[nodiscard]] result<SSL_CTX*> make_client_tls(const std::string& ca_file);

}  // namespace rtb::lws_adapter

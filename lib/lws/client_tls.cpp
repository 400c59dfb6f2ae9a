#include "client_tls.hpp"

#include <fmt/format.h>

namespace rtb::lws_adapter {

result<SSL_CTX*> make_client_tls(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return error{errc::invalid_config, "could not create a TLS context"};
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  const bool loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                      : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    SSL_CTX_free(ctx);
    return error{errc::invalid_config, ca_file.empty() ? std::string("could not load the system's CA certificates")
                                                       : fmt::format("could not load CA file '{}'", ca_file)};
  }
  return ctx;
}

}  // namespace rtb::lws_adapter

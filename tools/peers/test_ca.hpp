// A throwaway certificate authority and a server certificate for 127.0.0.1
// and localhost, made with the openssl command-line tool: for test peers that
// serve TLS (the fake OpenAI on wss://, the fault peers) and the bridge that
// verifies them with the CA as its trust anchor.
#pragma once

#include <string>

namespace rtb::peers {

/// The keys of the CA and of the server certificate.
inline constexpr const char* test_ca_key_type = "EC P-256";

struct test_ca_files {
  std::string dir;
  std::string ca_file;    ///< the CA certificate: the bridge's trust anchor (e.g. OPENAI_CA_FILE)
  std::string cert_file;  ///< the server's certificate (signed by the CA)
  std::string key_file;   ///< and its key
};

/// Makes the CA and the server certificate (subjectAltName IP:127.0.0.1 and
/// DNS:localhost, valid 2 days) in `dir`, created if needed, replacing any
/// from an earlier run. Throws std::runtime_error (with openssl's output) if
/// it cannot.
test_ca_files make_test_ca(const std::string& dir);

}  // namespace rtb::peers

// --openai-tls: the bridge's leg to the fake OpenAI over wss://, as to the
// real service. A throwaway CA and a server certificate for 127.0.0.1 and
// localhost, made with the openssl command-line tool at the start of a run.
#pragma once

#include <string>

namespace rtb::loadgen {

/// The keys of the CA and of the fake OpenAI's certificate.
inline constexpr const char* openai_tls_key_type = "EC P-256";

struct openai_tls_files {
  std::string dir;        ///< <out-dir>/openai-tls
  std::string ca_file;    ///< the CA certificate: the bridge's OPENAI_CA_FILE
  std::string cert_file;  ///< the fake OpenAI's certificate (signed by the CA)
  std::string key_file;   ///< and its key
};

/// <out_dir>/openai-tls, where the files are made.
inline std::string openai_tls_dir(const std::string& out_dir) { return out_dir + "/openai-tls"; }

/// Makes the CA and the server certificate (subjectAltName IP:127.0.0.1 and
/// DNS:localhost, valid 2 days) in <out_dir>/openai-tls, replacing any from an
/// earlier run. Throws std::runtime_error (with openssl's output) if it cannot.
openai_tls_files make_openai_tls_files(const std::string& out_dir);

}  // namespace rtb::loadgen

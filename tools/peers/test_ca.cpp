#include "peers/test_ca.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace rtb::peers {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Runs `openssl args...` (found on PATH, no shell) with its output appended to `log`.
void openssl(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> strings{"openssl"};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw std::runtime_error(std::string("test CA: cannot run openssl (") + std::strerror(rc) +
                             "); the openssl command-line tool is needed");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd = "openssl";
    for (const auto& a : args) cmd += " " + a;
    throw std::runtime_error("test CA: `" + cmd + "` failed (" +
                             (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                : "signal " + std::to_string(WTERMSIG(status))) +
                             "); its output, in " + log + ":\n" + slurp(log));
  }
}

}  // namespace

test_ca_files make_test_ca(const std::string& dir_name) {
  test_ca_files f;
  const fs::path dir = dir_name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("test CA: cannot create " + dir.string() + ": " + ec.message());
  f.dir = dir.string();
  const auto in_dir = [&](const char* name) { return (dir / name).string(); };
  f.ca_file = in_dir("ca.pem");
  f.cert_file = in_dir("server.pem");
  f.key_file = in_dir("server.key");
  const std::string ca_key = in_dir("ca.key"), csr = in_dir("server.csr"), ext = in_dir("server.ext"),
                    serial = in_dir("ca.srl"), log = in_dir("openssl.log");
  for (const auto& p : {f.ca_file, f.cert_file, f.key_file, ca_key, csr, ext, serial, log}) fs::remove(p, ec);
  {
    std::ofstream out(ext);
    out << "basicConstraints=CA:FALSE\n"
           "keyUsage=critical,digitalSignature,keyEncipherment\n"
           "extendedKeyUsage=serverAuth\n"
           "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    if (!out) throw std::runtime_error("test CA: cannot write " + ext);
  }
  // The CA, then the server's key and request, then the certificate the CA signs.
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
           "-out", f.ca_file, "-days", "2", "-subj", "/CN=rtb throwaway test CA", "-addext",
           "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
          log);
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f.key_file,
           "-out", csr, "-subj", "/CN=localhost"},
          log);
  openssl({"x509", "-req", "-in", csr, "-CA", f.ca_file, "-CAkey", ca_key, "-CAserial", serial, "-CAcreateserial",
           "-out", f.cert_file, "-days", "2", "-extfile", ext},
          log);
  return f;
}

}  // namespace rtb::peers

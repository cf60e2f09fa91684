// ad_client_probe: drive sspr::ad::Client from a test script.
//
//   ad_client_probe --uri URI [--uri URI2 ...] --ca FILE --bind-dn DN
//                   --bind-pw-file PATH --base-dn DN [--timeout-ms N] COMMAND ...
//   COMMAND:  ping
//             find NAME [ATTR ...]
//             reset NAME NEW_PW_FILE [--unlock]
//             verify NAME PW_FILE
//
// Passwords are only ever read from files (never argv). Output on stdout:
// first line "ok" or "error <errc_name>", then "key=value" lines; the admin
// detail of an error goes to stderr. Exit 0 ok, 1 error, 2 usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sspr/ad/client.h"
#include "sspr/util/error.h"
#include "sspr/util/secret.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: ad_client_probe --uri URI... --ca FILE --bind-dn DN --bind-pw-file PATH "
               "--base-dn DN [--timeout-ms N] ping|find NAME [ATTR...]|reset NAME PW_FILE "
               "[--unlock]|verify NAME PW_FILE\n");
  return 2;
}

int ReportError(const sspr::Error& e) {
  std::printf("error %s\n", std::string(sspr::ErrcName(e.code)).c_str());
  std::fprintf(stderr, "%s\n", e.detail.c_str());
  return 1;
}

// Reads a password file (no symlinks, regular, <= 4 KiB) into a Secret,
// dropping one trailing newline.
bool ReadSecretFile(const char* path, sspr::Secret* out) {
  const int fd = ::open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 4096) {
    ::close(fd);
    return false;
  }
  std::string buf(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    if (got == buf.size()) break;
  }
  ::close(fd);
  if (got > static_cast<std::size_t>(st.st_size)) {  // grew while reading
    sspr::WipeString(buf);
    return false;
  }
  std::size_t len = got;
  if (len > 0 && buf[len - 1] == '\n') --len;
  *out = sspr::Secret(buf.data(), len);
  sspr::WipeString(buf);
  return true;
}

void PrintEntry(const sspr::ad::UserEntry& u) {
  std::printf("dn=%s\n", u.dn.c_str());
  std::printf("sam=%s\n", u.sam_account_name.c_str());
  std::printf("upn=%s\n", u.user_principal_name.c_str());
  std::printf("display_name=%s\n", u.display_name.c_str());
  std::printf("uac=%u\n", u.user_account_control);
  std::printf("disabled=%d\n", u.disabled ? 1 : 0);
  std::printf("lockout_time=%lld\n", static_cast<long long>(u.lockout_time));
  std::printf("pwd_last_set=%lld\n", static_cast<long long>(u.pwd_last_set));
  std::printf("admin_count=%lld\n", static_cast<long long>(u.admin_count));
  for (const auto& [name, vals] : u.attrs) {
    for (const auto& v : vals) std::printf("attr.%s=%s\n", name.c_str(), v.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // libldap writes to sockets with write(2): a DC that goes away must not
  // kill us with SIGPIPE (ssprd does the same in its main).
  std::signal(SIGPIPE, SIG_IGN);
  sspr::CryptoInit();

  sspr::ad::DirectoryConfig cfg;
  const char* bind_pw_file = nullptr;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_val = i + 1 < argc;
    if (a == "--uri" && has_val) {
      cfg.uris.push_back(argv[++i]);
    } else if (a == "--ca" && has_val) {
      cfg.ca_file = argv[++i];
    } else if (a == "--bind-dn" && has_val) {
      cfg.bind_dn = argv[++i];
    } else if (a == "--bind-pw-file" && has_val) {
      bind_pw_file = argv[++i];
    } else if (a == "--base-dn" && has_val) {
      cfg.base_dn = argv[++i];
    } else if (a == "--timeout-ms" && has_val) {
      cfg.timeout_ms = std::atoi(argv[++i]);
    } else {
      break;
    }
  }
  if (i >= argc || bind_pw_file == nullptr) return Usage();
  const std::string cmd = argv[i++];

  sspr::Secret bind_pw;
  if (!ReadSecretFile(bind_pw_file, &bind_pw)) {
    std::fprintf(stderr, "cannot read %s\n", bind_pw_file);
    return 2;
  }
  auto client = sspr::ad::Client::Create(cfg, std::move(bind_pw));
  if (!client) return ReportError(client.error());
  sspr::ad::Client& c = *client.value();

  if (cmd == "ping" && i == argc) {
    auto st = c.Ping();
    if (!st) return ReportError(st.error());
    std::printf("ok\n");
    return 0;
  }
  if (cmd == "find" && i < argc) {
    const std::string name = argv[i++];
    std::vector<std::string> extra(argv + i, argv + argc);
    auto u = c.FindUser(name, extra);
    if (!u) return ReportError(u.error());
    std::printf("ok\n");
    PrintEntry(u.value());
    return 0;
  }
  if ((cmd == "reset" || cmd == "verify") && i + 2 <= argc) {
    const std::string name = argv[i++];
    const char* pw_file = argv[i++];
    bool unlock = false;
    if (cmd == "reset" && i < argc && std::strcmp(argv[i], "--unlock") == 0) {
      unlock = true;
      ++i;
    }
    if (i != argc) return Usage();
    sspr::Secret pw;
    if (!ReadSecretFile(pw_file, &pw)) {
      std::fprintf(stderr, "cannot read %s\n", pw_file);
      return 2;
    }
    auto u = c.FindUser(name, {});
    if (!u) return ReportError(u.error());
    if (cmd == "verify") {
      auto st = c.VerifyPassword(u->dn, pw);
      if (!st) return ReportError(st.error());
      std::printf("ok\n");
      return 0;
    }
    sspr::ad::ResetOptions opts;
    opts.unlock = unlock;
    opts.history = sspr::ad::HistoryOnReset::kProceed;  // Samba lists no policy-hints control
    auto w = c.ResetPassword(u.value(), pw, opts);
    if (!w) return ReportError(w.error());
    std::printf("ok\noutcome=%s\n",
                w.value() == sspr::ad::WriteOutcome::kWritten ? "written" : "not_written");
    return 0;
  }
  return Usage();
}

// openldap_probe: drive sspr::openldap::Client from a test script.
//
//   openldap_probe --uri URI [--uri URI2 ...] --ca FILE --bind-dn DN
//                  --bind-pw-file PATH --base-dn DN --default-policy DN
//                  [--login-attr ATTR] [--timeout-ms N] COMMAND ...
//   COMMAND:  ping
//             find NAME [ATTR ...]
//             policy NAME
//             reset NAME NEW_PW_FILE [--unlock] [--must-change]
//             change NAME OLD_PW_FILE NEW_PW_FILE
//             verify NAME PW_FILE
//             unlock NAME
//             member NAME GROUP_DN
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

#include "sspr/openldap/client.h"
#include "sspr/util/error.h"
#include "sspr/util/secret.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: openldap_probe --uri URI... --ca FILE --bind-dn DN --bind-pw-file PATH "
               "--base-dn DN --default-policy DN [--login-attr ATTR] [--timeout-ms N] "
               "ping|find NAME [ATTR...]|policy NAME|reset NAME PW_FILE [--unlock] [--must-change]"
               "|change NAME OLD_FILE NEW_FILE|verify NAME PW_FILE|unlock NAME|member NAME GROUP_DN\n");
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
  std::printf("display_name=%s\n", u.display_name.c_str());
  std::printf("disabled=%d\n", u.disabled ? 1 : 0);
  std::printf("lockout_time=%lld\n", static_cast<long long>(u.lockout_time));
  std::printf("pwd_last_set=%lld\n", static_cast<long long>(u.pwd_last_set));
  for (const auto& [name, vals] : u.attrs) {
    for (const auto& v : vals) std::printf("attr.%s=%s\n", name.c_str(), v.c_str());
  }
}

bool ReadPw(const char* path, sspr::Secret* out) {
  if (ReadSecretFile(path, out)) return true;
  std::fprintf(stderr, "cannot read %s\n", path);
  return false;
}

const char* OutcomeName(sspr::ad::WriteOutcome w) {
  return w == sspr::ad::WriteOutcome::kWritten ? "written" : "not_written";
}

}  // namespace

int main(int argc, char** argv) {
  // libldap writes to sockets with write(2): a server that goes away must
  // not kill us with SIGPIPE (ssprd does the same in its main).
  std::signal(SIGPIPE, SIG_IGN);
  sspr::CryptoInit();

  sspr::ad::DirectoryConfig cfg;
  sspr::openldap::OpenLdapOptions opts;
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
    } else if (a == "--default-policy" && has_val) {
      opts.default_policy_dn = argv[++i];
    } else if (a == "--login-attr" && has_val) {
      opts.login_attribute = argv[++i];
    } else if (a == "--timeout-ms" && has_val) {
      cfg.timeout_ms = std::atoi(argv[++i]);
    } else {
      break;
    }
  }
  if (i >= argc || bind_pw_file == nullptr) return Usage();
  const std::string cmd = argv[i++];

  sspr::Secret bind_pw;
  if (!ReadPw(bind_pw_file, &bind_pw)) return 2;
  auto client = sspr::openldap::Client::Create(cfg, std::move(bind_pw), opts);
  if (!client) return ReportError(client.error());
  sspr::openldap::Client& c = *client.value();

  if (cmd == "ping" && i == argc) {
    auto st = c.Ping();
    if (!st) return ReportError(st.error());
    std::printf("ok\n");
    return 0;
  }
  if (i >= argc) return Usage();
  const std::string name = argv[i++];
  if (cmd == "find") {
    std::vector<std::string> extra(argv + i, argv + argc);
    auto u = c.FindUser(name, extra);
    if (!u) return ReportError(u.error());
    std::printf("ok\n");
    PrintEntry(u.value());
    return 0;
  }
  auto u = c.FindUser(name, {});
  if (cmd == "policy" && i == argc) {
    if (!u) return ReportError(u.error());
    auto p = c.ReadEffectivePolicy(u.value());
    if (!p) return ReportError(p.error());
    std::printf("ok\nmin_length=%d\ncomplexity=%d\nhistory_length=%d\nmin_age_s=%lld\n"
                "max_age_s=%lld\nlockout_threshold=%d\nlockout_duration_s=%lld\nsource=%s\n",
                p->min_length, p->complexity ? 1 : 0, p->history_length,
                static_cast<long long>(p->min_age_s), static_cast<long long>(p->max_age_s),
                p->lockout_threshold, static_cast<long long>(p->lockout_duration_s),
                p->source.c_str());
    return 0;
  }
  if (cmd == "reset" && i < argc) {
    const char* pw_file = argv[i++];
    sspr::ad::ResetOptions ro;
    for (; i < argc; ++i) {
      if (std::strcmp(argv[i], "--unlock") == 0) {
        ro.unlock = true;
      } else if (std::strcmp(argv[i], "--must-change") == 0) {
        ro.must_change = true;
      } else {
        return Usage();
      }
    }
    sspr::Secret pw;
    if (!ReadPw(pw_file, &pw)) return 2;
    if (!u) return ReportError(u.error());
    std::string note;
    auto w = c.ResetPassword(u.value(), pw, ro, &note);
    if (!w) return ReportError(w.error());
    std::printf("ok\noutcome=%s\n", OutcomeName(w.value()));
    if (!note.empty()) std::printf("note=%s\n", note.c_str());
    return 0;
  }
  if (cmd == "change" && i + 2 == argc) {
    sspr::Secret old_pw, new_pw;
    if (!ReadPw(argv[i], &old_pw) || !ReadPw(argv[i + 1], &new_pw)) return 2;
    if (!u) return ReportError(u.error());
    auto w = c.ChangePassword(u.value(), old_pw, new_pw);
    if (!w) return ReportError(w.error());
    std::printf("ok\noutcome=%s\n", OutcomeName(w.value()));
    return 0;
  }
  if (cmd == "verify" && i + 1 == argc) {
    sspr::Secret pw;
    if (!ReadPw(argv[i], &pw)) return 2;
    if (!u) return ReportError(u.error());
    auto st = c.VerifyPassword(u->dn, pw);
    if (!st) return ReportError(st.error());
    std::printf("ok\n");
    return 0;
  }
  if (cmd == "unlock" && i == argc) {
    if (!u) return ReportError(u.error());
    auto st = c.Unlock(u.value());
    if (!st) return ReportError(st.error());
    std::printf("ok\n");
    return 0;
  }
  if (cmd == "member" && i + 1 == argc) {
    if (!u) return ReportError(u.error());
    auto m = c.IsMemberOf(u->dn, argv[i]);
    if (!m) return ReportError(m.error());
    std::printf("ok\nmember=%d\n", m.value() ? 1 : 0);
    return 0;
  }
  return Usage();
}

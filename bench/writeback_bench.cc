// writeback_bench: the helper's full password writeback against a raw
// libldap baseline, interleaved in one run against the same DC.
//
//   writeback_bench URI CA_FILE BIND_DN BIND_PASSWORD_FILE BASE_DN USER ITERATIONS
//
// (a) sspr:  Client::FindUser + ReadDomainPolicy + policy::Check +
//            Client::ResetPassword (pwdLastSet before, modify, read-back),
//            over the client's one kept LDAPS connection.
// (b) raw:   one ldap_modify_ext_s replacing unicodePwd (quoted UTF-16LE) on
//            a second kept, bound LDAPS connection (CA-verified, DEMAND).
// Each iteration runs both, alternating which goes first; every write uses a
// new, unique, policy-valid password. Prints median and p90 of each and the
// ratio of the medians. Passwords are read from a file, never from argv.
#include <fcntl.h>
#include <ldap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sspr/ad/client.h"
#include "sspr/policy/password.h"
#include "sspr/util/error.h"
#include "sspr/util/secret.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Regular file (no symlink), <= 4 KiB, one trailing newline dropped.
bool ReadSecretFile(const char* path, std::string* out) {
  const int fd = ::open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 4096) {
    ::close(fd);
    return false;
  }
  std::string buf(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  if (!buf.empty() && buf.back() == '\n') buf.pop_back();
  *out = std::move(buf);
  return !out->empty();
}

// "password" in double quotes, UTF-16LE (ASCII input only: the bench makes
// its own ASCII passwords).
std::string QuotedUtf16le(const std::string& ascii) {
  std::string out;
  out.reserve(2 * (ascii.size() + 2));
  auto put = [&out](char c) {
    out.push_back(c);
    out.push_back('\0');
  };
  put('"');
  for (char c : ascii) put(c);
  put('"');
  return out;
}

struct Stats {
  double median = 0;
  double p90 = 0;
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  // Nearest rank.
  std::size_t k = (9 * n + 9) / 10;
  s.p90 = v[std::min(n, std::max<std::size_t>(k, 1)) - 1];
  return s;
}

// A kept, bound LDAPS connection with TLS verified against ca_file.
LDAP* RawConnect(const std::string& uri, const std::string& ca_file, const std::string& bind_dn,
                 std::string& bind_pw) {
  LDAP* ld = nullptr;
  if (ldap_initialize(&ld, uri.c_str()) != LDAP_SUCCESS || ld == nullptr) {
    std::fprintf(stderr, "raw: ldap_initialize %s failed\n", uri.c_str());
    return nullptr;
  }
  int version = LDAP_VERSION3;
  int demand = LDAP_OPT_X_TLS_DEMAND;
  int newctx = 0;
  timeval tv{5, 0};
  if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str()) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx) != LDAP_OPT_SUCCESS) {
    std::fprintf(stderr, "raw: ldap_set_option failed\n");
    ldap_unbind_ext_s(ld, nullptr, nullptr);
    return nullptr;
  }
  berval cred{};
  cred.bv_val = bind_pw.data();
  cred.bv_len = bind_pw.size();
  const int rc =
      ldap_sasl_bind_s(ld, bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  if (rc != LDAP_SUCCESS) {
    std::fprintf(stderr, "raw: bind as %s failed: %s\n", bind_dn.c_str(), ldap_err2string(rc));
    ldap_unbind_ext_s(ld, nullptr, nullptr);
    return nullptr;
  }
  return ld;
}

bool RawReset(LDAP* ld, const std::string& dn, const std::string& password) {
  std::string enc = QuotedUtf16le(password);
  berval val{};
  val.bv_val = enc.data();
  val.bv_len = enc.size();
  berval* vals[] = {&val, nullptr};
  char attr[] = "unicodePwd";
  LDAPMod mod{};
  mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  mod.mod_type = attr;
  mod.mod_bvalues = vals;
  LDAPMod* mods[] = {&mod, nullptr};
  const int rc = ldap_modify_ext_s(ld, dn.c_str(), mods, nullptr, nullptr);
  sspr::WipeString(enc);
  if (rc != LDAP_SUCCESS) {
    char* diag = nullptr;
    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    std::fprintf(stderr, "raw: modify %s failed: %s (%s)\n", dn.c_str(), ldap_err2string(rc),
                 diag ? diag : "");
    ldap_memfree(diag);
    return false;
  }
  return true;
}

struct SsprSide {
  sspr::ad::Client* client;
  std::string user;
};

bool SsprWriteback(SsprSide& s, std::string password) {
  auto u = s.client->FindUser(s.user, {});
  if (!u) {
    std::fprintf(stderr, "sspr: FindUser: %s: %s\n",
                 std::string(sspr::ErrcName(u.code())).c_str(), u.error().detail.c_str());
    return false;
  }
  auto pol = s.client->ReadDomainPolicy();
  if (!pol) {
    std::fprintf(stderr, "sspr: ReadDomainPolicy: %s: %s\n",
                 std::string(sspr::ErrcName(pol.code())).c_str(), pol.error().detail.c_str());
    return false;
  }
  if (sspr::policy::Check(password, *pol, u->sam_account_name, u->display_name) !=
      sspr::policy::Rule::kOk) {
    std::fprintf(stderr, "sspr: the bench's password fails the domain policy\n");
    return false;
  }
  sspr::Secret pw = sspr::Secret::Take(password);
  sspr::ad::ResetOptions opts;
  opts.history = sspr::ad::HistoryOnReset::kProceed;  // Samba lists no policy-hints control
  auto w = s.client->ResetPassword(*u, pw, opts);
  if (!w) {
    std::fprintf(stderr, "sspr: ResetPassword: %s: %s\n",
                 std::string(sspr::ErrcName(w.code())).c_str(), w.error().detail.c_str());
    return false;
  }
  if (*w != sspr::ad::WriteOutcome::kWritten) {
    std::fprintf(stderr, "sspr: ResetPassword: read-back says not written\n");
    return false;
  }
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: writeback_bench URI CA_FILE BIND_DN BIND_PASSWORD_FILE BASE_DN USER "
               "ITERATIONS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) return Usage();
  std::signal(SIGPIPE, SIG_IGN);
  sspr::CryptoInit();
  const std::string uri = argv[1], ca_file = argv[2], bind_dn = argv[3], base_dn = argv[5],
                    user = argv[6];
  const int iterations = std::atoi(argv[7]);
  if (iterations < 1) return Usage();

  std::string bind_pw;
  if (!ReadSecretFile(argv[4], &bind_pw)) {
    std::fprintf(stderr, "cannot read the bind password file %s\n", argv[4]);
    return 2;
  }

  sspr::ad::DirectoryConfig cfg;
  cfg.uris = {uri};
  cfg.ca_file = ca_file;
  cfg.bind_dn = bind_dn;
  cfg.base_dn = base_dn;
  std::string pw_copy = bind_pw;
  auto created = sspr::ad::Client::Create(cfg, sspr::Secret::Take(pw_copy));
  if (!created) {
    std::fprintf(stderr, "sspr: Create: %s\n", created.error().detail.c_str());
    return 1;
  }
  sspr::ad::Client& client = *created.value();
  if (auto st = client.Ping(); !st) {
    std::fprintf(stderr, "sspr: Ping: %s\n", st.error().detail.c_str());
    return 1;
  }
  // The raw side needs the DN; looked up once, outside the timing.
  auto entry = client.FindUser(user, {});
  if (!entry) {
    std::fprintf(stderr, "sspr: FindUser %s: %s\n", user.c_str(), entry.error().detail.c_str());
    return 1;
  }
  const std::string dn = entry->dn;

  LDAP* raw = RawConnect(uri, ca_file, bind_dn, bind_pw);
  sspr::WipeString(bind_pw);
  if (raw == nullptr) return 1;

  SsprSide side{&client, user};
  // Unique per run (pid + time) and per write; 3 character classes, and no
  // token of the account or display name ("user", "one", ...).
  const unsigned long run_id =
      (static_cast<unsigned long>(::getpid()) << 20) ^
      static_cast<unsigned long>(Clock::now().time_since_epoch().count() & 0xfffff);
  int seq = 0;
  auto next_password = [&](char tag) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "Wb%c-%lx-%d-Zq!", tag, run_id, seq++);
    return std::string(buf);
  };

  constexpr int kWarmup = 2;
  std::vector<double> sspr_ms, raw_ms;
  sspr_ms.reserve(static_cast<std::size_t>(iterations));
  raw_ms.reserve(static_cast<std::size_t>(iterations));
  bool ok = true;
  for (int i = -kWarmup; i < iterations && ok; ++i) {
    for (int half = 0; half < 2 && ok; ++half) {
      const bool do_sspr = ((i & 1) == 0) == (half == 0);  // alternate who goes first
      if (do_sspr) {
        std::string pw = next_password('S');
        const auto t0 = Clock::now();
        ok = SsprWriteback(side, std::move(pw));
        const auto t1 = Clock::now();
        if (i >= 0) sspr_ms.push_back(Ms(t1 - t0));
      } else {
        std::string pw = next_password('R');
        const auto t0 = Clock::now();
        ok = RawReset(raw, dn, pw);
        const auto t1 = Clock::now();
        sspr::WipeString(pw);
        if (i >= 0) raw_ms.push_back(Ms(t1 - t0));
      }
    }
  }
  ldap_unbind_ext_s(raw, nullptr, nullptr);
  if (!ok) {
    std::fprintf(stderr, "writeback_bench: a write failed; no result\n");
    return 1;
  }
  const Stats s = Summarise(sspr_ms), r = Summarise(raw_ms);
  std::printf("writeback: %d iterations (interleaved, +%d warm-up) user %s\n", iterations,
              kWarmup, user.c_str());
  std::printf("writeback: sspr median %.1f ms p90 %.1f ms; raw median %.1f ms p90 %.1f ms\n",
              s.median, s.p90, r.median, r.p90);
  std::printf("writeback: sspr median %.1f ms, raw median %.1f ms, ratio %.2f\n", s.median,
              r.median, s.median / r.median);
  return 0;
}

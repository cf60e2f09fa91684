// Shared libldap helpers for the directory clients (see ldap_common.h).
// Moved unchanged from src/ad/client.cc so the AD and OpenLDAP clients use
// one TLS setup, one search routine and one wiping allocator.
//
// Why the allocator: liblber's allocator is replaced once per process by one
// that wipes every block before freeing it: the encoded request (which holds
// the password for a bind, a unicodePwd modify or an RFC 3062 password
// modify) lives in liblber's heap until the answer arrives, and we cannot
// reach it otherwise.
#include "ldap_common.h"

#include <malloc.h>
#include <sodium.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "sspr/ad/error_map.h"

namespace sspr::ad::internal {
namespace {

// ---- liblber allocator that wipes on free ---------------------------------
// Blocks may have been allocated by plain malloc before we install this
// (libldap's global option init); wrapping the same libc allocator keeps
// such blocks valid to free here.
void WipeFree(void* p, void* /*ctx*/) {
  if (p == nullptr) return;
  sodium_memzero(p, malloc_usable_size(p));
  std::free(p);
}
void* WipeMalloc(ber_len_t n, void* /*ctx*/) { return std::malloc(n == 0 ? 1 : n); }
void* WipeCalloc(ber_len_t n, ber_len_t size, void* /*ctx*/) {
  return std::calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}
void* WipeRealloc(void* p, ber_len_t n, void* ctx) {
  if (p == nullptr) return WipeMalloc(n, ctx);
  if (n == 0) {
    WipeFree(p, ctx);
    return nullptr;
  }
  void* q = std::malloc(n);
  if (q == nullptr) return nullptr;  // realloc semantics: p stays valid
  const std::size_t old = malloc_usable_size(p);
  std::memcpy(q, p, old < n ? old : n);
  WipeFree(p, ctx);
  return q;
}

// Set by libldap's TLS connect callback, which runs once the TCP connection
// is up and just before the TLS handshake (OpenLDAP tls2.c
// ldap_int_tls_connect). A connect that fails after it fired failed in TLS
// (handshake, certificate or host name), whatever text the TLS library left
// behind. thread_local, not a per-handle pointer: libldap keeps the callback
// argument for the handle's lifetime and may reconnect on its own.
thread_local bool t_tls_started = false;

int NoteTlsStart(LDAP* /*ld*/, void* /*ssl*/, void* /*ctx*/, void* /*arg*/) {
  t_tls_started = true;
  return 0;
}

}  // namespace

void InstallWipingAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    static BerMemoryFunctions fns = {WipeMalloc, WipeCalloc, WipeRealloc, WipeFree};
    // Fails only if someone installed functions before us; then theirs stay.
    (void)ber_set_option(nullptr, LBER_OPT_MEMORY_FNS, &fns);
  });
}

// ---- small text helpers ------------------------------------------------------
// Admin detail must stay one line: AD diagnostics contain "\n\t".
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

std::string Diagnostic(LDAP* ld) {
  char* msg = nullptr;
  if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS || msg == nullptr)
    return {};
  std::string out = OneLine(msg);
  ldap_memfree(msg);
  return out;
}

std::string Describe(int rc, const std::string& diag) {
  std::string s = ldap_err2string(rc);
  s += " (rc " + std::to_string(rc) + ")";
  if (!diag.empty()) s += ": " + diag;
  return s;
}

bool StartsWithCaseless(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool IsStartTlsUri(std::string_view uri) { return StartsWithCaseless(uri, "ldap://"); }

// Failures after which the connection is useless and a read may be retried
// on a new one. 51/52 are answers, but another DC (or a new connection) may
// serve.
bool IsLinkFailure(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
         rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE;
}

// The request may have reached the DC but its answer did not reach us.
bool IsLostAnswer(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT;
}

Result<std::int64_t> ParseInt(std::string_view attr, const std::string& v) {
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    return Fail(Errc::kDirBadReply, std::string(attr) + " is not an integer");
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool ValidAttrName(std::string_view a) {
  if (a.empty() || a.size() > 128) return false;
  for (char c : a) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == ';' || c == '.';
    if (!ok) return false;
  }
  return true;
}

timeval ToTimeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// A failure while opening or binding, with how bad it is for aggregation.
int Severity(Errc e) {
  switch (e) {
    case Errc::kDirTls: return 4;
    case Errc::kConfig: return 3;
    case Errc::kTimeout: return 2;
    default: return 1;
  }
}

Result<LdapPtr> OpenTls(const std::string& uri, const std::string& ca_file, int timeout_ms) {
  LDAP* raw = nullptr;
  int rc = ldap_initialize(&raw, uri.c_str());
  LdapPtr h(raw);
  if (rc != LDAP_SUCCESS || !h)
    return Fail(Errc::kConfig, uri + ": ldap_initialize: " + Describe(rc, {}));

  const auto set = [&](int opt, const void* val, const char* name) -> Status {
    if (ldap_set_option(h.get(), opt, val) != LDAP_OPT_SUCCESS)
      return Fail(Errc::kInternal, uri + ": cannot set " + name);
    return {};
  };
  const int version = LDAP_VERSION3;
  const int demand = LDAP_OPT_X_TLS_DEMAND;
  const int tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  const timeval tv = ToTimeval(timeout_ms);
  const int time_limit_s = (timeout_ms + 999) / 1000;
  const int is_server = 0;
  for (Status st : {set(LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version"),
                    set(LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals off"),
                    set(LDAP_OPT_NETWORK_TIMEOUT, &tv, "network timeout"),
                    set(LDAP_OPT_TIMEOUT, &tv, "API timeout"),
                    set(LDAP_OPT_TIMELIMIT, &time_limit_s, "time limit"),
                    set(LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str(), "TLS CA file"),
                    // "" clears a CA dir inherited from ldap.conf: only our CA.
                    set(LDAP_OPT_X_TLS_CACERTDIR, "", "TLS CA dir"),
                    set(LDAP_OPT_X_TLS_REQUIRE_CERT, &demand, "TLS require cert"),
                    set(LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min, "TLS minimum version"),
                    set(LDAP_OPT_X_TLS_CONNECT_CB, reinterpret_cast<const void*>(&NoteTlsStart),
                        "TLS connect callback")}) {
    if (!st) return Fail(st.error());
  }
  // Must come after the TLS options: builds this handle's own TLS context.
  if (ldap_set_option(h.get(), LDAP_OPT_X_TLS_NEWCTX, &is_server) != LDAP_OPT_SUCCESS) {
    return Fail(Errc::kConfig, uri + ": cannot build a TLS context from ca_file " + ca_file +
                                   ": " + Diagnostic(h.get()));
  }

  t_tls_started = false;
  rc = ldap_connect(h.get());
  if (rc != LDAP_SUCCESS) {
    const std::string diag = Diagnostic(h.get());
    if (t_tls_started) {
      return Fail(Errc::kDirTls,
                  uri + ": TLS handshake or certificate/host name check failed: " + Describe(rc, diag));
    }
    return Fail(MapLdapResult(Op::kBind, rc, diag), uri + ": connect: " + Describe(rc, diag));
  }
  if (IsStartTlsUri(uri)) {
    rc = ldap_start_tls_s(h.get(), nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      return Fail(Errc::kDirTls, uri + ": StartTLS failed (no fallback to plain LDAP): " +
                                     Describe(rc, Diagnostic(h.get())));
    }
  }
  // Belt and braces: refuse to go on unless a TLS session is in place.
  void* session = nullptr;
  if (ldap_get_option(h.get(), LDAP_OPT_X_TLS_SSL_CTX, &session) != LDAP_OPT_SUCCESS ||
      session == nullptr) {
    return Fail(Errc::kDirTls, uri + ": no TLS session after connect");
  }
  return h;
}

Result<std::vector<UserEntry>> SearchEntries(LDAP* h, int timeout_ms, const std::string& base,
                                             int scope, const std::string& filter,
                                             const std::vector<std::string>& attrs,
                                             int size_limit, int* rc_out) {
  std::vector<char*> attr_ptrs;
  attr_ptrs.reserve(attrs.size() + 1);
  for (const auto& a : attrs) attr_ptrs.push_back(const_cast<char*>(a.c_str()));
  attr_ptrs.push_back(nullptr);
  timeval tv = ToTimeval(timeout_ms);
  LDAPMessage* raw = nullptr;
  const int rc = ldap_search_ext_s(h, base.c_str(), scope, filter.c_str(), attr_ptrs.data(), 0,
                                   nullptr, nullptr, &tv, size_limit, &raw);
  MsgPtr res(raw);
  *rc_out = rc;
  if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
    const std::string diag = Diagnostic(h);
    return Fail(MapLdapResult(Op::kSearch, rc, diag),
                "search " + filter + " under " + base + ": " + Describe(rc, diag));
  }
  std::vector<UserEntry> out;
  // ldap_first/next_entry skip search references: referrals are ignored.
  for (LDAPMessage* e = ldap_first_entry(h, res.get()); e != nullptr; e = ldap_next_entry(h, e)) {
    UserEntry u;
    if (char* dn = ldap_get_dn(h, e)) {
      u.dn = dn;
      ldap_memfree(dn);
    }
    BerElement* ber = nullptr;
    for (char* a = ldap_first_attribute(h, e, &ber); a != nullptr;
         a = ldap_next_attribute(h, e, ber)) {
      std::vector<std::string>& vals = u.attrs[Lower(a)];
      if (berval** bv = ldap_get_values_len(h, e, a)) {
        for (berval** v = bv; *v != nullptr; ++v) vals.emplace_back((*v)->bv_val, (*v)->bv_len);
        ldap_value_free_len(bv);
      }
      ldap_memfree(a);
    }
    if (ber != nullptr) ber_free(ber, 0);
    out.push_back(std::move(u));
  }
  if (rc == LDAP_SIZELIMIT_EXCEEDED && out.size() < 2) {
    // The server stopped early but we did not see two entries: treat as
    // ambiguous rather than as "exactly one".
    return Fail(Errc::kDirAmbiguous, "search " + filter + ": size limit exceeded");
  }
  if (rc == LDAP_SIZELIMIT_EXCEEDED) *rc_out = LDAP_SUCCESS;
  return out;
}

Status CheckUri(const std::string& uri) {
  // One URI per entry: libldap would also accept a space/comma separated
  // list and might fail over to a member we did not check.
  for (char c : uri) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == ',' || c == 0x7f)
      return Fail(Errc::kConfig, "directory uri '" + OneLine(uri) +
                                     "': one URI per entry, no spaces or commas");
  }
  const bool ldaps = StartsWithCaseless(uri, "ldaps://");
  if (!ldaps && !IsStartTlsUri(uri)) {
    return Fail(Errc::kConfig, "directory uri '" + uri +
                                   "': only ldaps:// or ldap:// (always with StartTLS) allowed");
  }
  LDAPURLDesc* lud = nullptr;
  const int rc = ldap_url_parse(uri.c_str(), &lud);
  const bool has_host = rc == LDAP_URL_SUCCESS && lud->lud_host && lud->lud_host[0] != '\0';
  if (lud != nullptr) ldap_free_urldesc(lud);
  if (rc != LDAP_URL_SUCCESS)
    return Fail(Errc::kConfig, "directory uri '" + uri + "': not a valid LDAP URL");
  if (!has_host) return Fail(Errc::kConfig, "directory uri '" + uri + "': a host name is required");
  return {};
}

Result<LdapPtr> ServiceConnection::Open(const std::string& uri) const {
  return OpenTls(uri, cfg.ca_file, cfg.timeout_ms);
}

Status ServiceConnection::Connect(const std::string& prefer) {
  Drop();
  std::string note;
  std::vector<std::string> all = candidates ? candidates(&note) : cfg.uris;
  // Health: a server that failed within the last minute is tried after the
  // others, so one dead DC does not cost every request a timeout.
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> order, sick;
  if (!prefer.empty()) order.push_back(prefer);
  for (const auto& u : all) {
    if (u == prefer) continue;
    auto it = bad_until.find(u);
    (it != bad_until.end() && it->second > now ? sick : order).push_back(u);
  }
  order.insert(order.end(), sick.begin(), sick.end());
  if (order.empty())
    return Fail(Errc::kDirUnavailable,
                "no directory server known" + (note.empty() ? std::string() : ": " + note));
  Status st = TryInOrder(order);
  if (!st && !note.empty()) return Fail(st.code(), st.error().detail + "; " + note);
  return st;
}

Status ServiceConnection::TryInOrder(const std::vector<std::string>& order) {
  Drop();
  Errc worst = Errc::kDirUnavailable;
  std::string details;
  for (const auto& uri : order) {
    auto opened = Open(uri);
    if (!opened) {
      bad_until[uri] = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      if (Severity(opened.code()) > Severity(worst)) worst = opened.code();
      if (!details.empty()) details += "; ";
      details += opened.error().detail;
      continue;
    }
    LdapPtr h = std::move(opened.value());
    berval cred{};
    cred.bv_len = bind_password.size();
    cred.bv_val = reinterpret_cast<char*>(const_cast<unsigned char*>(bind_password.data()));
    const int rc = ldap_sasl_bind_s(h.get(), cfg.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred,
                                    nullptr, nullptr, nullptr);
    if (rc == LDAP_SUCCESS) {
      ld = std::move(h);
      ld_uri = uri;
      bad_until.erase(uri);
      return {};
    }
    const std::string diag = Diagnostic(h.get());
    const Errc e = MapLdapResult(Op::kBind, rc, diag);
    if (e == Errc::kDirUnavailable || e == Errc::kDirTls || e == Errc::kTimeout) {
      if (Severity(e) > Severity(worst)) worst = e;
      if (!details.empty()) details += "; ";
      details += uri + ": bind: " + Describe(rc, diag);
      continue;
    }
    // The server refused the bind. Do not try the others: lockout (AD) and
    // the ppolicy failure count (OpenLDAP) are shared, so each try would
    // only count against the service account.
    return Fail(Errc::kDirServiceAuth,
                uri + ": service bind as " + cfg.bind_dn + " refused: " + Describe(rc, diag));
  }
  return Fail(worst, "no directory server usable: " + details);
}

}  // namespace sspr::ad::internal

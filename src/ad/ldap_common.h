// Internal to the sspr::ad library: the libldap pieces shared by the Active
// Directory client (src/ad/client.cc) and the OpenLDAP client
// (src/openldap/client.cc). Not installed, not a public header.
//
// Contract of what lives here:
//  * OpenTls() gives a handle that is TLS-protected (ldaps://, or ldap://
//    after a successful StartTLS — never a fallback to plain LDAP) with the
//    given CA file, certificate + host name check (DEMAND), TLS >= 1.2, a
//    per-handle TLS context (NEWCTX), referrals off and timeouts set. It is
//    not bound yet.
//  * InstallWipingAllocator() makes liblber wipe every block it frees, so a
//    password copied into an encoded request does not linger on the heap.
//  * Nothing here logs or holds a secret beyond the call.
#pragma once

#include <lber.h>
#include <ldap.h>
#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/ad/client.h"
#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::ad::internal {

// Once per process; later calls do nothing.
void InstallWipingAllocator();

struct LdapCloser {
  void operator()(LDAP* ld) const noexcept {
    if (ld != nullptr) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};
using LdapPtr = std::unique_ptr<LDAP, LdapCloser>;

struct MsgCloser {
  void operator()(LDAPMessage* m) const noexcept {
    if (m != nullptr) ldap_msgfree(m);
  }
};
using MsgPtr = std::unique_ptr<LDAPMessage, MsgCloser>;

// Control characters become spaces: admin details stay one line.
std::string OneLine(std::string s);
// The handle's diagnostic message (one line), or "".
std::string Diagnostic(LDAP* ld);
// "Constraint violation (rc 19): <diag>".
std::string Describe(int rc, const std::string& diag);
bool StartsWithCaseless(std::string_view s, std::string_view prefix);
// ldap:// (always used with StartTLS).
bool IsStartTlsUri(std::string_view uri);
// The connection is useless; a read may be retried on a new one.
bool IsLinkFailure(int rc);
// A request may have reached the server but its answer did not reach us.
bool IsLostAnswer(int rc);
Result<std::int64_t> ParseInt(std::string_view attr, const std::string& v);
std::string Lower(std::string_view s);
// Attribute names a caller may ask for: letters, digits, '-', ';', '.'.
bool ValidAttrName(std::string_view a);
timeval ToTimeval(int ms);
// How bad a failure to open/bind is, to report the worst over several URIs.
int Severity(Errc e);

inline constexpr std::size_t kMaxName = 256;
inline constexpr int kMaxTimeoutMs = 600000;

// A TLS-protected, not yet bound handle to `uri` (see the contract above).
// kDirTls when the handshake, certificate or StartTLS fails, kConfig when the
// CA file cannot be used, else as MapLdapResult maps the connect failure.
Result<LdapPtr> OpenTls(const std::string& uri, const std::string& ca_file, int timeout_ms);

// Synchronous search; entries come back as UserEntry (dn + lower-case attrs
// map, no fixed fields filled). Search references (referrals) are skipped.
// `*rc_out` receives the LDAP result code (LDAP_SUCCESS when a size limit
// stopped the search after at least two entries).
Result<std::vector<UserEntry>> SearchEntries(LDAP* h, int timeout_ms, const std::string& base,
                                             int scope, const std::string& filter,
                                             const std::vector<std::string>& attrs,
                                             int size_limit, int* rc_out);

// The per-URI rules every directory client applies at Create(): exactly one
// ldaps:// or ldap:// URL with a host, no spaces or commas.
Status CheckUri(const std::string& uri);

// The helper's bound service connection, shared by the AD and OpenLDAP
// clients: one persistent handle; failover across the candidate servers
// (a bind *refusal* stops the walk: the account's lockout or ppolicy
// failure count is shared by all of them); a server that failed within the
// last minute is tried after the others; reads are retried once on a new
// connection after a broken link. The owner guards it with its mutex.
struct ServiceConnection {
  DirectoryConfig cfg;
  Secret bind_password;
  LdapPtr ld;          // the bound handle, or null
  std::string ld_uri;  // the URI `ld` is connected to
  // Servers to try, in order (default: cfg.uris); `note` explains a
  // discovery problem for the admin detail.
  std::function<std::vector<std::string>(std::string* note)> candidates;
  std::map<std::string, std::chrono::steady_clock::time_point> bad_until;

  void Drop() noexcept {
    ld.reset();
    ld_uri.clear();
  }
  // A TLS-protected, not yet bound handle to `uri`.
  Result<LdapPtr> Open(const std::string& uri) const;
  // Connect and bind: `prefer` first (if non-empty), then the candidates,
  // healthy ones before recently failed ones.
  Status Connect(const std::string& prefer);
  // Connect and bind to the first of `order` that works.
  Status TryInOrder(const std::vector<std::string>& order);

  // Run a read `op(LDAP*, int* rc)` (returning a Result); on a link failure
  // reconnect and run it once more.
  template <typename F>
  auto WithRead(F&& op) -> decltype(op(static_cast<LDAP*>(nullptr), static_cast<int*>(nullptr))) {
    for (int attempt = 0;; ++attempt) {
      if (!ld) {
        Status st = Connect({});
        if (!st) return Fail(std::move(st).error());
      }
      int rc = LDAP_SUCCESS;
      auto r = op(ld.get(), &rc);
      if (r.ok() || !IsLinkFailure(rc) || attempt >= 1) {
        if (!r.ok() && IsLinkFailure(rc)) Drop();
        return r;
      }
      Drop();
    }
  }
};

}  // namespace sspr::ad::internal

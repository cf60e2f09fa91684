// sspr::openldap::Client: OpenLDAP + slapo-ppolicy over libldap.
//
// Why it looks like this:
//  * Transport is the AD client's (src/ad/ldap_common.h): per-handle TLS
//    context with our CA only, DEMAND, TLS >= 1.2, StartTLS for ldap:// with
//    no fallback, referrals off, timeouts (SECURITY.md rule 10).
//  * Password writes use the RFC 3062 password modify extended operation,
//    not a userPassword modify: slapd then hashes the value itself
//    (olcPPolicyHashCleartext makes ppolicy do so for plain modifies too) and
//    ppolicy checks it. The ppolicy request control
//    (draft-behera-ldap-password-policy §6.1, OID 1.3.6.1.4.1.42.2.27.8.5.1)
//    is attached so the answer names the rule that refused it (§6.2
//    PasswordPolicyResponseValue error: passwordTooShort(6),
//    insufficientPasswordQuality(5), passwordInHistory(8),
//    passwordTooYoung(7), ...). ppolicy skips all checks for the rootdn
//    (slapo-ppolicy(5)), so the service account must be an ordinary entry.
//  * Measured on OpenLDAP 2.5 (tests/integration/test_openldap.py): a
//    successful change by the service account is checked for length,
//    quality, history and minimum age, and clears pwdAccountLockedTime and
//    pwdFailureTime; deleting pwdAccountLockedTime also drops
//    pwdFailureTime, replacing it with nothing does not; a wrong oldPasswd
//    in the exop is rc 53 "unwilling to verify old password" and is not
//    counted as a failure — so a user change binds as the user first.
//  * Read-back: pwdChangedTime has one-second resolution, so two writes in
//    the same second look alike; entryCSN (microseconds + counter) changes
//    on every modification of the entry. Written = the server said so and
//    (pwdChangedTime, entryCSN) moved; after a lost answer, a new
//    pwdChangedTime proves the write, an untouched entryCSN proves none, and
//    anything else is kDirWriteUnknown.
//  * Passwords go into liblber only as bervals pointing at Secret memory;
//    liblber's copies are wiped by the allocator ad::internal installs.
#include "sspr/openldap/client.h"

#include <lber.h>
#include <ldap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "../ad/ldap_common.h"
#include "sspr/ad/error_map.h"

namespace sspr::openldap {
namespace {

using ad::DomainPolicy;
using ad::Op;
using ad::UserEntry;
using ad::WriteOutcome;
using ad::internal::Describe;
using ad::internal::Diagnostic;
using ad::internal::IsLinkFailure;
using ad::internal::IsLostAnswer;
using ad::internal::kMaxName;
using ad::internal::kMaxTimeoutMs;
using ad::internal::LdapPtr;
using ad::internal::Lower;
using ad::internal::MsgPtr;
using ad::internal::OneLine;
using ad::internal::ParseInt;
using ad::internal::Severity;
using ad::internal::ToTimeval;
using ad::internal::ValidAttrName;

constexpr int kMaxGroupDepth = 8;
constexpr int kMaxGroupsPerLevel = 256;
// FILETIME epoch (1601-01-01) to Unix epoch, in seconds.
constexpr std::int64_t kFiletimeEpochOffset = 11644473600LL;

// ---- the answer to a request sent with the ppolicy control ----------------
struct PolicyAnswer {
  int rc = LDAP_OTHER;
  std::string diag;
  bool has_control = false;
  LDAPPasswordPolicyError pp = PP_noError;
};

// One table: the ppolicy error a server named -> Errc.
Errc MapPolicyError(LDAPPasswordPolicyError e) {
  switch (e) {
    case PP_passwordTooShort: return Errc::kDirPolicyTooShort;
    case PP_insufficientPasswordQuality: return Errc::kDirPolicyQuality;
    case PP_passwordInHistory: return Errc::kDirPolicyHistory;
    case PP_passwordTooYoung: return Errc::kDirPolicyTooYoung;
    case PP_passwordExpired:
    case PP_accountLocked:
    case PP_changeAfterReset:
    case PP_passwordModNotAllowed:
    case PP_mustSupplyOldPassword:
    case PP_passwordTooLong:
    case PP_noError: return Errc::kDirRejected;
  }
  return Errc::kDirRejected;
}

// A refused password modify.
Errc MapWrite(const PolicyAnswer& a) {
  if (a.has_control && a.pp != PP_noError) return MapPolicyError(a.pp);
  // ppolicy without a named rule (or a server without the control).
  if (a.rc == LDAP_CONSTRAINT_VIOLATION) return Errc::kDirPolicy;
  // slapd passwd.c: a wrong oldPasswd is "unwilling to verify old password".
  if (a.rc == LDAP_UNWILLING_TO_PERFORM && a.diag.find("old password") != std::string::npos)
    return Errc::kDirWrongPassword;
  return ad::MapLdapResult(Op::kPasswordChange, a.rc, a.diag);
}

// A refused simple bind (ppolicy puts the reason in the control; rc is 49).
Errc MapBind(const PolicyAnswer& a) {
  if (a.rc == LDAP_INVALID_CREDENTIALS) {
    if (a.has_control && a.pp == PP_accountLocked) return Errc::kDirLocked;
    if (a.has_control && a.pp == PP_passwordExpired) return Errc::kDirExpired;
    return Errc::kDirWrongPassword;
  }
  return ad::MapLdapResult(Op::kBind, a.rc, a.diag);
}

std::string PolicyText(const PolicyAnswer& a) {
  if (!a.has_control || a.pp == PP_noError) return {};
  return std::string(" [ppolicy: ") + ldap_passwordpolicy_err2txt(a.pp) + "]";
}

// The answer may have been lost (or is unreadable): the write may or may
// not have happened.
bool AnswerLost(int rc) { return IsLostAnswer(rc) || rc == LDAP_DECODING_ERROR; }

// Waits for the answer to `msgid` and reads its result and ppolicy control.
PolicyAnswer Await(LDAP* h, int msgid, int timeout_ms) {
  PolicyAnswer a;
  timeval tv = ToTimeval(timeout_ms);
  LDAPMessage* raw = nullptr;
  const int got = ldap_result(h, msgid, LDAP_MSG_ALL, &tv, &raw);
  MsgPtr res(raw);
  if (got == 0) {
    a.rc = LDAP_TIMEOUT;
    a.diag = "no answer within " + std::to_string(timeout_ms) + " ms";
    return a;
  }
  if (got < 0 || !res) {
    int rc = LDAP_SERVER_DOWN;
    (void)ldap_get_option(h, LDAP_OPT_RESULT_CODE, &rc);
    a.rc = rc == LDAP_SUCCESS ? LDAP_SERVER_DOWN : rc;
    a.diag = Diagnostic(h);
    return a;
  }
  int err = LDAP_OTHER;
  char* text = nullptr;
  LDAPControl** ctrls = nullptr;
  const int prc = ldap_parse_result(h, res.get(), &err, nullptr, &text, nullptr, &ctrls, 0);
  if (prc != LDAP_SUCCESS) {
    a.rc = LDAP_DECODING_ERROR;
    a.diag = "cannot parse the answer: " + Describe(prc, {});
  } else {
    a.rc = err;
    if (text != nullptr) a.diag = OneLine(text);
  }
  if (text != nullptr) ldap_memfree(text);
  if (ctrls != nullptr) {
    if (LDAPControl* c = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, ctrls, nullptr)) {
      ber_int_t expire = -1, grace = -1;
      LDAPPasswordPolicyError e = PP_noError;
      if (ldap_parse_passwordpolicy_control(h, c, &expire, &grace, &e) == LDAP_SUCCESS) {
        a.has_control = true;
        a.pp = e;
      }
    }
    ldap_controls_free(ctrls);
  }
  return a;
}

// The ppolicy request control (no value), owned.
struct CtrlFree {
  void operator()(LDAPControl* c) const noexcept {
    if (c != nullptr) ldap_control_free(c);
  }
};
using CtrlPtr = std::unique_ptr<LDAPControl, CtrlFree>;

Result<CtrlPtr> PolicyRequest(LDAP* h) {
  LDAPControl* c = nullptr;
  if (ldap_create_passwordpolicy_control(h, &c) != LDAP_SUCCESS || c == nullptr)
    return Fail(Errc::kInternal, "cannot build the ppolicy request control");
  return CtrlPtr(c);
}

berval SecretBerval(const Secret& s) {
  berval bv{};
  bv.bv_len = s.size();
  bv.bv_val = reinterpret_cast<char*>(const_cast<unsigned char*>(s.data()));
  return bv;
}

// Simple bind with the ppolicy request control. RFC 4513 §5.1.2: callers
// never pass an empty password (that would be an anonymous success).
PolicyAnswer BindWithPolicy(LDAP* h, const std::string& dn, const Secret& password,
                            int timeout_ms) {
  auto ctrl = PolicyRequest(h);
  if (!ctrl) return PolicyAnswer{LDAP_LOCAL_ERROR, ctrl.error().detail, false, PP_noError};
  LDAPControl* sctrls[] = {ctrl->get(), nullptr};
  berval cred = SecretBerval(password);
  int msgid = -1;
  const int rc = ldap_sasl_bind(h, dn.c_str(), LDAP_SASL_SIMPLE, &cred, sctrls, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) return PolicyAnswer{rc, Diagnostic(h), false, PP_noError};
  return Await(h, msgid, timeout_ms);
}

// RFC 3062 password modify of `dn` with the ppolicy request control. A
// null `old_password` is an administrative reset.
PolicyAnswer PasswordModify(LDAP* h, const std::string& dn, const Secret* old_password,
                            const Secret& new_password, int timeout_ms) {
  auto ctrl = PolicyRequest(h);
  if (!ctrl) return PolicyAnswer{LDAP_LOCAL_ERROR, ctrl.error().detail, false, PP_noError};
  LDAPControl* sctrls[] = {ctrl->get(), nullptr};
  berval user{};
  user.bv_len = dn.size();
  user.bv_val = const_cast<char*>(dn.data());
  berval old_bv{};
  if (old_password != nullptr) old_bv = SecretBerval(*old_password);
  berval new_bv = SecretBerval(new_password);
  int msgid = -1;
  const int rc = ldap_passwd(h, &user, old_password != nullptr ? &old_bv : nullptr, &new_bv,
                             sctrls, nullptr, &msgid);
  if (rc != LDAP_SUCCESS) {
    // Not sent (encoding or a dead link before the write): nothing happened
    // unless the link died mid-write, which AnswerLost() covers.
    return PolicyAnswer{rc, Diagnostic(h), false, PP_noError};
  }
  return Await(h, msgid, timeout_ms);
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
// days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The dc= suffix of a DN: where groups and policies live, whatever OU the
// users are under. "ou=people,dc=example,dc=org" -> "dc=example,dc=org".
std::string NamingContextOf(const std::string& base_dn) {
  std::size_t pos = 0;
  while (pos < base_dn.size()) {
    if (base_dn.size() - pos >= 3 && Lower(base_dn.substr(pos, 3)) == "dc=") return base_dn.substr(pos);
    const std::size_t comma = base_dn.find(',', pos);
    if (comma == std::string::npos) break;
    pos = comma + 1;
    while (pos < base_dn.size() && base_dn[pos] == ' ') ++pos;
  }
  return base_dn;
}

// A DN in one comparable form (RFC 4514 string, lower case).
std::string NormDn(const std::string& dn) {
  char* out = nullptr;
  if (ldap_dn_normalize(dn.c_str(), LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) !=
          LDAP_SUCCESS ||
      out == nullptr) {
    return Lower(dn);
  }
  std::string s = Lower(out);
  ldap_memfree(out);
  return s;
}

bool ValidDn(const std::string& dn) {
  return !dn.empty() && dn.size() <= 4096 && dn.find('\0') == std::string::npos;
}

// Before/after state of a password write.
struct Marker {
  std::string changed;  // pwdChangedTime ("" when never set)
  std::string csn;      // entryCSN
  bool reset = false;   // pwdReset: TRUE
  bool locked = false;  // pwdAccountLockedTime present
};

}  // namespace

Result<std::int64_t> GeneralizedTimeToFiletime(std::string_view t) {
  const auto bad = [&] {
    return Fail(Errc::kDirBadReply, "not a UTC GeneralizedTime: '" + OneLine(std::string(t.substr(0, 64))) + "'");
  };
  if (t.size() < 11 || t.back() != 'Z') return bad();
  std::size_t i = 0;
  const auto digits = [&](std::size_t n, unsigned* out) -> bool {
    if (i + n > t.size()) return false;
    unsigned v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = t[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    i += n;
    *out = v;
    return true;
  };
  unsigned year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!digits(4, &year) || !digits(2, &mon) || !digits(2, &day) || !digits(2, &hour)) return bad();
  const auto more_digits = [&] { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  if (more_digits()) {
    if (!digits(2, &min)) return bad();
    if (more_digits() && !digits(2, &sec)) return bad();
  }
  std::int64_t frac_100ns = 0;
  if (i < t.size() && (t[i] == '.' || t[i] == ',')) {
    ++i;
    int n = 0;
    std::int64_t scale = 1000000;  // first digit = 10^6 * 100 ns
    while (more_digits()) {
      if (n < 7) {
        frac_100ns += (t[i] - '0') * scale;
        scale /= 10;
      }
      ++n;
      ++i;
    }
    if (n == 0) return bad();
  }
  if (i + 1 != t.size()) return bad();
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad();
  const std::int64_t unix_s = DaysFromCivil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
  return (unix_s + kFiletimeEpochOffset) * 10000000LL + frac_100ns;
}

// The shared service connection (failover, health, retry-once reads),
// guarded by `mu`, plus what only OpenLDAP needs.
struct Client::Impl : ad::internal::ServiceConnection {
  OpenLdapOptions opts;
  std::mutex mu;
  Result<std::vector<UserEntry>> Search(LDAP* h, const std::string& base, int scope,
                                        const std::string& filter,
                                        const std::vector<std::string>& attrs, int size_limit,
                                        int* rc) const {
    return ad::internal::SearchEntries(h, cfg.timeout_ms, base, scope, filter, attrs, size_limit, rc);
  }
  Result<Marker> ReadMarker(LDAP* h, const std::string& dn, int* rc) const;
  // The outcome of a password modify whose answer is `a`, proven by reading
  // the entry on the service connection (see the file comment).
  Result<WriteOutcome> Settle(const std::string& dn, const Marker& before, const PolicyAnswer& a,
                              const std::string& write_uri, bool sent_on_service,
                              const char* what, std::optional<Marker>* after_out);
};

Result<Marker> Client::Impl::ReadMarker(LDAP* h, const std::string& dn, int* rc) const {
  auto r = Search(h, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
                  {"pwdChangedTime", "entryCSN", "pwdReset", "pwdAccountLockedTime"}, 2, rc);
  if (!r) return Fail(std::move(r).error());
  if (r->size() != 1) return Fail(Errc::kDirBadReply, "base read of " + dn + ": no entry");
  const UserEntry& e = (*r)[0];
  Marker m;
  m.changed = e.First("pwdchangedtime").value_or("");
  auto csn = e.First("entrycsn");
  if (!csn)
    return Fail(Errc::kDirAccessDenied,
                dn + ": entryCSN not readable: the service account needs read access to it");
  m.csn = *csn;
  m.reset = e.First("pwdreset").value_or("") == "TRUE";
  m.locked = e.First("pwdaccountlockedtime").has_value();
  return m;
}

Result<WriteOutcome> Client::Impl::Settle(const std::string& dn, const Marker& before,
                                          const PolicyAnswer& a, const std::string& write_uri,
                                          bool sent_on_service, const char* what,
                                          std::optional<Marker>* after_out) {
  if (a.rc == LDAP_SUCCESS) {
    if (!ld) {
      if (!Connect(write_uri)) return WriteOutcome::kWritten;  // the server confirmed
    }
    int read_rc = LDAP_SUCCESS;
    auto after = ReadMarker(ld.get(), dn, &read_rc);
    if (!after) {
      if (IsLinkFailure(read_rc)) Drop();
      return WriteOutcome::kWritten;  // the server confirmed the operation
    }
    if (after->changed != before.changed || after->csn != before.csn) {
      if (after_out != nullptr) *after_out = *after;
      return WriteOutcome::kWritten;
    }
    return Fail(Errc::kDirWriteUnknown, dn + ": server acknowledged the " + what +
                                            " but pwdChangedTime and entryCSN did not change");
  }
  if (!AnswerLost(a.rc)) {
    // The server answered with a refusal: nothing was written.
    return Fail(MapWrite(a), dn + ": " + what + " refused by " + write_uri + ": " +
                                 Describe(a.rc, a.diag) + PolicyText(a));
  }
  // Sent, answer lost: ask the directory.
  const std::string lost = dn + ": answer to " + what + " lost (" + Describe(a.rc, a.diag) + ")";
  if (sent_on_service) Drop();  // closes the socket; a pending answer can no longer arrive
  if (!ld || ld_uri != write_uri) {
    Status st = Connect(write_uri);
    if (!st) return Fail(Errc::kDirWriteUnknown, lost + "; reconnect failed: " + st.error().detail);
  }
  int read_rc = LDAP_SUCCESS;
  auto after = ReadMarker(ld.get(), dn, &read_rc);
  if (!after) {
    if (IsLinkFailure(read_rc)) Drop();
    return Fail(Errc::kDirWriteUnknown, lost + "; re-read failed: " + after.error().detail);
  }
  if (after->changed != before.changed) return WriteOutcome::kWritten;
  if (after->csn == before.csn && ld_uri == write_uri) return WriteOutcome::kNotWritten;
  if (after->csn == before.csn) {
    // Another server may not have the change yet (replication): no proof.
    return Fail(Errc::kDirWriteUnknown,
                lost + "; entry unchanged on " + ld_uri + " (write went to " + write_uri + ")");
  }
  return Fail(Errc::kDirWriteUnknown,
              lost + "; entryCSN changed but pwdChangedTime did not: cannot tell");
}

// ---- Client ---------------------------------------------------------------

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(ad::DirectoryConfig config, Secret bind_password,
                                               OpenLdapOptions options) try {
  if (config.uris.empty()) return Fail(Errc::kConfig, "directory uri: none given");
  if (!config.srv_domain.empty())
    return Fail(Errc::kConfig, "directory srv_domain: only for Active Directory; give uri");
  for (const auto& uri : config.uris) {
    Status st = ad::internal::CheckUri(uri);
    if (!st) return Fail(std::move(st).error());
  }
  if (config.ca_file.empty())
    return Fail(Errc::kConfig, "directory ca_file: required (the server certificate is always verified)");
  struct stat st{};
  if (::stat(config.ca_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return Fail(Errc::kConfig, "directory ca_file '" + config.ca_file + "': not a readable file");
  if (config.bind_dn.empty()) return Fail(Errc::kConfig, "directory bind_dn: required");
  if (config.base_dn.empty()) return Fail(Errc::kConfig, "directory base_dn: required");
  if (config.timeout_ms <= 0 || config.timeout_ms > kMaxTimeoutMs)
    return Fail(Errc::kConfig, "directory timeout_ms: must be 1.." + std::to_string(kMaxTimeoutMs) +
                                   ", got " + std::to_string(config.timeout_ms));
  // An empty simple bind is an anonymous success (RFC 4513 §5.1.2).
  if (bind_password.empty())
    return Fail(Errc::kConfig, "directory bind password: empty (would bind anonymously)");
  if (!ValidAttrName(options.login_attribute) ||
      options.login_attribute.find(';') != std::string::npos)
    return Fail(Errc::kConfig, "directory login_attribute '" + OneLine(options.login_attribute) +
                                   "': not an attribute name");
  if (!ValidDn(options.default_policy_dn))
    return Fail(Errc::kConfig,
                "directory default_policy_dn: required (the olcPPolicyDefault entry)");

  ad::internal::InstallWipingAllocator();
  auto impl = std::make_unique<Impl>();
  impl->cfg = std::move(config);
  impl->bind_password = std::move(bind_password);
  impl->opts = std::move(options);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap client create: ") + e.what());
}

Status Client::Ping() try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  auto r = m_impl->WithRead([&](LDAP* h, int* rc) {
    return m_impl->Search(h, "", LDAP_SCOPE_BASE, "(objectClass=*)", {"1.1"}, 1, rc);
  });
  if (!r) return Fail(std::move(r).error());
  return {};
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap ping: ") + e.what());
}

Result<UserEntry> Client::FindUser(std::string_view name,
                                   const std::vector<std::string>& extra_attrs) try {
  if (name.empty() || name.size() > kMaxName || name.find('\0') != std::string_view::npos)
    return Fail(Errc::kDirNoSuchUser, "account name empty, too long or contains NUL");
  const Impl& cim = *m_impl;
  // Operational attributes are only returned when asked for by name.
  std::vector<std::string> attrs = {cim.opts.login_attribute, "cn", "displayName",
                                    "pwdAccountLockedTime", "pwdChangedTime",
                                    "pwdPolicySubentry", "pwdReset"};
  for (const auto& a : extra_attrs) {
    if (!ValidAttrName(a))
      return Fail(Errc::kConfig, "attribute name '" + OneLine(a) + "' is not valid");
    attrs.push_back(a);
  }
  const std::string filter = "(&(objectClass=inetOrgPerson)(" + cim.opts.login_attribute + "=" +
                             ad::EscapeFilterValue(name) + "))";

  std::lock_guard<std::mutex> lock(m_impl->mu);
  auto found = m_impl->WithRead([&](LDAP* h, int* rc) {
    return m_impl->Search(h, m_impl->cfg.base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 2, rc);
  });
  if (!found) return Fail(std::move(found).error());
  auto& entries = found.value();
  if (entries.empty())
    return Fail(Errc::kDirNoSuchUser, "no user matches " + filter + " under " + m_impl->cfg.base_dn);
  if (entries.size() > 1) return Fail(Errc::kDirAmbiguous, "several users match " + filter);

  UserEntry u = std::move(entries[0]);
  if (u.dn.empty()) return Fail(Errc::kDirBadReply, "entry without DN for " + filter);
  u.sam_account_name = u.First(Lower(cim.opts.login_attribute)).value_or("");
  u.display_name = u.First("displayname").value_or(u.First("cn").value_or(""));
  if (auto locked = u.First("pwdaccountlockedtime")) {
    // ppolicy: "000001010000Z" = locked until an administrator unlocks.
    u.disabled = *locked == kPermanentLock;
    auto ft = GeneralizedTimeToFiletime(*locked);
    // Present means locked (at least once): never report 0 for it.
    u.lockout_time = (ft && *ft > 0) ? *ft : 1;
  }
  if (auto changed = u.First("pwdchangedtime")) {
    auto ft = GeneralizedTimeToFiletime(*changed);
    if (!ft) return Fail(Errc::kDirBadReply, u.dn + ": pwdChangedTime: " + ft.error().detail);
    u.pwd_last_set = *ft;
  }
  return u;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap find user: ") + e.what());
}

Result<DomainPolicy> Client::ReadEffectivePolicy(const UserEntry& user) try {
  std::string dn = user.First("pwdpolicysubentry").value_or("");
  if (dn.empty()) dn = m_impl->opts.default_policy_dn;
  if (!ValidDn(dn)) return Fail(Errc::kConfig, "no password policy entry for " + user.dn);
  std::lock_guard<std::mutex> lock(m_impl->mu);
  auto r = m_impl->WithRead([&](LDAP* h, int* rc) {
    return m_impl->Search(h, dn, LDAP_SCOPE_BASE, "(objectClass=pwdPolicy)",
                          {"pwdMinLength", "pwdCheckQuality", "pwdInHistory", "pwdMinAge",
                           "pwdMaxAge", "pwdMaxFailure", "pwdLockout", "pwdLockoutDuration"},
                          1, rc);
  });
  if (!r && r.code() == Errc::kDirNoSuchUser)
    return Fail(Errc::kConfig, "password policy entry " + dn + " does not exist");
  if (!r) return Fail(std::move(r).error());
  if (r->empty() || !r->front().First("pwdminlength").has_value())
    return Fail(Errc::kDirAccessDenied, "cannot read the password policy " + dn +
                                            ": grant the service account read access to it");
  const UserEntry& e = r->front();
  const auto num = [&](std::string_view a) -> Result<std::int64_t> {
    auto v = e.First(a);
    if (!v) return std::int64_t{0};
    auto n = ParseInt(a, *v);
    if (!n || *n < 0) return Fail(Errc::kDirBadReply, dn + ": " + std::string(a) + " is not a count");
    return *n;
  };
  std::int64_t len = 0, hist = 0, min_age = 0, max_age = 0, fails = 0, duration = 0;
  for (auto [attr, out] : {std::pair{"pwdminlength", &len}, std::pair{"pwdinhistory", &hist},
                           std::pair{"pwdminage", &min_age}, std::pair{"pwdmaxage", &max_age},
                           std::pair{"pwdmaxfailure", &fails},
                           std::pair{"pwdlockoutduration", &duration}}) {
    auto n = num(attr);
    if (!n) return Fail(std::move(n).error());
    *out = *n;
  }
  DomainPolicy p;
  p.source = dn;
  p.min_length = static_cast<int>(std::min<std::int64_t>(len, 4096));
  // pwdCheckQuality is about length and an optional check module; AD-style
  // complexity is not something ppolicy defines (slapo-ppolicy(5)).
  p.complexity = false;
  p.history_length = static_cast<int>(std::min<std::int64_t>(hist, 1024));
  p.min_age_s = min_age;
  p.max_age_s = max_age;
  const bool lockout = e.First("pwdlockout").value_or("FALSE") == "TRUE";
  p.lockout_threshold = lockout ? static_cast<int>(std::min<std::int64_t>(fails, 1 << 20)) : 0;
  p.lockout_duration_s = duration;  // 0 = until an administrator unlocks
  return p;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap effective policy: ") + e.what());
}

Result<WriteOutcome> Client::ResetPassword(const UserEntry& user, const Secret& password,
                                           const ad::ResetOptions& options,
                                           std::string* history_note) try {
  if (!ValidDn(user.dn)) return Fail(Errc::kDirNoSuchUser, "reset: entry has no DN");
  // An empty password would later bind anonymously; never set one.
  if (password.empty()) return Fail(Errc::kDirPolicy, "reset: empty password refused");

  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  auto before = im.WithRead([&](LDAP* h, int* rc) { return im.ReadMarker(h, user.dn, rc); });
  if (!before) return Fail(std::move(before).error());  // nothing was sent
  const std::string write_uri = im.ld_uri;

  const PolicyAnswer a = PasswordModify(im.ld.get(), user.dn, nullptr, password, im.cfg.timeout_ms);
  // `after` is filled only when the entry was re-read after the write.
  std::optional<Marker> after;
  auto out = im.Settle(user.dn, *before, a, write_uri, true, "reset", &after);
  if (!out || *out != WriteOutcome::kWritten) return out;

  // The password is written. Bring pwdReset (and, if asked, the lock) to
  // the wanted state on the same connection. ppolicy already dropped the
  // lock with the change; it sets pwdReset itself after an admin change when
  // the policy has pwdMustChange.
  char attr_reset[] = "pwdReset";
  char attr_lock[] = "pwdAccountLockedTime";
  char v_true[] = "TRUE";
  berval true_val{4, v_true};
  berval* true_vals[] = {&true_val, nullptr};
  LDAPMod mod_reset{};
  mod_reset.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  mod_reset.mod_type = attr_reset;
  mod_reset.mod_bvalues = options.must_change ? true_vals : nullptr;  // none = remove
  LDAPMod mod_lock{};
  mod_lock.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;  // no values: remove if present
  mod_lock.mod_type = attr_lock;
  mod_lock.mod_bvalues = nullptr;
  LDAPMod* mods[3] = {nullptr, nullptr, nullptr};
  int n = 0;
  if (!after || after->reset != options.must_change) mods[n++] = &mod_reset;
  if (options.unlock && (!after || after->locked)) mods[n++] = &mod_lock;
  if (n == 0) return WriteOutcome::kWritten;
  std::string problem;
  if (!im.ld) {
    problem = "no connection left";
  } else {
    const int rc = ldap_modify_ext_s(im.ld.get(), user.dn.c_str(), mods, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      problem = Describe(rc, Diagnostic(im.ld.get()));
      if (IsLinkFailure(rc)) im.Drop();
    }
  }
  if (!problem.empty() && history_note != nullptr) {
    *history_note = user.dn + ": password reset, but setting " +
                    std::string(options.must_change ? "pwdReset: TRUE" : "no pwdReset") +
                    (options.unlock ? " and removing pwdAccountLockedTime" : "") +
                    " failed: " + problem;
  }
  return WriteOutcome::kWritten;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap reset: ") + e.what());
}

Result<WriteOutcome> Client::ChangePassword(const UserEntry& user, const Secret& old_password,
                                            const Secret& new_password) try {
  if (!ValidDn(user.dn)) return Fail(Errc::kDirNoSuchUser, "change: entry has no DN");
  // An empty old password must never reach a bind (LTB SSP CVE-2018-12421);
  // an empty new one would bind anonymously later.
  if (old_password.empty())
    return Fail(Errc::kDirWrongPassword, "change: empty old password refused");
  if (new_password.empty()) return Fail(Errc::kDirPolicy, "change: empty new password refused");

  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  auto before = im.WithRead([&](LDAP* h, int* rc) { return im.ReadMarker(h, user.dn, rc); });
  if (!before) return Fail(std::move(before).error());
  const std::string write_uri = im.ld_uri;

  // The user's own connection, to the server the service link uses.
  auto opened = im.Open(write_uri);
  if (!opened) return Fail(std::move(opened).error());
  LdapPtr uh = std::move(opened.value());
  const PolicyAnswer b = BindWithPolicy(uh.get(), user.dn, old_password, im.cfg.timeout_ms);
  if (b.rc != LDAP_SUCCESS) {
    const Errc e = MapBind(b);
    if (e != Errc::kDirExpired) {
      return Fail(e, write_uri + ": change: bind as " + user.dn + ": " + Describe(b.rc, b.diag) +
                         PolicyText(b));
    }
    // ppolicy reports passwordExpired only for the right password (and no
    // grace logins left): change it as the service account with old + new,
    // which slapd checks again (AD lets an expired password be changed too).
    uh.reset();
    if (!im.ld) {
      Status st = im.Connect(write_uri);
      if (!st) return Fail(std::move(st).error());
    }
    const std::string svc_uri = im.ld_uri;
    const PolicyAnswer a =
        PasswordModify(im.ld.get(), user.dn, &old_password, new_password, im.cfg.timeout_ms);
    auto out = im.Settle(user.dn, *before, a, svc_uri, true, "change (expired password)", nullptr);
    if (!out && out.code() == Errc::kDirWrongPassword) {
      // The bind has just proven the old password: slapd refused to check
      // it for us (slap_passwd_check needs "auth" access), an ACL problem.
      return Fail(Errc::kDirAccessDenied,
                  out.error().detail + " (the service account needs auth (x) access to "
                                       "userPassword to change an expired password)");
    }
    return out;
  }
  const PolicyAnswer a =
      PasswordModify(uh.get(), user.dn, &old_password, new_password, im.cfg.timeout_ms);
  uh.reset();  // the user's session ends here whatever happened
  return im.Settle(user.dn, *before, a, write_uri, false, "change", nullptr);
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap change: ") + e.what());
}

Status Client::Unlock(const UserEntry& user) try {
  if (!ValidDn(user.dn)) return Fail(Errc::kDirNoSuchUser, "unlock: entry has no DN");
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  char attr[] = "pwdAccountLockedTime";
  LDAPMod mod{};
  // A delete (not an empty replace): ppolicy then also drops pwdFailureTime,
  // so the next wrong password does not lock the account again at once.
  mod.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES;
  mod.mod_type = attr;
  mod.mod_bvalues = nullptr;
  LDAPMod* mods[] = {&mod, nullptr};
  // Idempotent, so a retry after a broken link is safe.
  auto r = im.WithRead([&](LDAP* h, int* rc) -> Result<bool> {
    *rc = ldap_modify_ext_s(h, user.dn.c_str(), mods, nullptr, nullptr);
    if (*rc == LDAP_SUCCESS || *rc == LDAP_NO_SUCH_ATTRIBUTE) return true;  // was not locked
    const std::string diag = Diagnostic(h);
    return Fail(ad::MapLdapResult(Op::kModify, *rc, diag), user.dn + ": unlock: " + Describe(*rc, diag));
  });
  if (!r) return Fail(std::move(r).error());
  return {};
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap unlock: ") + e.what());
}

Result<bool> Client::IsMemberOf(const std::string& user_dn, const std::string& group_dn) try {
  if (!ValidDn(user_dn) || !ValidDn(group_dn)) return false;
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  const std::string target = NormDn(group_dn);
  const std::string base = NamingContextOf(im.cfg.base_dn);
  std::set<std::string> seen = {NormDn(user_dn)};
  std::vector<std::string> frontier = {user_dn};
  for (int depth = 0; depth < kMaxGroupDepth && !frontier.empty(); ++depth) {
    std::string filter = "(&(objectClass=groupOfNames)(|";
    for (const auto& dn : frontier) filter += "(member=" + ad::EscapeFilterValue(dn) + ")";
    filter += "))";
    // Our own search: a size limit must be an error here, not a short list
    // (a missed admin group would weaken the reset rules).
    auto groups = im.WithRead([&](LDAP* h, int* rc) -> Result<std::vector<std::string>> {
      char none[] = "1.1";
      char* attrs[] = {none, nullptr};
      timeval tv = ToTimeval(im.cfg.timeout_ms);
      LDAPMessage* raw = nullptr;
      *rc = ldap_search_ext_s(h, base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs, 0,
                              nullptr, nullptr, &tv, kMaxGroupsPerLevel + 1, &raw);
      MsgPtr res(raw);
      if (*rc == LDAP_SIZELIMIT_EXCEEDED) {
        *rc = LDAP_SUCCESS;
        return Fail(Errc::kDirBadReply, "membership: more than " +
                                            std::to_string(kMaxGroupsPerLevel) +
                                            " groups at one nesting level under " + base);
      }
      if (*rc != LDAP_SUCCESS) {
        const std::string diag = Diagnostic(h);
        return Fail(ad::MapLdapResult(Op::kSearch, *rc, diag),
                    "membership search under " + base + ": " + Describe(*rc, diag));
      }
      std::vector<std::string> out;
      for (LDAPMessage* e = ldap_first_entry(h, res.get()); e != nullptr; e = ldap_next_entry(h, e)) {
        if (char* dn = ldap_get_dn(h, e)) {
          out.emplace_back(dn);
          ldap_memfree(dn);
        }
      }
      return out;
    });
    if (!groups) return Fail(std::move(groups).error());
    std::vector<std::string> next;
    for (const auto& g : *groups) {
      const std::string norm = NormDn(g);
      if (norm == target) return true;
      if (seen.insert(norm).second) next.push_back(g);
    }
    frontier = std::move(next);
  }
  return false;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap membership: ") + e.what());
}

Status Client::VerifyPassword(const std::string& dn, const Secret& password) try {
  // RFC 4513 §5.1.2: a simple bind with an empty password is an
  // unauthenticated (anonymous) bind that succeeds. Never send one.
  if (password.empty()) return Fail(Errc::kDirWrongPassword, "empty password refused before bind");
  if (!ValidDn(dn)) return Fail(Errc::kDirNoSuchUser, "verify: empty or invalid DN");
  // No mutex: a separate, short-lived handle; cfg is immutable.
  const Impl& im = *m_impl;
  Errc worst = Errc::kDirUnavailable;
  std::string details;
  for (const auto& uri : im.cfg.uris) {
    auto opened = im.Open(uri);
    if (!opened) {
      // Nothing was sent yet: the next server costs no failure count.
      if (Severity(opened.code()) > Severity(worst)) worst = opened.code();
      if (!details.empty()) details += "; ";
      details += opened.error().detail;
      continue;
    }
    LdapPtr h = std::move(opened.value());
    const PolicyAnswer a = BindWithPolicy(h.get(), dn, password, im.cfg.timeout_ms);
    if (a.rc == LDAP_SUCCESS) {
      if (a.has_control && a.pp == PP_changeAfterReset)
        return Fail(Errc::kDirMustChange, uri + ": " + dn + " must change the password (pwdReset)");
      return {};
    }
    // Whatever the answer (even a lost one), do not retry elsewhere: the
    // bind may have counted as a failure.
    return Fail(MapBind(a), uri + ": bind as " + dn + ": " + Describe(a.rc, a.diag) + PolicyText(a));
  }
  return Fail(worst, "verify: no directory server usable: " + details);
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("openldap verify: ") + e.what());
}

}  // namespace sspr::openldap

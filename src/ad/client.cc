// sspr::ad::Client over OpenLDAP's libldap (synchronous API).
//
// Why it looks like this:
//  * TLS is configured per handle (CA file, DEMAND, TLS >= 1.2) and a new
//    TLS context is made for the handle (LDAP_OPT_X_TLS_NEWCTX), so nothing
//    from /etc/ldap/ldap.conf or LDAPTLS_* (e.g. TLS_REQCERT never, a system
//    CA dir) weakens it. ldap:// always does StartTLS before the bind and
//    never falls back (SECURITY.md rule 10; Samba CVE-2023-0922).
//  * Referrals are off: AD returns referrals for searches at the domain
//    root, and chasing them would send our bind elsewhere.
//  * A password write has three outcomes (STYLE.md "Errors"). If the
//    answer to the modify is lost we re-read pwdLastSet — AD sets it to the
//    current time on every reset (MS-ADTS 3.1.1.4.5.x "pwdLastSet" and
//    Samba's password_hash module), so a changed value proves the write.
//  * liblber's allocator is replaced once per process by one that wipes
//    every block before freeing it: the encoded request (which holds the
//    password for a bind or a unicodePwd modify) lives in liblber's heap
//    until the answer arrives, and we cannot reach it otherwise.
//  * The process must ignore SIGPIPE (the helper's main does): libldap
//    writes to sockets with write(2).
#include "sspr/ad/client.h"

#include <lber.h>
#include <ldap.h>
#include <malloc.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <arpa/nameser.h>
#include <charconv>
#include <chrono>
#include <map>
#include <resolv.h>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <utility>

#include "sspr/ad/error_map.h"
#include "ldap_common.h"

namespace sspr::ad {
namespace {

// Shared with the OpenLDAP client: src/ad/ldap_common.h (the wiping liblber
// allocator, TLS handle setup, search, small text helpers).
using internal::CheckUri;
using internal::Describe;
using internal::Diagnostic;
using internal::InstallWipingAllocator;
using internal::IsLinkFailure;
using internal::IsLostAnswer;
using internal::IsStartTlsUri;
using internal::kMaxName;
using internal::kMaxTimeoutMs;
using internal::LdapPtr;
using internal::Lower;
using internal::MsgPtr;
using internal::OneLine;
using internal::ParseInt;
using internal::Severity;
using internal::StartsWithCaseless;
using internal::ToTimeval;
using internal::ValidAttrName;

constexpr const char* kFixedAttrs[] = {"sAMAccountName", "userPrincipalName", "displayName",
                                       "userAccountControl", "lockoutTime", "pwdLastSet",
                                       "adminCount"};

}  // namespace

// The service connection (internal::ServiceConnection: failover, health,
// retry-once reads) guarded by `mu`, plus what only AD needs.
struct Client::Impl : internal::ServiceConnection {
  std::mutex mu;

  Result<std::vector<UserEntry>> Search(LDAP* h, const std::string& base, int scope,
                                        const std::string& filter,
                                        const std::vector<std::string>& attrs, int size_limit,
                                        int* rc_out) const;
  Result<std::int64_t> ReadPwdLastSet(LDAP* h, const std::string& dn, int* rc_out) const;
  // The password-policy-hints OID the connected DC lists in its root DSE
  // ("" for none), cached per connected URI.
  Result<std::string> HintsOid(LDAP* h, int* rc);
  std::string hints_oid;
  std::string hints_known_for;
};

// DCs to try: SRV-discovered ones first (when configured), then the
// configured URIs.
static std::vector<std::string> Candidates(const DirectoryConfig& cfg, std::string* note) {
  std::vector<std::string> out;
  if (!cfg.srv_domain.empty()) {
    auto found = ResolveDcSrv(cfg.srv_domain);
    if (found) out = *found;
    else if (note) *note = found.error().detail;
  }
  for (const auto& u : cfg.uris)
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
  return out;
}

Result<std::vector<UserEntry>> Client::Impl::Search(LDAP* h, const std::string& base, int scope,
                                                    const std::string& filter,
                                                    const std::vector<std::string>& attrs,
                                                    int size_limit, int* rc_out) const {
  return internal::SearchEntries(h, cfg.timeout_ms, base, scope, filter, attrs, size_limit,
                                 rc_out);
}

Result<std::int64_t> Client::Impl::ReadPwdLastSet(LDAP* h, const std::string& dn,
                                                  int* rc_out) const {
  auto r = Search(h, dn, LDAP_SCOPE_BASE, "(objectClass=*)", {"pwdLastSet"}, 2, rc_out);
  if (!r) return Fail(std::move(r).error());
  if (r->size() != 1) return Fail(Errc::kDirBadReply, "base read of " + dn + ": no entry");
  auto v = (*r)[0].First("pwdlastset");
  if (!v) return Fail(Errc::kDirBadReply, "pwdLastSet of " + dn + " is not readable");
  return ParseInt("pwdLastSet", *v);
}

// ---- Client ---------------------------------------------------------------

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;

Result<std::vector<std::string>> ResolveDcSrv(const std::string& domain) {
  // MS-ADTS 6.3.2.3: DC locator records; RFC 2782 ordering.
  const std::string name = "_ldap._tcp.dc._msdcs." + domain;
  struct __res_state st {};
  if (res_ninit(&st) != 0) return Fail(Errc::kDirUnavailable, "DNS: resolver init failed");
  std::vector<unsigned char> answer(8192);
  int n = res_nquery(&st, name.c_str(), ns_c_in, ns_t_srv, answer.data(), static_cast<int>(answer.size()));
  res_nclose(&st);
  if (n < 0) return Fail(Errc::kDirUnavailable, "DNS: no SRV records for " + name);
  ns_msg msg;
  if (ns_initparse(answer.data(), n, &msg) != 0) return Fail(Errc::kDirBadReply, "DNS: bad answer for " + name);
  struct Rec {
    unsigned prio, weight, port;
    std::string target;
  };
  std::vector<Rec> recs;
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_srv) continue;
    const unsigned char* rd = ns_rr_rdata(rr);
    if (ns_rr_rdlen(rr) < 7) continue;
    char target[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target, sizeof target) < 0) continue;
    Rec r{ns_get16(rd), ns_get16(rd + 2), ns_get16(rd + 4), target};
    if (r.target.empty() || r.target == "." || r.port == 0) continue;
    // Host names only: anything odd would become part of a URI.
    bool clean = std::all_of(r.target.begin(), r.target.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    });
    if (clean) recs.push_back(std::move(r));
  }
  if (recs.empty()) return Fail(Errc::kDirUnavailable, "DNS: no usable SRV records for " + name);
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) { return a.prio < b.prio; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < recs.size();) {
    std::size_t j = i;
    while (j < recs.size() && recs[j].prio == recs[i].prio) ++j;
    std::vector<Rec> group(recs.begin() + static_cast<long>(i), recs.begin() + static_cast<long>(j));
    while (!group.empty()) {  // weighted random pick (RFC 2782)
      unsigned total = 0;
      for (const auto& g : group) total += g.weight;
      unsigned pick = total == 0 ? 0 : randombytes_uniform(total + 1);
      std::size_t k = 0;
      for (unsigned run = 0; k + 1 < group.size(); ++k) {
        run += group[k].weight;
        if (run >= pick) break;
      }
      out.push_back("ldap://" + group[k].target + ":" + std::to_string(group[k].port));
      group.erase(group.begin() + static_cast<long>(k));
    }
    i = j;
  }
  return out;
}

Result<std::unique_ptr<Client>> Client::Create(DirectoryConfig config, Secret bind_password) try {
  if (config.uris.empty() && config.srv_domain.empty())
    return Fail(Errc::kConfig, "directory: give uri or srv_domain");
  for (const auto& uri : config.uris) {
    if (Status st = CheckUri(uri); !st) return Fail(std::move(st).error());
  }
  if (config.ca_file.empty())
    return Fail(Errc::kConfig, "directory ca_file: required (the DC certificate is always verified)");
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

  InstallWipingAllocator();
  auto impl = std::make_unique<Impl>();
  impl->cfg = std::move(config);
  impl->bind_password = std::move(bind_password);
  // SRV-discovered DCs first, then the configured URIs.
  impl->candidates = [cfg = impl->cfg](std::string* note) { return Candidates(cfg, note); };
  return std::unique_ptr<Client>(new Client(std::move(impl)));
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad client create: ") + e.what());
}

Status Client::Ping() try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  // A root DSE read proves the connection and the TLS session are alive.
  auto r = m_impl->WithRead([&](LDAP* h, int* rc) {
    return m_impl->Search(h, "", LDAP_SCOPE_BASE, "(objectClass=*)", {"1.1"}, 1, rc);
  });
  if (!r) return Fail(std::move(r).error());
  return {};
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad ping: ") + e.what());
}

static std::int64_t IntervalSeconds(std::int64_t v) {
  // AD stores ages/durations as negative counts of 100 ns; the minimum
  // int64 means "never" (MS-ADTS 2.2.16 / maxPwdAge).
  if (v == std::numeric_limits<std::int64_t>::min()) return 0;
  if (v < 0) v = -v;
  return v / 10000000;
}

// The domain head is the DC= suffix of the base DN (policy lives there, not
// on an OU): "OU=People,DC=example,DC=org" -> "DC=example,DC=org".
static std::string DomainHeadOf(const std::string& base_dn) {
  std::size_t pos = 0;
  while (pos < base_dn.size()) {
    if ((base_dn.compare(pos, 3, "DC=") == 0 || base_dn.compare(pos, 3, "dc=") == 0)) return base_dn.substr(pos);
    std::size_t comma = base_dn.find(',', pos);
    if (comma == std::string::npos) break;
    pos = comma + 1;
    while (pos < base_dn.size() && base_dn[pos] == ' ') ++pos;
  }
  return base_dn;
}

Result<DomainPolicy> Client::ReadDomainPolicy() try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  const std::string head = DomainHeadOf(m_impl->cfg.base_dn);
  auto r = m_impl->WithRead([&](LDAP* h, int* rc) {
    return m_impl->Search(h, head, LDAP_SCOPE_BASE, "(objectClass=*)",
                          {"minPwdLength", "pwdProperties", "pwdHistoryLength", "minPwdAge",
                           "maxPwdAge", "lockoutThreshold", "lockoutDuration"},
                          1, rc);
  });
  if (!r) return Fail(std::move(r).error());
  if (r->empty()) return Fail(Errc::kDirBadReply, "no domain object at " + head);
  const UserEntry& e = r->front();
  DomainPolicy p;
  const auto num = [&](std::string_view attr, std::int64_t& out) -> Status {
    auto v = e.First(attr);
    if (!v) return Fail(Errc::kDirBadReply, head + ": " + std::string(attr) + " not readable");
    auto n = ParseInt(attr, *v);
    if (!n) return Fail(Errc::kDirBadReply, head + ": " + n.error().detail);
    out = *n;
    return {};
  };
  std::int64_t len = 0, props = 0, hist = 0;
  for (Status st : {num("minpwdlength", len), num("pwdproperties", props), num("pwdhistorylength", hist)})
    if (!st) return Fail(std::move(st).error());
  p.min_length = static_cast<int>(len);
  p.complexity = (props & 1) != 0;  // DOMAIN_PASSWORD_COMPLEX, MS-SAMR 2.2.1.8 / MS-ADTS 3.1.1.1.4
  p.history_length = static_cast<int>(hist);
  p.source = "domain";
  const auto opt = [&](std::string_view attr) -> std::int64_t {
    auto v = e.First(attr);
    if (!v) return 0;
    auto n = ParseInt(attr, *v);
    return n ? *n : 0;
  };
  p.min_age_s = IntervalSeconds(opt("minpwdage"));
  p.max_age_s = IntervalSeconds(opt("maxpwdage"));
  p.lockout_threshold = static_cast<int>(opt("lockoutthreshold"));
  p.lockout_duration_s = IntervalSeconds(opt("lockoutduration"));
  return p;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad domain policy: ") + e.what());
}

Result<UserEntry> Client::FindUser(std::string_view name,
                                   const std::vector<std::string>& extra_attrs) try {
  if (name.empty() || name.size() > kMaxName || name.find('\0') != std::string_view::npos)
    return Fail(Errc::kDirNoSuchUser, "account name empty, too long or contains NUL");
  std::vector<std::string> attrs(std::begin(kFixedAttrs), std::end(kFixedAttrs));
  for (const auto& a : extra_attrs) {
    if (!ValidAttrName(a))
      return Fail(Errc::kConfig, "attribute name '" + OneLine(a) + "' is not valid");
    attrs.push_back(a);
  }
  const bool by_upn = name.find('@') != std::string_view::npos;
  const std::string filter = std::string("(&(objectCategory=person)(objectClass=user)(") +
                             (by_upn ? "userPrincipalName=" : "sAMAccountName=") +
                             EscapeFilterValue(name) + "))";

  std::lock_guard<std::mutex> lock(m_impl->mu);
  auto found = m_impl->WithRead([&](LDAP* h, int* rc) {
    return m_impl->Search(h, m_impl->cfg.base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 2, rc);
  });
  if (!found) return Fail(std::move(found).error());
  auto& entries = found.value();
  if (entries.empty())
    return Fail(Errc::kDirNoSuchUser, "no user matches " + filter + " under " + m_impl->cfg.base_dn);
  if (entries.size() > 1)
    return Fail(Errc::kDirAmbiguous, "several users match " + filter);

  UserEntry u = std::move(entries[0]);
  if (u.dn.empty()) return Fail(Errc::kDirBadReply, "entry without DN for " + filter);
  u.sam_account_name = u.First("samaccountname").value_or("");
  u.user_principal_name = u.First("userprincipalname").value_or("");
  u.display_name = u.First("displayname").value_or("");
  const auto num = [&](std::string_view attr, std::int64_t& out) -> Status {
    auto v = u.First(attr);
    if (!v) return {};
    auto n = ParseInt(attr, *v);
    if (!n) return Fail(Errc::kDirBadReply, u.dn + ": " + n.error().detail);
    out = *n;
    return {};
  };
  std::int64_t uac = 0;
  for (Status st : {num("useraccountcontrol", uac), num("lockouttime", u.lockout_time),
                    num("pwdlastset", u.pwd_last_set), num("admincount", u.admin_count)}) {
    if (!st) return Fail(std::move(st).error());
  }
  // MS-ADTS 2.2.16: userAccountControl is a 32-bit flag set; some servers
  // print it signed.
  if (uac < INT32_MIN || uac > static_cast<std::int64_t>(UINT32_MAX))
    return Fail(Errc::kDirBadReply, u.dn + ": userAccountControl out of range");
  u.user_account_control = static_cast<std::uint32_t>(static_cast<std::uint64_t>(uac) & 0xFFFFFFFFu);
  u.disabled = (u.user_account_control & 0x2u) != 0;  // ADS_UF_ACCOUNTDISABLE
  return u;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad find user: ") + e.what());
}

namespace {

// One binary-valued modification of `attr`.
LDAPMod BvMod(int op, char* attr, berval** vals) {
  LDAPMod m{};
  m.mod_op = op | LDAP_MOD_BVALUES;
  m.mod_type = attr;
  m.mod_bvalues = vals;
  return m;
}

// One modify of a password attribute, with pwdLastSet read before and after
// on the same connection so the outcome is proven, not assumed.
struct PasswordWrite {
  LDAPMod** mods;
  LDAPControl** controls;  // server controls, may be null
  const char* what;        // "reset" / "change", for details
  Op op;
};

}  // namespace

static Result<WriteOutcome> WriteWithReadBack(Client::Impl& im, const UserEntry& user,
                                              const PasswordWrite& w);

Result<WriteOutcome> Client::ResetPassword(const UserEntry& user, const Secret& password,
                                           const ResetOptions& options,
                                           std::string* history_note) try {
  if (user.dn.empty() || user.dn.find('\0') != std::string::npos)
    return Fail(Errc::kDirNoSuchUser, "reset: entry has no DN");
  // An empty password would later bind anonymously; never set one.
  if (password.empty()) return Fail(Errc::kDirPolicy, "reset: empty password refused");
  auto encoded = EncodeUnicodePwd(password);
  if (!encoded) return Fail(std::move(encoded).error());
  Secret& enc = encoded.value();

  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  auto hints = im.WithRead([&](LDAP* h, int* rc) { return im.HintsOid(h, rc); });
  if (!hints) return Fail(std::move(hints).error());
  if (hints->empty()) {
    if (options.history == HistoryOnReset::kRefuse)
      return Fail(Errc::kDirRejected,
                  im.ld_uri + " does not support the password-policy-hints control, so it cannot "
                  "enforce password history on a reset; refusing ([policy] history_on_reset = refuse)");
    if (history_note)
      *history_note = im.ld_uri + " does not support password-policy-hints: history not enforced on this reset";
  }

  // The berval points straight at the Secret's locked memory; liblber's
  // copy inside the request is wiped by our allocator when freed.
  berval pwd_val{};
  pwd_val.bv_len = enc.size();
  pwd_val.bv_val = reinterpret_cast<char*>(enc.data());
  berval* pwd_vals[] = {&pwd_val, nullptr};
  char attr_pwd[] = "unicodePwd";
  LDAPMod mod_pwd = BvMod(LDAP_MOD_REPLACE, attr_pwd, pwd_vals);
  // A reset does not clear lockoutTime (HARNESS-NOTES); 0 is the only value
  // a client may write (MS-ADTS 3.1.1.5.3.x lockoutTime).
  char zero[] = "0";
  berval zero_val{};
  zero_val.bv_len = 1;
  zero_val.bv_val = zero;
  berval* zero_vals[] = {&zero_val, nullptr};
  char attr_lock[] = "lockoutTime";
  LDAPMod mod_lock = BvMod(LDAP_MOD_REPLACE, attr_lock, zero_vals);
  // pwdLastSet accepts only 0 (must change) or -1 (now) from clients.
  char attr_pls[] = "pwdLastSet";
  LDAPMod mod_pls = BvMod(LDAP_MOD_REPLACE, attr_pls, zero_vals);
  LDAPMod* mods[4] = {&mod_pwd, nullptr, nullptr, nullptr};
  int n = 1;
  if (options.unlock) mods[n++] = &mod_lock;
  if (options.must_change) mods[n++] = &mod_pls;

  // MS-ADTS 3.1.1.3.4.1.33 LDAP_SERVER_POLICY_HINTS_OID: value is
  // SEQUENCE { Flags INTEGER } with 1 = enforce password-history policies.
  static const unsigned char kHintsValue[] = {0x30, 0x03, 0x02, 0x01, 0x01};
  LDAPControl hint{};
  std::string oid = *hints;
  hint.ldctl_oid = oid.data();
  hint.ldctl_value.bv_len = sizeof kHintsValue;
  hint.ldctl_value.bv_val = reinterpret_cast<char*>(const_cast<unsigned char*>(kHintsValue));
  hint.ldctl_iscritical = 1;
  LDAPControl* controls[] = {&hint, nullptr};
  PasswordWrite w{mods, oid.empty() ? nullptr : controls, "reset", Op::kModify};
  auto out = WriteWithReadBack(im, user, w);
  // With must_change the read-back sees pwdLastSet = 0, which also differs
  // from any earlier value unless it already was 0.
  return out;
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad reset: ") + e.what());
}

Result<WriteOutcome> Client::ChangePassword(const UserEntry& user, const Secret& old_password,
                                            const Secret& new_password) try {
  if (user.dn.empty() || user.dn.find('\0') != std::string::npos)
    return Fail(Errc::kDirNoSuchUser, "change: entry has no DN");
  // An empty old password must never reach the directory (LTB SSP
  // CVE-2018-12421); an empty new one would bind anonymously later.
  if (old_password.empty()) return Fail(Errc::kDirWrongPassword, "change: empty old password refused");
  if (new_password.empty()) return Fail(Errc::kDirPolicy, "change: empty new password refused");
  auto old_enc = EncodeUnicodePwd(old_password);
  if (!old_enc) return Fail(std::move(old_enc).error());
  auto new_enc = EncodeUnicodePwd(new_password);
  if (!new_enc) return Fail(std::move(new_enc).error());

  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  berval old_val{old_enc->size(), reinterpret_cast<char*>(old_enc->data())};
  berval new_val{new_enc->size(), reinterpret_cast<char*>(new_enc->data())};
  berval* old_vals[] = {&old_val, nullptr};
  berval* new_vals[] = {&new_val, nullptr};
  char attr[] = "unicodePwd";
  // MS-ADTS 3.1.1.3.1.5: a user change is delete(old) + add(new) in one modify.
  LDAPMod del = BvMod(LDAP_MOD_DELETE, attr, old_vals);
  LDAPMod add = BvMod(LDAP_MOD_ADD, attr, new_vals);
  LDAPMod* mods[] = {&del, &add, nullptr};
  PasswordWrite w{mods, nullptr, "change", Op::kPasswordChange};
  return WriteWithReadBack(im, user, w);
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad change: ") + e.what());
}

static Result<WriteOutcome> WriteWithReadBack(Client::Impl& im, const UserEntry& user,
                                              const PasswordWrite& w) {
  auto before = im.WithRead([&](LDAP* h, int* rc) { return im.ReadPwdLastSet(h, user.dn, rc); });
  if (!before) return Fail(std::move(before).error());  // nothing was sent
  const std::string write_uri = im.ld_uri;

  const int rc = ldap_modify_ext_s(im.ld.get(), user.dn.c_str(), w.mods, w.controls, nullptr);
  if (rc == LDAP_SUCCESS) {
    int read_rc = LDAP_SUCCESS;
    auto after = im.ReadPwdLastSet(im.ld.get(), user.dn, &read_rc);
    if (!after) {
      if (IsLinkFailure(read_rc)) im.Drop();
      return WriteOutcome::kWritten;  // the DC confirmed the modify
    }
    if (*after != *before) return WriteOutcome::kWritten;
    return Fail(Errc::kDirWriteUnknown,
                user.dn + ": DC acknowledged the " + w.what + " but pwdLastSet did not change");
  }
  const std::string diag = Diagnostic(im.ld.get());
  if (!IsLostAnswer(rc)) {
    // The DC answered with a refusal: nothing was written.
    return Fail(MapLdapResult(w.op, rc, diag),
                user.dn + ": " + w.what + " refused by " + write_uri + ": " + Describe(rc, diag));
  }

  // The request may or may not have been applied. Ask the directory.
  const std::string lost = user.dn + ": answer to " + w.what + " lost (" + Describe(rc, diag) + ")";
  im.Drop();  // closes the socket; a pending answer can no longer arrive
  Status st = im.Connect(write_uri);
  if (!st) return Fail(Errc::kDirWriteUnknown, lost + "; reconnect failed: " + st.error().detail);
  int read_rc = LDAP_SUCCESS;
  auto after = im.ReadPwdLastSet(im.ld.get(), user.dn, &read_rc);
  if (!after) {
    if (IsLinkFailure(read_rc)) im.Drop();
    return Fail(Errc::kDirWriteUnknown, lost + "; re-read failed: " + after.error().detail);
  }
  if (*after != *before) return WriteOutcome::kWritten;
  if (im.ld_uri != write_uri) {
    // Another DC may not have the change yet (replication): no proof.
    return Fail(Errc::kDirWriteUnknown,
                lost + "; pwdLastSet unchanged on " + im.ld_uri + " (write went to " + write_uri + ")");
  }
  return WriteOutcome::kNotWritten;
}

Status Client::Unlock(const UserEntry& user) try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  char zero[] = "0";
  berval v{1, zero};
  berval* vals[] = {&v, nullptr};
  char attr[] = "lockoutTime";
  LDAPMod mod = BvMod(LDAP_MOD_REPLACE, attr, vals);
  LDAPMod* mods[] = {&mod, nullptr};
  // Idempotent, so a retry after a broken link is safe.
  auto r = im.WithRead([&](LDAP* h, int* rc) -> Result<bool> {
    *rc = ldap_modify_ext_s(h, user.dn.c_str(), mods, nullptr, nullptr);
    if (*rc == LDAP_SUCCESS) return true;
    const std::string diag = Diagnostic(h);
    return Fail(MapLdapResult(Op::kModify, *rc, diag), user.dn + ": unlock: " + Describe(*rc, diag));
  });
  if (!r) return Fail(std::move(r).error());
  return {};
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad unlock: ") + e.what());
}

Result<bool> Client::IsMemberOf(const std::string& user_dn, const std::string& group_dn) try {
  if (group_dn.empty() || user_dn.empty()) return false;
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  const std::string filter =
      "(memberOf:1.2.840.113556.1.4.1941:=" + EscapeFilterValue(group_dn) + ")";
  auto r = im.WithRead([&](LDAP* h, int* rc) {
    return im.Search(h, user_dn, LDAP_SCOPE_BASE, filter, {"1.1"}, 1, rc);
  });
  if (!r) return Fail(std::move(r).error());
  return !r->empty();
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad membership: ") + e.what());
}

Result<std::string> Client::PolicyHintsControl() try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  return im.WithRead([&](LDAP* h, int* rc) { return im.HintsOid(h, rc); });
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad root DSE: ") + e.what());
}

Result<std::vector<UserEntry>> Client::Search(const std::string& base, Scope scope,
                                              const std::string& filter,
                                              const std::vector<std::string>& attrs,
                                              int size_limit) try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  return im.WithRead([&](LDAP* h, int* rc) {
    return im.Search(h, base, scope == Scope::kBase ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE, filter,
                     attrs, size_limit, rc);
  });
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad search: ") + e.what());
}

Result<std::string> Client::ReadDacl(const std::string& dn) try {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  return im.WithRead([&](LDAP* h, int* rc) -> Result<std::string> {
    // MS-ADTS 3.1.1.3.4.1.11: SD flags control, value SEQUENCE { INTEGER 4 } (DACL).
    static const unsigned char kValue[] = {0x30, 0x03, 0x02, 0x01, 0x04};
    char oid[] = "1.2.840.113556.1.4.801";
    LDAPControl ctl{};
    ctl.ldctl_oid = oid;
    ctl.ldctl_value.bv_len = sizeof kValue;
    ctl.ldctl_value.bv_val = reinterpret_cast<char*>(const_cast<unsigned char*>(kValue));
    ctl.ldctl_iscritical = 1;
    LDAPControl* ctls[] = {&ctl, nullptr};
    char attr[] = "nTSecurityDescriptor";
    char* attrs[] = {attr, nullptr};
    timeval tv = ToTimeval(im.cfg.timeout_ms);
    LDAPMessage* raw = nullptr;
    *rc = ldap_search_ext_s(h, dn.c_str(), LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, ctls,
                            nullptr, &tv, 1, &raw);
    MsgPtr res(raw);
    if (*rc != LDAP_SUCCESS) {
      const std::string diag = Diagnostic(h);
      return Fail(MapLdapResult(Op::kSearch, *rc, diag), dn + ": read DACL: " + Describe(*rc, diag));
    }
    LDAPMessage* e = ldap_first_entry(h, res.get());
    if (e == nullptr) return Fail(Errc::kDirNoSuchUser, dn + ": no such entry");
    berval** vals = ldap_get_values_len(h, e, attr);
    if (vals == nullptr || vals[0] == nullptr) {
      if (vals) ldap_value_free_len(vals);
      return Fail(Errc::kDirAccessDenied, dn + ": nTSecurityDescriptor not readable");
    }
    std::string out(vals[0]->bv_val, vals[0]->bv_len);
    ldap_value_free_len(vals);
    return out;
  });
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad read DACL: ") + e.what());
}

std::string Client::ConnectedUri() {
  std::lock_guard<std::mutex> lock(m_impl->mu);
  return m_impl->ld_uri;
}

std::vector<Client::DcHealth> Client::CheckEachDc() {
  std::vector<DcHealth> out;
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  std::string note;
  const std::vector<std::string> uris = Candidates(im.cfg, &note);
  if (!note.empty()) out.push_back({"srv:" + im.cfg.srv_domain, false, note});
  for (const auto& uri : uris) {
    DcHealth hlt;
    hlt.uri = uri;
    Status st = im.TryInOrder({uri});
    if (st) {
      hlt.ok = true;
      hlt.detail = "TLS verified, service bind as " + im.cfg.bind_dn + " accepted";
    } else {
      hlt.detail = std::string(ErrcName(st.code())) + ": " + st.error().detail;
    }
    im.Drop();
    out.push_back(std::move(hlt));
  }
  return out;
}

Result<std::string> Client::Impl::HintsOid(LDAP* h, int* rc) {
  if (hints_known_for == ld_uri && !ld_uri.empty()) {
    *rc = LDAP_SUCCESS;
    return hints_oid;
  }
  auto r = Search(h, "", LDAP_SCOPE_BASE, "(objectClass=*)", {"supportedControl"}, 1, rc);
  if (!r) return Fail(std::move(r).error());
  std::string found;
  if (!r->empty()) {
    auto it = r->front().attrs.find("supportedcontrol");
    if (it != r->front().attrs.end()) {
      for (const char* oid : {"1.2.840.113556.1.4.2239", "1.2.840.113556.1.4.2066"}) {
        for (const auto& v : it->second)
          if (v == oid && found.empty()) found = oid;
      }
    }
  }
  hints_oid = found;
  hints_known_for = ld_uri;
  return found;
}

Result<DomainPolicy> Client::ReadEffectivePolicy(const UserEntry& user) try {
  std::string pso;
  {
    std::lock_guard<std::mutex> lock(m_impl->mu);
    Impl& im = *m_impl;
    // msDS-ResultantPSO is constructed: read it with a base search.
    auto r = im.WithRead([&](LDAP* h, int* rc) {
      return im.Search(h, user.dn, LDAP_SCOPE_BASE, "(objectClass=*)", {"msDS-ResultantPSO"}, 1, rc);
    });
    if (!r) return Fail(std::move(r).error());
    if (!r->empty()) pso = r->front().First("msds-resultantpso").value_or("");
    if (!pso.empty()) {
      auto p = im.WithRead([&](LDAP* h, int* rc) {
        return im.Search(h, pso, LDAP_SCOPE_BASE, "(objectClass=msDS-PasswordSettings)",
                         {"msDS-MinimumPasswordLength", "msDS-PasswordComplexityEnabled",
                          "msDS-PasswordHistoryLength", "msDS-MinimumPasswordAge",
                          "msDS-MaximumPasswordAge", "msDS-LockoutThreshold",
                          "msDS-LockoutDuration"},
                         1, rc);
      });
      if (!p) return Fail(std::move(p).error());
      if (p->empty() || !p->front().First("msds-minimumpasswordlength"))
        return Fail(Errc::kDirAccessDenied,
                    "cannot read the fine-grained password policy " + pso +
                        ": grant the helper's account read access to it");
      const UserEntry& e = p->front();
      DomainPolicy out;
      out.source = pso;
      const auto num = [&](std::string_view a) -> std::int64_t {
        auto v = e.First(a);
        if (!v) return 0;
        auto n = ParseInt(a, *v);
        return n ? *n : 0;
      };
      out.min_length = static_cast<int>(num("msds-minimumpasswordlength"));
      auto cx = e.First("msds-passwordcomplexityenabled").value_or("FALSE");
      out.complexity = cx == "TRUE" || cx == "true" || cx == "1";
      out.history_length = static_cast<int>(num("msds-passwordhistorylength"));
      out.min_age_s = IntervalSeconds(num("msds-minimumpasswordage"));
      out.max_age_s = IntervalSeconds(num("msds-maximumpasswordage"));
      out.lockout_threshold = static_cast<int>(num("msds-lockoutthreshold"));
      out.lockout_duration_s = IntervalSeconds(num("msds-lockoutduration"));
      return out;
    }
  }
  return ReadDomainPolicy();
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad effective policy: ") + e.what());
}

Status Client::VerifyPassword(const std::string& dn, const Secret& password) try {
  // RFC 4513 §5.1.2: a simple bind with an empty password is an
  // unauthenticated (anonymous) bind that succeeds. Never send one.
  if (password.empty()) return Fail(Errc::kDirWrongPassword, "empty password refused before bind");
  if (dn.empty() || dn.find('\0') != std::string::npos)
    return Fail(Errc::kDirNoSuchUser, "verify: empty or invalid DN");
  // No mutex: a separate, short-lived handle; cfg is immutable.
  const Impl& im = *m_impl;
  Errc worst = Errc::kDirUnavailable;
  std::string details;
  for (const auto& uri : Candidates(im.cfg, nullptr)) {
    auto opened = im.Open(uri);
    if (!opened) {
      // Nothing was sent yet: the next DC costs no bad-password count.
      if (Severity(opened.code()) > Severity(worst)) worst = opened.code();
      if (!details.empty()) details += "; ";
      details += opened.error().detail;
      continue;
    }
    LdapPtr h = std::move(opened.value());
    berval cred{};
    cred.bv_len = password.size();
    cred.bv_val = reinterpret_cast<char*>(const_cast<unsigned char*>(password.data()));
    const int rc =
        ldap_sasl_bind_s(h.get(), dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    if (rc == LDAP_SUCCESS) return {};
    // Whatever the answer (even a lost one), do not retry elsewhere: the
    // bind may have counted as a bad password.
    const std::string diag = Diagnostic(h.get());
    return Fail(MapLdapResult(Op::kBind, rc, diag),
                uri + ": bind as " + dn + ": " + Describe(rc, diag));
  }
  return Fail(worst, "verify: no directory server usable: " + details);
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad verify: ") + e.what());
}

Result<std::optional<std::string>> Client::ReadBinaryAttr(const std::string& dn, const std::string& attr) try {
  if (dn.empty() || dn.find('\0') != std::string::npos)
    return Fail(Errc::kDirNoSuchUser, "read attribute: empty or invalid DN");
  if (!ValidAttrName(attr)) return Fail(Errc::kConfig, "read attribute: invalid attribute name");
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  return im.WithRead([&](LDAP* h, int* rc) -> Result<std::optional<std::string>> {
    std::string name = attr;
    char* attrs[] = {name.data(), nullptr};
    timeval tv = ToTimeval(im.cfg.timeout_ms);
    LDAPMessage* raw = nullptr;
    *rc = ldap_search_ext_s(h, dn.c_str(), LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, nullptr,
                            nullptr, &tv, 1, &raw);
    MsgPtr res(raw);
    if (*rc != LDAP_SUCCESS) {
      const std::string diag = Diagnostic(h);
      return Fail(MapLdapResult(Op::kSearch, *rc, diag),
                  dn + ": read " + attr + ": " + Describe(*rc, diag));
    }
    LDAPMessage* e = ldap_first_entry(h, res.get());
    if (e == nullptr) return Fail(Errc::kDirNoSuchUser, dn + ": no such entry");
    berval** vals = ldap_get_values_len(h, e, name.c_str());
    if (vals == nullptr || vals[0] == nullptr) {
      if (vals) ldap_value_free_len(vals);
      return std::optional<std::string>();
    }
    if (vals[1] != nullptr) {
      ldap_value_free_len(vals);
      return Fail(Errc::kDirBadReply, dn + ": " + attr + " has several values");
    }
    std::optional<std::string> out(std::in_place, vals[0]->bv_val, vals[0]->bv_len);
    ldap_value_free_len(vals);
    return out;
  });
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad read attribute: ") + e.what());
}

Status Client::WriteBinaryAttr(const std::string& dn, const std::string& attr,
                               std::optional<std::string> value) try {
  if (dn.empty() || dn.find('\0') != std::string::npos)
    return Fail(Errc::kDirNoSuchUser, "write attribute: empty or invalid DN");
  if (!ValidAttrName(attr)) return Fail(Errc::kConfig, "write attribute: invalid attribute name");
  std::lock_guard<std::mutex> lock(m_impl->mu);
  Impl& im = *m_impl;
  std::string name = attr;
  berval v{};
  if (value) {
    v.bv_len = value->size();
    v.bv_val = value->data();
  }
  berval* vals[] = {&v, nullptr};
  LDAPMod mod{};
  // RFC 4511 4.6: replace with no values deletes the attribute, and is no
  // error when it is absent.
  mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  mod.mod_type = name.data();
  mod.mod_bvalues = value ? vals : nullptr;
  LDAPMod* mods[] = {&mod, nullptr};
  auto r = im.WithRead([&](LDAP* h, int* rc) -> Result<bool> {
    *rc = ldap_modify_ext_s(h, dn.c_str(), mods, nullptr, nullptr);
    if (*rc == LDAP_SUCCESS) return true;
    const std::string diag = Diagnostic(h);
    return Fail(MapLdapResult(Op::kModify, *rc, diag),
                dn + ": write " + attr + ": " + Describe(*rc, diag));
  });
  if (!r) return Fail(std::move(r).error());
  return {};
} catch (const std::exception& e) {
  return Fail(Errc::kInternal, std::string("ad write attribute: ") + e.what());
}

}  // namespace sspr::ad

#include "admin_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "sspr/ad/client.h"
#include "sspr/config/config.h"
#include "sspr/method/email.h"
#include "sspr/policy/banned.h"
#include "sspr/util/files.h"

namespace sspr::helper {

namespace {

// Reset Password extended right (MS-ADTS 5.1.3.2.1), GUID
// 00299570-246d-11d0-a768-00aa006e0529 in its binary (mixed-endian) form.
constexpr unsigned char kResetPasswordGuid[16] = {0x70, 0x95, 0x29, 0x00, 0x6d, 0x24, 0xd0, 0x11,
                                                  0xa7, 0x68, 0x00, 0xaa, 0x00, 0x6e, 0x05, 0x29};
constexpr std::uint32_t kControlAccess = 0x100;  // ADS_RIGHT_DS_CONTROL_ACCESS
constexpr std::uint32_t kGenericAll = 0x10000000;

std::uint32_t Le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}
std::uint16_t Le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

std::size_t SidLength(const unsigned char* p, std::size_t avail) {
  if (avail < 8) return 0;
  std::size_t n = 8 + 4 * static_cast<std::size_t>(p[1]);
  return n <= avail ? n : 0;
}

std::string DomainHeadOf(const std::string& base_dn) {
  for (std::size_t pos = 0; pos < base_dn.size();) {
    if (strncasecmp(base_dn.c_str() + pos, "DC=", 3) == 0) return base_dn.substr(pos);
    std::size_t comma = base_dn.find(',', pos);
    if (comma == std::string::npos) break;
    pos = comma + 1;
    while (pos < base_dn.size() && base_dn[pos] == ' ') ++pos;
  }
  return base_dn;
}

class Report {
 public:
  explicit Report(std::FILE* out) : m_out(out) {}
  void Ok(const std::string& what) { std::fprintf(m_out, "[ OK ] %s\n", what.c_str()); }
  void Warn(const std::string& what, const std::string& fix) {
    std::fprintf(m_out, "[WARN] %s\n       fix: %s\n", what.c_str(), fix.c_str());
  }
  void Fail(const std::string& what, const std::string& fix) {
    ++m_failed;
    std::fprintf(m_out, "[FAIL] %s\n       fix: %s\n", what.c_str(), fix.c_str());
  }
  int failed() const { return m_failed; }

 private:
  std::FILE* m_out;
  int m_failed = 0;
};

}  // namespace

std::string SidToString(std::string_view sid) {
  const auto* p = reinterpret_cast<const unsigned char*>(sid.data());
  if (sid.size() < 8 || SidLength(p, sid.size()) != sid.size()) return {};
  std::uint64_t auth = 0;
  for (int i = 2; i < 8; ++i) auth = (auth << 8) | p[i];
  std::string out = "S-" + std::to_string(p[0]) + "-" + std::to_string(auth);
  for (std::size_t i = 0; i < p[1]; ++i) out += "-" + std::to_string(Le32(p + 8 + 4 * i));
  return out;
}

bool DaclGrantsRight(std::string_view sd, const unsigned char right_guid[16],
                     const std::vector<std::string>& sids) {
  // MS-DTYP 2.4.6 SECURITY_DESCRIPTOR (self-relative) -> 2.4.5 ACL -> ACEs.
  const auto* b = reinterpret_cast<const unsigned char*>(sd.data());
  const std::size_t n = sd.size();
  if (n < 20) return false;
  std::uint32_t dacl_off = Le32(b + 16);
  if (dacl_off == 0 || dacl_off + 8 > n) return false;
  const unsigned char* acl = b + dacl_off;
  std::size_t acl_size = Le16(acl + 2);
  std::uint16_t count = Le16(acl + 4);
  if (dacl_off + acl_size > n) return false;
  std::size_t pos = 8;
  for (std::uint16_t i = 0; i < count && pos + 4 <= acl_size; ++i) {
    const unsigned char* ace = acl + pos;
    std::uint8_t type = ace[0];
    std::size_t size = Le16(ace + 2);
    if (size < 8 || pos + size > acl_size) return false;
    const unsigned char* end = ace + size;
    auto sid_matches = [&](const unsigned char* sid) {
      std::size_t len = SidLength(sid, static_cast<std::size_t>(end - sid));
      if (len == 0) return false;
      std::string_view s(reinterpret_cast<const char*>(sid), len);
      for (const auto& want : sids)
        if (want == s) return true;
      return false;
    };
    std::uint32_t mask = Le32(ace + 4);
    if (type == 0x00) {  // ACCESS_ALLOWED_ACE: all control rights, or GENERIC_ALL
      if ((mask & (kControlAccess | kGenericAll)) != 0 && sid_matches(ace + 8)) return true;
    } else if (type == 0x05 && size >= 12) {  // ACCESS_ALLOWED_OBJECT_ACE
      std::uint32_t flags = Le32(ace + 8);
      const unsigned char* p = ace + 12;
      bool has_type = (flags & 1) != 0;
      const unsigned char* object_type = has_type ? p : nullptr;
      if (has_type) p += 16;
      if (flags & 2) p += 16;
      if (p >= end) return false;
      bool right = (mask & (kControlAccess | kGenericAll)) != 0 &&
                   (object_type == nullptr || std::memcmp(object_type, right_guid, 16) == 0);
      if (right && sid_matches(p)) return true;
    }
    pos += size;
  }
  return false;
}

int RunCheck(const std::string& config_path, std::FILE* out) {
  Report r(out);
  auto cfg = config::Load(config_path);
  if (!cfg) {
    std::fputs(cfg.error().detail.c_str(), out);
    r.Fail("configuration " + config_path + " has errors (listed above)", "correct the lines named");
    return r.failed();
  }
  r.Ok("configuration " + config_path + " parses");
  auto secret = ReadSecretFile(cfg->directory.bind_password_file, geteuid());
  if (!secret) {
    r.Fail("bind password file: " + secret.error().detail,
           "put the service account's password in that file, owned by the helper's user, mode 0600");
    return r.failed();
  }
  r.Ok("bind password file " + cfg->directory.bind_password_file + " is private");
  auto client = ad::Client::Create(cfg->directory.ad, std::move(secret.value()));
  if (!client) {
    r.Fail("directory settings: " + client.error().detail, "fix [directory] in " + config_path);
    return r.failed();
  }
  ad::Client& dir = **client;

  int reachable = 0;
  for (const auto& h : dir.CheckEachDc()) {
    if (h.ok) {
      ++reachable;
      r.Ok("DC " + h.uri + ": " + h.detail);
    } else {
      r.Fail("DC " + h.uri + ": " + h.detail,
             "check the DC is up, its certificate is signed by [directory] ca_file and names the "
             "host in the URI, and the service account's password");
    }
  }
  if (reachable == 0) return r.failed();
  if (auto ping = dir.Ping(); !ping) {
    r.Fail("directory: " + ping.error().detail, "see the DC lines above");
    return r.failed();
  }

  // The service account: where is it, what groups, is it over-privileged?
  const std::string head = DomainHeadOf(cfg->directory.ad.base_dn);
  const std::string& bind = cfg->directory.ad.bind_dn;
  // A UPN bind also works as sAMAccountName@realm when no UPN is stored.
  std::string filter =
      bind.find('@') != std::string::npos
          ? "(|(userPrincipalName=" + ad::EscapeFilterValue(bind) + ")(sAMAccountName=" +
                ad::EscapeFilterValue(bind.substr(0, bind.find('@'))) + "))"
          : "(distinguishedName=" + ad::EscapeFilterValue(bind) + ")";
  auto svc = dir.Search(head, ad::Client::Scope::kSubtree, filter, {"objectSid", "adminCount"}, 2);
  std::vector<std::string> sids;
  if (!svc || svc->size() != 1) {
    r.Fail("service account " + bind + " not found under " + head,
           "set [directory] bind_dn to the account's UPN or DN");
  } else {
    const auto& e = svc->front();
    auto tg = dir.Search(e.dn, ad::Client::Scope::kBase, "(objectClass=*)", {"tokenGroups"}, 1);
    if (auto sid = e.First("objectsid")) sids.push_back(*sid);
    if (tg && !tg->empty()) {
      auto it = tg->front().attrs.find("tokengroups");
      if (it != tg->front().attrs.end()) sids.insert(sids.end(), it->second.begin(), it->second.end());
    }
    bool privileged = e.First("admincount").value_or("0") != "0";
    for (const auto& s : sids) {
      std::string str = SidToString(s);
      if (str.size() > 4 && (str.rfind("-512") == str.size() - 4 || str.rfind("-519") == str.size() - 4 ||
                             str == "S-1-5-32-544"))
        privileged = true;
    }
    if (privileged)
      r.Warn("service account " + bind + " is privileged (admin group or adminCount=1)",
             "use an ordinary account with delegated Reset Password on the users' OUs only");
    else
      r.Ok("service account " + bind + " is an ordinary account (" + std::to_string(sids.size()) +
           " SIDs in its token)");
  }

  // Delegated rights, read from the DACLs and allowedAttributesEffective of
  // a sample of the ordinary, enabled users under base_dn (the users SSPR is
  // for). All of them: OK; some: WARN with the first one; none: FAIL.
  auto sample = dir.Search(cfg->directory.ad.base_dn, ad::Client::Scope::kSubtree,
                           "(&(objectCategory=person)(objectClass=user)(!(adminCount=1))"
                           "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
                           {"sAMAccountName"}, 20);
  if (!sample || sample->empty()) {
    r.Fail("no ordinary, enabled user found under " + cfg->directory.ad.base_dn,
           "set [directory] base_dn to the OU that holds the users");
  } else {
    int reset_ok = 0, lock_ok = 0, pls_ok = 0, unreadable = 0;
    std::string reset_missing, lock_missing, pls_missing;
    for (const auto& u : *sample) {
      auto dacl = dir.ReadDacl(u.dn);
      if (!dacl) ++unreadable;
      else if (!sids.empty() && DaclGrantsRight(*dacl, kResetPasswordGuid, sids)) ++reset_ok;
      else if (reset_missing.empty()) reset_missing = u.dn;
      auto eff = dir.Search(u.dn, ad::Client::Scope::kBase, "(objectClass=*)",
                            {"allowedAttributesEffective"}, 1);
      auto has = [&](const char* attr) {
        if (!eff || eff->empty()) return false;
        auto it = eff->front().attrs.find("allowedattributeseffective");
        if (it == eff->front().attrs.end()) return false;
        for (const auto& v : it->second)
          if (strcasecmp(v.c_str(), attr) == 0) return true;
        return false;
      };
      if (has("lockoutTime")) ++lock_ok;
      else if (lock_missing.empty()) lock_missing = u.dn;
      if (has("pwdLastSet")) ++pls_ok;
      else if (pls_missing.empty()) pls_missing = u.dn;
    }
    const int n = static_cast<int>(sample->size());
    const std::string of = " of " + std::to_string(n) + " sampled users";
    const std::string fix_reset = "delegate 'Reset password' on the users' OU to the service account";
    if (unreadable == n)
      r.Warn("cannot read the users' permissions", "not needed to run; grant Read Permissions to "
             "check delegation with this command");
    else if (reset_ok == n - unreadable)
      r.Ok("service account may reset passwords (" + std::to_string(reset_ok) + of + ")");
    else if (reset_ok > 0)
      r.Warn("service account may reset passwords of " + std::to_string(reset_ok) + of +
             ", not of e.g. " + reset_missing, fix_reset + " (if those users should use SSPR)");
    else
      r.Fail("service account has no Reset Password right on " + reset_missing, fix_reset);
    const std::string fix_lock = "delegate write of lockoutTime on the users' OU";
    if (lock_ok == n) r.Ok("service account may write lockoutTime (unlock)");
    else if (cfg->policy.unlock && lock_ok == 0)
      r.Fail("service account may not write lockoutTime, but [policy] unlock = yes", fix_lock);
    else
      r.Warn("service account may write lockoutTime on " + std::to_string(lock_ok) + of +
             ", not on e.g. " + lock_missing, fix_lock);
    if (pls_ok == n) r.Ok("service account may write pwdLastSet (must change at next logon)");
    else if (cfg->policy.must_change_after_reset && pls_ok == 0)
      r.Fail("service account may not write pwdLastSet, but must_change_after_reset = yes",
             "delegate write of pwdLastSet on the users' OU");
  }

  // Password history on resets.
  auto hints = dir.PolicyHintsControl();
  if (!hints) {
    r.Fail("cannot read the DC's supported controls: " + hints.error().detail, "check the DC");
  } else if (!hints->empty()) {
    r.Ok("DC supports password-policy hints (" + *hints + "): history is enforced on resets");
  } else if (cfg->policy.history_on_reset == "refuse") {
    r.Fail("DC does not support password-policy hints and [policy] history_on_reset = refuse: "
           "every reset will be refused",
           "use a DC that supports them (Windows Server 2016+), or set history_on_reset = proceed "
           "to accept resets that bypass password history");
  } else {
    r.Warn("DC does not support password-policy hints: resets do not enforce password history",
           "use a DC that supports them (Windows Server 2016+)");
  }

  // Fine-grained policies must be readable by the service account.
  auto psos = dir.Search("CN=Password Settings Container,CN=System," + head,
                         ad::Client::Scope::kSubtree, "(objectClass=msDS-PasswordSettings)",
                         {"msDS-MinimumPasswordLength"}, 50);
  if (psos) {
    int unreadable = 0;
    for (const auto& p : *psos)
      if (!p.First("msds-minimumpasswordlength")) ++unreadable;
    if (unreadable > 0)
      r.Fail(std::to_string(unreadable) + " fine-grained password policies are not readable",
             "grant the service account Read on CN=Password Settings Container,CN=System," + head);
    else
      r.Ok("fine-grained password policies readable (" + std::to_string(psos->size()) + " found)");
  }

  // Scope groups.
  if (cfg->policy.scope == "selected") {
    for (const auto& g : cfg->policy.scope_groups) {
      auto grp = dir.Search(g, ad::Client::Scope::kBase, "(objectClass=group)", {"cn"}, 1);
      if (grp && grp->size() == 1) r.Ok("scope group " + g + " exists");
      else r.Fail("scope group " + g + " not found", "fix [policy] scope_groups (group DNs, ';'-separated)");
    }
  } else {
    r.Ok("scope: " + cfg->policy.scope + " users");
  }

  // Banned list, mail.
  if (!cfg->policy.banned_list.empty()) {
    policy::BannedListSource src(cfg->policy.banned_list);
    auto list = src.Get();
    if (list) r.Ok("banned list " + cfg->policy.banned_list + ": " + std::to_string((*list)->size()) + " entries");
    else r.Fail(list.error().detail, "make the file readable by the helper (resets are refused until then)");
  }
  if (cfg->email.enabled) {
    auto mailer = method::Mailer::Create(cfg->email);
    if (!mailer) {
      r.Fail("[email]: " + mailer.error().detail, "fix [email] in " + config_path);
    } else if (auto probe = mailer->Probe(); !probe) {
      r.Fail("mail server: " + probe.error().detail,
             "check [email] smtp_url/smtp_tls/smtp_ca_file and that the server is up");
    } else {
      r.Ok("mail server " + cfg->email.smtp_url + " reachable (" + cfg->email.smtp_tls + ")");
    }
  }
  return r.failed();
}

}  // namespace sspr::helper

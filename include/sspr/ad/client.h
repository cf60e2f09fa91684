// Directory client for Active Directory over OpenLDAP's libldap.
//
// Contract:
//  * Only ldaps:// URIs, or ldap:// URIs with StartTLS, are accepted; the
//    CA file is mandatory and the server certificate and host name are
//    verified (REQUIRE_CERT=DEMAND). Plain LDAP is refused for everything
//    (SECURITY.md rule 10; Samba CVE-2023-0922).
//  * The service account binds with a secret the caller read from a
//    root-only file. Referrals are never chased. Every call has a timeout.
//  * One persistent connection is kept and reused across requests; it is
//    re-established (trying each configured URI in order) when it breaks.
//  * Thread-safe: calls are serialised by an internal mutex.
//  * Errors are sspr::Errc values produced by MapLdapResult (error_map.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::ad {

struct DirectoryConfig {
  std::vector<std::string> uris;   // tried in order; ldaps://… or ldap://… (StartTLS)
  // If set, DCs are found at each connect through DNS SRV records
  // (_ldap._tcp.dc._msdcs.<srv_domain>, RFC 2782 order) and used as
  // ldap://target:port with StartTLS, before any `uris`.
  std::string srv_domain;
  std::string ca_file;             // PEM bundle used to verify the DC
  std::string bind_dn;             // the delegated service account (DN or UPN)
  std::string base_dn;             // users are searched below this
  int timeout_ms = 5000;           // per network operation
};

struct UserEntry {
  std::string dn;
  std::string sam_account_name;
  std::string user_principal_name;
  std::string display_name;
  std::uint32_t user_account_control = 0;
  bool disabled = false;               // UAC bit 0x2
  std::int64_t lockout_time = 0;       // FILETIME, 0 = not locked
  std::int64_t pwd_last_set = 0;       // FILETIME
  std::int64_t admin_count = 0;
  // Every other attribute requested, keyed by lower-case attribute name.
  std::map<std::string, std::vector<std::string>> attrs;

  // First value of a requested attribute (lower-case name), if any.
  std::optional<std::string> First(std::string_view lower_name) const;
  // All values of an attribute, named in any case (empty if absent).
  const std::vector<std::string>& Values(std::string_view name) const;
};

// The domain's password policy, read from the domain head (values the
// flow needs to explain a refusal before anything is sent to AD).
struct DomainPolicy {
  int min_length = 0;          // minPwdLength / msDS-MinimumPasswordLength
  bool complexity = false;     // pwdProperties & 1 / msDS-PasswordComplexityEnabled
  int history_length = 0;      // pwdHistoryLength / msDS-PasswordHistoryLength
  std::int64_t min_age_s = 0;  // minPwdAge / msDS-MinimumPasswordAge, in seconds
  std::int64_t max_age_s = 0;  // maxPwdAge / msDS-MaximumPasswordAge; 0 = never expires
  int lockout_threshold = 0;   // lockoutThreshold / msDS-LockoutThreshold; 0 = no lockout
  std::int64_t lockout_duration_s = 0;  // lockoutDuration; 0 with a threshold = until an admin unlocks
  std::string source;          // "domain" or the DN of the fine-grained policy (PSO)
};

// How a reset treats AD's password history (see ResetOptions).
enum class HistoryOnReset {
  kRefuse,   // the DC cannot enforce history on a reset: refuse the write
  kProceed,  // write anyway and say so in the admin detail
};

struct ResetOptions {
  bool unlock = false;          // lockoutTime = 0 in the same modify
  bool must_change = false;     // pwdLastSet = 0: change at next logon
  HistoryOnReset history = HistoryOnReset::kRefuse;
};

// What happened to a password write.
enum class WriteOutcome {
  kWritten,     // the DC confirmed, or a read-back proved it
  kNotWritten,  // the DC refused, or a read-back proved nothing changed
};

// What the flows need from a directory. Implemented by Client (Active
// Directory) and by openldap::Client (OpenLDAP with the ppolicy overlay).
// Contracts are those documented on Client below.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual Status Ping() = 0;
  virtual Result<UserEntry> FindUser(std::string_view name,
                                     const std::vector<std::string>& extra_attrs) = 0;
  virtual Result<DomainPolicy> ReadEffectivePolicy(const UserEntry& user) = 0;
  virtual Result<WriteOutcome> ResetPassword(const UserEntry& user, const Secret& password,
                                             const ResetOptions& options,
                                             std::string* history_note) = 0;
  virtual Result<WriteOutcome> ChangePassword(const UserEntry& user, const Secret& old_password,
                                              const Secret& new_password) = 0;
  virtual Status Unlock(const UserEntry& user) = 0;
  virtual Result<bool> IsMemberOf(const std::string& user_dn, const std::string& group_dn) = 0;
  virtual Status VerifyPassword(const std::string& dn, const Secret& password) = 0;
};

class Client final : public Directory {
 public:
  // Validates the config (URIs are ldaps/ldap+StartTLS, CA file given) but
  // does not connect; the first call connects.
  static Result<std::unique_ptr<Client>> Create(DirectoryConfig config, Secret bind_password);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Establish (or check) the connection and service bind now.
  Status Ping() override;

  // Find exactly one user object by sAMAccountName, or by userPrincipalName
  // when `name` contains '@'. `extra_attrs` are read in addition to the
  // fixed ones in UserEntry. kDirNoSuchUser when none matches,
  // kDirAmbiguous when several do. The name is RFC 4515-escaped.
  Result<UserEntry> FindUser(std::string_view name, const std::vector<std::string>& extra_attrs) override;

  // Admin reset of unicodePwd (quoted UTF-16LE), optionally with
  // lockoutTime=0 in the same modify. Reads pwdLastSet before and after on
  // the same connection. If the connection breaks after the request was
  // sent, reconnects and compares pwdLastSet to learn the truth; when that
  // is impossible, fails with kDirWriteUnknown (the caller must not tell the
  // user "written" or "not written"). A DC refusal is an error mapped by
  // MapLdapResult (e.g. kDirPolicy).
  //
  // History: the password-policy-hints control (OID 1.2.840.113556.1.4.2239,
  // else .2066) is sent when the DC's root DSE lists it, so a Windows DC
  // enforces history on the reset. When the DC lists neither (Samba), the
  // write is refused with kDirRejected under HistoryOnReset::kRefuse, or made
  // without the control under kProceed (`history_note` then says so).
  Result<WriteOutcome> ResetPassword(const UserEntry& user, const Secret& password,
                                     const ResetOptions& options,
                                     std::string* history_note = nullptr) override;

  // A user change: one modify deleting the old unicodePwd and adding the new
  // one, so AD checks the old password, history and minimum age itself. A
  // wrong old password is kDirWrongPassword (AD counts it as a bad
  // password). Same read-back and lost-answer handling as ResetPassword.
  Result<WriteOutcome> ChangePassword(const UserEntry& user, const Secret& old_password,
                                      const Secret& new_password) override;

  // lockoutTime = 0 (unlock without changing the password).
  Status Unlock(const UserEntry& user) override;

  // Nested membership (LDAP_MATCHING_RULE_IN_CHAIN, 1.2.840.113556.1.4.1941).
  Result<bool> IsMemberOf(const std::string& user_dn, const std::string& group_dn) override;

  // The user's effective password policy: the fine-grained policy named by
  // msDS-ResultantPSO if there is one (read with the helper's account, since
  // users cannot read PSOs), else the domain policy.
  Result<DomainPolicy> ReadEffectivePolicy(const UserEntry& user) override;

  // Which password-policy-hints control the connected DC supports: the OID,
  // or an empty string for none.
  Result<std::string> PolicyHintsControl();

  // ---- For `sspr-admin check` (read-only) ------------------------------
  enum class Scope { kBase, kSubtree };
  // A plain search on the service connection (entries keyed as UserEntry).
  Result<std::vector<UserEntry>> Search(const std::string& base, Scope scope,
                                        const std::string& filter,
                                        const std::vector<std::string>& attrs, int size_limit);
  // The DACL part of an entry's nTSecurityDescriptor (SD flags control,
  // 1.2.840.113556.1.4.801), as raw MS-DTYP bytes.
  Result<std::string> ReadDacl(const std::string& dn);
  // One attribute of one entry, raw bytes (e.g. an octet string). nullopt
  // when the entry has no value the service account can read (a
  // confidential attribute without the CR right reads as absent, as AD
  // does). kDirNoSuchUser if the entry does not exist, kDirBadReply if the
  // attribute has several values. `attr` is a plain attribute name.
  Result<std::optional<std::string>> ReadBinaryAttr(const std::string& dn, const std::string& attr);
  // Replace the attribute with `value`, or remove every value when nullopt
  // (no error if it was absent). One modify; idempotent, so it is retried
  // once on a new connection after a link failure.
  Status WriteBinaryAttr(const std::string& dn, const std::string& attr, std::optional<std::string> value);
  // The URI the service connection is on (empty when not connected).
  std::string ConnectedUri();
  // Try every configured URI on its own (TLS + service bind); one line per
  // DC: {uri, ok, detail}.
  struct DcHealth {
    std::string uri;
    bool ok = false;
    std::string detail;
  };
  std::vector<DcHealth> CheckEachDc();

  // Read minPwdLength/pwdProperties/pwdHistoryLength from the object named
  // by the base DN's domain (the defaultNamingContext of the rootDSE).
  Result<DomainPolicy> ReadDomainPolicy();

  // Verify a password with a simple bind on a separate, short-lived TLS
  // connection. An empty password is refused before any bind (an empty
  // simple bind is an anonymous success). kDirWrongPassword, kDirLocked,
  // kDirMustChange, ... as mapped from the bind's data code.
  Status VerifyPassword(const std::string& dn, const Secret& password) override;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// SRV lookup of `_ldap._tcp.dc._msdcs.<domain>`: URIs "ldap://target:port"
// ordered by priority, then weighted-random within a priority (RFC 2782).
Result<std::vector<std::string>> ResolveDcSrv(const std::string& domain);

// RFC 4515 §3 escaping of an assertion value: '*', '(', ')', '\\', NUL and
// every byte >= 0x80 or < 0x20 become \XX.
std::string EscapeFilterValue(std::string_view value);

// "password" in double quotes, UTF-16LE, as unicodePwd wants it (MS-ADTS
// 3.1.1.3.1.5). Fails on invalid UTF-8. The result is a Secret.
Result<Secret> EncodeUnicodePwd(const Secret& utf8_password);

// Escape a DN attribute value for use inside a DN string is not needed: DNs
// always come from the directory.

}  // namespace sspr::ad

// Directory client for OpenLDAP with the ppolicy overlay (slapo-ppolicy,
// draft-behera-ldap-password-policy), over libldap.
//
// Contract (same security rules as sspr::ad::Client, SECURITY.md rule 10):
//  * Only ldaps:// URIs, or ldap:// URIs with StartTLS, are accepted; the CA
//    file is mandatory; the server certificate and host name are verified.
//    Plain LDAP is never used. Referrals are never chased. Every call has a
//    timeout. Filter values are RFC 4515-escaped.
//  * The service account (a non-rootdn entry: ppolicy skips every check for
//    the rootdn) binds with a secret held in a Secret. It needs, by ACL,
//    write and auth, not read (=wx), on userPassword (auth only for
//    changes of expired passwords, see ChangePassword), write on
//    pwdAccountLockedTime and pwdReset of the user entries, and read of
//    users, groups and policy entries (including the operational attributes
//    pwdChangedTime, pwdPolicySubentry and entryCSN).
//  * One persistent service connection, re-established when it breaks;
//    calls are serialised by an internal mutex. Passwords are only ever in
//    Secrets and in liblber buffers that are wiped when freed; nothing is
//    logged — error details are admin text and never contain a secret.
//
// Mapping onto the AD-shaped types (ad::Directory):
//  * UserEntry.sam_account_name = the login attribute (uid); display_name =
//    displayName, else cn; lockout_time = pwdAccountLockedTime as a FILETIME
//    (0 = not locked); disabled = pwdAccountLockedTime "000001010000Z"
//    (ppolicy's "locked until an administrator unlocks"); pwd_last_set =
//    pwdChangedTime as a FILETIME (0 if the entry has none).
//  * Refusals named by the ppolicy response control become
//    kDirPolicyTooShort / kDirPolicyQuality / kDirPolicyHistory /
//    kDirPolicyTooYoung; other ppolicy errors kDirRejected; a constraint
//    violation without the control kDirPolicy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/ad/client.h"
#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::openldap {

struct OpenLdapOptions {
  // Attribute FindUser matches the account name against.
  std::string login_attribute = "uid";
  // The policy entry ppolicy applies when a user has no pwdPolicySubentry
  // (olcPPolicyDefault), e.g. "cn=default,ou=policies,dc=example,dc=org".
  // Required: ReadEffectivePolicy fails closed without a policy.
  std::string default_policy_dn;
};

class Client final : public ad::Directory {
 public:
  // Validates the config (URIs ldaps:// or ldap:// + StartTLS, CA file,
  // bind DN, base DN, timeout, non-empty bind password, default policy DN,
  // login attribute name). srv_domain (AD DC discovery) is refused. Does not
  // connect; the first call does.
  static Result<std::unique_ptr<Client>> Create(ad::DirectoryConfig config, Secret bind_password,
                                                OpenLdapOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connect (or check the connection) and bind as the service account now.
  Status Ping() override;

  // Exactly one (&(objectClass=inetOrgPerson)(<login_attribute>=NAME)) below
  // the base DN. `extra_attrs` are read in addition to the fixed ones
  // (uid, cn, displayName, pwdAccountLockedTime, pwdChangedTime,
  // pwdPolicySubentry, pwdReset); attrs are keyed by lower-case name.
  // kDirNoSuchUser / kDirAmbiguous / kConfig (bad attribute name).
  Result<ad::UserEntry> FindUser(std::string_view name,
                                 const std::vector<std::string>& extra_attrs) override;

  // The user's pwdPolicySubentry, else the configured default policy:
  // pwdMinLength, pwdInHistory, pwdMinAge/pwdMaxAge (seconds), pwdMaxFailure
  // (only when pwdLockout is TRUE), pwdLockoutDuration. complexity is always
  // false (ppolicy's pwdCheckQuality is about length and an optional check
  // module, not AD complexity). source = the policy DN. kDirAccessDenied if
  // the entry cannot be read; kConfig if no policy DN is known.
  Result<ad::DomainPolicy> ReadEffectivePolicy(const ad::UserEntry& user) override;

  // Admin reset: RFC 3062 password modify with no old password, ppolicy
  // request control attached, on the service connection (so ppolicy's
  // length, quality, history and minimum-age checks apply to it). ppolicy
  // itself clears pwdAccountLockedTime and pwdFailureTime on a successful
  // change, so a reset always unlocks. Then, on the same connection, one
  // modify: pwdReset TRUE when options.must_change (honoured at bind only
  // when the policy has pwdMustChange: TRUE), otherwise pwdReset removed
  // (ppolicy adds it after an admin change when pwdMustChange is TRUE);
  // with options.unlock also pwdAccountLockedTime removed. If that modify
  // fails the password stays written: the result is kWritten and
  // `*history_note` (admin text) says what was not done. options.history
  // is not used: ppolicy enforces pwdInHistory on the reset itself.
  // Read-back: pwdChangedTime and entryCSN before and after; a lost answer
  // is resolved by re-reading them (changed pwdChangedTime = written; both
  // unchanged = not written; else kDirWriteUnknown).
  Result<ad::WriteOutcome> ResetPassword(const ad::UserEntry& user, const Secret& password,
                                         const ad::ResetOptions& options,
                                         std::string* history_note = nullptr) override;

  // A user change: a simple bind as the user (ppolicy request control) on a
  // separate TLS handle, then the password modify with old + new as that
  // user, so ppolicy applies the user's own rules (pwdAllowUserChange,
  // pwdMinAge -> kDirPolicyTooYoung, history, quality, safe modify) and a
  // wrong old password counts as a failed bind towards lockout, like AD.
  // Wrong old password: kDirWrongPassword; locked: kDirLocked. When the bind
  // proves the old password right but expired (ppolicy passwordExpired, no
  // grace logins), the change is made by the service account with old + new
  // (slapd verifies the old password again; without auth access to
  // userPassword that is kDirAccessDenied). Same read-back as a reset.
  Result<ad::WriteOutcome> ChangePassword(const ad::UserEntry& user, const Secret& old_password,
                                          const Secret& new_password) override;

  // Deletes pwdAccountLockedTime (ppolicy then also drops pwdFailureTime);
  // succeeds when the entry was not locked.
  Status Unlock(const ad::UserEntry& user) override;

  // Membership in a groupOfNames, nested up to 8 levels: searches the
  // naming context (the dc= suffix of the base DN) for groups whose member
  // is the user, then groups containing those, ... OpenLDAP has no in-chain
  // matching rule.
  Result<bool> IsMemberOf(const std::string& user_dn, const std::string& group_dn) override;

  // Simple bind as `dn` on a separate, short-lived TLS handle with the
  // ppolicy request control. An empty password is refused before any bind.
  // rc 49 + accountLocked -> kDirLocked, + passwordExpired -> kDirExpired,
  // else kDirWrongPassword; success with changeAfterReset -> kDirMustChange.
  Status VerifyPassword(const std::string& dn, const Secret& password) override;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// GeneralizedTime (RFC 4517 §3.3.13, UTC "Z" form: YYYYMMDDHH[MM[SS]][.f]Z)
// as a Windows FILETIME: (unix_seconds + 11644473600) * 10^7 + fraction.
// kDirBadReply when the text is not of that form.
Result<std::int64_t> GeneralizedTimeToFiletime(std::string_view text);

// The ppolicy value of pwdAccountLockedTime meaning "locked until an
// administrator unlocks" (slapo-ppolicy(5)): treated as disabled.
inline constexpr std::string_view kPermanentLock = "000001010000Z";

}  // namespace sspr::openldap

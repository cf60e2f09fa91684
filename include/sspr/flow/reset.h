// The reset flow ("forgot password"): verify the caller with a one-time code
// sent to the alternate email address read from AD at send time, then take
// a new password, pre-check it against the domain policy, and write it to
// AD as an admin reset. Unknown, disabled and not-enrolled accounts walk the
// same prompts with the same words and get no mail (SECURITY.md rule 8);
// the audit log records the truth.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "sspr/ad/client.h"
#include "sspr/audit/audit.h"
#include "sspr/config/config.h"
#include "sspr/flow/dialogue.h"
#include "sspr/method/email.h"
#include "sspr/method/gateway.h"
#include "sspr/method/notify.h"
#include "sspr/policy/banned.h"
#include "sspr/store/enrolment.h"
#include "sspr/store/throttle.h"
#include "sspr/store/enrolment_codes.h"

namespace sspr::flow {

// Serialises password writes per account: two resets of one account at
// once take turns, so the read-back of each is about its own write.
class AccountLocks {
 public:
  std::shared_ptr<std::mutex> For(const std::string& account_dn) {
    std::lock_guard<std::mutex> lock(m_mu);
    auto& m = m_locks[account_dn];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }

 private:
  std::mutex m_mu;
  std::map<std::string, std::shared_ptr<std::mutex>> m_locks;
};

struct Services {
  const config::Config* cfg = nullptr;
  ad::Directory* directory = nullptr;
  const method::Mailer* mailer = nullptr;
  audit::Log* audit = nullptr;
  const unsigned char* fake_key = nullptr;  // 32 bytes, for fake masked addresses
  std::function<std::int64_t()> now_ms;     // monotonic clock (tests may replace)
  policy::BannedListSource* banned = nullptr;
  const method::Notifier* notifier = nullptr;  // null: no notifications
  const method::Gateway* gateway = nullptr;    // null: no SMS/voice
  store::EnrolmentStore* enrolment = nullptr;  // null: no registration store
  const Secret* helper_key = nullptr;          // seals TOTP seeds (32 bytes)
  store::Throttle* throttle = nullptr;         // null: no abuse limits (tests of other parts)
  store::EnrolmentCodes* codes = nullptr;      // admin-issued enrolment codes
  AccountLocks* locks = nullptr;
};

struct Caller {
  uid_t uid = 0;
  std::string account;  // already authorised by the server's peer rule
  std::string service, tty, rhost;  // claims: audit only
  std::string flow_id;              // random, per dialogue
};

// Runs the whole flow; always ends the dialogue with a result.
void RunReset(const Services& svc, const Caller& caller, Dialogue& dlg);

// `passwd` and expired passwords: a user change (current + new) written as
// one delete+add modify, so the directory checks the current password,
// history and minimum age; the policy pre-check runs first. Enter at the
// current-password prompt switches to verification + reset. An account the
// directory does not know ends with Outcome::kNotApplicable (the module
// then leaves it to pam_unix & co). `expired`: the login found the password
// expired or marked must-change.
void RunChange(const Services& svc, const Caller& caller, Dialogue& dlg, bool expired);

// Where notifications go: the user's alternate ([email] attribute) and
// primary ([notify] primary_attribute) addresses, each once.
std::vector<std::string> NotifyRecipients(const config::Config& cfg, const ad::UserEntry& user);

// Accounts in admin groups: adminCount=1, or nested membership of a group
// in [methods] admin_groups (default: AD's privileged groups).
Result<bool> IsAdminAccount(const Services& svc, const ad::UserEntry& user);

// A code from the user's authenticator app; on success the accepted step
// is saved first (replay refusal). `enrol` is the user's record.
bool CheckTotpCode(const Services& svc, const std::string& account, store::Enrolment& enrol,
                   std::string_view code);
// All `answers` right for the questions at `picked` (constant work).
bool CheckQuestionAnswers(const store::Enrolment& enrol, const std::vector<std::size_t>& picked,
                          const std::vector<Secret>& answers);

// Registration of verification methods (authenticator app, security
// questions) for the caller's own account: at sign-in (account phase,
// `at_login`: only when due, skippable a configured number of times) or on
// request (sspr-enroll). It is an authentication event: the password is
// verified against the directory first, and a first registration also needs
// an allowed service. Every change is audited and mailed to the user.
void RunEnrol(const Services& svc, const Caller& caller, Dialogue& dlg, bool at_login);

// sspr-admin operations on caller.account (the server allows root only):
// `op` is one of the kStartFlagAdmin* bits. Status shows what is registered
// (never a secret) and the throttle state; a code is issued for a first
// registration from anywhere; clear removes the registration and tells the
// user; unblock lifts a throttle block. All are audited.
void RunAdmin(const Services& svc, const Caller& caller, Dialogue& dlg, std::uint8_t op);

}  // namespace sspr::flow

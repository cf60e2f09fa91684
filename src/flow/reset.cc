#include "sspr/flow/reset.h"

#include <syslog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <ctime>
#include <optional>
#include <memory>
#include <mutex>
#include <thread>

#include "sspr/method/gateway.h"
#include "sspr/method/otp.h"
#include "sspr/method/totp.h"

#include <sodium.h>
#include "sspr/policy/password.h"

namespace sspr::flow {

namespace {

using wire::MsgId;
using wire::Outcome;

// Background delivery: the acknowledgement ("we sent a code to …") goes to
// the user before the send is attempted, so real and fake accounts answer in
// the same time (SECURITY.md rule 8). The flow checks the result before it
// accepts a code, and joins the thread before it ends.
class Delivery {
 public:
  void Start(std::function<Status()> send) {
    if (m_thread.joinable()) m_thread.join();
    m_state = std::make_shared<State>();
    m_thread = std::thread([st = m_state, send = std::move(send)]() mutable {
      Status s = send();
      std::lock_guard<std::mutex> lock(st->mu);
      st->done = true;
      st->ok = s.ok();
      if (!s.ok()) st->detail = s.error().detail;
    });
  }
  // Wait for the attempt to finish (bounded by the mailer's own timeout).
  bool Failed(std::string* detail) {
    if (!m_state) return false;
    if (m_thread.joinable()) m_thread.join();
    std::lock_guard<std::mutex> lock(m_state->mu);
    if (!m_state->ok && detail) *detail = m_state->detail;
    return !m_state->ok;
  }
  ~Delivery() {
    if (m_thread.joinable()) m_thread.join();
  }

 private:
  struct State {
    std::mutex mu;
    bool done = false;
    bool ok = false;
    std::string detail;
  };
  std::shared_ptr<State> m_state;
  std::thread m_thread;
};

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

class ResetRun {
 public:
  ResetRun(const Services& svc, const Caller& caller, Dialogue& dlg)
      : m_svc(svc), m_cfg(*svc.cfg), m_caller(caller), m_dlg(dlg),
        m_deadline(svc.now_ms() + static_cast<std::int64_t>(m_cfg.flow.flow_lifetime_s) * 1000) {}

  void Run();
  void Change(bool expired) { RunChange(expired); }
  // After the dialogue has ended: tell the user (and admins) what happened.
  void Notify();

 private:
  void Audit(std::string_view event, audit::Fields extra = {}) {
    audit::Fields f = {{"account", m_caller.account},
                       {"uid", std::to_string(m_caller.uid)},
                       {"service", m_caller.service},
                       {"tty", m_caller.tty},
                       {"rhost", m_caller.rhost},
                       {"flow", m_caller.flow_id}};
    f.insert(f.end(), extra.begin(), extra.end());
    m_svc.audit->Event(event, f);
  }
  void End(Outcome outcome) { (void)m_dlg.Finish(outcome); }
  void EndCancelled(const Error& e) {
    Audit("reset_ended", {{"result", "not_written"}, {"reason", std::string(ErrcName(e.code))}});
    if (e.code == Errc::kCancelled) m_dlg.Say(MsgId::kCancelled);
    End(e.code == Errc::kCancelled ? Outcome::kCancelled : Outcome::kNotWritten);
  }
  bool Expired() { return m_svc.now_ms() >= m_deadline; }
  // The whole flow's deadline: past it, say so, end, and return true.
  bool EndIfExpired(const std::string& ended_event) {
    if (!Expired()) return false;
    Audit(ended_event, {{"result", "not_written"}, {"reason", "flow_expired"}});
    m_dlg.SayError(MsgId::kFlowExpired);
    End(Outcome::kNotWritten);
    return true;
  }
  void StartReset(Result<ad::UserEntry> found);
  std::vector<std::string> UserAttrs() const {
    std::vector<std::string> a = {m_cfg.email.attribute};
    if (!m_cfg.notify.primary_attribute.empty()) a.push_back(m_cfg.notify.primary_attribute);
    for (const auto& x : {m_cfg.sms.mobile_attribute, m_cfg.voice.mobile_attribute,
                          m_cfg.voice.office_attribute})
      if (std::find(a.begin(), a.end(), x) == a.end()) a.push_back(x);
    return a;
  }
  void RunChange(bool expired);
  void PasswordLoop(std::string_view kind,
                    const std::function<Result<ad::WriteOutcome>(const Secret&)>& write,
                    audit::Fields written_fields);
  struct Option {
    std::string id;           // email | sms | voice_mobile | voice_office
    std::string family;       // email | mobile | office: two methods must differ
    std::string destination;  // address or E.164; empty for a fake option
    std::string masked;
    MsgId label;
  };
  std::vector<Option> OptionsFor(const ad::UserEntry& u) const;
  std::vector<Option> FakeOptions() const;
  Result<bool> IsAdmin(const ad::UserEntry& user);
  Result<Option> Choose(const std::vector<Option>& offer);
  bool Verify(const Option& option);
  bool VerifyKnowledge(const Option& option);
  // Throttle: record a failure in advance (nullopt: the store failed and the
  // flow has been ended); EndCheck removes it after a right answer.
  std::optional<store::Decision> BeginCheck(const std::string& method);
  void EndCheck(const store::Decision& d);
  bool CheckTotp(std::string_view code);
  bool CheckAnswers(const std::vector<std::size_t>& picked, const std::vector<Secret>& answers);
  Status SendCode(const Option& option, const Secret& code);
  bool DestinationStillCurrent(const Option& option);
  Result<std::string> InScope(const ad::UserEntry& user);
  void AfterVerification();
  void ChoosePassword(bool unlock);
  void UnlockOnly();
  bool Locked(const ad::DomainPolicy& policy) const;

  const Services& m_svc;
  const config::Config& m_cfg;
  const Caller& m_caller;
  Dialogue& m_dlg;
  std::int64_t m_deadline;
  std::int64_t m_started_ms = wire::NowMs();
  std::optional<ad::UserEntry> m_user;  // set only for an eligible account
  std::vector<Option> m_options;        // methods offered (fake ones for ineligible accounts)
  std::vector<std::string> m_verified;  // methods passed, in order
  store::Enrolment m_enrol;             // the user's own registrations (may be empty)
  bool m_admin = false;
  int m_required = 1;                   // methods to verify
  std::string m_notify_event;           // set when something changed in AD
  ad::DomainPolicy m_policy;            // the user's effective policy
  Delivery m_delivery;
};

void ResetRun::Run() {
  StartReset(m_svc.directory->FindUser(m_caller.account, UserAttrs()));
}

void ResetRun::StartReset(Result<ad::UserEntry> found) {
  m_dlg.Say(MsgId::kResetIntro);

  // The directory being unreachable is the same for every account, so it
  // may be said; everything else about the account stays behind the same
  // face.
  std::string reason;
  if (!found) {
    Errc c = found.code();
    if (c != Errc::kDirNoSuchUser && c != Errc::kDirAmbiguous) {
      m_svc.audit->Admin(LOG_ERR, "directory lookup failed: " + found.error().detail);
      Audit("reset_ended", {{"result", "not_written"}, {"reason", std::string(ErrcName(c))}});
      m_dlg.SayError(MsgId::kServiceUnavailable);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kUnavailable);
    }
    reason = std::string(ErrcName(c));
  } else if (found->disabled) {
    reason = "account_disabled";
  } else {
    if (m_svc.enrolment != nullptr) {
      auto loaded = m_svc.enrolment->Load(found->sam_account_name);
      if (!loaded) {
        // Fail closed: an unreadable store is not "not enrolled".
        m_svc.audit->Admin(LOG_ERR, "enrolment store: " + loaded.error().detail);
        Audit("reset_ended", {{"result", "not_written"}, {"reason", "store_unreadable"}});
        m_dlg.SayError(MsgId::kServiceUnavailable);
        m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
        return End(Outcome::kUnavailable);
      }
      if (*loaded) m_enrol = std::move(**loaded);
    }
    m_options = OptionsFor(*found);
    if (m_options.empty()) reason = "not_enrolled";
  }
  if (reason.empty()) {
    auto scope = InScope(found.value());
    if (!scope) {
      m_svc.audit->Admin(LOG_ERR, "scope check failed: " + scope.error().detail);
      Audit("reset_ended", {{"result", "not_written"}, {"reason", std::string(ErrcName(scope.code()))}});
      m_dlg.SayError(MsgId::kServiceUnavailable);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kUnavailable);
    }
    reason = *scope;
  }
  if (reason.empty()) {
    auto admin = IsAdmin(found.value());
    if (!admin) {
      m_svc.audit->Admin(LOG_ERR, "admin group check failed: " + admin.error().detail);
      Audit("reset_ended", {{"result", "not_written"}, {"reason", std::string(ErrcName(admin.code()))}});
      m_dlg.SayError(MsgId::kServiceUnavailable);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kUnavailable);
    }
    // Admins always need two methods (SECURITY.md rule 4). An account with
    // fewer methods than required still proves what it has, then hears whom
    // to contact (so raising 1 -> 2 does not silently lock people out).
    m_required = *admin ? 2 : m_cfg.methods.required;
    m_admin = *admin;
    if (m_admin) {  // admins may not use security questions (SECURITY.md rule 4)
      m_options.erase(std::remove_if(m_options.begin(), m_options.end(),
                                     [](const Option& o) { return o.id == "questions"; }),
                      m_options.end());
      if (m_options.empty()) reason = "not_enrolled";
    }
  }
  if (reason.empty() && m_svc.throttle != nullptr) {
    auto state = m_svc.throttle->IsBlocked(m_caller.account);
    if (!state) {
      m_svc.audit->Admin(LOG_ERR, "throttle store: " + state.error().detail);
      Audit("reset_ended", {{"result", "not_written"}, {"reason", "throttle_unavailable"}});
      m_dlg.SayError(MsgId::kServiceUnavailable);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kUnavailable);
    }
    // A blocked account walks the same path and gets nothing sent.
    if (state->blocked) reason = "throttled";
  }
  if (reason.empty()) {
    m_user = std::move(found.value());
  } else {
    Audit("reset_ineligible", {{"reason", reason}});
    // A throttled account keeps its real (masked) menu, so the block does
    // not show; everything else gets a stable fake one.
    if (reason != "throttled") m_options = FakeOptions();
    for (auto& o : m_options) o.destination.clear();
  }

  // Real accounts cost more lookups (admin groups, the store, the send cap)
  // than unknown ones: the first prompt never comes sooner than the floor,
  // so the timing does not tell them apart (SECURITY.md rule 8).
  {
    std::int64_t left = m_started_ms + m_cfg.flow.min_response_ms - wire::NowMs();
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(left));
  }

  // One method per distinct family, m_required times.
  std::string used_family;
  for (int round = 0; round < m_required; ++round) {
    std::vector<Option> offer;
    for (const auto& o : m_options)
      if (o.family != used_family) offer.push_back(o);
    if (round > 0 && offer.empty()) {
      // Verified with all it has, but the policy needs more.
      Audit("reset_ended", {{"result", "not_written"}, {"reason", "not_enough_methods"},
                            {"required", std::to_string(m_required)}});
      m_dlg.SayError(MsgId::kNotEnoughMethods, {std::to_string(m_required)});
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kNotWritten);
    }
    if (round > 0) m_dlg.Say(MsgId::kSecondMethodNeeded);
    auto chosen = Choose(offer);
    if (!chosen) return EndCancelled(chosen.error());
    if (!Verify(*chosen)) return;
    used_family = chosen->family;
  }
  AfterVerification();
}

// The methods this account can use now, from AD data read just now.
std::vector<ResetRun::Option> ResetRun::OptionsFor(const ad::UserEntry& u) const {
  std::vector<Option> out;
  auto values = [&](const std::string& attr) -> const std::vector<std::string>& { return u.Values(attr); };
  if (m_cfg.email.enabled) {
    for (const auto& v : values(m_cfg.email.attribute))
      if (method::IsUsableAddress(v)) {
        out.push_back({"email", "email", v, method::MaskAddress(v), MsgId::kOptionEmail});
        break;
      }
  }
  auto phone = [&](const config::PhoneConfig& pc, const std::string& attr) -> std::optional<std::string> {
    for (const auto& v : values(attr))
      if (auto e164 = method::NormaliseE164(v, pc.default_country)) return e164;
    return std::nullopt;
  };
  if (m_cfg.sms.enabled && m_svc.gateway && m_svc.gateway->has_sms())
    if (auto n = phone(m_cfg.sms, m_cfg.sms.mobile_attribute))
      out.push_back({"sms", "mobile", *n, method::MaskPhone(*n), MsgId::kOptionSms});
  if (m_cfg.voice.enabled && m_svc.gateway && m_svc.gateway->has_voice()) {
    if (auto n = phone(m_cfg.voice, m_cfg.voice.mobile_attribute))
      out.push_back({"voice_mobile", "mobile", *n, method::MaskPhone(*n), MsgId::kOptionVoiceMobile});
    if (auto n = phone(m_cfg.voice, m_cfg.voice.office_attribute))
      out.push_back({"voice_office", "office", *n, method::MaskPhone(*n), MsgId::kOptionVoiceOffice});
  }
  // The user's own registrations, once past the cool-down (SECURITY.md rule 5).
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  auto settled = [&](const char* id) {
    auto it = m_enrol.method_added_at.find(id);
    std::int64_t added = it == m_enrol.method_added_at.end() ? 0 : it->second;
    return added + std::int64_t{m_cfg.registration.cooldown_hours} * 3600 <= now;
  };
  for (const auto& c : m_enrol.contacts) {
    if (c.added_at + std::int64_t{m_cfg.registration.cooldown_hours} * 3600 > now) continue;
    bool have_email = std::any_of(out.begin(), out.end(), [](const Option& o) { return o.id == "email"; });
    bool have_sms = std::any_of(out.begin(), out.end(), [](const Option& o) { return o.id == "sms"; });
    if (c.kind == store::ContactKind::kEmail && m_cfg.email.enabled && !have_email &&
        method::IsUsableAddress(c.value))
      out.push_back({"email", "email", c.value, method::MaskAddress(c.value), MsgId::kOptionEmail});
    if (c.kind == store::ContactKind::kMobile && m_cfg.sms.enabled && !have_sms && m_svc.gateway &&
        m_svc.gateway->has_sms())
      out.push_back({"sms", "mobile", c.value, method::MaskPhone(c.value), MsgId::kOptionSms});
  }
  if (m_cfg.totp.enabled && m_enrol.totp && m_enrol.totp->confirmed_at != 0 && settled("totp"))
    out.push_back({"totp", "app", "", "", MsgId::kOptionTotp});
  if (m_cfg.questions.enabled && !m_enrol.questions.empty() &&
      static_cast<int>(m_enrol.questions.size()) >= m_cfg.questions.ask_count && settled("questions"))
    out.push_back({"questions", "questions", "", "", MsgId::kOptionQuestions});
  return out;
}


// A stable, plausible set of options for an account that gets nothing:
// derived from a keyed hash of the name, among the enabled methods.
std::vector<ResetRun::Option> ResetRun::FakeOptions() const {
  unsigned char mac[32];
  crypto_auth_hmacsha256(mac, reinterpret_cast<const unsigned char*>(m_caller.account.data()),
                         m_caller.account.size(), m_svc.fake_key);
  auto fake_phone = [&](int salt) {
    std::string p = "+" + std::to_string(10 + mac[3 + salt] % 90);
    for (int i = 0; i < 8; ++i) p += "\xE2\x80\xA2";
    p += std::to_string(10 + mac[5 + salt] % 90);
    return p;
  };
  std::vector<Option> out;
  bool sms = m_cfg.sms.enabled && m_svc.gateway && m_svc.gateway->has_sms();
  bool voice = m_cfg.voice.enabled && m_svc.gateway && m_svc.gateway->has_voice();
  if (m_cfg.email.enabled)
    out.push_back({"email", "email", "", method::FakeMaskedAddress(m_caller.account, m_svc.fake_key),
                   MsgId::kOptionEmail});
  bool has_mobile = (mac[10] & 1) != 0 || out.empty();
  std::string mobile = fake_phone(0);
  if (sms && has_mobile) out.push_back({"sms", "mobile", "", mobile, MsgId::kOptionSms});
  if (voice && has_mobile) out.push_back({"voice_mobile", "mobile", "", mobile, MsgId::kOptionVoiceMobile});
  if (voice && (mac[11] & 1) != 0)
    out.push_back({"voice_office", "office", "", fake_phone(1), MsgId::kOptionVoiceOffice});
  if (m_cfg.totp.enabled && (mac[12] & 1) != 0) out.push_back({"totp", "app", "", "", MsgId::kOptionTotp});
  if (out.empty()) out.push_back({"email", "email", "", method::FakeMaskedAddress(m_caller.account, m_svc.fake_key),
                                  MsgId::kOptionEmail});
  return out;
}

Result<bool> ResetRun::IsAdmin(const ad::UserEntry& user) { return IsAdminAccount(m_svc, user); }

// One option needs no question; several are offered as a numbered menu.
Result<ResetRun::Option> ResetRun::Choose(const std::vector<Option>& offer) {
  if (offer.empty()) return Fail(Errc::kNotEligible, "no method left");
  if (offer.size() == 1) return offer.front();
  for (int tries = 0; tries < 3; ++tries) {
    m_dlg.Say(MsgId::kChooseMethodIntro);
    for (std::size_t i = 0; i < offer.size(); ++i)
      m_dlg.Say(offer[i].label, {std::to_string(i + 1), offer[i].masked});
    auto answer = m_dlg.Ask(MsgId::kChooseMethodPrompt, true, 0, {std::to_string(offer.size())});
    if (!answer) return Fail(answer.error());
    if (answer->empty()) return Fail(Errc::kCancelled, "no method chosen");
    std::string_view a = answer->view();
    if (a.size() == 1 && a[0] >= '1' && a[0] < static_cast<char>('1' + offer.size()))
      return offer[static_cast<std::size_t>(a[0] - '1')];
  }
  return Fail(Errc::kCancelled, "no valid method chosen");
}

// "" when the account may use SSPR, else the (audit-only) reason.
Result<std::string> ResetRun::InScope(const ad::UserEntry& user) {
  const auto& p = m_cfg.policy;
  if (user.admin_count != 0 && !p.allow_protected_accounts) return std::string("protected_account");
  if (p.scope == "none") return std::string("out_of_scope");
  if (p.scope == "all") return std::string();
  for (const auto& group : p.scope_groups) {
    auto member = m_svc.directory->IsMemberOf(user.dn, group);
    if (!member) return Fail(member.error());
    if (*member) return std::string();
  }
  return std::string("out_of_scope");
}

// AD: lockoutTime != 0 and, with a lockout duration, not yet expired
// (FILETIME: 100 ns since 1601).
bool ResetRun::Locked(const ad::DomainPolicy& policy) const {
  if (m_user->lockout_time == 0) return false;
  if (policy.lockout_duration_s == 0) return true;
  std::int64_t now_ft = (static_cast<std::int64_t>(std::time(nullptr)) + 11644473600LL) * 10000000LL;
  return m_user->lockout_time + policy.lockout_duration_s * 10000000LL > now_ft;
}

// Authenticator-app codes and security questions: nothing is sent; the
// answer is checked against the user's registration. Ineligible accounts
// walk the same prompts and never match.
bool ResetRun::VerifyKnowledge(const Option& option) {
  const auto& f = m_cfg.flow;
  int tries = f.code_tries;
  const bool questions = option.id == "questions";
  for (;;) {
    std::vector<std::size_t> picked;
    std::vector<Secret> answers;
    if (questions) {
      // Random questions in random order (registered ones, or for a fake
      // face the configured list).
      std::size_t pool = m_user ? m_enrol.questions.size() : m_cfg.questions.predefined.size();
      std::vector<std::size_t> idx(pool);
      for (std::size_t i = 0; i < pool; ++i) idx[i] = i;
      for (std::size_t i = pool; i > 1; --i)
        std::swap(idx[i - 1], idx[randombytes_uniform(static_cast<std::uint32_t>(i))]);
      std::size_t n = std::min<std::size_t>(pool, static_cast<std::size_t>(m_cfg.questions.ask_count));
      for (std::size_t i = 0; i < n; ++i) {
        picked.push_back(idx[i]);
        const std::string& text = m_user ? m_enrol.questions[idx[i]].custom_text
                                         : m_cfg.questions.predefined[idx[i]];
        auto a = m_dlg.Ask(MsgId::kQuestionPrompt, false, 0, {text});
        if (!a) {
          EndCancelled(a.error());
          return false;
        }
        if (a->empty()) {
          EndCancelled(Error{Errc::kCancelled, {}});
          return false;
        }
        answers.push_back(std::move(*a));
      }
    }
    Result<Secret> code = questions ? Result<Secret>(Secret()) : m_dlg.Ask(MsgId::kTotpPrompt, true);
    if (!code) {
      EndCancelled(code.error());
      return false;
    }
    if (!questions && code->empty()) {
      EndCancelled(Error{Errc::kCancelled, {}});
      return false;
    }
    if (EndIfExpired("reset_ended")) return false;
    std::int64_t answered_at = wire::NowMs();
    --tries;  // spent before checking
    auto ticket = BeginCheck(option.id);
    if (!ticket) return false;
    bool ok = m_user && ticket->allowed &&
              (questions ? CheckAnswers(picked, answers) : CheckTotp(code->view()));
    if (ok) EndCheck(*ticket);
    if (ok) {
      Audit("code_verified", {{"method", option.id}});
      m_verified.push_back(option.id);
      return true;
    }
    std::int64_t left = answered_at + f.min_response_ms - wire::NowMs();
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(left));
    Audit("code_wrong", {{"method", option.id}, {"tries_left", std::to_string(tries)}});
    if (tries <= 0) {
      Audit("reset_ended", {{"result", "not_written"}, {"reason", "too_many_tries"}});
      m_dlg.SayError(MsgId::kTooManyTries);
      End(Outcome::kNotWritten);
      return false;
    }
    m_dlg.SayError(questions ? MsgId::kAnswersWrong : MsgId::kCodeWrong, {std::to_string(tries)});
  }
}

std::optional<store::Decision> ResetRun::BeginCheck(const std::string& method) {
  store::Decision allow;
  allow.allowed = true;
  if (m_svc.throttle == nullptr) return allow;
  std::string source = !m_caller.rhost.empty() ? "rhost:" + m_caller.rhost
                       : !m_caller.tty.empty() ? "tty:" + m_caller.tty
                                               : std::string("local");
  auto d = m_svc.throttle->BeginVerification(m_caller.account, method, source);
  if (!d) {
    m_svc.audit->Admin(LOG_ERR, "throttle store: " + d.error().detail);
    Audit("reset_ended", {{"result", "not_written"}, {"reason", "throttle_unavailable"}});
    m_dlg.SayError(MsgId::kServiceUnavailable);
    End(Outcome::kUnavailable);
    return std::nullopt;
  }
  if (!d->allowed)
    Audit("verification_blocked", {{"method", method},
                                   {"limit", std::to_string(static_cast<int>(d->limit))},
                                   {"retry_after_s", std::to_string(d->retry_after_s)}});
  return *d;
}

void ResetRun::EndCheck(const store::Decision& d) {
  if (m_svc.throttle == nullptr || d.ticket.id == 0) return;
  if (auto st = m_svc.throttle->Succeeded(d.ticket); !st)
    m_svc.audit->Admin(LOG_WARNING, "throttle store: " + st.error().detail);
}

bool ResetRun::CheckTotp(std::string_view code) {
  return m_enrol.totp && CheckTotpCode(m_svc, m_user->sam_account_name, m_enrol, code);
}

bool ResetRun::CheckAnswers(const std::vector<std::size_t>& picked, const std::vector<Secret>& answers) {
  return CheckQuestionAnswers(m_enrol, picked, answers);
}

Status ResetRun::SendCode(const Option& option, const Secret& code) {
  const auto& f = m_cfg.flow;
  if (option.id == "email") {
    std::string body = "Someone (hopefully you) asked to reset the password of the account " +
                       m_user->sam_account_name + ".\n\nYour verification code is: ";
    body.append(code.view());
    body += "\n\nIt is valid for " + std::to_string(f.code_lifetime_s / 60) +
            " minutes. If you did not ask for this, ignore this message and tell your IT "
            "help desk.\n";
    return m_svc.mailer->Send(option.destination, m_cfg.email.subject, Secret::Take(body));
  }
  const config::PhoneConfig& pc = option.id == "sms" ? m_cfg.sms : m_cfg.voice;
  std::string spaced;
  for (char c : code.view()) {
    if (!spaced.empty()) spaced += ' ';
    spaced += c;
  }
  std::string text;
  const std::string& t = pc.message;
  for (std::size_t i = 0; i < t.size();) {
    if (t.compare(i, 13, "{code_spaced}") == 0) {
      text += spaced;
      i += 13;
    } else if (t.compare(i, 6, "{code}") == 0) {
      text.append(code.view());
      i += 6;
    } else {
      text += t[i++];
    }
  }
  Secret message = Secret::Take(text);
  WipeString(spaced);
  if (option.id == "sms") return m_svc.gateway->SendSms(option.destination, message, code);
  return m_svc.gateway->Call(option.destination, message, code);
}

// SECURITY.md rule 2: contact data is re-read at verification time; a code
// sent to a number or address that is no longer the user's is refused.
bool ResetRun::DestinationStillCurrent(const Option& option) {
  auto fresh = m_svc.directory->FindUser(m_caller.account, UserAttrs());
  if (!fresh || fresh->dn != m_user->dn) return false;
  for (const auto& o : OptionsFor(*fresh))
    if (o.id == option.id && o.destination == option.destination) return true;
  return false;
}

void ResetRun::AfterVerification() {
  auto pol = m_svc.directory->ReadEffectivePolicy(*m_user);
  if (!pol) {
    // Fail closed: without the user's policy we cannot check the password.
    m_svc.audit->Admin(LOG_ERR, "could not read the password policy for " + m_user->dn + ": " +
                                    pol.error().detail);
    Audit("reset_ended", {{"result", "not_written"}, {"reason", "policy_unreadable"}});
    m_dlg.SayError(MsgId::kServiceUnavailable);
    m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
    return End(Outcome::kUnavailable);
  }
  m_policy = *pol;
  bool locked = Locked(m_policy);
  if (locked) {
    if (m_policy.lockout_duration_s > 0) {
      std::time_t unlock_at = static_cast<std::time_t>(m_user->lockout_time / 10000000LL - 11644473600LL +
                                                       m_policy.lockout_duration_s);
      char when[32];
      struct tm tm {};
      gmtime_r(&unlock_at, &tm);
      std::strftime(when, sizeof when, "%H:%M UTC", &tm);
      m_dlg.Say(MsgId::kAccountLockedUntil, {when});
    } else {
      m_dlg.Say(MsgId::kAccountLockedAdmin);
    }
    if (m_cfg.policy.unlock) {
      for (int tries = 0; tries < 3; ++tries) {
        auto choice = m_dlg.Ask(MsgId::kUnlockChoicePrompt, true);
        if (!choice) return EndCancelled(choice.error());
        if (choice->Equals(std::string_view("1"))) return UnlockOnly();
        if (choice->Equals(std::string_view("2"))) return ChoosePassword(true);
        if (choice->empty()) return EndCancelled(Error{Errc::kCancelled, {}});
      }
      return EndCancelled(Error{Errc::kCancelled, "no valid choice"});
    }
  }
  ChoosePassword(locked);
}

void ResetRun::UnlockOnly() {
  auto lock = m_svc.locks->For(m_user->dn);
  std::lock_guard<std::mutex> guard(*lock);
  if (auto st = m_svc.directory->Unlock(*m_user); !st) {
    m_svc.audit->Admin(LOG_ERR, "unlock of " + m_user->dn + " failed: " + st.error().detail);
    Audit("unlock_ended", {{"result", "not_unlocked"}, {"reason", std::string(ErrcName(st.code()))}});
    m_dlg.SayError(MsgId::kServiceUnavailable);
    m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
    return End(Outcome::kNotWritten);
  }
  Audit("unlocked", {{"result", "unlocked"}, {"methods", Joined(m_verified)}});
  m_notify_event = "unlock";
  m_dlg.Say(MsgId::kUnlocked);
  // The current password is handed to the next module, which checks it.
  auto pw = m_dlg.Ask(MsgId::kCurrentPasswordPrompt, false, wire::kItemNewAuthtok);
  if (!pw || pw->empty()) return End(Outcome::kDone);
  End(Outcome::kUnlocked);
}

bool ResetRun::Verify(const Option& option) {
  if (option.id == "totp" || option.id == "questions") return VerifyKnowledge(option);
  const auto& f = m_cfg.flow;
  const std::string& masked = option.masked;
  Secret code = method::GenerateNumericCode(f.code_length);
  std::string binding =
      method::CodeBinding(m_caller.account, option.id, option.destination, m_caller.flow_id);
  std::int64_t now = m_svc.now_ms();
  method::OneTimeCode otp(code.Clone(), binding,
                          now + static_cast<std::int64_t>(f.code_lifetime_s) * 1000, f.code_tries);
  bool send = m_user.has_value();
  if (send && m_svc.throttle != nullptr) {
    auto d = m_svc.throttle->BeginSend(m_caller.account, option.id + ":" + option.destination,
                                       option.id != "email");
    if (!d || !d->allowed) {
      // Capped (or the store failed): same words, nothing sent.
      send = false;
      Audit("send_refused", {{"method", option.id},
                             {"reason", d ? "cap" : "throttle_unavailable"},
                             {"retry_after_s", d ? std::to_string(d->retry_after_s) : "0"}});
    }
  }
  if (send) {
    // The send is acknowledged before it is attempted (same timing for all).
    auto c = std::make_shared<Secret>(code.Clone());  // std::function needs copyable captures
    m_delivery.Start([this, option, c]() { return SendCode(option, *c); });
    Audit("code_sent", {{"method", option.id}, {"destination", masked}});
  }
  const std::string minutes = std::to_string(std::max(1, f.code_lifetime_s / 60));
  if (option.id == "email") m_dlg.Say(MsgId::kCodeSentEmail, {masked, minutes});
  else if (option.id == "sms") m_dlg.Say(MsgId::kCodeSentSms, {masked, minutes});
  else m_dlg.Say(MsgId::kCodeCalling, {masked, minutes});

  for (;;) {
    auto answer = m_dlg.Ask(MsgId::kCodePrompt, true);
    if (!answer) {
      EndCancelled(answer.error());
      return false;
    }
    std::string send_error;
    if (m_user && m_delivery.Failed(&send_error)) {
      m_svc.audit->Admin(LOG_ERR, "could not send the code to " + masked + ": " + send_error);
      Audit("reset_ended", {{"result", "not_written"}, {"reason", "send_failed"}});
      m_dlg.SayError(MsgId::kSendFailed);
      m_dlg.Say(MsgId::kPasswordNotWritten);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      End(Outcome::kNotWritten);
      return false;
    }
    if (answer->empty()) {
      EndCancelled(Error{Errc::kCancelled, {}});
      return false;
    }
    if (EndIfExpired("reset_ended")) return false;
    // Failure replies never come sooner than the floor: real and fake
    // accounts answer alike and guessing is slowed.
    std::int64_t answered_at = wire::NowMs();
    auto pad = [&] {
      std::int64_t left = answered_at + f.min_response_ms - wire::NowMs();
      if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(left));
    };
    // The failure is counted before the answer is checked (SECURITY.md
    // rule 11); a blocked account's answer is never checked.
    auto ticket = BeginCheck(option.id);
    if (!ticket) return false;
    // An ineligible account verifies against a binding no code can match;
    // so does a code whose destination changed in AD since it was sent.
    bool current = m_user && ticket->allowed && DestinationStillCurrent(option);
    std::string_view check_binding = current ? std::string_view(binding) : std::string_view();
    method::CodeCheck r = otp.Verify(answer->view(), check_binding, m_svc.now_ms());
    if (r == method::CodeCheck::kOk) EndCheck(*ticket);
    switch (r) {
      case method::CodeCheck::kOk:
        Audit("code_verified", {{"method", option.id}});
        m_verified.push_back(option.id);
        return true;
      case method::CodeCheck::kWrong:
        pad();
        if (m_user && !current) Audit("destination_changed", {{"method", option.id}});
        Audit("code_wrong", {{"method", option.id}, {"tries_left", std::to_string(otp.tries_left())}});
        m_dlg.SayError(MsgId::kCodeWrong, {std::to_string(otp.tries_left())});
        continue;
      case method::CodeCheck::kExpired:
        Audit("reset_ended", {{"result", "not_written"}, {"reason", "code_expired"}});
        m_dlg.SayError(MsgId::kCodeExpired);
        End(Outcome::kNotWritten);
        return false;
      case method::CodeCheck::kExhausted:
      case method::CodeCheck::kUsed:
        pad();
        Audit("reset_ended", {{"result", "not_written"}, {"reason", "too_many_tries"}});
        m_dlg.SayError(MsgId::kTooManyTries);
        End(Outcome::kNotWritten);
        return false;
    }
  }
}

void ResetRun::ChoosePassword(bool unlock) {
  ad::ResetOptions options;
  options.unlock = unlock;
  options.must_change = m_cfg.policy.must_change_after_reset;
  options.history = m_cfg.policy.history_on_reset == "proceed" ? ad::HistoryOnReset::kProceed
                                                               : ad::HistoryOnReset::kRefuse;
  PasswordLoop("reset", [&](const Secret& pw) {
    std::string history_note;
    auto written = m_svc.directory->ResetPassword(*m_user, pw, options, &history_note);
    if (!history_note.empty()) m_svc.audit->Admin(LOG_WARNING, history_note);
    return written;
  }, {{"methods", Joined(m_verified)}, {"unlocked", unlock ? "yes" : "no"}});
}

void ResetRun::PasswordLoop(std::string_view kind,
                            const std::function<Result<ad::WriteOutcome>(const Secret&)>& write,
                            audit::Fields written_fields) {
  const ad::DomainPolicy& policy = m_policy;
  const std::string ended = std::string(kind) + "_ended";
  std::shared_ptr<const policy::BannedList> banned;
  if (m_svc.banned != nullptr) {
    auto list = m_svc.banned->Get();
    if (!list) {
      // Configured but unreadable: refuse rather than wave passwords through.
      m_svc.audit->Admin(LOG_ERR, list.error().detail);
      Audit(ended, {{"result", "not_written"}, {"reason", "banned_list_unreadable"}});
      m_dlg.SayError(MsgId::kServiceUnavailable);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kUnavailable);
    }
    banned = *list;
  }
  m_dlg.Say(policy.complexity ? MsgId::kPolicySummaryComplex : MsgId::kPolicySummarySimple,
            {std::to_string(policy.min_length), std::to_string(policy.history_length)});
  for (int attempt = 0; attempt < m_cfg.flow.password_tries; ++attempt) {
    auto pw = m_dlg.Ask(MsgId::kNewPasswordPrompt, false, wire::kItemNewAuthtok);
    if (!pw) return EndCancelled(pw.error());
    if (pw->empty()) {
      m_dlg.SayError(MsgId::kPasswordEmpty);
      continue;
    }
    auto again = m_dlg.Ask(MsgId::kConfirmPasswordPrompt, false);
    if (!again) return EndCancelled(again.error());
    if (!pw->Equals(*again)) {
      m_dlg.SayError(MsgId::kPasswordMismatch);
      continue;
    }
    if (EndIfExpired(ended)) return;
    policy::Rule rule =
        policy::Check(pw->view(), policy, m_user->sam_account_name, m_user->display_name);
    if (rule == policy::Rule::kTooShort) {
      Audit("password_refused", {{"rule", "min_length"}, {"checked", "local"}});
      m_dlg.SayError(MsgId::kPolicyTooShort, {std::to_string(policy.min_length)});
      continue;
    }
    if (rule == policy::Rule::kComplexity) {
      Audit("password_refused", {{"rule", "complexity"}, {"checked", "local"}});
      m_dlg.SayError(MsgId::kPolicyComplexity);
      continue;
    }
    if (banned && banned->Matches(pw->view())) {
      Audit("password_refused", {{"rule", "banned"}, {"checked", "local"}});
      m_dlg.SayError(MsgId::kPolicyBanned);
      continue;
    }
    auto lock = m_svc.locks->For(m_user->dn);
    std::unique_lock<std::mutex> guard(*lock);
    auto written = write(*pw);
    guard.unlock();
    if (written && *written == ad::WriteOutcome::kWritten) {
      audit::Fields f = {{"result", "written"}};
      f.insert(f.end(), written_fields.begin(), written_fields.end());
      f.push_back({"policy", policy.source});
      Audit(std::string(kind) + "_written", f);
      m_notify_event = std::string(kind);
      m_dlg.Say(MsgId::kPasswordWritten);
      return End(Outcome::kPasswordWritten);
    }
    if (written) {  // the read-back proved nothing changed
      Audit(ended, {{"result", "not_written"}, {"reason", "readback_unchanged"}});
      m_dlg.SayError(MsgId::kPasswordNotWritten);
      m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
      return End(Outcome::kNotWritten);
    }
    const Error& e = written.error();
    m_svc.audit->Admin(LOG_NOTICE, "password " + std::string(kind) + " for " + m_caller.account +
                                       ": " + std::string(ErrcName(e.code)) + ": " + e.detail);
    switch (e.code) {
      case Errc::kDirPolicy:
        // Length and complexity passed locally, so AD refused for history or
        // minimum age (or a stricter fine-grained policy).
      case Errc::kDirPolicyHistory:
        Audit("password_refused", {{"rule", "history"}, {"checked", "directory"}});
        if (policy.history_length > 0)
          m_dlg.SayError(MsgId::kPolicyHistoryCount, {std::to_string(policy.history_length)});
        else
          m_dlg.SayError(MsgId::kPolicyHistory);
        continue;
      case Errc::kDirPolicyTooShort:
        Audit("password_refused", {{"rule", "min_length"}, {"checked", "directory"}});
        m_dlg.SayError(MsgId::kPolicyTooShort, {std::to_string(policy.min_length)});
        continue;
      case Errc::kDirPolicyQuality:
        Audit("password_refused", {{"rule", "complexity"}, {"checked", "directory"}});
        m_dlg.SayError(MsgId::kPolicyComplexity);
        continue;
      case Errc::kDirPolicyTooYoung:
        Audit(ended, {{"result", "not_written"}, {"reason", "min_age"}});
        m_dlg.SayError(MsgId::kPolicyTooSoon, {"-"});
        return End(Outcome::kNotWritten);
      case Errc::kDirWrongPassword:
        Audit(ended, {{"result", "not_written"}, {"reason", "wrong_current_password"}});
        m_dlg.SayError(MsgId::kWrongCurrentPassword);
        return End(Outcome::kNotWritten);
      case Errc::kDirWriteUnknown:
        Audit(ended, {{"result", "unknown"}, {"reason", std::string(ErrcName(e.code))}});
        m_dlg.SayError(MsgId::kPasswordUnknown);
        m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
        return End(Outcome::kUnknown);
      default:
        Audit(ended, {{"result", "not_written"}, {"reason", std::string(ErrcName(e.code))}});
        m_dlg.SayError(MsgId::kServiceUnavailable);
        m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
        return End(Outcome::kNotWritten);
    }
  }
  Audit(ended, {{"result", "not_written"}, {"reason", "password_tries"}});
  m_dlg.SayError(MsgId::kPasswordTooManyTries);
  m_dlg.Say(MsgId::kPasswordNotWritten);
  End(Outcome::kNotWritten);
}

// passwd / an expired password: a user change (old + new) so AD itself
// checks the old password, history and minimum age. Enter at the current
// password prompt switches to verification + reset ("forgot it?").
void ResetRun::RunChange(bool expired) {
  auto found = m_svc.directory->FindUser(m_caller.account, UserAttrs());
  if (!found) {
    Errc c = found.code();
    if (c == Errc::kDirNoSuchUser) {
      // Not a directory user: leave it to the other modules (pam_unix).
      m_svc.audit->Event("change_not_applicable", {{"account", m_caller.account}});
      return End(Outcome::kNotApplicable);
    }
    m_svc.audit->Admin(LOG_ERR, "directory lookup failed: " + found.error().detail);
    Audit("change_ended", {{"result", "not_written"}, {"reason", std::string(ErrcName(c))}});
    m_dlg.SayError(MsgId::kServiceUnavailable);
    m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
    return End(Outcome::kUnavailable);
  }
  m_dlg.Say(expired ? MsgId::kPasswordExpiredIntro : MsgId::kChangeIntro, {found->sam_account_name});
  auto old = m_dlg.Ask(MsgId::kOldPasswordPrompt, false, wire::kItemOldAuthtok);
  if (!old) return EndCancelled(old.error());
  if (old->empty()) {
    Audit("change_forgot_current", {});
    return StartReset(std::move(found));
  }
  m_user = std::move(found.value());
  auto pol = m_svc.directory->ReadEffectivePolicy(*m_user);
  if (!pol) {
    m_svc.audit->Admin(LOG_ERR, "could not read the password policy for " + m_user->dn + ": " +
                                    pol.error().detail);
    Audit("change_ended", {{"result", "not_written"}, {"reason", "policy_unreadable"}});
    m_dlg.SayError(MsgId::kServiceUnavailable);
    return End(Outcome::kUnavailable);
  }
  m_policy = *pol;
  // Minimum age (a change, not a reset): pwdLastSet is FILETIME; 0 means
  // "must change now", which no minimum age holds back.
  if (m_policy.min_age_s > 0 && m_user->pwd_last_set > 0) {
    std::int64_t set_unix = m_user->pwd_last_set / 10000000LL - 11644473600LL;
    std::int64_t allowed = set_unix + m_policy.min_age_s;
    if (static_cast<std::int64_t>(std::time(nullptr)) < allowed) {
      std::time_t t = static_cast<std::time_t>(allowed);
      char when[40];
      struct tm tm {};
      gmtime_r(&t, &tm);
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
      Audit("change_ended", {{"result", "not_written"}, {"reason", "min_age"}});
      m_dlg.SayError(MsgId::kPolicyTooSoon, {when});
      return End(Outcome::kNotWritten);
    }
  }
  PasswordLoop("change", [&](const Secret& pw) {
    return m_svc.directory->ChangePassword(*m_user, *old, pw);
  }, {{"expired", expired ? "yes" : "no"}});
}
}  // namespace

bool CheckTotpCode(const Services& svc, const std::string& account, store::Enrolment& enrol,
                   std::string_view code) {
  if (!enrol.totp || svc.helper_key == nullptr) return false;
  auto seed = store::OpenSeed(*svc.helper_key, account, enrol.totp->sealed_seed);
  if (!seed) {
    svc.audit->Admin(LOG_ERR, "TOTP seed of " + account + ": " + seed.error().detail);
    return false;
  }
  method::TotpParams params;
  params.digits = enrol.totp->digits;
  params.period = static_cast<int>(enrol.totp->period_s);
  auto verifier = method::TotpVerifier::Create(std::move(*seed), params);
  if (!verifier) return false;
  std::int64_t last = enrol.totp->last_step == 0 ? method::kNoTotpStep
                                                 : static_cast<std::int64_t>(enrol.totp->last_step);
  auto step = verifier->Verify(code, static_cast<std::int64_t>(std::time(nullptr)), last);
  if (!step) return false;
  // Persist the step before saying yes: a code never works twice (RFC 6238 §5.2).
  enrol.totp->last_step = static_cast<std::uint64_t>(*step);
  if (auto st = svc.enrolment->Save(account, enrol); !st) {
    svc.audit->Admin(LOG_ERR, "saving the TOTP step: " + st.error().detail);
    return false;
  }
  return true;
}

bool CheckQuestionAnswers(const store::Enrolment& enrol, const std::vector<std::size_t>& picked,
                          const std::vector<Secret>& answers) {
  bool all = picked.size() == answers.size() && !picked.empty();
  for (std::size_t i = 0; i < picked.size() && i < answers.size(); ++i) {
    if (picked[i] >= enrol.questions.size()) return false;
    std::string norm = store::NormaliseAnswer(answers[i].view());
    // Every answer is checked (no early exit): the same work either way.
    bool ok = store::VerifyAnswer(enrol.questions[picked[i]].answer_hash, norm);
    WipeString(norm);
    all = all && ok;
  }
  return all;
}

std::vector<std::string> NotifyRecipients(const config::Config& cfg, const ad::UserEntry& user) {
  std::vector<std::string> to;
  for (const auto& attr : {cfg.email.attribute, cfg.notify.primary_attribute})
    for (const auto& v : user.Values(attr))
      if (std::find(to.begin(), to.end(), v) == to.end()) to.push_back(v);
  return to;
}

Result<bool> IsAdminAccount(const Services& svc, const ad::UserEntry& user) {
  if (user.admin_count != 0) return true;
  const config::Config& cfg = *svc.cfg;
  std::vector<std::string> groups = cfg.methods.admin_groups;
  if (groups.empty()) {
    std::string head = cfg.directory.ad.base_dn;
    auto pos = head.find("DC=");
    if (pos == std::string::npos) pos = head.find("dc=");
    head = pos == std::string::npos ? head : head.substr(pos);
    for (const char* g : {"CN=Domain Admins,CN=Users,", "CN=Enterprise Admins,CN=Users,",
                          "CN=Schema Admins,CN=Users,", "CN=Administrators,CN=Builtin,",
                          "CN=Account Operators,CN=Builtin,", "CN=Server Operators,CN=Builtin,",
                          "CN=Backup Operators,CN=Builtin,", "CN=Print Operators,CN=Builtin,"})
      groups.push_back(g + head);
  }
  for (const auto& g : groups) {
    auto member = svc.directory->IsMemberOf(user.dn, g);
    if (!member) return Fail(member.error());
    if (*member) return true;
  }
  return false;
}

void ResetRun::Notify() {
  if (m_notify_event.empty() || !m_user || m_svc.notifier == nullptr || !m_cfg.notify.enabled) return;
  method::NotifyFields f{m_user->sam_account_name, m_user->display_name, m_caller.service,
                         m_caller.rhost, m_cfg.flow.helpdesk};
  const std::vector<std::string> to = NotifyRecipients(m_cfg, *m_user);
  if (auto st = m_svc.notifier->Send(m_notify_event, to, f); !st)
    m_svc.audit->Admin(LOG_WARNING, "notification to " + m_user->sam_account_name + " failed: " + st.error().detail);
  else
    Audit("user_notified", {{"event", m_notify_event}, {"recipients", std::to_string(to.size())}});
  if (m_user->admin_count != 0 && !m_cfg.notify.admin_recipients.empty() && m_notify_event == "reset") {
    if (auto st = m_svc.notifier->Send("admin-reset", m_cfg.notify.admin_recipients, f); !st)
      m_svc.audit->Admin(LOG_WARNING, "admin notification failed: " + st.error().detail);
  }
}

void RunReset(const Services& svc, const Caller& caller, Dialogue& dlg) {
  ResetRun run(svc, caller, dlg);
  run.Run();
  run.Notify();  // the user already has the answer; mail goes out after it
}

void RunChange(const Services& svc, const Caller& caller, Dialogue& dlg, bool expired) {
  ResetRun run(svc, caller, dlg);
  run.Change(expired);
  run.Notify();
}

}  // namespace sspr::flow

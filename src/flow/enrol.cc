// Registration of verification methods: at sign-in (account phase) when
// due, or on request (sspr-enroll). See reset.h RunEnrol for the contract.
#include <syslog.h>

#include <algorithm>
#include <ctime>

#include "sspr/flow/reset.h"
#include "sspr/method/otp.h"
#include "sspr/method/totp.h"

namespace sspr::flow {

namespace {

using wire::MsgId;
using wire::Outcome;

std::int64_t NowS() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

bool IsYes(const Secret& s) {
  std::string v = Lower(std::string(s.view()));
  return v == "y" || v == "yes";
}

class EnrolRun {
 public:
  EnrolRun(const Services& svc, const Caller& caller, Dialogue& dlg, bool at_login)
      : m_svc(svc), m_cfg(*svc.cfg), m_caller(caller), m_dlg(dlg), m_at_login(at_login) {}
  void Run();

 private:
  void Audit(std::string_view event, audit::Fields extra = {}) {
    audit::Fields f = {{"account", m_caller.account}, {"uid", std::to_string(m_caller.uid)},
                       {"service", m_caller.service}, {"rhost", m_caller.rhost},
                       {"flow", m_caller.flow_id}};
    f.insert(f.end(), extra.begin(), extra.end());
    m_svc.audit->Event(event, f);
  }
  // At sign-in, trouble is silent and never blocks the login.
  void Unavailable(const std::string& why) {
    m_svc.audit->Admin(LOG_ERR, "registration for " + m_caller.account + ": " + why);
    if (!m_at_login) m_dlg.SayError(MsgId::kEnrolUnavailable);
    (void)m_dlg.Finish(Outcome::kUnavailable);
  }
  const std::vector<std::string>& Values(const std::string& attr) const { return m_user.Values(attr); }
  int Families() const;
  std::vector<std::string> MethodLines() const;
  bool RegisterTotp();
  bool VerifyExisting();
  bool AddContact(store::ContactKind kind);
  bool RegisterQuestions();
  void Save(bool changed);

  const Services& m_svc;
  const config::Config& m_cfg;
  const Caller& m_caller;
  Dialogue& m_dlg;
  bool m_at_login;
  ad::UserEntry m_user;
  store::Enrolment m_enrol;
  bool m_admin = false;
};

// Distinct method families this account can verify with now.
int EnrolRun::Families() const {
  int n = 0;
  auto added = [&](store::ContactKind kind) {
    for (const auto& c : m_enrol.contacts)
      if (c.kind == kind) return true;
    return false;
  };
  bool email = false;
  if (m_cfg.email.enabled)
    for (const auto& v : Values(m_cfg.email.attribute))
      if (method::IsUsableAddress(v)) email = true;
  if (email || (m_cfg.email.enabled && added(store::ContactKind::kEmail))) ++n;
  if (m_cfg.sms.enabled && added(store::ContactKind::kMobile)) {
    bool ad_mobile = false;
    for (const auto& v : Values(m_cfg.sms.mobile_attribute))
      if (method::NormaliseE164(v, m_cfg.sms.default_country)) ad_mobile = true;
    if (!ad_mobile && !(m_cfg.voice.enabled && !Values(m_cfg.voice.mobile_attribute).empty())) ++n;
  }
  auto has_phone = [&](const config::PhoneConfig& pc, const std::string& attr) {
    for (const auto& v : Values(attr))
      if (method::NormaliseE164(v, pc.default_country)) return true;
    return false;
  };
  if ((m_cfg.sms.enabled && has_phone(m_cfg.sms, m_cfg.sms.mobile_attribute)) ||
      (m_cfg.voice.enabled && has_phone(m_cfg.voice, m_cfg.voice.mobile_attribute)))
    ++n;
  if (m_cfg.voice.enabled && has_phone(m_cfg.voice, m_cfg.voice.office_attribute)) ++n;
  if (m_cfg.totp.enabled && m_enrol.totp && m_enrol.totp->confirmed_at != 0) ++n;
  if (m_cfg.questions.enabled && !m_admin &&
      static_cast<int>(m_enrol.questions.size()) >= m_cfg.questions.register_count)
    ++n;
  return n;
}

std::vector<std::string> EnrolRun::MethodLines() const {
  std::vector<std::string> out;
  for (const auto& v : Values(m_cfg.email.attribute))
    if (method::IsUsableAddress(v)) out.push_back("email " + method::MaskAddress(v));
  for (const auto& v : Values(m_cfg.sms.mobile_attribute))
    if (auto n = method::NormaliseE164(v, m_cfg.sms.default_country)) out.push_back("mobile " + method::MaskPhone(*n));
  if (m_enrol.totp) out.push_back("authenticator app");
  if (!m_enrol.questions.empty()) out.push_back(std::to_string(m_enrol.questions.size()) + " security questions");
  return out;
}

void EnrolRun::Run() {
  if (m_svc.enrolment == nullptr) return Unavailable("no registration store configured");
  std::vector<std::string> attrs = {m_cfg.email.attribute, m_cfg.notify.primary_attribute,
                                    m_cfg.sms.mobile_attribute, m_cfg.voice.mobile_attribute,
                                    m_cfg.voice.office_attribute};
  auto found = m_svc.directory->FindUser(m_caller.account, attrs);
  if (!found) {
    if (found.code() == Errc::kDirNoSuchUser) return (void)m_dlg.Finish(Outcome::kNotApplicable);
    return Unavailable(found.error().detail);
  }
  if (found->disabled) return (void)m_dlg.Finish(Outcome::kDone);
  m_user = std::move(found.value());
  auto loaded = m_svc.enrolment->Load(m_user.sam_account_name);
  if (!loaded) return Unavailable(loaded.error().detail);
  if (*loaded) m_enrol = std::move(**loaded);
  auto admin = IsAdminAccount(m_svc, m_user);
  if (!admin) return Unavailable(admin.error().detail);
  m_admin = *admin;

  const int required = m_admin ? 2 : m_cfg.methods.required;
  const bool due_register = Families() < required;
  const std::int64_t now = NowS();
  const std::int64_t last = std::max(m_enrol.last_reconfirmed_at, m_enrol.registered_at);
  const bool due_reconfirm = m_cfg.registration.reconfirm_days > 0 && m_enrol.registered_at != 0 &&
                             last + std::int64_t{m_cfg.registration.reconfirm_days} * 86400 < now;
  if (m_at_login && !due_reconfirm && !(m_cfg.registration.require && due_register))
    return (void)m_dlg.Finish(Outcome::kDone);  // nothing due: not a word

  m_dlg.Say(MsgId::kEnrolIntro, {m_user.sam_account_name});
  if (m_at_login && due_register) {
    int left = m_cfg.registration.skips_allowed - static_cast<int>(m_enrol.skips_used);
    if (left > 0) {
      m_dlg.Say(MsgId::kEnrolDueSkippable, {std::to_string(left)});
      auto a = m_dlg.Ask(MsgId::kEnrolSkipPrompt, true);
      if (!a || !IsYes(*a)) {
        ++m_enrol.skips_used;
        Save(false);
        Audit("registration_skipped", {{"skips_used", std::to_string(m_enrol.skips_used)}});
        m_dlg.Say(MsgId::kEnrolSkipped);
        return (void)m_dlg.Finish(Outcome::kDone);
      }
    } else {
      m_dlg.Say(MsgId::kEnrolDue);
    }
  }

  // An authentication event: the password, proven against the directory.
  auto pw = m_dlg.Ask(MsgId::kCurrentPasswordPrompt, false, wire::kItemUseAuthtok);
  if (!pw || pw->empty()) return (void)m_dlg.Finish(Outcome::kCancelled);
  if (auto st = m_svc.directory->VerifyPassword(m_user.dn, *pw); !st) {
    Audit("registration_refused", {{"reason", std::string(ErrcName(st.code()))}});
    m_dlg.SayError(MsgId::kEnrolPasswordWrong);
    return (void)m_dlg.Finish(m_at_login ? Outcome::kCancelled : Outcome::kNotWritten);
  }
  const bool first = m_enrol.registered_at == 0;
  const auto& svcs = m_cfg.registration.services;
  if (first && std::find(svcs.begin(), svcs.end(), m_caller.service) == svcs.end()) {
    // Not a trusted context: only an admin-issued one-time code will do.
    bool ok = false;
    if (m_svc.codes != nullptr) {
      auto code = m_dlg.Ask(MsgId::kEnrolCodePrompt, true);
      if (code && !code->empty()) {
        bool allowed = true;
        store::Ticket ticket;
        if (m_svc.throttle != nullptr) {
          auto d = m_svc.throttle->BeginVerification(m_user.sam_account_name, "enrolment_code",
                                                     "service:" + m_caller.service);
          allowed = d && d->allowed;
          if (d) ticket = d->ticket;
        }
        auto used = allowed ? m_svc.codes->Consume(m_user.sam_account_name, code->view(), NowS())
                            : Result<bool>(false);
        ok = used && *used;
        if (ok && m_svc.throttle != nullptr && ticket.id != 0) (void)m_svc.throttle->Succeeded(ticket);
      }
    }
    if (!ok) {
      Audit("registration_refused", {{"reason", "service_not_allowed"}});
      m_dlg.SayError(m_svc.codes != nullptr ? MsgId::kEnrolCodeWrong : MsgId::kEnrolNotAllowedHere);
      return (void)m_dlg.Finish(m_at_login ? Outcome::kCancelled : Outcome::kNotWritten);
    }
    Audit("enrolment_code_used");
  }

  bool changed = false;
  if (due_reconfirm && !due_register) {
    m_dlg.Say(MsgId::kReconfirmIntro);
    for (const auto& line : MethodLines()) m_dlg.Say(MsgId::kReconfirmMethod, {line});
    auto a = m_dlg.Ask(MsgId::kReconfirmPrompt, true);
    if (a && IsYes(*a)) {
      m_enrol.last_reconfirmed_at = now;
      Save(false);
      Audit("registration_reconfirmed");
      m_dlg.Say(MsgId::kReconfirmed);
      return (void)m_dlg.Finish(Outcome::kDone);
    }
  }

  for (int round = 0; round < 6; ++round) {
    struct Choice {
      MsgId label;
      int what;  // 1 totp, 2 questions, 0 done
    };
    std::vector<Choice> menu;
    if (m_cfg.totp.enabled && !m_enrol.totp) menu.push_back({MsgId::kEnrolOptionTotp, 1});
    if (m_cfg.questions.enabled && !m_admin &&
        static_cast<int>(m_enrol.questions.size()) < m_cfg.questions.register_count)
      menu.push_back({MsgId::kEnrolOptionQuestions, 2});
    // Contacts the user adds (when AD has none of that kind), proven by a code.
    auto has = [&](store::ContactKind k) {
      for (const auto& c : m_enrol.contacts)
        if (c.kind == k) return true;
      return false;
    };
    bool ad_email = false;
    for (const auto& v : Values(m_cfg.email.attribute))
      if (method::IsUsableAddress(v)) ad_email = true;
    if (m_cfg.email.enabled && !ad_email && !has(store::ContactKind::kEmail))
      menu.push_back({MsgId::kEnrolOptionAddEmail, 5});
    bool ad_mobile = false;
    for (const auto& v : Values(m_cfg.sms.mobile_attribute))
      if (method::NormaliseE164(v, m_cfg.sms.default_country)) ad_mobile = true;
    if (m_cfg.sms.enabled && m_svc.gateway && m_svc.gateway->has_sms() && !ad_mobile &&
        !has(store::ContactKind::kMobile))
      menu.push_back({MsgId::kEnrolOptionAddMobile, 6});
    // Changing what exists needs an existing method (SECURITY.md rule 4);
    // not offered inside a login.
    if (!m_at_login && m_enrol.totp) menu.push_back({MsgId::kEnrolOptionReplaceTotp, 3});
    if (!m_at_login && !m_enrol.questions.empty()) menu.push_back({MsgId::kEnrolOptionRemoveQuestions, 4});
    if (menu.empty()) {
      if (!changed) m_dlg.Say(MsgId::kEnrolNothingToAdd);
      break;
    }
    menu.push_back({MsgId::kEnrolOptionDone, 0});
    for (std::size_t i = 0; i < menu.size(); ++i)
      m_dlg.Say(menu[i].label, {std::to_string(i + 1)});
    auto a = m_dlg.Ask(MsgId::kEnrolChoicePrompt, true, 0, {std::to_string(menu.size())});
    if (!a || a->empty()) break;
    std::string_view v = a->view();
    if (v.size() != 1 || v[0] < '1' || v[0] >= static_cast<char>('1' + menu.size())) continue;
    int what = menu[static_cast<std::size_t>(v[0] - '1')].what;
    if (what == 0) break;
    if (what == 1 && RegisterTotp()) changed = true;
    if (what == 2 && RegisterQuestions()) changed = true;
    if (what == 5 && AddContact(store::ContactKind::kEmail)) changed = true;
    if (what == 6 && AddContact(store::ContactKind::kMobile)) changed = true;
    if (what == 3 || what == 4) {
      if (!VerifyExisting()) {
        Audit("registration_change_refused", {{"reason", "existing_method_not_verified"}});
        m_dlg.SayError(MsgId::kEnrolExistingNotVerified);
        break;
      }
      if (what == 3) {
        auto old = std::move(m_enrol.totp);
        m_enrol.totp.reset();
        if (RegisterTotp()) {
          changed = true;
        } else {
          m_enrol.totp = std::move(old);  // never removed before its replacement is confirmed
        }
      } else {
        m_enrol.questions.clear();
        m_enrol.method_added_at.erase("questions");
        Audit("method_removed", {{"method", "questions"}});
        changed = true;
      }
    }
  }
  if (changed) Save(true);
  const bool still_due = Families() < required;
  if (m_at_login && m_cfg.registration.require && still_due &&
      static_cast<int>(m_enrol.skips_used) >= m_cfg.registration.skips_allowed) {
    Audit("registration_incomplete", {{"required", std::to_string(required)}});
    m_dlg.SayError(MsgId::kNotEnoughMethods, {std::to_string(required)});
    m_dlg.Say(MsgId::kHelpdesk, {m_cfg.flow.helpdesk});
    return (void)m_dlg.Finish(Outcome::kNotWritten);
  }
  (void)m_dlg.Finish(Outcome::kDone);
}

// Prove an existing registered method: the app's current code if there is
// one, else the security questions. Counted by the throttle like a reset.
bool EnrolRun::VerifyExisting() {
  store::Ticket ticket;
  if (m_svc.throttle != nullptr) {
    auto d = m_svc.throttle->BeginVerification(m_user.sam_account_name, "registration_change",
                                               "service:" + m_caller.service);
    if (!d || !d->allowed) return false;
    ticket = d->ticket;
  }
  bool ok = false;
  if (m_enrol.totp) {
    auto code = m_dlg.Ask(MsgId::kTotpPrompt, true);
    ok = code && !code->empty() && CheckTotpCode(m_svc, m_user.sam_account_name, m_enrol, code->view());
  } else if (!m_enrol.questions.empty()) {
    std::vector<std::size_t> picked;
    std::vector<Secret> answers;
    std::size_t n = std::min<std::size_t>(m_enrol.questions.size(),
                                          static_cast<std::size_t>(m_cfg.questions.ask_count));
    for (std::size_t i = 0; i < n; ++i) {
      auto a = m_dlg.Ask(MsgId::kQuestionPrompt, false, 0, {m_enrol.questions[i].custom_text});
      if (!a) return false;
      picked.push_back(i);
      answers.push_back(std::move(*a));
    }
    ok = CheckQuestionAnswers(m_enrol, picked, answers);
  }
  if (ok && m_svc.throttle != nullptr && ticket.id != 0) (void)m_svc.throttle->Succeeded(ticket);
  return ok;
}

// A contact the user adds is proven like any destination: a code sent to
// it must come back through this dialogue (SECURITY.md rule 2).
bool EnrolRun::AddContact(store::ContactKind kind) {
  const bool email = kind == store::ContactKind::kEmail;
  auto value = m_dlg.Ask(email ? MsgId::kContactEmailPrompt : MsgId::kContactMobilePrompt, true);
  if (!value || value->empty()) return false;
  std::string dest(value->view());
  std::string masked;
  if (email) {
    if (!method::IsUsableAddress(dest)) {
      m_dlg.SayError(MsgId::kContactInvalid);
      return false;
    }
    masked = method::MaskAddress(dest);
  } else {
    auto e164 = method::NormaliseE164(dest, m_cfg.sms.default_country);
    if (!e164) {
      m_dlg.SayError(MsgId::kContactInvalid);
      return false;
    }
    dest = *e164;
    masked = method::MaskPhone(dest);
  }
  if (m_svc.throttle != nullptr) {
    auto d = m_svc.throttle->BeginSend(m_user.sam_account_name, (email ? "email:" : "sms:") + dest, !email);
    if (!d || !d->allowed) {
      m_dlg.SayError(MsgId::kSendFailed);
      return false;
    }
  }
  Secret code = method::GenerateNumericCode(m_cfg.flow.code_length);
  Status sent;
  if (email) {
    std::string body = "Someone (hopefully you) is adding this address to the password reset "
                       "methods of the account " + m_user.sam_account_name +
                       ".\n\nYour verification code is: ";
    body.append(code.view());
    body += "\n";
    sent = m_svc.mailer->Send(dest, m_cfg.email.subject, Secret::Take(body));
  } else {
    std::string text = "Your password reset code is ";
    text.append(code.view());
    sent = m_svc.gateway->SendSms(dest, Secret::Take(text), code);
  }
  if (!sent) {
    m_svc.audit->Admin(LOG_ERR, "contact verification send: " + sent.error().detail);
    m_dlg.SayError(MsgId::kSendFailed);
    return false;
  }
  m_dlg.Say(email ? MsgId::kCodeSentEmail : MsgId::kCodeSentSms,
            {masked, std::to_string(std::max(1, m_cfg.flow.code_lifetime_s / 60))});
  method::OneTimeCode otp(std::move(code), "contact", NowS() * 1000 + m_cfg.flow.code_lifetime_s * 1000LL,
                          m_cfg.flow.code_tries);
  for (;;) {
    auto answer = m_dlg.Ask(MsgId::kCodePrompt, true);
    if (!answer || answer->empty()) return false;
    auto r = otp.Verify(answer->view(), "contact", NowS() * 1000);
    if (r == method::CodeCheck::kOk) break;
    if (r != method::CodeCheck::kWrong) {
      m_dlg.SayError(MsgId::kTooManyTries);
      return false;
    }
    m_dlg.SayError(MsgId::kCodeWrong, {std::to_string(otp.tries_left())});
  }
  store::ContactMethod c;
  c.kind = kind;
  c.value = dest;
  c.added_at = NowS();
  m_enrol.contacts.push_back(std::move(c));
  m_enrol.method_added_at[email ? "contact_email" : "contact_mobile"] = NowS();
  Audit("method_registered", {{"method", email ? "contact_email" : "contact_mobile"}, {"destination", masked}});
  m_dlg.Say(MsgId::kContactAdded, {masked});
  return true;
}

bool EnrolRun::RegisterTotp() {
  if (m_svc.helper_key == nullptr) return false;
  Secret seed = method::NewTotpSeed();
  auto uri = method::OtpauthUri(m_cfg.totp.issuer, m_user.sam_account_name, seed);
  if (!uri) return false;
  auto qr = method::RenderQrUtf8(uri->view());
  if (qr) {
    // Several QR lines per item, each item within the wire's parameter cap.
    std::string chunk;
    std::string_view all = qr->view();
    std::size_t pos = 0;
    while (pos < all.size()) {
      std::size_t nl = all.find('\n', pos);
      if (nl == std::string_view::npos) nl = all.size();
      std::string_view line = all.substr(pos, nl - pos);
      if (!chunk.empty() && chunk.size() + line.size() + 1 > wire::kMaxParam) {
        m_dlg.Say(MsgId::kQrLines, {chunk});
        WipeString(chunk);
      }
      if (!chunk.empty()) chunk += '\n';
      chunk.append(line);
      pos = nl + 1;
    }
    if (!chunk.empty()) m_dlg.Say(MsgId::kQrLines, {chunk});
    WipeString(chunk);
    if (!m_dlg.Flush()) return false;
  }
  m_dlg.Say(MsgId::kTotpUri, {std::string(uri->view())});
  auto verifier = method::TotpVerifier::Create(seed.Clone());
  if (!verifier) return false;
  for (int tries = 0; tries < 3; ++tries) {
    auto code = m_dlg.Ask(MsgId::kTotpConfirmPrompt, true);
    if (!code || code->empty()) return false;
    auto step = verifier->Verify(code->view(), NowS(), method::kNoTotpStep);
    if (!step) {
      m_dlg.SayError(MsgId::kTotpWrong);
      continue;
    }
    auto sealed = store::SealSeed(*m_svc.helper_key, m_user.sam_account_name, seed);
    if (!sealed) return false;
    store::TotpEnrolment t;
    t.sealed_seed = std::move(*sealed);
    t.last_step = static_cast<std::uint64_t>(*step);
    t.confirmed_at = NowS();
    m_enrol.totp = std::move(t);
    m_enrol.method_added_at["totp"] = NowS();
    Audit("method_registered", {{"method", "totp"}});
    m_dlg.Say(MsgId::kTotpConfirmed);
    return true;
  }
  return false;
}

bool EnrolRun::RegisterQuestions() {
  const auto& qs = m_cfg.questions;
  std::vector<std::string> chosen;
  for (const auto& q : m_enrol.questions) chosen.push_back(q.custom_text);
  int added = 0;
  for (int guard = 0; guard < 12 && static_cast<int>(m_enrol.questions.size()) < qs.register_count; ++guard) {
    std::vector<std::string> offer;
    for (const auto& q : qs.predefined)
      if (std::find(chosen.begin(), chosen.end(), q) == chosen.end()) offer.push_back(q);
    if (offer.empty()) break;
    for (std::size_t i = 0; i < offer.size() && i < 9; ++i)
      m_dlg.Say(MsgId::kQuestionChoose, {std::to_string(i + 1), offer[i]});
    std::size_t n = std::min<std::size_t>(offer.size(), 9);
    auto pick = m_dlg.Ask(MsgId::kQuestionChoicePrompt, true, 0, {std::to_string(n)});
    if (!pick || pick->empty()) break;
    std::string_view v = pick->view();
    if (v.size() != 1 || v[0] < '1' || v[0] >= static_cast<char>('1' + n)) continue;
    const std::string question = offer[static_cast<std::size_t>(v[0] - '1')];
    m_dlg.Say(MsgId::kQuestionPrompt, {question});
    auto answer = m_dlg.Ask(MsgId::kAnswerPrompt, false);
    if (!answer) break;
    std::string norm = store::NormaliseAnswer(answer->view());
    std::string qnorm = store::NormaliseAnswer(question);
    if (!qnorm.empty() && qnorm.back() == '?') qnorm.pop_back();
    if (static_cast<int>(norm.size()) < qs.min_answer_length) {
      m_dlg.SayError(MsgId::kAnswerTooShort, {std::to_string(qs.min_answer_length)});
      WipeString(norm);
      continue;
    }
    // "An answer may not contain its question" -- nor be a word of it.
    if (norm.find(qnorm) != std::string::npos || qnorm.find(norm) != std::string::npos) {
      m_dlg.SayError(MsgId::kAnswerContainsQuestion);
      WipeString(norm);
      continue;
    }
    auto again = m_dlg.Ask(MsgId::kAnswerConfirmPrompt, false);
    if (!again) break;
    std::string norm2 = store::NormaliseAnswer(again->view());
    bool same = Secret(norm.data(), norm.size()).Equals(std::string_view(norm2));
    WipeString(norm2);
    if (!same) {
      m_dlg.SayError(MsgId::kAnswersDiffer);
      WipeString(norm);
      continue;
    }
    auto hash = store::HashAnswer(norm);
    WipeString(norm);
    if (!hash) break;
    store::SecurityQuestion sq;
    sq.custom_text = question;
    sq.answer_hash = std::move(*hash);
    sq.registered_at = NowS();
    m_enrol.questions.push_back(std::move(sq));
    chosen.push_back(question);
    ++added;
  }
  if (added == 0 || static_cast<int>(m_enrol.questions.size()) < qs.register_count) return added > 0;
  m_enrol.method_added_at["questions"] = NowS();
  Audit("method_registered", {{"method", "questions"}, {"count", std::to_string(m_enrol.questions.size())}});
  m_dlg.Say(MsgId::kQuestionsSaved);
  return true;
}

void EnrolRun::Save(bool changed) {
  if (changed) {
    if (m_enrol.registered_at == 0) m_enrol.registered_at = NowS();
    m_enrol.last_reconfirmed_at = NowS();
  }
  if (auto st = m_svc.enrolment->Save(m_user.sam_account_name, m_enrol); !st) {
    m_svc.audit->Admin(LOG_ERR, "saving the registration of " + m_user.sam_account_name + ": " +
                                    st.error().detail);
    return;
  }
  if (!changed || m_svc.notifier == nullptr || !m_cfg.notify.enabled) return;
  method::NotifyFields f{m_user.sam_account_name, m_user.display_name, m_caller.service,
                         m_caller.rhost, m_cfg.flow.helpdesk};
  if (auto st = m_svc.notifier->Send("registration", NotifyRecipients(m_cfg, m_user), f); !st)
    m_svc.audit->Admin(LOG_WARNING, "registration notice failed: " + st.error().detail);
}

}  // namespace

void RunEnrol(const Services& svc, const Caller& caller, Dialogue& dlg, bool at_login) {
  EnrolRun run(svc, caller, dlg, at_login);
  run.Run();
}

}  // namespace sspr::flow

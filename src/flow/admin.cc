// sspr-admin operations, run inside ssprd for root callers (see reset.h).
#include <syslog.h>

#include <ctime>

#include "sspr/flow/reset.h"

namespace sspr::flow {

namespace {

using wire::MsgId;
using wire::Outcome;

std::string When(std::int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[40];
  struct tm tm {};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

void RunAdmin(const Services& svc, const Caller& caller, Dialogue& dlg, std::uint8_t op) {
  const config::Config& cfg = *svc.cfg;
  auto audit = [&](std::string_view event, audit::Fields extra) {
    audit::Fields f = {{"account", caller.account}, {"uid", std::to_string(caller.uid)}};
    f.insert(f.end(), extra.begin(), extra.end());
    svc.audit->Event(event, f);
  };
  auto found = svc.directory->FindUser(caller.account, {cfg.email.attribute, cfg.notify.primary_attribute,
                                                        cfg.sms.mobile_attribute, cfg.voice.office_attribute});
  if (!found) {
    if (found.code() == Errc::kDirNoSuchUser) dlg.SayError(MsgId::kAdminNoSuchUser, {caller.account});
    else dlg.SayError(MsgId::kAdminLine, {"directory", found.error().detail});
    (void)dlg.Finish(Outcome::kNotWritten);
    return;
  }
  const std::string sam = found->sam_account_name;
  std::optional<store::Enrolment> enrol;
  if (svc.enrolment != nullptr) {
    auto loaded = svc.enrolment->Load(sam);
    if (!loaded) {
      dlg.SayError(MsgId::kAdminLine, {"registration store", loaded.error().detail});
      (void)dlg.Finish(Outcome::kNotWritten);
      return;
    }
    enrol = std::move(*loaded);
  }

  if (op == wire::kStartFlagAdminStatus) {
    auto first = [&](const std::string& attr) {
      const auto& v = found->Values(attr);
      return v.empty() ? std::string() : v.front();
    };
    dlg.Say(MsgId::kAdminLine, {"account", sam + " (" + found->dn + ")"});
    dlg.Say(MsgId::kAdminLine, {"disabled", found->disabled ? "yes" : "no"});
    dlg.Say(MsgId::kAdminLine, {"locked", found->lockout_time != 0 ? "yes" : "no"});
    std::string mail = first(cfg.email.attribute);
    dlg.Say(MsgId::kAdminLine, {"alternate email (AD)", mail.empty() ? "none" : method::MaskAddress(mail)});
    std::string mobile = first(cfg.sms.mobile_attribute);
    auto e164 = method::NormaliseE164(mobile, cfg.sms.default_country);
    dlg.Say(MsgId::kAdminLine, {"mobile (AD)", e164 ? method::MaskPhone(*e164) : "none"});
    dlg.Say(MsgId::kAdminLine, {"authenticator app",
                                enrol && enrol->totp ? "registered " + When(enrol->totp->confirmed_at) : "none"});
    dlg.Say(MsgId::kAdminLine, {"security questions", std::to_string(enrol ? enrol->questions.size() : 0)});
    dlg.Say(MsgId::kAdminLine, {"registered", When(enrol ? enrol->registered_at : 0)});
    (void)dlg.Flush();
    dlg.Say(MsgId::kAdminLine, {"last reconfirmed", When(enrol ? enrol->last_reconfirmed_at : 0)});
    dlg.Say(MsgId::kAdminLine, {"registration skips used", std::to_string(enrol ? enrol->skips_used : 0)});
    if (svc.throttle != nullptr) {
      auto st = svc.throttle->IsBlocked(sam);
      if (st)
        dlg.Say(MsgId::kAdminLine, {"reset blocked", st->blocked ? "yes, until " + When(st->blocked_until) +
                                                                       " (" + std::to_string(st->failures) + " failures)"
                                                                 : "no (" + std::to_string(st->failures) + " failures in the window)"});
    }
    audit("admin_status", {});
    (void)dlg.Finish(Outcome::kDone);
    return;
  }
  if (op == wire::kStartFlagAdminCode) {
    if (svc.codes == nullptr) {
      (void)dlg.Finish(Outcome::kUnavailable);
      return;
    }
    auto code = svc.codes->Issue(sam, 24 * 3600, static_cast<std::int64_t>(std::time(nullptr)));
    if (!code) {
      dlg.SayError(MsgId::kAdminLine, {"enrolment code", code.error().detail});
      (void)dlg.Finish(Outcome::kNotWritten);
      return;
    }
    // Shown once, to the admin; only its hash is kept.
    dlg.Say(MsgId::kAdminCodeIssued, {std::string(code->view()), "24"});
    audit("admin_enrolment_code_issued", {});
    (void)dlg.Finish(Outcome::kDone);
    return;
  }
  if (op == wire::kStartFlagAdminClear) {
    if (svc.enrolment == nullptr || !svc.enrolment->Remove(sam)) {
      dlg.SayError(MsgId::kAdminLine, {"registration store", "could not clear"});
      (void)dlg.Finish(Outcome::kNotWritten);
      return;
    }
    if (svc.codes != nullptr) (void)svc.codes->Revoke(sam);
    audit("admin_registration_cleared", {});
    if (svc.notifier != nullptr && cfg.notify.enabled) {
      method::NotifyFields f{sam, found->display_name, "sspr-admin", "", cfg.flow.helpdesk};
      if (auto st = svc.notifier->Send("registration", NotifyRecipients(cfg, *found), f); !st)
        svc.audit->Admin(LOG_WARNING, "clear notice: " + st.error().detail);
    }
    dlg.Say(MsgId::kAdminCleared, {sam});
    (void)dlg.Finish(Outcome::kDone);
    return;
  }
  if (op == wire::kStartFlagAdminUnblock && svc.throttle != nullptr) {
    if (auto st = svc.throttle->Clear(sam); !st) {
      dlg.SayError(MsgId::kAdminLine, {"throttle store", st.error().detail});
      (void)dlg.Finish(Outcome::kNotWritten);
      return;
    }
    audit("admin_unblocked", {});
    dlg.Say(MsgId::kAdminUnblocked, {sam});
    (void)dlg.Finish(Outcome::kDone);
    return;
  }
  (void)dlg.Finish(Outcome::kUnavailable);
}

}  // namespace sspr::flow

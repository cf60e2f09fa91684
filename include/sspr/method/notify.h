// Notifications: after every reset, unlock and change, the user is told by
// mail at the alternate and the primary address; optionally admins are told
// when a privileged account resets. Templates are plain-text files
// (conf/templates/<lang>/<event>.txt, first line "Subject: ..."), with
// {account} {display_name} {time} {service} {from_host} {helpdesk}
// placeholders. A template never receives a secret: the fields it can use
// are exactly those of NotifyFields.
#pragma once

#include <string>
#include <vector>

#include "sspr/method/email.h"
#include "sspr/util/result.h"

namespace sspr::method {

struct NotifyFields {
  std::string account, display_name, service, rhost, helpdesk;
};

// Fill a template; unknown placeholders are left as they are. Values are
// stripped of control characters (they come from the directory and from
// client claims).
std::string FillTemplate(const std::string& tmpl, const NotifyFields& f, const std::string& time);

class Notifier {
 public:
  Notifier(const Mailer* mailer, std::string template_dir, std::string lang)
      : m_mailer(mailer), m_dir(std::move(template_dir)), m_lang(std::move(lang)) {}
  // Send `event` ("reset", "unlock", "change", "admin-reset") to each usable
  // address. Returns the first failure (the caller logs it); a missing
  // template is an error naming the file.
  Status Send(const std::string& event, const std::vector<std::string>& to,
              const NotifyFields& fields) const;

 private:
  const Mailer* m_mailer;
  std::string m_dir;
  std::string m_lang;
};

}  // namespace sspr::method

// The alternate-email method: destination masking and delivery over SMTP
// with libcurl (SMTPS, or STARTTLS required; plain SMTP only to loopback).
#pragma once

#include <string>
#include <string_view>

#include "sspr/config/config.h"
#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::method {

// A plausible address? One '@', non-empty local part and a dotted domain,
// no spaces/control characters/angle brackets/CR/LF (header injection).
bool IsUsableAddress(std::string_view addr);

// "alice.alt@example.org" -> "a•••@e•••.org": the first character of the
// local part and of the domain, and the top-level domain. Showing less than
// the full domain keeps the face of unknown accounts indistinguishable.
std::string MaskAddress(std::string_view addr);

// A stable fake masked address for an account that gets no mail, derived
// from a keyed hash of the account name (same account, same fake).
std::string FakeMaskedAddress(std::string_view account, const unsigned char key[32]);

class Mailer {
 public:
  // Reads the SMTP password file (if configured) now, so a bad file is a
  // startup error, not a failure at the user's prompt.
  static Result<Mailer> Create(const config::EmailConfig& cfg);
  // Send a plain-text mail. The body may hold a code: it is wiped after
  // sending and never logged. Errors carry curl's reason for the admin log.
  Status Send(const std::string& to, const std::string& subject, Secret body) const;
  // Connect, greet and (for starttls/smtps) complete TLS with the
  // configured verification, then hang up; sends nothing. For admin checks.
  Status Probe() const;

 private:
  config::EmailConfig m_cfg;
  std::string m_password;  // SMTP auth secret (curl needs a C string); wiped at exit
 public:
  Mailer(Mailer&&) noexcept = default;
  Mailer& operator=(Mailer&&) noexcept = default;
  ~Mailer();
 private:
  Mailer() = default;
};

}  // namespace sspr::method

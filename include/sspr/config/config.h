// ssprd's configuration: /etc/sspr/sspr.conf (path overridable).
//
// Format: INI. `[section]` headers, `key = value` lines, `#` or `;` starts a
// comment line, surrounding spaces are trimmed, values may be "quoted".
// Unknown sections and keys are errors, so are duplicates and values out
// of their allowed range. Every error reads
//   FILE:LINE: [section] key: what is wrong; allowed: …; given: …
// and all of them are reported, not only the first. conf/sspr.conf.example
// documents every key with its default; tests keep the two in step.
#pragma once

#include <string>
#include <vector>

#include "sspr/ad/client.h"
#include "sspr/method/gateway.h"
#include "sspr/util/result.h"

namespace sspr::config {

struct HelperConfig {
  std::string socket_path = "/run/sspr/ssprd.sock";
  int max_clients = 64;
  int answer_timeout_s = 300;   // the user has this long to answer one prompt
  std::string audit_log;        // empty: syslog only
  std::string state_dir = "/var/lib/sspr";
};

struct DirectoryConfig {
  std::string type = "ad";  // ad | openldap
  ad::DirectoryConfig ad;
  std::string login_attribute = "uid";  // openldap: attribute matched against the account
  std::string default_policy_dn;        // openldap: the ppolicy default policy entry
  std::string bind_password_file = "/etc/sspr/bind.secret";
};

struct EmailConfig {
  bool enabled = true;
  std::string attribute = "otherMailbox";
  std::string smtp_url = "smtp://localhost:25";
  std::string smtp_tls = "starttls";  // starttls | smtps | none (loopback only)
  std::string smtp_ca_file;            // empty: system store
  std::string smtp_user;
  std::string smtp_password_file;
  std::string from = "sspr@localhost";
  std::string subject = "Your password reset code";
  int timeout_s = 20;
};

struct FlowConfig {
  int code_length = 8;
  int code_lifetime_s = 300;
  int code_tries = 5;
  int flow_lifetime_s = 900;
  int password_tries = 3;
  std::string helpdesk = "If you need help, contact your IT help desk.";
  int min_response_ms = 400;  // floor on failure replies (same timing for all accounts)
};

struct PolicyConfig {
  std::string scope = "all";               // all | selected | none
  std::vector<std::string> scope_groups;   // group DNs (nested membership counts)
  bool allow_protected_accounts = false;   // adminCount=1 accounts may reset
  bool unlock = false;                     // offer "unlock only" to locked-out users
  bool must_change_after_reset = false;    // pwdLastSet = 0 with the reset
  std::string history_on_reset = "refuse"; // refuse | proceed (DC without policy hints)
  std::string banned_list;                 // file of banned words; empty: none
};

// One phone channel ([sms] or [voice]): which AD attributes hold numbers,
// how to reach the gateway, what to say.
struct PhoneConfig {
  bool enabled = false;
  std::string mobile_attribute = "mobile";
  std::string office_attribute = "telephoneNumber";  // [voice] only
  std::string default_country;  // digits for national numbers ("44"); empty: refuse them
  std::string message;          // text / words; {code} and {code_spaced} are filled
  method::GatewayConfig gateway;
};

struct MethodsConfig {
  int required = 1;                       // methods needed at reset (1 or 2)
  std::vector<std::string> admin_groups;  // empty: AD's privileged groups
};

struct RegistrationConfig {
  bool require = false;           // walk users through registration at sign-in
  int reconfirm_days = 0;         // ask to reconfirm after this many days (0 = never)
  int skips_allowed = 3;          // times a user may postpone registration
  std::vector<std::string> services = {"login", "sshd", "gdm-password", "su", "su-l", "sspr-enroll"};
  int cooldown_hours = 24;        // a newly added method may reset only after this
};

struct TotpConfig {
  bool enabled = false;
  std::string issuer = "sspr";
};

struct QuestionsConfig {
  bool enabled = false;
  int register_count = 3;
  int ask_count = 3;
  int min_answer_length = 3;
  std::vector<std::string> predefined = {
      "In what city were you born?", "What was the name of your first pet?",
      "What was the name of your first school?", "What was your childhood nickname?",
      "What is the name of the street you grew up on?", "What was the make of your first car?"};
  // The organisation's own questions ([questions] custom), appended to
  // `predefined` when the configuration is loaded.
  std::vector<std::string> custom;
};

struct ThrottleLimits {
  int failures = 5;            // failed verifications per account in the window
  int window_s = 86400;
  int block_s = 86400;
  int source_failures = 20;    // per rhost / tty claim
  int sends_per_minute = 1;    // per account and per destination
  int sends_per_day = 10;
  int paid_budget_per_day = 200;  // SMS + calls, all accounts (toll fraud)
};

struct StoreConfig {
  std::string backend = "lmdb";            // lmdb | directory
  std::string attribute = "ssprEnrolment"; // directory backend
};

struct NotifyConfig {
  bool enabled = true;                      // mail the user after reset/unlock/change
  std::string primary_attribute = "mail";   // besides [email] attribute (the alternate)
  std::string template_dir = "/etc/sspr/templates";
  std::string language = "en";
  std::vector<std::string> admin_recipients;  // told when a privileged account resets
};

struct Config {
  std::string path;
  HelperConfig helper;
  DirectoryConfig directory;
  EmailConfig email;
  FlowConfig flow;
  PolicyConfig policy;
  NotifyConfig notify;
  PhoneConfig sms{false, "mobile", "telephoneNumber", "",
                  "Your password reset code is {code}. Never share it.", {}};
  PhoneConfig voice{false, "mobile", "telephoneNumber", "",
                    "Your password reset code is {code_spaced}. Again: {code_spaced}.", {}};
  MethodsConfig methods;
  RegistrationConfig registration;
  TotpConfig totp;
  QuestionsConfig questions;
  StoreConfig store;
  ThrottleLimits throttle;
};

// Parse `path`. On failure the Error's detail holds every problem found,
// one per line, in the format above.
Result<Config> Load(const std::string& path);
// Parse text as if read from `name` (for tests and fuzzing).
Result<Config> Parse(const std::string& text, const std::string& name);

}  // namespace sspr::config

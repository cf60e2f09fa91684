// Hand-written rather than libinih: inih's handler is not given the line
// number unless the library is built with INI_HANDLER_LINENO (Debian's is
// not), and every error here must name file:line. The format is small.
#include "sspr/config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace sspr::config {

namespace {

enum class Kind { kString, kInt, kBool, kPath, kUriList, kChoice, kDnList };

// "CN=a,DC=x; CN=b,DC=x" -> {"CN=a,DC=x", "CN=b,DC=x"}: DNs hold commas, so
// the list separator is ';'.
std::vector<std::string> SplitDns(const std::string& v) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t semi = v.find(';', pos);
    if (semi == std::string::npos) semi = v.size();
    auto b = v.find_first_not_of(" \t", pos);
    if (b != std::string::npos && b < semi) {
      auto e = v.find_last_not_of(" \t", semi - 1);
      out.push_back(v.substr(b, e - b + 1));
    }
    pos = semi + 1;
  }
  return out;
}

struct Key {
  const char* section;
  const char* name;
  Kind kind;
  long min = 0, max = 0;             // kInt bounds
  const char* choices = nullptr;     // kChoice, '|'-separated
  bool required = false;
  std::function<void(Config&, const std::string&, long)> set;
};

std::string Trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

const std::vector<Key>& Schema() {
  static const std::vector<Key> keys = {
      {"helper", "socket", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.helper.socket_path = v; }},
      {"helper", "max_clients", Kind::kInt, 1, 4096, nullptr, false,
       [](Config& c, const std::string&, long n) { c.helper.max_clients = static_cast<int>(n); }},
      {"helper", "answer_timeout", Kind::kInt, 10, 3600, nullptr, false,
       [](Config& c, const std::string&, long n) { c.helper.answer_timeout_s = static_cast<int>(n); }},
      {"helper", "audit_log", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.helper.audit_log = v; }},
      {"helper", "state_dir", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.helper.state_dir = v; }},

      {"directory", "type", Kind::kChoice, 0, 0, "ad|openldap", false,
       [](Config& c, const std::string& v, long) { c.directory.type = v; }},
      {"directory", "login_attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.directory.login_attribute = v; }},
      {"directory", "default_policy_dn", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.directory.default_policy_dn = v; }},
      {"directory", "srv_domain", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.directory.ad.srv_domain = v; }},
      {"directory", "uri", Kind::kUriList, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) {
         std::istringstream in(v);
         c.directory.ad.uris.clear();
         for (std::string u; in >> u;) c.directory.ad.uris.push_back(u);
       }},
      {"directory", "ca_file", Kind::kPath, 0, 0, nullptr, true,
       [](Config& c, const std::string& v, long) { c.directory.ad.ca_file = v; }},
      {"directory", "bind_dn", Kind::kString, 0, 0, nullptr, true,
       [](Config& c, const std::string& v, long) { c.directory.ad.bind_dn = v; }},
      {"directory", "bind_password_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.directory.bind_password_file = v; }},
      {"directory", "base_dn", Kind::kString, 0, 0, nullptr, true,
       [](Config& c, const std::string& v, long) { c.directory.ad.base_dn = v; }},
      {"directory", "timeout", Kind::kInt, 1, 120, nullptr, false,
       [](Config& c, const std::string&, long n) { c.directory.ad.timeout_ms = static_cast<int>(n * 1000); }},

      {"email", "enabled", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.email.enabled = n != 0; }},
      {"email", "attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.attribute = v; }},
      {"email", "smtp_url", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.smtp_url = v; }},
      {"email", "smtp_tls", Kind::kChoice, 0, 0, "starttls|smtps|none", false,
       [](Config& c, const std::string& v, long) { c.email.smtp_tls = v; }},
      {"email", "smtp_ca_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.smtp_ca_file = v; }},
      {"email", "smtp_user", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.smtp_user = v; }},
      {"email", "smtp_password_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.smtp_password_file = v; }},
      {"email", "from", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.from = v; }},
      {"email", "subject", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.email.subject = v; }},
      {"email", "timeout", Kind::kInt, 1, 120, nullptr, false,
       [](Config& c, const std::string&, long n) { c.email.timeout_s = static_cast<int>(n); }},

      {"flow", "code_length", Kind::kInt, 6, 10, nullptr, false,
       [](Config& c, const std::string&, long n) { c.flow.code_length = static_cast<int>(n); }},
      {"flow", "code_lifetime", Kind::kInt, 60, 900, nullptr, false,
       [](Config& c, const std::string&, long n) { c.flow.code_lifetime_s = static_cast<int>(n); }},
      {"flow", "code_tries", Kind::kInt, 1, 10, nullptr, false,
       [](Config& c, const std::string&, long n) { c.flow.code_tries = static_cast<int>(n); }},
      {"flow", "flow_lifetime", Kind::kInt, 60, 3600, nullptr, false,
       [](Config& c, const std::string&, long n) { c.flow.flow_lifetime_s = static_cast<int>(n); }},
      {"flow", "password_tries", Kind::kInt, 1, 10, nullptr, false,
       [](Config& c, const std::string&, long n) { c.flow.password_tries = static_cast<int>(n); }},
      {"flow", "helpdesk", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.flow.helpdesk = v; }},
      {"policy", "scope", Kind::kChoice, 0, 0, "all|selected|none", false,
       [](Config& c, const std::string& v, long) { c.policy.scope = v; }},
      {"policy", "scope_groups", Kind::kDnList, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.policy.scope_groups = SplitDns(v); }},
      {"policy", "allow_protected_accounts", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.policy.allow_protected_accounts = n != 0; }},
      {"policy", "unlock", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.policy.unlock = n != 0; }},
      {"policy", "must_change_after_reset", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.policy.must_change_after_reset = n != 0; }},
      {"policy", "history_on_reset", Kind::kChoice, 0, 0, "refuse|proceed", false,
       [](Config& c, const std::string& v, long) { c.policy.history_on_reset = v; }},
      {"policy", "banned_list", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.policy.banned_list = v; }},

      {"sms", "enabled", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.sms.enabled = n != 0; }},
      {"sms", "mobile_attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.mobile_attribute = v; }},
      {"sms", "default_country", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.default_country = v; }},
      {"sms", "message", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.message = v; }},
      {"sms", "url", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.url = v; }},
      {"sms", "http_method", Kind::kChoice, 0, 0, "POST|PUT", false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.method = v; }},
      {"sms", "auth", Kind::kChoice, 0, 0, "none|basic|bearer", false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.auth = v; }},
      {"sms", "user", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.user = v; }},
      {"sms", "secret_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.secret_file = v; }},
      {"sms", "content_type", Kind::kChoice, 0, 0, "form|json", false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.content_type = v; }},
      {"sms", "body_template", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.body_template = v; }},
      {"sms", "from", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.from = v; }},
      {"sms", "ca_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.sms.gateway.ca_file = v; }},
      {"sms", "timeout", Kind::kInt, 1, 120, nullptr, false,
       [](Config& c, const std::string&, long n) { c.sms.gateway.timeout_s = static_cast<int>(n); }},
      {"voice", "enabled", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.voice.enabled = n != 0; }},
      {"voice", "mobile_attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.mobile_attribute = v; }},
      {"voice", "default_country", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.default_country = v; }},
      {"voice", "message", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.message = v; }},
      {"voice", "url", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.url = v; }},
      {"voice", "http_method", Kind::kChoice, 0, 0, "POST|PUT", false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.method = v; }},
      {"voice", "auth", Kind::kChoice, 0, 0, "none|basic|bearer", false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.auth = v; }},
      {"voice", "user", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.user = v; }},
      {"voice", "secret_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.secret_file = v; }},
      {"voice", "content_type", Kind::kChoice, 0, 0, "form|json", false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.content_type = v; }},
      {"voice", "body_template", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.body_template = v; }},
      {"voice", "from", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.from = v; }},
      {"voice", "ca_file", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.gateway.ca_file = v; }},
      {"voice", "timeout", Kind::kInt, 1, 120, nullptr, false,
       [](Config& c, const std::string&, long n) { c.voice.gateway.timeout_s = static_cast<int>(n); }},
      {"voice", "office_attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.voice.office_attribute = v; }},
      {"methods", "required", Kind::kInt, 1, 2, nullptr, false,
       [](Config& c, const std::string&, long n) { c.methods.required = static_cast<int>(n); }},
      {"methods", "admin_groups", Kind::kDnList, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.methods.admin_groups = SplitDns(v); }},

      {"registration", "require", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.registration.require = n != 0; }},
      {"registration", "reconfirm_days", Kind::kInt, 0, 730, nullptr, false,
       [](Config& c, const std::string&, long n) { c.registration.reconfirm_days = static_cast<int>(n); }},
      {"registration", "skips_allowed", Kind::kInt, 0, 10, nullptr, false,
       [](Config& c, const std::string&, long n) { c.registration.skips_allowed = static_cast<int>(n); }},
      {"registration", "services", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) {
         c.registration.services.clear();
         std::istringstream in(v);
         for (std::string w; in >> w;) c.registration.services.push_back(w);
       }},
      {"registration", "cooldown_hours", Kind::kInt, 0, 720, nullptr, false,
       [](Config& c, const std::string&, long n) { c.registration.cooldown_hours = static_cast<int>(n); }},
      {"totp", "enabled", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.totp.enabled = n != 0; }},
      {"totp", "issuer", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.totp.issuer = v; }},
      {"questions", "enabled", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.questions.enabled = n != 0; }},
      {"questions", "register", Kind::kInt, 1, 5, nullptr, false,
       [](Config& c, const std::string&, long n) { c.questions.register_count = static_cast<int>(n); }},
      {"questions", "ask", Kind::kInt, 1, 5, nullptr, false,
       [](Config& c, const std::string&, long n) { c.questions.ask_count = static_cast<int>(n); }},
      {"questions", "min_answer_length", Kind::kInt, 1, 64, nullptr, false,
       [](Config& c, const std::string&, long n) { c.questions.min_answer_length = static_cast<int>(n); }},
      {"questions", "predefined", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) {
         c.questions.predefined.clear();
         std::istringstream in(v);
         for (std::string q; std::getline(in, q, '|');) {
           auto t = Trim(q);
           if (!t.empty()) c.questions.predefined.push_back(t);
         }
       }},
      {"throttle", "failures", Kind::kInt, 1, 100, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.failures = static_cast<int>(n); }},
      {"throttle", "window_s", Kind::kInt, 60, 2678400, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.window_s = static_cast<int>(n); }},
      {"throttle", "block_s", Kind::kInt, 60, 2678400, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.block_s = static_cast<int>(n); }},
      {"throttle", "source_failures", Kind::kInt, 1, 10000, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.source_failures = static_cast<int>(n); }},
      {"throttle", "sends_per_minute", Kind::kInt, 1, 10, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.sends_per_minute = static_cast<int>(n); }},
      {"throttle", "sends_per_day", Kind::kInt, 1, 1000, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.sends_per_day = static_cast<int>(n); }},
      {"throttle", "paid_budget_per_day", Kind::kInt, 0, 1000000, nullptr, false,
       [](Config& c, const std::string&, long n) { c.throttle.paid_budget_per_day = static_cast<int>(n); }},
      {"questions", "custom", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) {
         // Admin-written questions of the organisation, offered with the
         // predefined ones.
         std::istringstream in(v);
         for (std::string q; std::getline(in, q, '|');) {
           auto t = Trim(q);
           if (!t.empty()) c.questions.custom.push_back(t);
         }
       }},
      {"store", "backend", Kind::kChoice, 0, 0, "lmdb|directory", false,
       [](Config& c, const std::string& v, long) { c.store.backend = v; }},
      {"store", "attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.store.attribute = v; }},
      {"notify", "enabled", Kind::kBool, 0, 0, nullptr, false,
       [](Config& c, const std::string&, long n) { c.notify.enabled = n != 0; }},
      {"notify", "primary_attribute", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.notify.primary_attribute = v; }},
      {"notify", "template_dir", Kind::kPath, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.notify.template_dir = v; }},
      {"notify", "language", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) { c.notify.language = v; }},
      {"notify", "admin_recipients", Kind::kString, 0, 0, nullptr, false,
       [](Config& c, const std::string& v, long) {
         c.notify.admin_recipients.clear();
         std::istringstream in(v);
         for (std::string a; std::getline(in, a, ',');) {
           auto t = Trim(a);
           if (!t.empty()) c.notify.admin_recipients.push_back(t);
         }
       }},

      {"flow", "min_response_ms", Kind::kInt, 0, 5000, nullptr, false,
       [](Config& c, const std::string&, long n) { c.flow.min_response_ms = static_cast<int>(n); }},
  };
  return keys;
}

std::string Allowed(const Key& k) {
  switch (k.kind) {
    case Kind::kString: return "text, at most 512 bytes";
    case Kind::kInt: return std::to_string(k.min) + ".." + std::to_string(k.max);
    case Kind::kBool: return "yes|no|true|false";
    case Kind::kPath: return "an absolute path";
    case Kind::kUriList: return "space-separated ldaps://host[:port] or ldap://host[:port] (StartTLS)";
    case Kind::kChoice: return k.choices;
    case Kind::kDnList: return "group DNs separated by ';' (e.g. CN=Staff,OU=Groups,DC=example,DC=org)";
  }
  return "?";
}

// Validate `value` for `k`; returns an empty string when fine, else what is wrong.
std::string Check(const Key& k, const std::string& value, long& number) {
  number = 0;
  if (value.size() > 512) return "value too long";
  if (value.find('\0') != std::string::npos) return "NUL in value";
  switch (k.kind) {
    case Kind::kString:
      if (k.required && value.empty()) return "must not be empty";
      return {};
    case Kind::kPath:
      if (value.empty() && !k.required) return {};
      if (value.empty() || value[0] != '/') return "not an absolute path";
      return {};
    case Kind::kInt: {
      const char* b = value.data();
      const char* e = b + value.size();
      auto [p, ec] = std::from_chars(b, e, number);
      if (ec != std::errc() || p != e || value.empty()) return "not a whole number";
      if (number < k.min || number > k.max) return "out of range";
      return {};
    }
    case Kind::kBool: {
      std::string v = value;
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (v == "yes" || v == "true" || v == "on" || v == "1") number = 1;
      else if (v == "no" || v == "false" || v == "off" || v == "0") number = 0;
      else return "not a yes/no value";
      return {};
    }
    case Kind::kChoice: {
      std::string_view all(k.choices);
      std::size_t pos = 0;
      while (pos <= all.size()) {
        std::size_t bar = all.find('|', pos);
        if (bar == std::string_view::npos) bar = all.size();
        if (all.substr(pos, bar - pos) == value) return {};
        pos = bar + 1;
      }
      return "not one of the allowed values";
    }
    case Kind::kDnList: {
      for (const auto& dn : SplitDns(value))
        if (dn.find('=') == std::string::npos) return "not a DN: \"" + dn + "\"";
      return {};
    }
    case Kind::kUriList: {
      std::istringstream in(value);
      int n = 0;
      for (std::string u; in >> u; ++n) {
        if (u.rfind("ldaps://", 0) != 0 && u.rfind("ldap://", 0) != 0)
          return "only ldaps:// or ldap:// (with StartTLS) URIs are allowed";
        if (u.size() <= 8 || u.find_first_of("?#") != std::string::npos) return "malformed URI";
      }
      if (n == 0) return "at least one URI is required";
      if (n > 16) return "at most 16 URIs";
      return {};
    }
  }
  return "unknown key kind";
}

}  // namespace

Result<Config> Parse(const std::string& text, const std::string& name) {
  Config cfg;
  cfg.path = name;
  std::vector<std::string> errors;
  std::set<std::string> seen;
  std::set<std::string> sections;
  for (const auto& k : Schema()) sections.insert(k.section);

  std::string section;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = Trim(std::string_view(text).substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    std::string where = name + ":" + std::to_string(line_no) + ": ";
    if (errors.size() >= 50) break;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.find('\0') != std::string::npos) {
      errors.push_back(where + "NUL byte in line");
      continue;
    }
    if (line[0] == '[') {
      if (line.back() != ']') {
        errors.push_back(where + "malformed section header; expected [name]");
        section.clear();
        continue;
      }
      section = Trim(std::string_view(line).substr(1, line.size() - 2));
      if (!sections.count(section)) {
        std::string list;
        for (const auto& s : sections) list += (list.empty() ? "" : ", ") + s;
        errors.push_back(where + "[" + section + "]: unknown section; allowed: " + list);
      }
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      errors.push_back(where + "expected 'key = value'");
      continue;
    }
    std::string key = Trim(std::string_view(line).substr(0, eq));
    std::string value = Trim(std::string_view(line).substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    std::string label = "[" + section + "] " + key;
    if (section.empty()) {
      errors.push_back(where + key + ": key outside any [section]");
      continue;
    }
    if (!sections.count(section)) continue;  // already reported
    const Key* found = nullptr;
    for (const auto& k : Schema())
      if (section == k.section && key == k.name) found = &k;
    if (found == nullptr) {
      errors.push_back(where + label + ": unknown key");
      continue;
    }
    if (!seen.insert(section + "." + key).second) {
      errors.push_back(where + label + ": given twice");
      continue;
    }
    long number = 0;
    std::string problem = Check(*found, value, number);
    if (!problem.empty()) {
      std::string shown = value.size() > 80 ? value.substr(0, 80) + "..." : value;
      errors.push_back(where + label + ": " + problem + "; allowed: " + Allowed(*found) +
                       "; given: \"" + shown + "\"");
      continue;
    }
    found->set(cfg, value, number);
  }
  for (const auto& k : Schema()) {
    if (k.required && !seen.count(std::string(k.section) + "." + k.name))
      errors.push_back(name + ": [" + k.section + "] " + k.name + ": required key missing");
  }
  if (cfg.email.smtp_url.rfind("smtp://", 0) != 0 && cfg.email.smtp_url.rfind("smtps://", 0) != 0)
    errors.push_back(name + ": [email] smtp_url: must start with smtp:// or smtps://; given: \"" +
                     cfg.email.smtp_url + "\"");
  for (const auto& lang : {cfg.notify.language})
    if (lang.empty() || lang.find_first_not_of("abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
      errors.push_back(name + ": [notify] language: letters and '_' only (e.g. en, de, pt_BR); given: \"" + lang + "\"");
  for (const auto* ph : {&cfg.sms, &cfg.voice}) {
    const char* sec = ph == &cfg.sms ? "sms" : "voice";
    if (!ph->enabled) continue;
    if (ph->gateway.url.empty())
      errors.push_back(name + ": [" + sec + "] url: required when enabled = yes");
    if (ph->gateway.body_template.empty())
      errors.push_back(name + ": [" + sec + "] body_template: required when enabled = yes");
    if (ph->message.find("{code}") == std::string::npos &&
        ph->message.find("{code_spaced}") == std::string::npos)
      errors.push_back(name + ": [" + sec + "] message: must contain {code} or {code_spaced}");
    if (!ph->default_country.empty() &&
        ph->default_country.find_first_not_of("0123456789") != std::string::npos)
      errors.push_back(name + ": [" + sec + "] default_country: digits only (e.g. 44); given: \"" +
                       ph->default_country + "\"");
  }
  if (cfg.questions.ask_count > cfg.questions.register_count)
    errors.push_back(name + ": [questions] ask: may not exceed register (" +
                     std::to_string(cfg.questions.register_count) + ")");
  for (const auto& q : cfg.questions.custom)
    if (q.size() > 200)
      errors.push_back(name + ": [questions] custom: a question is longer than 200 bytes");
  cfg.questions.predefined.insert(cfg.questions.predefined.end(), cfg.questions.custom.begin(),
                                  cfg.questions.custom.end());
  if (cfg.questions.enabled &&
      static_cast<int>(cfg.questions.predefined.size()) < cfg.questions.register_count)
    errors.push_back(name + ": [questions] predefined + custom: need at least `register` questions");
  if (cfg.directory.type == "openldap") {
    if (cfg.directory.default_policy_dn.empty())
      errors.push_back(name + ": [directory] default_policy_dn: required when type = openldap");
    if (!cfg.directory.ad.srv_domain.empty())
      errors.push_back(name + ": [directory] srv_domain: AD DC records; not for type = openldap");
  }
  if (cfg.directory.ad.uris.empty() && cfg.directory.ad.srv_domain.empty())
    errors.push_back(name + ": [directory] uri: required key missing (or set srv_domain)");
  if (cfg.policy.scope == "selected" && cfg.policy.scope_groups.empty())
    errors.push_back(name + ": [policy] scope_groups: required when scope = selected");
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    return Fail(Errc::kConfig, all);
  }
  return cfg;
}

Result<Config> Load(const std::string& path) {
  // Opened without following symlinks and never blocking on a FIFO
  // (SECURITY.md rule 12); a config must be a regular file, not writable by
  // group or others, and of sane size.
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Fail(Errc::kConfig, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Fail(Errc::kConfig, path + ": not a regular file");
  }
  if ((st.st_mode & 0022) != 0) {
    close(fd);
    return Fail(Errc::kConfig, path + ": writable by group or others; fix with chmod go-w " + path);
  }
  if (st.st_size > 1024 * 1024) {
    close(fd);
    return Fail(Errc::kConfig, path + ": larger than 1 MiB");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fd);
  text.resize(got);
  return Parse(text, path);
}

}  // namespace sspr::config

#include "sspr/method/gateway.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <sodium.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "sspr/util/files.h"

namespace sspr::method {

namespace {

constexpr const char* kBullet = "\xE2\x80\xA2";  // "•"
constexpr std::size_t kMaxReplyBytes = 64 * 1024;  // reply bodies are kept up to this, then cut
constexpr std::size_t kSnippetBytes = 200;         // of the reply, in an error detail

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsE164(std::string_view s) {
  if (s.size() < 9 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  return std::all_of(s.begin() + 1, s.end(), IsDigit);
}

// ---------------------------------------------------------------- templates

enum class Field { kTo, kFrom, kCode, kMessage };

struct Placeholder {
  Field field;
  bool xml;
  std::size_t length;  // of the whole "{...}" text
};

// "{name}" or "{name:xml}" at `pos`? nullopt for any other text (literal).
// `unknown` is set for identifier-shaped braces that name no field (a typo
// such as {mesage} must not be sent as is).
std::optional<Placeholder> ParsePlaceholder(std::string_view t, std::size_t pos, bool* unknown) {
  *unknown = false;
  if (t[pos] != '{') return std::nullopt;
  std::size_t end = pos + 1;
  while (end < t.size() && end - pos <= 16 &&
         ((t[end] >= 'a' && t[end] <= 'z') || t[end] == '_' || t[end] == ':'))
    ++end;
  if (end >= t.size() || t[end] != '}' || end == pos + 1) return std::nullopt;
  std::string_view name = t.substr(pos + 1, end - pos - 1);
  bool xml = false;
  if (name.size() > 4 && name.substr(name.size() - 4) == ":xml") {
    xml = true;
    name.remove_suffix(4);
  }
  Field f;
  if (name == "to") f = Field::kTo;
  else if (name == "from") f = Field::kFrom;
  else if (name == "code") f = Field::kCode;
  else if (name == "message") f = Field::kMessage;
  else {
    *unknown = true;
    return std::nullopt;
  }
  return Placeholder{f, xml, end - pos + 1};
}

void AppendXmlEscaped(std::string& out, std::string_view in) {
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
}

// application/x-www-form-urlencoded (WHATWG URL §5): only ALPHA DIGIT *-._
// stay as they are; '&', '=', '+' and everything else become %XX, so a
// value can never end its field or start another.
void AppendFormEncoded(std::string& out, std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '*' ||
        c == '-' || c == '.' || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
}

// The inside of a JSON string (RFC 8259 §7): '"', '\' and every control
// character escaped, so a value can never close the string it sits in.
void AppendJsonEscaped(std::string& out, std::string_view in) {
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0x0F];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

// ---------------------------------------------------------------- replies

struct Reply {
  std::string body;
  bool cut = false;
};

std::size_t CollectReply(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* r = static_cast<Reply*>(user);
  const std::size_t n = size * nmemb;
  if (r->body.size() + n > kMaxReplyBytes) {
    r->body.append(data, kMaxReplyBytes - r->body.size());
    r->cut = true;
    return 0;  // stop reading: the status is already known, the rest is not needed
  }
  r->body.append(data, n);
  return n;
}

void Redact(std::string& text, std::string_view needle) {
  if (needle.size() < 4) return;  // shorter strings would redact by accident, and leak by pattern
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos))
    text.replace(pos, needle.size(), "[redacted]");
}

// The start of a reply body, safe for the admin log: code, message and
// secret removed (a gateway may echo the request), one line, printable ASCII.
std::string Snippet(std::string& body, const Secret& code, const Secret& message,
                    const Secret& secret) {
  Redact(body, message.view());
  Redact(body, code.view());
  if (!secret.empty()) Redact(body, secret.view().substr(0, secret.size() - 1));
  std::string out;
  for (char c : body) {
    if (out.size() >= kSnippetBytes) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u == '\n' || u == '\r' || u == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += (u < 0x20 || u >= 0x7F) ? '?' : c;
    }
  }
  return out;
}

// --------------------------------------------------------------- URL checks

struct UrlParts {
  std::string scheme, host, port, path;
  bool has_credentials = false;
};

std::optional<UrlParts> ParseUrl(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return std::nullopt;
  std::optional<UrlParts> out;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    UrlParts p;
    auto get = [&](CURLUPart part, std::string* dst) {
      char* v = nullptr;
      if (curl_url_get(u, part, &v, 0) == CURLUE_OK && v != nullptr) *dst = v;
      curl_free(v);
    };
    get(CURLUPART_SCHEME, &p.scheme);
    get(CURLUPART_HOST, &p.host);
    get(CURLUPART_PORT, &p.port);
    get(CURLUPART_PATH, &p.path);
    std::string user, password;
    get(CURLUPART_USER, &user);
    get(CURLUPART_PASSWORD, &password);
    p.has_credentials = !user.empty() || !password.empty();
    if (!password.empty()) sodium_memzero(password.data(), password.size());
    out = std::move(p);
  }
  curl_url_cleanup(u);
  return out;
}

bool IsLoopbackHost(std::string host) {
  if (strcasecmp(host.c_str(), "localhost") == 0) return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned char addr[16];
  if (inet_pton(AF_INET, host.c_str(), addr) == 1) return addr[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), addr) == 1) {
    static const unsigned char kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(addr, kLoop6, 16) == 0;
  }
  return false;
}

// What an error detail may say about the endpoint: no query (it may hold
// an API key), no credentials.
std::string UrlForLog(const UrlParts& p) {
  return p.scheme + "://" + p.host + (p.port.empty() ? "" : ":" + p.port) + p.path;
}

}  // namespace

// ------------------------------------------------------------------ public

Status CheckBodyTemplate(std::string_view tmpl, BodyEncoding enc) {
  if (tmpl.empty()) return Fail(Errc::kConfig, "body_template: empty; give the request body with {to} and {message} or {code}");
  bool in_string = false, escaped = false, has_to = false;
  for (std::size_t i = 0; i < tmpl.size();) {
    bool unknown = false;
    auto ph = ParsePlaceholder(tmpl, i, &unknown);
    if (unknown)
      return Fail(Errc::kConfig, "body_template: unknown placeholder at offset " + std::to_string(i) +
                                     "; allowed: {to} {from} {code} {message}, optionally with :xml");
    if (ph) {
      if (enc == BodyEncoding::kJson && !in_string)
        return Fail(Errc::kConfig, "body_template: placeholder at offset " + std::to_string(i) +
                                       " is outside a JSON string; write it inside quotes, e.g. \"{message}\"");
      has_to = has_to || ph->field == Field::kTo;
      i += ph->length;
      escaped = false;
      continue;
    }
    if (enc == BodyEncoding::kJson) {
      char c = tmpl[i];
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      }
    }
    ++i;
  }
  if (in_string) return Fail(Errc::kConfig, "body_template: unterminated JSON string");
  if (!has_to) return Fail(Errc::kConfig, "body_template: has no {to}");
  return {};
}

Result<Secret> RenderBodyTemplate(std::string_view tmpl, BodyEncoding enc, const TemplateValues& v) {
  if (auto ok = CheckBodyTemplate(tmpl, enc); !ok) return Fail(ok.error());
  std::string out, xml;
  out.reserve(tmpl.size() + 256);
  for (std::size_t i = 0; i < tmpl.size();) {
    bool unknown = false;
    auto ph = ParsePlaceholder(tmpl, i, &unknown);
    if (!ph) {
      out += tmpl[i++];
      continue;
    }
    std::string_view value;
    switch (ph->field) {
      case Field::kTo: value = v.to; break;
      case Field::kFrom: value = v.from; break;
      case Field::kCode: value = v.code ? v.code->view() : std::string_view(); break;
      case Field::kMessage: value = v.message ? v.message->view() : std::string_view(); break;
    }
    if (ph->xml) {
      xml.clear();
      AppendXmlEscaped(xml, value);
      value = xml;
    }
    if (enc == BodyEncoding::kForm) AppendFormEncoded(out, value);
    else AppendJsonEscaped(out, value);
    i += ph->length;
  }
  WipeString(xml);
  return Secret::Take(out);
}

std::optional<std::string> NormaliseE164(std::string_view raw, std::string_view default_country_code) {
  std::string s;
  s.reserve(raw.size());
  for (char c : raw)
    if (c != ' ' && c != '-' && c != '.') s += c;
  // "+44 (0)20 7946 0000": the "(0)" is the national trunk prefix, not
  // part of the international number.
  if (s.rfind('+', 0) == 0 || s.rfind("00", 0) == 0) {
    for (auto pos = s.find("(0)"); pos != std::string::npos; pos = s.find("(0)"))
      s.erase(pos, 3);
  }
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '(' || c == ')'; }), s.end());

  std::string digits;
  if (s.rfind('+', 0) == 0) {
    digits = s.substr(1);
  } else if (s.rfind("00", 0) == 0) {
    digits = s.substr(2);
  } else if (s.rfind('0', 0) == 0) {
    std::string_view cc = default_country_code;
    if (!cc.empty() && cc.front() == '+') cc.remove_prefix(1);
    if (cc.empty() || cc.size() > 3 || cc.front() == '0' || !std::all_of(cc.begin(), cc.end(), IsDigit))
      return std::nullopt;
    digits = std::string(cc) + s.substr(1);
  } else {
    return std::nullopt;  // no prefix: guessing the country would send codes abroad
  }
  if (digits.size() < 8 || digits.size() > 15 || digits.front() == '0' ||
      !std::all_of(digits.begin(), digits.end(), IsDigit))
    return std::nullopt;
  return "+" + digits;
}

std::string MaskPhone(std::string_view e164) {
  if (!IsE164(e164)) return std::string(kBullet) + kBullet + kBullet;
  std::string out = "+";
  out += e164.substr(1, 2);
  for (std::size_t i = 3; i + 2 < e164.size(); ++i) out += kBullet;
  out += e164.substr(e164.size() - 2);
  return out;
}

Result<Gateway::Endpoint> Gateway::MakeEndpoint(GatewayConfig cfg, std::string_view section) {
  const std::string where = "[" + std::string(section) + "] ";
  auto url = ParseUrl(cfg.url);
  if (!url || url->host.empty())
    return Fail(Errc::kConfig, where + "url: not a URL: " + cfg.url);
  if (url->has_credentials)
    return Fail(Errc::kConfig, where + "url: must not hold a user or password; use user and secret_file");
  if (url->scheme != "https" && !(url->scheme == "http" && IsLoopbackHost(url->host)))
    return Fail(Errc::kConfig, where + "url: must be https:// (http:// only to a loopback host), given " +
                                   url->scheme + "://" + url->host);
  if (cfg.method != "POST" && cfg.method != "PUT")
    return Fail(Errc::kConfig, where + "method: POST or PUT, given " + cfg.method);
  Endpoint ep;
  if (cfg.content_type == "form") ep.enc = BodyEncoding::kForm;
  else if (cfg.content_type == "json") ep.enc = BodyEncoding::kJson;
  else return Fail(Errc::kConfig, where + "content_type: form or json, given " + cfg.content_type);
  if (auto ok = CheckBodyTemplate(cfg.body_template, ep.enc); !ok)
    return Fail(Errc::kConfig, where + ok.error().detail);
  if (cfg.timeout_s < 1 || cfg.timeout_s > 120)
    return Fail(Errc::kConfig, where + "timeout: 1..120 seconds, given " + std::to_string(cfg.timeout_s));
  for (long s : cfg.ok_statuses)
    if (s < 200 || s > 299)
      return Fail(Errc::kConfig, where + "ok_statuses: each 200..299, given " + std::to_string(s));
  if (cfg.auth == "none") {
    if (!cfg.secret_file.empty() || !cfg.user.empty())
      return Fail(Errc::kConfig, where + "auth = none, but user/secret_file are set");
  } else if (cfg.auth == "basic" || cfg.auth == "bearer") {
    if (cfg.auth == "basic" && (cfg.user.empty() || cfg.user.find(':') != std::string::npos))
      return Fail(Errc::kConfig, where + "user: auth = basic needs a user name without ':'");
    if (cfg.auth == "bearer" && !cfg.user.empty())
      return Fail(Errc::kConfig, where + "user: not used with auth = bearer; remove it");
    if (cfg.secret_file.empty())
      return Fail(Errc::kConfig, where + "secret_file: auth = " + cfg.auth + " needs one");
    auto secret = ReadSecretFile(cfg.secret_file, geteuid());
    if (!secret) return Fail(Errc::kConfig, where + "secret_file: " + secret.error().detail);
    for (unsigned char c : secret->view())
      if (c < 0x20 || c == 0x7F)
        return Fail(Errc::kConfig, where + "secret_file: " + cfg.secret_file + ": holds control characters");
    std::string tmp(secret->view());
    tmp.push_back('\0');
    ep.secret = Secret::Take(tmp);
  } else {
    return Fail(Errc::kConfig, where + "auth: none, basic or bearer, given " + cfg.auth);
  }
  for (unsigned char c : cfg.from)
    if (c < 0x20 || c == 0x7F) return Fail(Errc::kConfig, where + "from: control characters");
  ep.cfg = std::move(cfg);
  return ep;
}

Result<Gateway> Gateway::Create(std::optional<GatewayConfig> sms, std::optional<GatewayConfig> voice) {
  CurlGlobalInit();
  if (!sms && !voice) return Fail(Errc::kConfig, "gateway: neither [sms] nor [voice] is configured");
  Gateway g;
  if (sms) {
    auto ep = MakeEndpoint(std::move(*sms), "sms");
    if (!ep) return Fail(ep.error());
    g.m_sms = std::move(ep).value();
  }
  if (voice) {
    auto ep = MakeEndpoint(std::move(*voice), "voice");
    if (!ep) return Fail(ep.error());
    g.m_voice = std::move(ep).value();
  }
  return g;
}

Status Gateway::SendSms(std::string_view to_e164, const Secret& message, const Secret& code) const {
  if (!m_sms) return Fail(Errc::kConfig, "SMS: no [sms] gateway configured");
  return Send(*m_sms, "SMS", to_e164, message, code);
}

Status Gateway::Call(std::string_view to_e164, const Secret& spoken_message, const Secret& code) const {
  if (!m_voice) return Fail(Errc::kConfig, "voice: no [voice] gateway configured");
  return Send(*m_voice, "voice", to_e164, spoken_message, code);
}

Status Gateway::Send(const Endpoint& ep, std::string_view what, std::string_view to_e164,
                     const Secret& message, const Secret& code) {
  if (!IsE164(to_e164)) return Fail(Errc::kNoDestination, std::string(what) + ": destination is not E.164");
  const GatewayConfig& cfg = ep.cfg;
  auto body = RenderBodyTemplate(cfg.body_template, ep.enc,
                                 TemplateValues{to_e164, cfg.from, &code, &message});
  if (!body) return Fail(body.error());
  auto url = ParseUrl(cfg.url);  // checked by Create; parsed again for the log form
  const std::string url_log = url ? UrlForLog(*url) : std::string("(url)");
  const std::string prefix = std::string(what) + " gateway " + url_log + ": ";

  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Fail(Errc::kSendFailed, prefix + "curl_easy_init failed");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ep.enc == BodyEncoding::kJson
                                           ? "Content-Type: application/json; charset=utf-8"
                                           : "Content-Type: application/x-www-form-urlencoded");
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  Reply reply;
  char errbuf[CURL_ERROR_SIZE] = {0};
  const bool https = url && url->scheme == "https";
  curl_easy_setopt(curl, CURLOPT_URL, cfg.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is an answer, not a hop
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(cfg.timeout_s));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(cfg.timeout_s, 10)));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "sspr/0.1");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(body->data()));
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  if (cfg.method == "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectReply);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!cfg.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, cfg.ca_file.c_str());
  const char* secret = reinterpret_cast<const char*>(ep.secret.data());
  if (cfg.auth == "basic") {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(curl, CURLOPT_USERNAME, cfg.user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, secret);
  } else if (cfg.auth == "bearer") {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BEARER));
    curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, secret);
  }
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);

  Status result;
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && reply.cut)) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    result = Fail(Errc::kSendFailed, prefix + why);
  } else {
    bool accepted = cfg.ok_statuses.empty()
                        ? (status >= 200 && status <= 299)
                        : std::find(cfg.ok_statuses.begin(), cfg.ok_statuses.end(), status) !=
                              cfg.ok_statuses.end();
    if (!accepted) {
      std::string snippet = Snippet(reply.body, code, message, ep.secret);
      result = Fail(Errc::kSendFailed, prefix + "HTTP " + std::to_string(status) +
                                           (snippet.empty() ? std::string() : ": " + snippet));
    }
  }
  WipeString(reply.body);  // a gateway may echo the message, code included
  return result;
}

}  // namespace sspr::method

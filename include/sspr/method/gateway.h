// The SMS and voice methods: a generic HTTP(S) gateway client (libcurl)
// that fits Twilio-like REST APIs and most in-house SMS relays, plus
// phone number normalisation (E.164) and masking.
//
// A gateway is transport only (SECURITY.md): it learns the destination and
// the message, never anything else; the code is proof only when it comes
// back through the same session.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::method {

// One HTTP endpoint (one for SMS, one for voice). Validated by
// Gateway::Create; the lead maps INI keys [sms] / [voice] onto it.
struct GatewayConfig {
  // https://host[:port]/path. http:// only when the host is loopback
  // (127.0.0.0/8, ::1, localhost). Fixed: nothing is substituted into it,
  // so codes never land in a URL, a proxy log or an access log.
  std::string url;
  std::string method = "POST";        // POST | PUT (never GET: the body holds the code)
  std::string auth = "none";          // none | basic | bearer
  std::string user;                   // basic: the user name (Twilio: the Account SID)
  std::string secret_file;            // basic: password, bearer: token; mode 0600, owned by the euid
  std::string content_type = "form";  // form (application/x-www-form-urlencoded) | json
  // The request body. Placeholders {to} {code} {message} {from}, each
  // optionally with ":xml" ({message:xml}) to XML-escape first (TwiML).
  // Every value is then form-urlencoded (form) or JSON-string-escaped
  // (json); in json mode each placeholder must sit inside a JSON string
  // literal of the template. Any other brace text is literal.
  //   form: To={to}&From={from}&Body={message}
  //   json: {"to":"{to}","text":"{message}"}
  std::string body_template;
  std::string from;                   // sender number / id for {from}
  std::string ca_file;                // extra CA bundle; empty: the system store
  int timeout_s = 10;                 // whole request, 1..120
  std::vector<long> ok_statuses;      // accepted statuses (each 200..299); empty: any 2xx
};

enum class BodyEncoding { kForm, kJson };

// The values a body template may use. `code` and `message` are secrets.
struct TemplateValues {
  std::string_view to;
  std::string_view from;
  const Secret* code = nullptr;     // may be null: {code} then renders empty
  const Secret* message = nullptr;  // may be null: {message} then renders empty
};

// Check a template: only known placeholders, and in json mode each one
// inside a string literal. Errc::kConfig with the reason.
Status CheckBodyTemplate(std::string_view tmpl, BodyEncoding enc);

// Render a (checked) template. The result holds the code: a Secret.
Result<Secret> RenderBodyTemplate(std::string_view tmpl, BodyEncoding enc, const TemplateValues& v);

// Normalise a phone number as stored in the directory to E.164:
// spaces, '-', '.', '(' and ')' are dropped ("+44 (0)20 …" drops the
// national trunk "(0)"); "+CC…" is kept, "00CC…" becomes "+CC…", a
// national "0…" gets `default_country_code` (digits, '+' optional).
// Anything else (letters, a '+' elsewhere, no prefix, country code
// starting with 0) or a result outside 8..15 digits after '+' is nullopt.
std::optional<std::string> NormaliseE164(std::string_view raw, std::string_view default_country_code);

// "+447700900123" -> "+44••••••••23": '+', the first two digits, one '•'
// per hidden digit, the last two digits. Not E.164: "•••".
std::string MaskPhone(std::string_view e164);

class Gateway {
 public:
  // Validates each configured endpoint and reads its secret file now, so a
  // bad config is a startup error. At least one endpoint. Errc::kConfig.
  static Result<Gateway> Create(std::optional<GatewayConfig> sms, std::optional<GatewayConfig> voice);

  // Send through the SMS / voice endpoint. `to_e164` must be E.164 (see
  // NormaliseE164). `message` is the text (or the words to speak); `code`
  // fills {code} for gateways that template the message themselves.
  // Errors: kConfig (endpoint not configured), kNoDestination (not E.164),
  // kSendFailed (transport, TLS, timeout or a status not accepted; the
  // detail has the URL, the status and a sanitised start of the reply body,
  // never the code, message or secret).
  Status SendSms(std::string_view to_e164, const Secret& message, const Secret& code) const;
  Status Call(std::string_view to_e164, const Secret& spoken_message, const Secret& code) const;

  bool has_sms() const noexcept { return m_sms.has_value(); }
  bool has_voice() const noexcept { return m_voice.has_value(); }

  Gateway(Gateway&&) noexcept = default;
  Gateway& operator=(Gateway&&) noexcept = default;
  ~Gateway() = default;

 private:
  struct Endpoint {
    GatewayConfig cfg;
    BodyEncoding enc = BodyEncoding::kForm;
    Secret secret;  // NUL-terminated copy (curl wants a C string); empty when auth = none
  };
  static Result<Endpoint> MakeEndpoint(GatewayConfig cfg, std::string_view section);
  static Status Send(const Endpoint& ep, std::string_view what, std::string_view to_e164,
                     const Secret& message, const Secret& code);
  Gateway() = default;
  std::optional<Endpoint> m_sms;
  std::optional<Endpoint> m_voice;
};

}  // namespace sspr::method

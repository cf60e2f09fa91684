// SMS/voice gateway: E.164 normalisation, masking, body templates that a
// hostile value cannot break out of, and config checks. Real HTTP is in
// tests/integration/test_gateway.py.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "sspr/method/gateway.h"
#include "check_main.h"  // last: Check defines a fail() macro

using namespace sspr;
using namespace sspr::method;

namespace {

Secret S(std::string_view s) { return Secret(s.data(), s.size()); }

// Compare std::strings; names both on failure (ck_assert_str_eq would keep
// pointers into temporaries).
#define EXPECT_STR(got_expr, want_expr)                                           \
  do {                                                                            \
    const std::string got_ = (got_expr), want_ = (want_expr);                     \
    ck_assert_msg(got_ == want_, "%s: got \"%s\", want \"%s\"", #got_expr,     \
                  got_.c_str(), want_.c_str());                                   \
  } while (0)

std::string Norm(std::string_view raw, std::string_view cc = "44") {
  auto r = NormaliseE164(raw, cc);
  return r ? *r : std::string("<none>");
}

std::string Render(std::string_view tmpl, BodyEncoding enc, std::string_view message,
                   std::string_view code = "123456") {
  Secret m = S(message), c = S(code);
  auto r = RenderBodyTemplate(tmpl, enc, TemplateValues{"+447700900123", "+15005550006", &c, &m});
  ck_assert_msg(r.ok(), "render failed");
  return std::string(r->view());
}

// A 0600 file owned by us holding `text`.
std::string WriteSecret(std::string_view text, mode_t mode = 0600) {
  char path[] = "/tmp/sspr-gw-secret-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  fchmod(fd, mode);
  close(fd);
  return path;
}

GatewayConfig TwilioLike(std::string url) {
  GatewayConfig c;
  c.url = std::move(url);
  c.body_template = "To={to}&From={from}&Body={message}";
  c.from = "+15005550006";
  return c;
}

Errc CreateCode(GatewayConfig c) {
  auto g = Gateway::Create(std::move(c), std::nullopt);
  return g.ok() ? Errc::kInternal : g.code();  // kInternal stands for "created" here
}

}  // namespace

START_TEST(e164_keeps_plus_and_strips_punctuation) {
  EXPECT_STR(Norm("+44 7700 900123"), "+447700900123");
  EXPECT_STR(Norm("+1 (415) 555-2671"), "+14155552671");
  EXPECT_STR(Norm("+49.30.1234567"), "+49301234567");
}
END_TEST

START_TEST(e164_converts_00_and_national_0_prefixes) {
  EXPECT_STR(Norm("0044 7700 900123"), "+447700900123");
  EXPECT_STR(Norm("07700 900123", "44"), "+447700900123");
  EXPECT_STR(Norm("07700-900123", "+44"), "+447700900123");
  EXPECT_STR(Norm("030 1234567", "49"), "+49301234567");
  // UK style "(0)" trunk prefix after the country code is dropped.
  EXPECT_STR(Norm("+44 (0)20 7946 0000"), "+442079460000");
}
END_TEST

START_TEST(e164_refuses_what_it_cannot_be_sure_of) {
  EXPECT_STR(Norm("7700 900123"), "<none>");        // no prefix: country unknown
  EXPECT_STR(Norm("07700 900123", ""), "<none>");   // national, no default CC
  EXPECT_STR(Norm("07700 900123", "0"), "<none>");  // CC cannot start with 0
  EXPECT_STR(Norm("07700 900123", "4x"), "<none>");
  EXPECT_STR(Norm("+44 7700 9001x3"), "<none>");    // letters
  EXPECT_STR(Norm("+44+7700900123"), "<none>");     // '+' inside
  EXPECT_STR(Norm("+0447700900123"), "<none>");     // CC 0
  EXPECT_STR(Norm("+1234567"), "<none>");           // 7 digits: too short
  EXPECT_STR(Norm("+12345678"), "+12345678");       // 8: shortest allowed
  EXPECT_STR(Norm("+123456789012345"), "+123456789012345");  // 15: longest
  EXPECT_STR(Norm("+1234567890123456"), "<none>");  // 16
  EXPECT_STR(Norm(""), "<none>");
  EXPECT_STR(Norm("+44 7700 900123\nX"), "<none>");
}
END_TEST

START_TEST(mask_phone_shows_two_leading_and_two_trailing_digits) {
  const std::string b = "\xE2\x80\xA2";
  std::string m = MaskPhone("+447700900123");
  EXPECT_STR(m, "+44" + b + b + b + b + b + b + b + b + "23");
  ck_assert(m.find("7700") == std::string::npos);
  EXPECT_STR(MaskPhone("07700900123"), b + b + b);
  EXPECT_STR(MaskPhone(""), b + b + b);
}
END_TEST

START_TEST(form_template_encodes_values_so_they_cannot_add_fields) {
  std::string body = Render("To={to}&From={from}&Body={message}", BodyEncoding::kForm,
                            "Code 123456&To=+1999&Body=x y");
  ck_assert_str_eq(body.c_str(),
                   "To=%2B447700900123&From=%2B15005550006"
                   "&Body=Code%20123456%26To%3D%2B1999%26Body%3Dx%20y");
  // Exactly three fields, one To.
  ck_assert_int_eq(std::count(body.begin(), body.end(), '&'), 2);
  ck_assert(body.find("To=") == body.rfind("To="));
}
END_TEST

START_TEST(json_template_escapes_values_so_they_cannot_add_keys) {
  std::string body = Render("{\"to\":\"{to}\",\"text\":\"{message}\",\"otp\":\"{code}\"}",
                            BodyEncoding::kJson, "x\",\"to\":\"+1999\\\n\x01");
  ck_assert_str_eq(body.c_str(),
                   "{\"to\":\"+447700900123\",\"text\":\"x\\\",\\\"to\\\":\\\"+1999\\\\\\n\\u0001\","
                   "\"otp\":\"123456\"}");
}
END_TEST

START_TEST(xml_placeholder_escapes_twiml_before_form_encoding) {
  std::string body = Render("To={to}&Twiml=<Response><Say>{message:xml}</Say></Response>",
                            BodyEncoding::kForm, "1 2 3</Say><Dial>+1900</Dial>");
  // The message's '<' became "&lt;", then form-encoded "%26lt%3B" (the
  // template's own literal text is sent as written).
  ck_assert(body.find("%26lt%3BDial%26gt%3B") != std::string::npos);
  ck_assert(body.find("<Dial>") == std::string::npos);
}
END_TEST

START_TEST(template_checks_name_the_mistake) {
  ck_assert(CheckBodyTemplate("To={to}&Body={message}", BodyEncoding::kForm).ok());
  ck_assert(CheckBodyTemplate("To={to}&Body={mesage}", BodyEncoding::kForm).code() == Errc::kConfig);
  ck_assert(CheckBodyTemplate("Body={message}", BodyEncoding::kForm).code() == Errc::kConfig);  // no {to}
  ck_assert(CheckBodyTemplate("", BodyEncoding::kForm).code() == Errc::kConfig);
  // JSON: a placeholder outside quotes could inject keys; refused.
  ck_assert(CheckBodyTemplate("{\"to\":\"{to}\",\"n\":{code}}", BodyEncoding::kJson).code() == Errc::kConfig);
  ck_assert(CheckBodyTemplate("{\"to\":\"{to}\",\"t\":\"Code: {code}\"}", BodyEncoding::kJson).ok());
  // An escaped quote does not end the string.
  ck_assert(CheckBodyTemplate("{\"to\":\"{to}\",\"t\":\"say \\\"{code}\\\"\"}", BodyEncoding::kJson).ok());
  ck_assert(CheckBodyTemplate("{\"to\":\"{to}", BodyEncoding::kJson).code() == Errc::kConfig);
}
END_TEST

START_TEST(create_requires_https_except_for_loopback) {
  ck_assert(CreateCode(TwilioLike("http://sms.example.com/send")) == Errc::kConfig);
  ck_assert(CreateCode(TwilioLike("http://127.0.0.2:8080/send")) == Errc::kInternal);
  ck_assert(CreateCode(TwilioLike("http://[::1]:8080/send")) == Errc::kInternal);
  ck_assert(CreateCode(TwilioLike("http://localhost:8080/send")) == Errc::kInternal);
  ck_assert(CreateCode(TwilioLike("http://127.0.0.1.example.com/send")) == Errc::kConfig);
  ck_assert(CreateCode(TwilioLike("https://sms.example.com/send")) == Errc::kInternal);
  ck_assert(CreateCode(TwilioLike("ftp://sms.example.com/send")) == Errc::kConfig);
  ck_assert(CreateCode(TwilioLike("https://user:pw@sms.example.com/send")) == Errc::kConfig);
  ck_assert(CreateCode(TwilioLike("not a url")) == Errc::kConfig);
}
END_TEST

START_TEST(create_refuses_bad_method_auth_status_and_secret_files) {
  GatewayConfig c = TwilioLike("https://sms.example.com/send");
  c.method = "GET";
  ck_assert(CreateCode(c) == Errc::kConfig);
  c = TwilioLike("https://sms.example.com/send");
  c.ok_statuses = {201, 404};
  ck_assert(CreateCode(c) == Errc::kConfig);
  c = TwilioLike("https://sms.example.com/send");
  c.auth = "basic";
  c.user = "AC123";
  ck_assert(CreateCode(c) == Errc::kConfig);  // no secret_file
  c.secret_file = WriteSecret("token-1234", 0644);
  auto g = Gateway::Create(c, std::nullopt);
  ck_assert(!g.ok());
  ck_assert(g.error().detail.find("chmod 600") != std::string::npos);  // says how to fix it
  unlink(c.secret_file.c_str());
  c.secret_file = WriteSecret("token-1234");
  ck_assert(CreateCode(c) == Errc::kInternal);
  c.user = "AC:123";
  ck_assert(CreateCode(c) == Errc::kConfig);  // ':' would split basic auth
  c.user.clear();
  c.auth = "bearer";
  ck_assert(CreateCode(c) == Errc::kInternal);
  c.auth = "digest";
  ck_assert(CreateCode(c) == Errc::kConfig);
  unlink(c.secret_file.c_str());
  ck_assert(!Gateway::Create(std::nullopt, std::nullopt).ok());
}
END_TEST

START_TEST(send_refuses_non_e164_and_unconfigured_endpoint) {
  auto g = Gateway::Create(TwilioLike("http://127.0.0.1:9/send"), std::nullopt);
  ck_assert(g.ok());
  Secret msg = S("Your code is 123456"), code = S("123456");
  ck_assert(g->SendSms("07700900123", msg, code).code() == Errc::kNoDestination);
  ck_assert(g->SendSms("+44 7700 900123", msg, code).code() == Errc::kNoDestination);
  ck_assert(g->Call("+447700900123", msg, code).code() == Errc::kConfig);  // no [voice]
}
END_TEST

START_TEST(send_to_a_closed_port_is_send_failed_without_the_code) {
  // A loopback port with nothing listening: bind, read the port, close.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  auto g = Gateway::Create(TwilioLike("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/send?key=K3y-in-query"),
                           std::nullopt);
  ck_assert(g.ok());
  Secret msg = S("Your code is 918273"), code = S("918273");
  auto st = g->SendSms("+447700900123", msg, code);
  ck_assert(!st.ok());
  ck_assert(st.code() == Errc::kSendFailed);
  ck_assert(st.error().detail.find("918273") == std::string::npos);
  ck_assert(st.error().detail.find("K3y-in-query") == std::string::npos);  // query not logged
  ck_assert_msg(st.error().detail.find("SMS gateway http://127.0.0.1:") == 0, "detail: %s",
                st.error().detail.c_str());
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("gateway");
  TCase* tc = tcase_create("gateway");
  tcase_add_test(tc, e164_keeps_plus_and_strips_punctuation);
  tcase_add_test(tc, e164_converts_00_and_national_0_prefixes);
  tcase_add_test(tc, e164_refuses_what_it_cannot_be_sure_of);
  tcase_add_test(tc, mask_phone_shows_two_leading_and_two_trailing_digits);
  tcase_add_test(tc, form_template_encodes_values_so_they_cannot_add_fields);
  tcase_add_test(tc, json_template_escapes_values_so_they_cannot_add_keys);
  tcase_add_test(tc, xml_placeholder_escapes_twiml_before_form_encoding);
  tcase_add_test(tc, template_checks_name_the_mistake);
  tcase_add_test(tc, create_requires_https_except_for_loopback);
  tcase_add_test(tc, create_refuses_bad_method_auth_status_and_secret_files);
  tcase_add_test(tc, send_refuses_non_e164_and_unconfigured_endpoint);
  tcase_add_test(tc, send_to_a_closed_port_is_send_failed_without_the_code);
  suite_add_tcase(s, tc);
  return s;
}

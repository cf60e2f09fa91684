// gateway_probe: drive sspr::method::Gateway from a test script.
//
//   gateway_probe --url URL --template T [--method POST|PUT] [--auth none|basic|bearer]
//                 [--user U] [--secret-file PATH] [--content-type form|json]
//                 [--from NUMBER] [--ca FILE] [--timeout S] [--ok-status N]...
//                 [--default-cc CC] sms|call TO
//
// The code and the message come on stdin (never argv): the first line is
// the code, the rest (up to EOF, final newline dropped) the message or the
// words to speak. TO is normalised with NormaliseE164 first.
// Output on stdout: first line "ok" or "error <errc_name>", then
// "to=<e164>" and "masked=<mask>"; the admin detail of an error goes to
// stderr. Exit 0 ok, 1 error, 2 usage.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "sspr/method/gateway.h"
#include "sspr/util/error.h"
#include "sspr/util/secret.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: gateway_probe --url URL --template T [--method M] [--auth A] [--user U] "
               "[--secret-file PATH] [--content-type form|json] [--from N] [--ca FILE] "
               "[--timeout S] [--ok-status N]... [--default-cc CC] sms|call TO  (stdin: code, "
               "then message)\n");
  return 2;
}

int ReportError(const sspr::Error& e) {
  std::printf("error %s\n", std::string(sspr::ErrcName(e.code)).c_str());
  std::fprintf(stderr, "%s\n", e.detail.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  sspr::method::GatewayConfig cfg;
  std::string default_cc;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) break;
    if (i + 1 >= argc) return Usage();
    std::string v = argv[++i];
    if (a == "--url") cfg.url = v;
    else if (a == "--template") cfg.body_template = v;
    else if (a == "--method") cfg.method = v;
    else if (a == "--auth") cfg.auth = v;
    else if (a == "--user") cfg.user = v;
    else if (a == "--secret-file") cfg.secret_file = v;
    else if (a == "--content-type") cfg.content_type = v;
    else if (a == "--from") cfg.from = v;
    else if (a == "--ca") cfg.ca_file = v;
    else if (a == "--timeout") cfg.timeout_s = std::atoi(v.c_str());
    else if (a == "--ok-status") cfg.ok_statuses.push_back(std::atol(v.c_str()));
    else if (a == "--default-cc") default_cc = v;
    else return Usage();
  }
  if (argc - i != 2) return Usage();
  const std::string command = argv[i], raw_to = argv[i + 1];
  if (command != "sms" && command != "call") return Usage();

  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const auto nl = input.find('\n');
  std::string code_text = input.substr(0, nl);
  std::string message_text = nl == std::string::npos ? std::string() : input.substr(nl + 1);
  if (!message_text.empty() && message_text.back() == '\n') message_text.pop_back();
  sspr::WipeString(input);
  sspr::Secret code = sspr::Secret::Take(code_text);
  sspr::Secret message = sspr::Secret::Take(message_text);

  auto to = sspr::method::NormaliseE164(raw_to, default_cc);
  if (!to) return ReportError({sspr::Errc::kNoDestination, "not a usable phone number: " + raw_to});

  const bool sms = command == "sms";
  auto gw = sms ? sspr::method::Gateway::Create(std::move(cfg), std::nullopt)
                : sspr::method::Gateway::Create(std::nullopt, std::move(cfg));
  if (!gw) return ReportError(gw.error());
  sspr::Status st = sms ? gw->SendSms(*to, message, code) : gw->Call(*to, message, code);
  int rc = 0;
  if (!st) rc = ReportError(st.error());
  else std::printf("ok\n");
  std::printf("to=%s\nmasked=%s\n", to->c_str(), sspr::method::MaskPhone(*to).c_str());
  return rc;
}

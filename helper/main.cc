// ssprd: the privileged helper of sspr.
//
//   ssprd [--config PATH] [--check-config]
//
// Reads /etc/sspr/sspr.conf, listens on a UNIX socket only, runs the reset
// flows, writes back to AD over LDAPS. Exits 0 on SIGTERM/SIGINT.
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <cstring>
#include <string>

#include "server.h"
#include "sspr/ad/client.h"
#include "sspr/audit/audit.h"
#include "sspr/config/config.h"
#include "sspr/method/email.h"
#include "sspr/method/gateway.h"
#include "sspr/method/notify.h"
#include "sspr/openldap/client.h"
#include "sspr/store/enrolment.h"
#include "sspr/store/throttle.h"
#include "sspr/util/files.h"
#include "sspr/wire/codec.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: ssprd [--config PATH] [--check-config]\n"
               "  --config PATH    configuration file (default /etc/sspr/sspr.conf)\n"
               "  --check-config   check the configuration, print every problem, exit\n");
}

// No core dumps: a dump of this process could hold passwords and codes.
void NoCoreDumps() {
  struct rlimit rl {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  NoCoreDumps();
  std::string path = "/etc/sspr/sspr.conf";
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      path = a.substr(9);
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "-h" || a == "--help") {
      Usage();
      return 0;
    } else {
      std::fprintf(stderr, "ssprd: unknown argument: %s\n", argv[i]);
      Usage();
      return 2;
    }
  }
  sspr::CryptoInit();

  auto cfg = sspr::config::Load(path);
  if (!cfg) {
    std::fputs(cfg.error().detail.c_str(), stderr);
    if (cfg.error().detail.back() != '\n') std::fputc('\n', stderr);
    return 1;
  }
  // Files the configuration names are checked too, with the same care.
  auto bind_pw = sspr::ReadSecretFile(cfg->directory.bind_password_file, geteuid());
  if (!bind_pw) {
    std::fprintf(stderr, "%s: [directory] bind_password_file: %s\n", path.c_str(),
                 bind_pw.error().detail.c_str());
    return 1;
  }
  if (access(cfg->directory.ad.ca_file.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "%s: [directory] ca_file: %s: %s\n", path.c_str(),
                 cfg->directory.ad.ca_file.c_str(), std::strerror(errno));
    return 1;
  }
  auto mailer = sspr::method::Mailer::Create(cfg->email);
  if (!mailer) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), mailer.error().detail.c_str());
    return 1;
  }
  std::optional<sspr::method::Gateway> gateway;
  if (cfg->sms.enabled || cfg->voice.enabled) {
    std::optional<sspr::method::GatewayConfig> sms, voice;
    if (cfg->sms.enabled) sms = cfg->sms.gateway;
    if (cfg->voice.enabled) voice = cfg->voice.gateway;
    auto gw = sspr::method::Gateway::Create(sms, voice);
    if (!gw) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), gw.error().detail.c_str());
      return 1;
    }
    gateway.emplace(std::move(gw.value()));
  }
  std::unique_ptr<sspr::ad::Directory> directory;
  if (cfg->directory.type == "openldap") {
    sspr::openldap::OpenLdapOptions ol;
    ol.login_attribute = cfg->directory.login_attribute;
    ol.default_policy_dn = cfg->directory.default_policy_dn;
    auto c = sspr::openldap::Client::Create(cfg->directory.ad, std::move(bind_pw.value()), std::move(ol));
    if (!c) {
      std::fprintf(stderr, "%s: [directory] %s\n", path.c_str(), c.error().detail.c_str());
      return 1;
    }
    directory = std::move(c.value());
  } else {
    auto c = sspr::ad::Client::Create(cfg->directory.ad, std::move(bind_pw.value()));
    if (!c) {
      std::fprintf(stderr, "%s: [directory] %s\n", path.c_str(), c.error().detail.c_str());
      return 1;
    }
    directory = std::move(c.value());
  }
  sspr::policy::BannedListSource banned(cfg->policy.banned_list);
  if (banned.configured()) {
    if (auto list = banned.Get(); !list) {
      std::fprintf(stderr, "%s: [policy] banned_list: %s\n", path.c_str(), list.error().detail.c_str());
      return 1;
    }
  }
  if (check_only) {
    std::printf("%s: configuration OK\n", path.c_str());
    return 0;
  }

  openlog("ssprd", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
  sspr::audit::Log audit(cfg->helper.audit_log);
  if (!audit.ok()) {
    std::fprintf(stderr, "%s: [helper] audit_log: cannot open %s: %s\n", path.c_str(),
                 cfg->helper.audit_log.c_str(), std::strerror(errno));
    return 1;
  }

  // Signals are taken through a signalfd; every thread inherits the mask.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) {
    std::perror("ssprd: signalfd");
    return 1;
  }

  // The helper's key (sealed TOTP seeds, stable fake masks) lives in the
  // state directory, created owner-only on first start.
  mkdir(cfg->helper.state_dir.c_str(), 0700);
  auto helper_key = sspr::store::LoadOrCreateHelperKey(cfg->helper.state_dir + "/helper.key");
  if (!helper_key) {
    std::fprintf(stderr, "ssprd: %s\n", helper_key.error().detail.c_str());
    return 1;
  }
  // A separate key for fake masks, derived so the sealing key is never used for it.
  sspr::Secret fake_key(nullptr, 0);
  {
    unsigned char derived[crypto_auth_hmacsha256_BYTES];
    static const unsigned char kLabel[] = "sspr fake mask key v1";
    crypto_auth_hmacsha256(derived, kLabel, sizeof kLabel - 1, helper_key->data());
    fake_key = sspr::Secret(derived, sizeof derived);
    sodium_memzero(derived, sizeof derived);
  }
  // Abuse limits, kept across restarts. Opened before any thread starts (the
  // store checks itself in a child process at open).
  sspr::store::ThrottleConfig tc;
  tc.account_failures = static_cast<std::uint32_t>(cfg->throttle.failures);
  tc.method_failures = tc.account_failures;
  tc.account_window_s = cfg->throttle.window_s;
  tc.account_block_s = cfg->throttle.block_s;
  tc.source_failures = static_cast<std::uint32_t>(cfg->throttle.source_failures);
  tc.source_window_s = cfg->throttle.window_s;
  tc.source_block_s = cfg->throttle.block_s;
  tc.sends_short_max = static_cast<std::uint32_t>(cfg->throttle.sends_per_minute);
  tc.sends_long_max = static_cast<std::uint32_t>(cfg->throttle.sends_per_day);
  tc.paid_sends_max = static_cast<std::uint32_t>(cfg->throttle.paid_budget_per_day);
  auto throttle = sspr::store::Throttle::Open(cfg->helper.state_dir + "/throttle", tc);
  if (!throttle) {
    std::fprintf(stderr, "ssprd: throttle store: %s\n", throttle.error().detail.c_str());
    return 1;
  }
  std::unique_ptr<sspr::store::EnrolmentStore> enrolment;
  if (cfg->store.backend == "directory") {
    auto* ad_client = dynamic_cast<sspr::ad::Client*>(directory.get());
    if (ad_client == nullptr) {
      std::fprintf(stderr, "%s: [store] backend = directory needs [directory] type = ad\n", path.c_str());
      return 1;
    }
    enrolment = std::make_unique<sspr::store::AdEnrolmentStore>(*ad_client, cfg->store.attribute);
  } else {
    auto st = sspr::store::LmdbEnrolmentStore::Open(cfg->helper.state_dir + "/enrolment");
    if (!st) {
      std::fprintf(stderr, "ssprd: enrolment store: %s\n", st.error().detail.c_str());
      return 1;
    }
    enrolment = std::move(st.value());
  }
  sspr::flow::Services svc;
  svc.cfg = &cfg.value();
  svc.directory = directory.get();
  svc.mailer = &mailer.value();
  svc.audit = &audit;
  svc.fake_key = fake_key.data();
  svc.now_ms = [] { return sspr::wire::NowMs(); };
  sspr::flow::AccountLocks locks;
  sspr::method::Notifier notifier(&mailer.value(), cfg->notify.template_dir, cfg->notify.language);
  svc.notifier = &notifier;
  svc.gateway = gateway ? &*gateway : nullptr;
  svc.enrolment = enrolment.get();
  svc.helper_key = &helper_key.value();
  svc.throttle = throttle->get();
  sspr::store::EnrolmentCodes codes(cfg->helper.state_dir + "/enrolment-codes");
  svc.codes = &codes;
  svc.banned = banned.configured() ? &banned : nullptr;
  svc.locks = &locks;

  // Connect early so a broken directory shows in the log at start, but
  // serve anyway: the client reconnects when the DC comes back.
  if (auto ping = svc.directory->Ping(); !ping)
    audit.Admin(LOG_WARNING, "directory not reachable at start: " + ping.error().detail);

  sspr::helper::Server server(svc);
  if (auto st = server.Listen(); !st) {
    std::fprintf(stderr, "ssprd: %s\n", st.error().detail.c_str());
    return 1;
  }
  audit.Admin(LOG_INFO, "ssprd listening on " + cfg->helper.socket_path);
  server.Serve(sfd);
  audit.Admin(LOG_INFO, "ssprd stopped");
  close(sfd);
  return 0;
}

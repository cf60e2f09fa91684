// sspr-admin: administration of sspr.
//
//   sspr-admin check [--config PATH]   prove the configuration end to end,
//                                      changing nothing; exit 1 on any FAIL
//   sspr-admin status  USER            what USER has registered (no secrets)
//   sspr-admin code    USER            a one-time enrolment code for USER
//   sspr-admin clear   USER            remove USER's registration (user is told)
//   sspr-admin unblock USER            lift a throttle block on USER
// The last four ask ssprd (the same requests as the PAM module), as root.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>

#include "admin_check.h"
#include "terminal.h"
#include "sspr/wire/client.h"
#include "sspr/util/secret.h"

int main(int argc, char** argv) {
  struct rlimit rl {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::string config = "/etc/sspr/sspr.conf";
  std::string socket = "/run/sspr/ssprd.sock";
  std::string cmd, user;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (a == "--socket" && i + 1 < argc) socket = argv[++i];
    else if (cmd.empty() && a[0] != '-') cmd = a;
    else if (user.empty() && a[0] != '-') user = a;
    else {
      std::fprintf(stderr, "sspr-admin: unexpected argument %s\n", argv[i]);
      return 2;
    }
  }
  const std::pair<const char*, std::uint8_t> ops[] = {
      {"status", sspr::wire::kStartFlagAdminStatus}, {"code", sspr::wire::kStartFlagAdminCode},
      {"clear", sspr::wire::kStartFlagAdminClear}, {"unblock", sspr::wire::kStartFlagAdminUnblock}};
  for (const auto& [name, flag] : ops) {
    if (cmd != name) continue;
    if (user.empty()) {
      std::fprintf(stderr, "usage: sspr-admin %s USER [--socket PATH]\n", name);
      return 2;
    }
    std::string why;
    int fd = sspr::wire::ConnectToHelper(socket, 0, &why);
    if (fd < 0) {
      std::fprintf(stderr, "sspr-admin: ssprd is not reachable: %s\n", why.c_str());
      return 1;
    }
    sspr::wire::StartMsg start;
    start.flow = sspr::wire::Flow::kAdmin;
    start.flags = flag;
    start.account = user;
    start.service = "sspr-admin";
    sspr::wire::ClientResult res;
    bool ok = sspr::wire::RunClientDialogue(fd, start, 60000, sspr::helper::TerminalConverse, nullptr, res);
    close(fd);
    if (!ok) {
      std::fprintf(stderr, "sspr-admin: %s\n", res.error.c_str());
      return 1;
    }
    return res.outcome == sspr::wire::Outcome::kDone ? 0 : 1;
  }
  if (cmd != "check") {
    std::fprintf(stderr, "usage: sspr-admin check|status|code|clear|unblock ...\n");
    return 2;
  }
  sspr::CryptoInit();
  int failed = sspr::helper::RunCheck(config, stdout);
  if (failed > 0) std::printf("%d check(s) failed\n", failed);
  else std::printf("all checks passed\n");
  return failed > 0 ? 1 : 0;
}

// sspr-admin: administration of sspr.
//
//   sspr-admin check [--config PATH]   prove the configuration end to end,
//                                      changing nothing; exit 1 on any FAIL
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "admin_check.h"
#include "sspr/util/secret.h"

int main(int argc, char** argv) {
  struct rlimit rl {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::string config = "/etc/sspr/sspr.conf";
  std::string cmd;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (cmd.empty() && a[0] != '-') cmd = a;
    else {
      std::fprintf(stderr, "sspr-admin: unexpected argument %s\n", argv[i]);
      return 2;
    }
  }
  if (cmd != "check") {
    std::fprintf(stderr, "usage: sspr-admin check [--config PATH]\n");
    return 2;
  }
  sspr::CryptoInit();
  int failed = sspr::helper::RunCheck(config, stdout);
  if (failed > 0) std::printf("%d check(s) failed\n", failed);
  else std::printf("all checks passed\n");
  return failed > 0 ? 1 : 0;
}

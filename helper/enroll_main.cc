// sspr-enroll: register or review your own verification methods for
// password reset (authenticator app, security questions).
//
//   sspr-enroll [--socket PATH]
//
// Runs as the calling user: ssprd binds the account to the caller's uid
// (SO_PEERCRED), so nobody can enrol for someone else. The dialogue is the
// helper's; this program only shows it on the terminal.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "terminal.h"
#include "sspr/wire/client.h"


int main(int argc, char** argv) {
  std::string socket = "/run/sspr/ssprd.sock";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      socket = argv[++i];
    } else {
      std::fprintf(stderr, "usage: sspr-enroll [--socket PATH]\n");
      return 2;
    }
  }
  std::string why;
  int fd = sspr::wire::ConnectToHelper(socket, 0, &why);
  if (fd < 0) {
    std::fprintf(stderr, "sspr-enroll: the password reset service is not available (%s)\n", why.c_str());
    return 1;
  }
  sspr::wire::StartMsg start;
  start.flow = sspr::wire::Flow::kEnrol;
  start.service = "sspr-enroll";
  if (const char* tty = ttyname(STDIN_FILENO)) start.tty = tty;
  sspr::wire::ClientResult res;
  bool ok = sspr::wire::RunClientDialogue(fd, start, 600000, sspr::helper::TerminalConverse, nullptr, res);
  close(fd);
  if (!ok) {
    std::fprintf(stderr, "sspr-enroll: %s\n", res.error.c_str());
    return 1;
  }
  return res.outcome == sspr::wire::Outcome::kDone ? 0 : 1;
}

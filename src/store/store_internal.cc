#include "store_internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sspr::store::internal {

std::string Errno(const std::string& path, const char* what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

ChildOutcome RunInChild(void* result, std::size_t len, int timeout_ms,
                        const std::function<void(void* out)>& work) {
  ChildOutcome out;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    out.spawn_errno = errno;
    out.spawn_what = "pipe";
    return out;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    out.spawn_errno = errno;
    out.spawn_what = "fork";
    close(p[0]);
    close(p[1]);
    return out;
  }
  if (pid == 0) {
    close(p[0]);
    struct sigaction sa {};
    sa.sa_handler = [](int sig) { _exit(128 + sig); };
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
    work(result);
    ssize_t ignored = write(p[1], result, len);
    (void)ignored;
    _exit(0);
  }
  close(p[1]);
  std::size_t got = 0;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (got < len) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const long long spent = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (spent >= timeout_ms) {
      out.timed_out = true;
      break;
    }
    pollfd pfd{p[0], POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(timeout_ms - spent)) <= 0) continue;  // the clock decides
    const ssize_t m = read(p[0], static_cast<char*>(result) + got, len - got);
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) break;  // EOF: the child died
    got += static_cast<std::size_t>(m);
  }
  close(p[0]);
  if (out.timed_out) kill(pid, SIGKILL);
  int status = 0;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  // waitpid may fail with ECHILD if SIGCHLD is ignored: the pipe decides.
  out.complete = got == len;
  if (w == pid && WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) > 128) out.signal = WEXITSTATUS(status) - 128;
  return out;
}

}  // namespace sspr::store::internal

#include "sspr/util/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sspr {

Result<Secret> ReadSecretFile(const std::string& path, uid_t owner) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Fail(Errc::kConfig, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Fail(Errc::kConfig, path + ": not a regular file");
  }
  if (st.st_uid != owner) {
    close(fd);
    return Fail(Errc::kConfig, path + ": owned by uid " + std::to_string(st.st_uid) +
                                   ", expected uid " + std::to_string(owner) + "; fix with chown");
  }
  if ((st.st_mode & 0077) != 0) {
    close(fd);
    return Fail(Errc::kConfig, path + ": readable or writable by group/others; fix with chmod 600 " + path);
  }
  if (st.st_size > 4096 || st.st_size == 0) {
    close(fd);
    return Fail(Errc::kConfig, path + ": must hold 1..4096 bytes");
  }
  unsigned char buf[4096];
  std::size_t got = 0;
  while (got < static_cast<std::size_t>(st.st_size)) {
    ssize_t n = read(fd, buf + got, static_cast<std::size_t>(st.st_size) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fd);
  if (got > 0 && buf[got - 1] == '\n') --got;
  if (got > 0 && buf[got - 1] == '\r') --got;
  Secret s(buf, got);
  explicit_bzero(buf, sizeof buf);
  if (s.empty()) return Fail(Errc::kConfig, path + ": is empty");
  return s;
}

}  // namespace sspr

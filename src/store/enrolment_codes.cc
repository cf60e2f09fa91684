#include "sspr/store/enrolment_codes.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sspr/method/otp.h"
#include "sspr/store/enrolment.h"

namespace sspr::store {

std::string EnrolmentCodes::PathFor(std::string_view account) const {
  // Hex of the name: no path tricks, any account name maps to one file.
  std::string hex(account.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(account.data()),
                 account.size());
  hex.pop_back();
  return m_dir + "/" + hex;
}

Result<Secret> EnrolmentCodes::Issue(std::string_view account, std::int64_t valid_s, std::int64_t now_s) {
  if (account.empty() || account.size() > 256) return Fail(Errc::kConfig, "bad account name");
  mkdir(m_dir.c_str(), 0700);
  struct stat st {};
  if (lstat(m_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 0077) != 0)
    return Fail(Errc::kConfig, m_dir + ": must be a directory owned by the helper, mode 0700");
  Secret code = method::GenerateNumericCode(10);
  auto hash = HashAnswer(code.view());
  if (!hash) return Fail(hash.error());
  std::string record = std::to_string(now_s + valid_s) + "\n" + *hash + "\n";
  std::string path = PathFor(account), tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(Errc::kIo, tmp + ": " + std::strerror(errno));
  bool ok = write(fd, record.data(), record.size()) == static_cast<ssize_t>(record.size()) &&
            fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return Fail(Errc::kIo, path + ": could not store the code");
  }
  return code;
}

Result<bool> EnrolmentCodes::Consume(std::string_view account, std::string_view code, std::int64_t now_s) {
  std::string path = PathFor(account);
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno == ENOENT ? Result<bool>(false) : Fail(Errc::kIo, path + ": " + std::strerror(errno));
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  std::string text(buf, static_cast<std::size_t>(n));
  auto nl = text.find('\n');
  if (nl == std::string::npos) return false;
  std::int64_t expires = std::strtoll(text.substr(0, nl).c_str(), nullptr, 10);
  std::string hash = text.substr(nl + 1);
  if (!hash.empty() && hash.back() == '\n') hash.pop_back();
  bool ok = now_s < expires && VerifyAnswer(hash, code);
  if (ok) unlink(path.c_str());  // single use
  return ok;
}

Status EnrolmentCodes::Revoke(std::string_view account) {
  if (unlink(PathFor(account).c_str()) != 0 && errno != ENOENT)
    return Fail(Errc::kIo, std::string("revoke: ") + std::strerror(errno));
  return {};
}

}  // namespace sspr::store

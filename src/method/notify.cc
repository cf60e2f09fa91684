#include "sspr/method/notify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace sspr::method {

namespace {

std::string Clean(const std::string& v) {
  std::string out;
  for (unsigned char c : v)
    if (c >= 0x20 && c != 0x7F) out += static_cast<char>(c);
  return out;
}

Result<std::string> ReadTemplate(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Fail(Errc::kConfig, path + ": cannot open template: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024 ||
      (st.st_mode & 0022) != 0) {
    close(fd);
    return Fail(Errc::kConfig, path + ": template must be a regular file ≤ 64 KiB, not group/other-writable");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  ssize_t n = read(fd, text.data(), text.size());
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Fail(Errc::kConfig, path + ": short read");
  return text;
}

}  // namespace

std::string FillTemplate(const std::string& tmpl, const NotifyFields& f, const std::string& time) {
  const std::pair<const char*, std::string> vars[] = {
      {"{account}", Clean(f.account)},
      {"{display_name}", Clean(f.display_name.empty() ? f.account : f.display_name)},
      {"{time}", time},
      {"{service}", Clean(f.service.empty() ? "sspr" : f.service)},
      {"{from_host}", f.rhost.empty() ? std::string() : ", from " + Clean(f.rhost)},
      {"{helpdesk}", Clean(f.helpdesk)},
  };
  std::string out;
  for (std::size_t i = 0; i < tmpl.size();) {
    bool replaced = false;
    if (tmpl[i] == '{') {
      for (const auto& [key, val] : vars) {
        std::size_t n = std::strlen(key);
        if (tmpl.compare(i, n, key) == 0) {
          out += val;
          i += n;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += tmpl[i++];
  }
  return out;
}

Status Notifier::Send(const std::string& event, const std::vector<std::string>& to,
                      const NotifyFields& fields) const {
  std::string path = m_dir + "/" + m_lang + "/" + event + ".txt";
  auto tmpl = ReadTemplate(path);
  if (!tmpl && m_lang != "en") tmpl = ReadTemplate(m_dir + "/en/" + event + ".txt");
  if (!tmpl) return Fail(tmpl.error());
  char when[64];
  std::time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
  std::string text = FillTemplate(*tmpl, fields, when);
  std::string subject = "sspr notification";
  if (text.rfind("Subject: ", 0) == 0) {
    std::size_t nl = text.find('\n');
    subject = text.substr(9, nl == std::string::npos ? std::string::npos : nl - 9);
    text = nl == std::string::npos ? std::string() : text.substr(nl + 1);
    while (!text.empty() && text[0] == '\n') text.erase(0, 1);
  }
  Status first;
  for (const auto& addr : to) {
    if (!IsUsableAddress(addr)) continue;
    std::string copy = text;
    Status st = m_mailer->Send(addr, subject, Secret::Take(copy));
    if (!st && first) first = st;
  }
  return first;
}

}  // namespace sspr::method

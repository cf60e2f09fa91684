#include "sspr/audit/audit.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <ctime>

namespace sspr::audit {

namespace {

void Quote(std::string& out, std::string_view v) {
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace

Log::Log(std::string file) : m_file(std::move(file)) {
  if (!m_file.empty())
    m_fd = open(m_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

Log::~Log() {
  if (m_fd >= 0) close(m_fd);
}

std::string Log::Format(std::string_view event, const Fields& fields) {
  std::string line = "event=";
  line += event;
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    Quote(line, v);
  }
  return line;
}

void Log::Event(std::string_view event, const Fields& fields) {
  std::string line = Format(event, fields);
  syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line.c_str());
  if (m_fd < 0) return;
  char ts[40];
  std::time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ ", &tm);
  std::string out = ts + line + "\n";
  std::lock_guard<std::mutex> lock(m_mu);
  ssize_t n = write(m_fd, out.data(), out.size());
  (void)n;  // an audit write failure is reported by the syslog copy
}

void Log::Admin(int priority, std::string_view text) {
  syslog(LOG_AUTHPRIV | priority, "%.*s", static_cast<int>(text.size()), text.data());
  if (m_fd < 0) return;
  std::string out = "admin: ";
  out += text;
  out += "\n";
  std::lock_guard<std::mutex> lock(m_mu);
  ssize_t n = write(m_fd, out.data(), out.size());
  (void)n;
}

}  // namespace sspr::audit

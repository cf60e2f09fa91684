// The audit trail: one line per event, to syslog (LOG_AUTHPRIV) and, when
// configured, appended to a file (O_APPEND, 0600). Lines are key=value with
// values quoted and escaped so a hostile account name cannot forge fields.
// Never pass a secret: fields are plain strings by design, and Secret has no
// conversion to one.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sspr::audit {

using Fields = std::vector<std::pair<std::string, std::string>>;

class Log {
 public:
  // `file` may be empty (syslog only). Opened with O_NOFOLLOW|O_APPEND.
  explicit Log(std::string file);
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;
  bool ok() const { return m_file.empty() || m_fd >= 0; }

  // event: short stable name ("reset_written"); fields in order.
  void Event(std::string_view event, const Fields& fields);
  // Admin diagnostics (not audit events) go to syslog at the given level.
  void Admin(int priority, std::string_view text);

  // The formatted line (for tests).
  static std::string Format(std::string_view event, const Fields& fields);

 private:
  std::string m_file;
  int m_fd = -1;
  std::mutex m_mu;
};

}  // namespace sspr::audit

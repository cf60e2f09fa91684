#include "sspr/policy/banned.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sspr::policy {

namespace {

// Levenshtein distance bounded by 1: true when a and b differ by at most one
// insertion, deletion or substitution.
bool WithinOneEdit(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  std::size_t i = 0, j = 0;
  bool edited = false;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) {
      ++i;
      ++j;
      continue;
    }
    if (edited) return false;
    edited = true;
    if (a.size() == b.size()) ++i;  // substitution
    ++j;                            // insertion into a / deletion from b
  }
  return true;
}

}  // namespace

std::string BannedList::Normalise(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    char m = 0;
    if (c >= 'A' && c <= 'Z') m = static_cast<char>(c - 'A' + 'a');
    else if (c >= 'a' && c <= 'z') m = static_cast<char>(c);
    else switch (c) {
        case '@': case '4': m = 'a'; break;
        case '0': m = 'o'; break;
        case '1': case '!': case '|': m = 'i'; break;
        case '3': m = 'e'; break;
        case '$': case '5': m = 's'; break;
        case '7': case '+': m = 't'; break;
        case '8': m = 'b'; break;
        default: break;
      }
    if (m == 'l') m = 'i';  // l and 1 and i look alike: fold them together
    if (m != 0) out += m;
  }
  return out;
}

BannedList BannedList::FromEntries(const std::vector<std::string>& entries) {
  BannedList b;
  for (const auto& e : entries) {
    std::string n = Normalise(e);
    if (!n.empty()) b.m_entries.push_back(std::move(n));
  }
  return b;
}

Result<BannedList> BannedList::Load(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Fail(Errc::kConfig, path + ": cannot open banned list: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0022) != 0 ||
      st.st_size > 16 * 1024 * 1024) {
    close(fd);
    return Fail(Errc::kConfig, path + ": banned list must be a regular file, not writable by "
                                      "group/others, at most 16 MiB");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fd);
  if (got != text.size()) return Fail(Errc::kConfig, path + ": short read of banned list");
  std::vector<std::string> entries;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    entries.push_back(line);
  }
  return FromEntries(entries);
}

bool BannedList::Matches(std::string_view password) const {
  std::string p = Normalise(password);
  for (const auto& e : m_entries) {
    if (e.size() >= 4 && p.find(e) != std::string::npos) return true;
    if (WithinOneEdit(p, e)) return true;
  }
  return false;
}

Result<std::shared_ptr<const BannedList>> BannedListSource::Get() {
  std::lock_guard<std::mutex> lock(m_mu);
  if (m_path.empty()) return std::shared_ptr<const BannedList>(std::make_shared<BannedList>());
  struct stat st {};
  if (lstat(m_path.c_str(), &st) != 0)
    return Fail(Errc::kConfig, m_path + ": banned list unreadable: " + std::strerror(errno));
  long long mtime = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  if (m_list && mtime == m_mtime_ns && st.st_size == m_size) return m_list;
  auto loaded = BannedList::Load(m_path);
  if (!loaded) return Fail(loaded.error());
  m_list = std::make_shared<const BannedList>(std::move(loaded.value()));
  m_mtime_ns = mtime;
  m_size = st.st_size;
  return m_list;
}

}  // namespace sspr::policy

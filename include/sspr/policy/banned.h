// A local banned-password list (Entra's "custom banned passwords", on
// premises). Entries and candidates are normalised the same way: lower-case,
// common substitutions folded (@→a, 0→o, 1/!/|/l→i, 3→e, $/5→s, 7/+→t, 4→a,
// 8→b), anything else non-alphabetic dropped. A candidate is refused when a
// normalised entry of ≥ 4 letters occurs in it, or when the whole normalised
// candidate is within one edit of an entry ("near miss").
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/util/result.h"

namespace sspr::policy {

class BannedList {
 public:
  BannedList() = default;
  // Reads a root-owned (or helper-owned) text file, one entry per line, '#'
  // comments. Errors name the file and line.
  static Result<BannedList> Load(const std::string& path);
  static BannedList FromEntries(const std::vector<std::string>& entries);

  bool Matches(std::string_view password) const;
  std::size_t size() const { return m_entries.size(); }

  static std::string Normalise(std::string_view s);

 private:
  std::vector<std::string> m_entries;  // normalised, non-empty
};

// The configured list, loaded on first use and again when the file changes.
// Get() fails when a list is configured but cannot be read, so a reset is
// refused rather than waved through (SECURITY.md rule 6).
class BannedListSource {
 public:
  explicit BannedListSource(std::string path) : m_path(std::move(path)) {}
  bool configured() const { return !m_path.empty(); }
  Result<std::shared_ptr<const BannedList>> Get();

 private:
  std::string m_path;
  std::mutex m_mu;
  std::shared_ptr<const BannedList> m_list;
  long long m_mtime_ns = -1;
  long long m_size = -1;
};

}  // namespace sspr::policy

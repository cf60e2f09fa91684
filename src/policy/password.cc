#include "sspr/policy/password.h"

#include <cctype>
#include <string>
#include <vector>

namespace sspr::policy {

namespace {

// Decode UTF-8 (already validated upstream); invalid bytes count as symbols.
std::vector<char32_t> CodePoints(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1Fu) : n == 2 ? (c & 0x0Fu) : (c & 0x07u);
    std::size_t j = 1;
    for (; j <= static_cast<std::size_t>(n) && i + j < s.size(); ++j)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + j]) & 0x3Fu);
    out.push_back(cp);
    i += j;
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ContainsFolded(std::string_view haystack, std::string_view needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

}  // namespace

Rule Check(std::string_view password, const ad::DomainPolicy& policy,
           std::string_view account_name, std::string_view display_name) {
  auto cps = CodePoints(password);
  if (static_cast<int>(cps.size()) < policy.min_length) return Rule::kTooShort;
  if (!policy.complexity) return Rule::kOk;

  bool upper = false, lower = false, digit = false, symbol = false, other = false;
  for (char32_t cp : cps) {
    if (cp >= 'A' && cp <= 'Z') upper = true;
    else if (cp >= 'a' && cp <= 'z') lower = true;
    else if (cp >= '0' && cp <= '9') digit = true;
    else if (cp < 0x80) symbol = true;
    else other = true;  // non-ASCII: AD counts Unicode letters as their own class
  }
  int classes = upper + lower + digit + symbol + other;
  if (classes < 3) return Rule::kComplexity;

  if (account_name.size() >= 3 && ContainsFolded(password, account_name)) return Rule::kComplexity;
  // Display-name tokens: split on , . - _ # space tab; tokens < 3 chars ignored.
  std::string token;
  auto flush = [&]() -> bool {
    bool hit = token.size() >= 3 && ContainsFolded(password, token);
    token.clear();
    return hit;
  };
  for (char c : display_name) {
    if (c == ',' || c == '.' || c == '-' || c == '_' || c == '#' || c == ' ' || c == '\t') {
      if (flush()) return Rule::kComplexity;
    } else {
      token += c;
    }
  }
  if (flush()) return Rule::kComplexity;
  return Rule::kOk;
}

}  // namespace sspr::policy

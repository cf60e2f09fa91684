// Pure encoding helpers of the AD client: RFC 4515 filter escaping,
// unicodePwd encoding, UserEntry::First. No libldap here, so the unit tests
// and fuzzers exercise them without a directory.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sspr/ad/client.h"

namespace sspr::ad {
namespace {

// Decodes one code point at `i` following Unicode 15 Table 3-7 (well-formed
// UTF-8 byte sequences): no overlong forms, no surrogates (U+D800..DFFF), no
// value above U+10FFFF, no truncated or stray continuation bytes.
bool NextCodePoint(std::string_view s, std::size_t& i, char32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    i += 1;
    return true;
  }
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return false;  // 0x80..0xC1 (continuation / overlong lead), 0xF5..0xFF
  }
  if (s.size() - i <= need) return false;
  for (std::size_t k = 1; k <= need; ++k) {
    const unsigned char b = byte(i + k);
    const unsigned char min = (k == 1) ? lo : 0x80;
    const unsigned char max = (k == 1) ? hi : 0xBF;
    if (b < min || b > max) return false;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  i += need + 1;
  return true;
}

void PutUnit(unsigned char*& out, std::uint16_t unit) {
  *out++ = static_cast<unsigned char>(unit & 0xFFu);
  *out++ = static_cast<unsigned char>(unit >> 8);
}

}  // namespace

const std::vector<std::string>& UserEntry::Values(std::string_view name) const {
  static const std::vector<std::string> kNone;
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = attrs.find(lower);
  return it == attrs.end() ? kNone : it->second;
}

std::optional<std::string> UserEntry::First(std::string_view lower_name) const {
  auto it = attrs.find(std::string(lower_name));
  if (it == attrs.end() || it->second.empty()) return std::nullopt;
  return it->second.front();
}

std::string EscapeFilterValue(std::string_view value) {
  // RFC 4515 §3: in an assertion value '*', '(', ')', '\' and NUL must be
  // written as '\' + two hex digits; any other octet may be. We also escape
  // control characters and every non-ASCII byte, so the filter we send is
  // plain ASCII whatever the input (examples in §4 use lower-case hex).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    const auto b = static_cast<unsigned char>(ch);
    if (b == '*' || b == '(' || b == ')' || b == '\\' || b < 0x20 || b >= 0x80) {
      out.push_back('\\');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0F]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

Result<Secret> EncodeUnicodePwd(const Secret& utf8_password) {
  // MS-ADTS 3.1.1.3.1.5.1: unicodePwd is the password surrounded by double
  // quotes, encoded as UTF-16LE (no BOM, no terminator). Code points above
  // U+FFFF become surrogate pairs. First pass validates and counts, second
  // writes straight into locked memory: no intermediate copy to wipe.
  const std::string_view in = utf8_password.view();
  std::size_t units = 2;  // the quotes
  for (std::size_t i = 0; i < in.size();) {
    char32_t cp = 0;
    if (!NextCodePoint(in, i, cp)) return Fail(Errc::kDirRejected, "password is not valid UTF-8");
    if (cp == 0) return Fail(Errc::kDirRejected, "password contains NUL");
    units += (cp > 0xFFFF) ? 2 : 1;
  }
  // Secret has no "uninitialised" constructor; Random gives locked memory of
  // the right size that is fully overwritten below.
  Secret out = Secret::Random(units * 2);
  unsigned char* p = out.data();
  PutUnit(p, u'"');
  for (std::size_t i = 0; i < in.size();) {
    char32_t cp = 0;
    NextCodePoint(in, i, cp);  // validated above
    if (cp > 0xFFFF) {
      const char32_t v = cp - 0x10000;
      PutUnit(p, static_cast<std::uint16_t>(0xD800 + (v >> 10)));
      PutUnit(p, static_cast<std::uint16_t>(0xDC00 + (v & 0x3FF)));
    } else {
      PutUnit(p, static_cast<std::uint16_t>(cp));
    }
  }
  PutUnit(p, u'"');
  return out;
}

}  // namespace sspr::ad

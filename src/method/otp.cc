#include "sspr/method/otp.h"

#include <sodium.h>

#include <string>

namespace sspr::method {

Secret GenerateNumericCode(int length) {
  CryptoInit();
  if (length < 4) length = 4;
  if (length > 16) length = 16;
  char digits[16];
  for (int i = 0; i < length; ++i)
    digits[i] = static_cast<char>('0' + randombytes_uniform(10));  // uniform, no bias
  Secret s(digits, static_cast<std::size_t>(length));
  sodium_memzero(digits, sizeof digits);
  return s;
}

OneTimeCode::OneTimeCode(Secret code, std::string binding, std::int64_t expires_ms, int tries)
    : m_code(std::move(code)), m_binding(std::move(binding)), m_expires_ms(expires_ms),
      m_tries(tries) {}

CodeCheck OneTimeCode::Verify(std::string_view answer, std::string_view binding,
                              std::int64_t now_ms) {
  if (m_used) return CodeCheck::kUsed;
  if (m_tries <= 0) return CodeCheck::kExhausted;
  --m_tries;  // spent before comparing
  if (now_ms >= m_expires_ms) return CodeCheck::kExpired;
  // Normalise: users paste "1234 5678" or "1234-5678".
  char buf[64];
  std::size_t n = 0;
  bool overflow = false;
  for (char c : answer) {
    if (c == ' ' || c == '-' || c == '\t') continue;
    if (n == sizeof buf) {
      overflow = true;
      break;
    }
    buf[n++] = c;
  }
  bool match = !overflow && m_code.Equals(std::string_view(buf, n)) && binding == m_binding;
  sodium_memzero(buf, sizeof buf);
  if (!match) return m_tries <= 0 ? CodeCheck::kExhausted : CodeCheck::kWrong;
  m_used = true;
  return CodeCheck::kOk;
}

std::string CodeBinding(std::string_view account, std::string_view method,
                        std::string_view destination, std::string_view flow_id) {
  std::string out;
  for (std::string_view f : {account, method, destination, flow_id}) {
    out += std::to_string(f.size());
    out += ':';
    out += f;
    out += '|';
  }
  return out;
}

}  // namespace sspr::method

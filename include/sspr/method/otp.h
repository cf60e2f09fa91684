// One-time codes for the reset flow (email now, SMS/voice later).
//
// A code is CSPRNG digits, single-use, bound at creation to (account,
// method, destination, flow id), with an expiry and a try budget. The
// budget is spent *before* the answer is compared (SECURITY.md rule 11), and
// comparison is constant-time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sspr/util/secret.h"

namespace sspr::method {

// `length` decimal digits from randombytes_uniform (no modulo bias).
Secret GenerateNumericCode(int length);

enum class CodeCheck { kOk, kWrong, kExpired, kExhausted, kUsed };

class OneTimeCode {
 public:
  OneTimeCode(Secret code, std::string binding, std::int64_t expires_ms, int tries);
  // Spend one try, then compare `answer` (spaces and dashes ignored) with
  // the code, and check that `binding` is the one it was issued for.
  CodeCheck Verify(std::string_view answer, std::string_view binding, std::int64_t now_ms);
  int tries_left() const { return m_tries; }
  const Secret& code() const { return m_code; }

 private:
  Secret m_code;
  std::string m_binding;
  std::int64_t m_expires_ms;
  int m_tries;
  bool m_used = false;
};

// The binding string: length-prefixed fields, never plain concatenation
// (SECURITY.md rule 12), e.g. "5:alice|5:email|21:a@example.org|16:…".
std::string CodeBinding(std::string_view account, std::string_view method,
                        std::string_view destination, std::string_view flow_id);

}  // namespace sspr::method

// Admin-issued one-time enrolment codes: a first registration from a
// service not in [registration] services needs one (SECURITY.md rule 5).
// One file per account under a 0700 directory, holding an Argon2id hash of
// the code and its expiry; written via temp file + fsync + rename; a code is
// consumed (removed) by its first successful use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::store {

class EnrolmentCodes {
 public:
  explicit EnrolmentCodes(std::string dir) : m_dir(std::move(dir)) {}
  // A fresh 10-digit code for `account`, replacing any earlier one.
  Result<Secret> Issue(std::string_view account, std::int64_t valid_s, std::int64_t now_s);
  // True (and the code is consumed) if `code` is the account's unexpired code.
  Result<bool> Consume(std::string_view account, std::string_view code, std::int64_t now_s);
  Status Revoke(std::string_view account);

 private:
  std::string PathFor(std::string_view account) const;
  std::string m_dir;
};

}  // namespace sspr::store

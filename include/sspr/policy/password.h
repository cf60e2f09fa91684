// Local pre-check of a candidate password against AD's domain policy, so the
// user hears which rule failed, with its limit, before anything is sent to
// the directory (and without spending a write).
#pragma once

#include <string_view>

#include "sspr/ad/client.h"

namespace sspr::policy {

enum class Rule { kOk, kTooShort, kComplexity };

// Length counts Unicode code points (AD counts UTF-16 units; they differ only
// for characters outside the BMP, where we are stricter). Complexity is AD's
// rule: at least three of upper-case, lower-case, digits, symbols and other
// letters, and neither the sAMAccountName (if ≥ 3 characters) nor any
// display-name token of ≥ 3 characters contained, case-insensitively
// (MS-ADTS / "Passwords must meet complexity requirements").
Rule Check(std::string_view password, const ad::DomainPolicy& policy,
           std::string_view account_name, std::string_view display_name);

}  // namespace sspr::policy

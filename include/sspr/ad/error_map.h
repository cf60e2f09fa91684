// The one table mapping directory answers to sspr::Errc.
//
// AD puts an 8-hex-digit Win32 code at the start of the diagnostic message
// ("0000052D: Constraint violation - ...") and, for binds, a "data 52e"
// sub-code. Only those codes are parsed; the rest of the text is admin
// detail. Unit-tested row by row (tests/unit/test_ad_error_map.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "sspr/util/error.h"

namespace sspr::ad {

enum class Op { kBind, kSearch, kModify, kPasswordChange };

// Leading 8-hex code of a diagnostic message, if present.
std::optional<std::uint32_t> LeadingWin32Code(std::string_view diagnostic);
// The "data XXX" sub-code of an AD bind error (hex), if present.
std::optional<std::uint32_t> BindDataCode(std::string_view diagnostic);

// Map an LDAP result code + diagnostic for an operation onto an Errc.
// Never returns a success code for a non-zero rc.
Errc MapLdapResult(Op op, int ldap_rc, std::string_view diagnostic);

}  // namespace sspr::ad

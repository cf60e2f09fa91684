// The one table that turns an LDAP result (code + diagnostic text) into an
// sspr::Errc. Every row has a unit test in tests/unit/test_ad_error_map.cc.
//
// Sources:
//  * RFC 4511 §4.1.9 and Appendix A: LDAP result codes (19 constraint
//    violation, 32 noSuchObject, 49 invalidCredentials, 50 insufficient
//    access rights, 53 unwillingToPerform, ...).
//  * OpenLDAP <ldap.h>: the client API codes are negative (LDAP_SERVER_DOWN
//    -1, LDAP_TIMEOUT -5, LDAP_CONNECT_ERROR -11). The Microsoft/Netscape C
//    API (wldap32, RFC 1823 drafts) uses 0x51 (81) server down, 0x55 (85)
//    timeout and 0x5b (91) connect error for the same conditions; both sets
//    are mapped so values copied from Windows documentation also work.
//  * MS-ADTS 3.1.1.3.1.5 / 3.1.1.4.6: AD puts the Win32 error as eight hex
//    digits at the start of the diagnostic ("0000052D: Constraint violation
//    - ..."); for a failed simple bind the interesting code is the
//    "data XXX" sub-code ("80090308: LdapErr: DSID-0C09041C, comment:
//    AcceptSecurityContext error, data 52e, v4563"). Samba 4.x uses the same
//    two forms (its texts after the code differ, e.g. "0000052D: Constraint
//    violation - check_password_restrictions: the password is too short",
//    "00000056: Constraint violation - The old password specified doesn't
//    match!"; bind: "80090308: LdapErr: DSID-0C0903A9, comment:
//    AcceptSecurityContext error, data 52e, v1db1"). Only the codes are
//    parsed; the text is admin detail.
//  * MS-ERREF 2.2 (Win32 error codes): 0x56 ERROR_INVALID_PASSWORD,
//    0x4DC ERROR_NOT_AUTHENTICATED, 0x525 ERROR_NO_SUCH_USER,
//    0x52D ERROR_PASSWORD_RESTRICTION, 0x52E ERROR_LOGON_FAILURE,
//    0x52F ERROR_ACCOUNT_RESTRICTION, 0x530 ERROR_INVALID_LOGON_HOURS,
//    0x531 ERROR_INVALID_WORKSTATION, 0x532 ERROR_PASSWORD_EXPIRED,
//    0x533 ERROR_ACCOUNT_DISABLED, 0x568 ERROR_LOGON_TYPE_NOT_GRANTED,
//    0x701 ERROR_ACCOUNT_EXPIRED, 0x773 ERROR_PASSWORD_MUST_CHANGE,
//    0x775 ERROR_ACCOUNT_LOCKED_OUT.
#include "sspr/ad/error_map.h"

#include <ldap.h>

#include <array>
#include <cstddef>

namespace sspr::ad {
namespace {

// Microsoft C API values of the client-side codes (wldap32 winldap.h).
constexpr int kMsServerDown = 0x51;    // 81
constexpr int kMsTimeout = 0x55;       // 85
constexpr int kMsConnectError = 0x5b;  // 91

constexpr int kAnyRc = 0x7fffffff;  // row matches any non-zero rc

// Which operations a row applies to.
enum OpBits : unsigned {
  kOpBind = 1u << 0,
  kOpSearch = 1u << 1,
  kOpModify = 1u << 2,
  kOpChange = 1u << 3,
  kOpWrite = kOpModify | kOpChange,
  kOpAll = kOpBind | kOpSearch | kOpModify | kOpChange,
};

enum class Sub {
  kAny,       // the diagnostic is not looked at
  kBindData,  // BindDataCode(diagnostic) == code
  kWin32,     // LeadingWin32Code(diagnostic) == code
  kTlsText,   // the diagnostic names a TLS / certificate problem
};

struct Row {
  unsigned ops;
  int rc;
  Sub sub;
  std::uint32_t code;
  Errc errc;
};

// First matching row wins; the last rows per operation are the fallbacks, so
// every non-zero rc maps to a failure.
constexpr std::array kTable = {
    // --- transport ---------------------------------------------------------
    // libldap reports a failed TLS handshake / certificate check as "can't
    // contact" or connect error with the TLS library's text in the
    // diagnostic (OpenLDAP tls2.c copies the session error message).
    Row{kOpAll, LDAP_CONNECT_ERROR, Sub::kTlsText, 0, Errc::kDirTls},
    Row{kOpAll, LDAP_SERVER_DOWN, Sub::kTlsText, 0, Errc::kDirTls},
    Row{kOpAll, kMsConnectError, Sub::kTlsText, 0, Errc::kDirTls},
    Row{kOpAll, kMsServerDown, Sub::kTlsText, 0, Errc::kDirTls},
    Row{kOpAll, LDAP_SERVER_DOWN, Sub::kAny, 0, Errc::kDirUnavailable},
    Row{kOpAll, LDAP_CONNECT_ERROR, Sub::kAny, 0, Errc::kDirUnavailable},
    Row{kOpAll, kMsServerDown, Sub::kAny, 0, Errc::kDirUnavailable},
    Row{kOpAll, kMsConnectError, Sub::kAny, 0, Errc::kDirUnavailable},
    // RFC 4511: busy (51) and unavailable (52): the DC is there but will not
    // serve (e.g. shutting down); another DC may.
    Row{kOpAll, LDAP_BUSY, Sub::kAny, 0, Errc::kDirUnavailable},
    Row{kOpAll, LDAP_UNAVAILABLE, Sub::kAny, 0, Errc::kDirUnavailable},
    // Client-side timeout waiting for the answer, and the server's own time
    // limit (RFC 4511 timeLimitExceeded, 3).
    Row{kOpAll, LDAP_TIMEOUT, Sub::kAny, 0, Errc::kTimeout},
    Row{kOpAll, kMsTimeout, Sub::kAny, 0, Errc::kTimeout},
    Row{kOpAll, LDAP_TIMELIMIT_EXCEEDED, Sub::kAny, 0, Errc::kTimeout},
    // strongerAuthRequired (8: AD "LDAP signing required") and
    // confidentialityRequired (13): the DC wants a protected link. We only
    // ever talk over TLS, so this means the link is not what we think.
    Row{kOpAll, LDAP_STRONG_AUTH_REQUIRED, Sub::kAny, 0, Errc::kDirTls},
    Row{kOpAll, LDAP_CONFIDENTIALITY_REQUIRED, Sub::kAny, 0, Errc::kDirTls},
    // We could not parse what came back.
    Row{kOpAll, LDAP_DECODING_ERROR, Sub::kAny, 0, Errc::kDirBadReply},

    // --- bind (rc 49 invalidCredentials, sub-code "data XXX") ---------------
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x52e, Errc::kDirWrongPassword},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x525, Errc::kDirNoSuchUser},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x775, Errc::kDirLocked},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x773, Errc::kDirMustChange},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x532, Errc::kDirExpired},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x533, Errc::kDirDisabled},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x701, Errc::kDirAccountExpired},
    // Logon hours, workstation, restriction, logon type: the password may be
    // right but the account may not log on this way now.
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x530, Errc::kDirRejected},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x531, Errc::kDirRejected},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x52f, Errc::kDirRejected},
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kBindData, 0x568, Errc::kDirRejected},
    // Any other 49 (non-AD servers send no sub-code): wrong password.
    Row{kOpBind, LDAP_INVALID_CREDENTIALS, Sub::kAny, 0, Errc::kDirWrongPassword},

    // --- password writes (rc 19 constraintViolation, leading Win32 code) ---
    Row{kOpWrite, LDAP_CONSTRAINT_VIOLATION, Sub::kWin32, 0x52d, Errc::kDirPolicy},
    Row{kOpWrite, LDAP_CONSTRAINT_VIOLATION, Sub::kWin32, 0x56, Errc::kDirWrongPassword},
    Row{kOpWrite, LDAP_CONSTRAINT_VIOLATION, Sub::kWin32, 0x775, Errc::kDirLocked},
    Row{kOpWrite, LDAP_CONSTRAINT_VIOLATION, Sub::kAny, 0, Errc::kDirRejected},

    // --- any operation ------------------------------------------------------
    // "000004DC: ... a successful bind must be completed on the connection":
    // our service bind is gone or never happened.
    Row{kOpSearch | kOpWrite, LDAP_OPERATIONS_ERROR, Sub::kWin32, 0x4dc, Errc::kDirServiceAuth},
    Row{kOpAll, LDAP_INSUFFICIENT_ACCESS, Sub::kAny, 0, Errc::kDirAccessDenied},
    // unwillingToPerform (53): e.g. "0000001F: SvcErr: ... WILL_NOT_PERFORM"
    // for unicodePwd on an unencrypted link, or an unauthenticated bind.
    Row{kOpAll, LDAP_UNWILLING_TO_PERFORM, Sub::kAny, 0, Errc::kDirRejected},
    Row{kOpAll, LDAP_NO_SUCH_OBJECT, Sub::kAny, 0, Errc::kDirNoSuchUser},
    // sizeLimitExceeded (4) on a user search with size limit 2: several match.
    Row{kOpSearch, LDAP_SIZELIMIT_EXCEEDED, Sub::kAny, 0, Errc::kDirAmbiguous},
    // referral (10): the base is not held by this DC; we never chase.
    Row{kOpSearch, LDAP_REFERRAL, Sub::kAny, 0, Errc::kDirBadReply},

    // --- fallbacks ----------------------------------------------------------
    Row{kOpBind, kAnyRc, Sub::kAny, 0, Errc::kDirRejected},
    Row{kOpWrite, kAnyRc, Sub::kAny, 0, Errc::kDirRejected},
    Row{kOpSearch, kAnyRc, Sub::kAny, 0, Errc::kDirBadReply},
};

unsigned OpBit(Op op) {
  switch (op) {
    case Op::kBind: return kOpBind;
    case Op::kSearch: return kOpSearch;
    case Op::kModify: return kOpModify;
    case Op::kPasswordChange: return kOpChange;
  }
  return 0;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ContainsCaseless(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size(); ++j) {
      if (Lower(hay[i + j]) != Lower(needle[j])) {
        match = false;
        break;
      }
    }
    if (match) return true;
  }
  return false;
}

// Words the TLS libraries (GnuTLS, OpenSSL) and libldap's TLS layer use.
bool MentionsTls(std::string_view diagnostic) {
  constexpr std::array<std::string_view, 6> kWords = {"tls", "ssl", "certificate", "handshake",
                                                       "x509", "x.509"};
  for (std::string_view w : kWords) {
    if (ContainsCaseless(diagnostic, w)) return true;
  }
  return false;
}

bool RowMatches(const Row& row, unsigned op_bit, int rc, std::string_view diagnostic) {
  if ((row.ops & op_bit) == 0) return false;
  if (row.rc != kAnyRc && row.rc != rc) return false;
  switch (row.sub) {
    case Sub::kAny: return true;
    case Sub::kBindData: {
      auto code = BindDataCode(diagnostic);
      return code && *code == row.code;
    }
    case Sub::kWin32: {
      auto code = LeadingWin32Code(diagnostic);
      return code && *code == row.code;
    }
    case Sub::kTlsText: return MentionsTls(diagnostic);
  }
  return false;
}

}  // namespace

std::optional<std::uint32_t> LeadingWin32Code(std::string_view diagnostic) {
  // Exactly eight hex digits, then ':' or the end ("0000052D: ...").
  if (diagnostic.size() < 8) return std::nullopt;
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    int d = HexDigit(diagnostic[i]);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  if (diagnostic.size() > 8 && diagnostic[8] != ':') return std::nullopt;
  return v;
}

std::optional<std::uint32_t> BindDataCode(std::string_view diagnostic) {
  // "..., data 52e, v4563": the word "data" (at the start or after ' ' or
  // ','), one space, 1-8 hex digits, then ',', ' ', ';' or the end.
  constexpr std::string_view kKey = "data ";
  std::size_t pos = 0;
  while ((pos = diagnostic.find(kKey, pos)) != std::string_view::npos) {
    const std::size_t start = pos + kKey.size();
    const bool word_start = pos == 0 || diagnostic[pos - 1] == ' ' || diagnostic[pos - 1] == ',';
    pos = start;
    if (!word_start) continue;
    std::uint32_t v = 0;
    std::size_t n = 0;
    while (start + n < diagnostic.size() && n <= 8) {
      int d = HexDigit(diagnostic[start + n]);
      if (d < 0) break;
      v = (v << 4) | static_cast<std::uint32_t>(d);
      ++n;
    }
    if (n == 0 || n > 8) continue;
    if (start + n < diagnostic.size()) {
      char t = diagnostic[start + n];
      if (t != ',' && t != ' ' && t != ';') continue;
    }
    return v;
  }
  return std::nullopt;
}

Errc MapLdapResult(Op op, int ldap_rc, std::string_view diagnostic) {
  // rc 0 is not a failure; asking to map it is a caller bug, and we must
  // never hand back anything that could read as success.
  if (ldap_rc == LDAP_SUCCESS) return Errc::kInternal;
  const unsigned bit = OpBit(op);
  for (const Row& row : kTable) {
    if (RowMatches(row, bit, ldap_rc, diagnostic)) return row.errc;
  }
  return Errc::kInternal;  // unreachable: every op has a fallback row
}

}  // namespace sspr::ad

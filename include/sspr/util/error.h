// Stable error codes shared by every component of the core library.
//
// A failure carries an Errc (stable, safe to show as a number, drives the
// user message and the PAM code), and an admin detail (free text for the
// admin log only: it may quote the directory, never a secret).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sspr {

enum class Errc : std::uint16_t {
  kInternal = 1,
  kConfig,
  kIo,
  kTimeout,
  kProtocol,        // the peer broke the wire protocol
  kPermission,      // caller may not do this (peer uid rule)
  kCancelled,       // the user cancelled (empty answer / EOF at a prompt)
  // Directory (src/ad/error_map.cc maps LDAP results onto these).
  kDirUnavailable,  // could not reach any DC / connection lost before sending
  kDirTls,          // TLS handshake or certificate verification failed
  kDirServiceAuth,  // the helper's own bind failed
  kDirNoSuchUser,
  kDirAmbiguous,    // more than one entry matched
  kDirAccessDenied, // insufficient rights for the helper's account
  kDirPolicy,       // 0000052D: password does not meet policy (rule not named)
  kDirPolicyTooShort,   // the directory named the rule (OpenLDAP ppolicy)
  kDirPolicyQuality,
  kDirPolicyHistory,
  kDirPolicyTooYoung,
  kDirWrongPassword,// 00000056 / data 52e
  kDirLocked,       // 00000775 / data 775
  kDirDisabled,     // data 533
  kDirExpired,      // data 532 (password expired)
  kDirMustChange,   // data 773
  kDirAccountExpired, // data 701
  kDirRejected,     // any other refusal of a write (constraint, unwilling)
  kDirWriteUnknown, // the request was sent, the answer was lost
  kDirBadReply,     // the directory answered something we cannot use
  // Methods and flows.
  kSendFailed,
  kNoDestination,
  kCodeWrong,
  kCodeExpired,
  kTooManyTries,
  kFlowExpired,
  kNotEligible,     // unknown, disabled, not enrolled, out of scope: same face
  kPasswordMismatch,
};

// Short stable name ("dir_policy") for logs and tests.
std::string_view ErrcName(Errc code) noexcept;

struct Error {
  Errc code = Errc::kInternal;
  std::string detail;  // admin-only text; never holds a secret
};

}  // namespace sspr

// The sspr wire protocol between pam_sspr.so (untrusted client) and ssprd.
// This header is the specification.
//
// Transport: a SOCK_STREAM UNIX socket (default /run/sspr/ssprd.sock, owned
// by root, mode 0666; the helper authorises by SO_PEERCRED, not by mode).
//
// Frame (all integers big-endian):
//   u32 length      bytes that follow, 2 ≤ length ≤ kMaxFrame, checked
//                   before anything is allocated
//   u8  version     kProtocolVersion; anything else is an error
//   u8  type        a MsgType below. Requests (module → helper) are even,
//                   answers (helper → module) are odd.
//   ... body        the fields of that type, consumed exactly: trailing
//                   bytes are an error.
// Field encodings:
//   u8/u16/u32      fixed width
//   str             u16 length + UTF-8 bytes, no NUL, per-field cap
//
// Dialogue: the helper drives it. The module sends kStart once; the helper
// answers with kStep frames, each a short list of items (info/error lines,
// then at most one prompt, always last). The module renders every item
// through the message catalog (catalog.h) into one PAM conversation call
// and returns the prompt's answer in kAnswer (or an empty kAnswer with
// kAnswerNone when the step had no prompt). The helper ends the dialogue
// with kResult. New methods and flows are new message ids and parameters,
// never new module code.
//
// kStart     (2)  u8 flow        Flow below
//                 u8 flags       kStartFlag* (unknown bits rejected)
//                 str account    ≤ kMaxAccount; empty = the caller's own uid
//                 str service    ≤ kMaxClaim   (claim: audit/rate-limit only)
//                 str tty        ≤ kMaxClaim   (claim)
//                 str rhost      ≤ kMaxClaim   (claim)
// kAnswer    (4)  u8 flags       kAnswer* bits
//                 str answer     ≤ kMaxAnswer (PAM_MAX_RESP_SIZE); secret
// kStep      (3)  u8 count       1..kMaxItems
//                 count × item:
//                   u8 style     Style below
//                   u8 flags     kItem* bits (only on prompts)
//                   u16 msg      MsgId (catalog.h)
//                   u8 nparams   0..kMaxParams
//                   nparams × str ≤ kMaxParam
// kResult    (5)  u8 outcome     Outcome below
//                 u8 count       0..kMaxItems items as in kStep, no prompts
//
// Permit table (helper side): kStart is allowed once, first; kAnswer only
// while a kStep is outstanding. Anything else closes that connection.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sspr::wire {

inline constexpr std::uint8_t kProtocolVersion = 1;

// Caps. kMaxFrame bounds every allocation a peer can cause.
inline constexpr std::size_t kMaxFrame = 8192;
inline constexpr std::size_t kMaxAccount = 256;
inline constexpr std::size_t kMaxClaim = 256;
inline constexpr std::size_t kMaxAnswer = 512;   // PAM_MAX_RESP_SIZE
inline constexpr std::size_t kMaxParam = 512;    // rendered line < PAM_MAX_MSG_SIZE
inline constexpr std::size_t kMaxItems = 8;
inline constexpr std::size_t kMaxParams = 4;

enum class MsgType : std::uint8_t {
  kStart = 2,
  kStep = 3,
  kAnswer = 4,
  kResult = 5,
};

enum class Flow : std::uint8_t {
  kReset = 1,   // forgot password: verify, then admin reset in AD
  kUnlock = 2,  // reserved: verify, then unlock only
  kChange = 3,  // reserved: user change (old + new)
  kEnrol = 4,   // register methods (sspr-enroll, or the account phase)
  kAdmin = 5,   // sspr-admin operations on `account`; root callers only
};
inline constexpr std::uint8_t kMaxFlow = 5;

inline constexpr std::uint8_t kStartFlagNone = 0;
// kStartFlagExpired (kChange only): libpam asked for PAM_CHANGE_EXPIRED_AUTHTOK.
inline constexpr std::uint8_t kStartFlagExpired = 0x01;
// kStartFlagAtLogin (kEnrol only): registration offered in the account
// phase of a login (skippable, only when due); without it the user asked
// (sspr-enroll).
inline constexpr std::uint8_t kStartFlagAtLogin = 0x02;
// kAdmin operations (exactly one): show status, issue a one-time enrolment
// code, clear the registration, lift a throttle block.
inline constexpr std::uint8_t kStartFlagAdminStatus = 0x04;
inline constexpr std::uint8_t kStartFlagAdminCode = 0x08;
inline constexpr std::uint8_t kStartFlagAdminClear = 0x10;
inline constexpr std::uint8_t kStartFlagAdminUnblock = 0x20;
inline constexpr std::uint8_t kStartFlagsKnown = 0x3F;

enum class Style : std::uint8_t {
  kInfo = 1,
  kError = 2,
  kPromptEchoOff = 3,
  kPromptEchoOn = 4,
};

// Prompt flags.
// kItemNewAuthtok: the answer is the candidate new password. The module
// keeps the last such answer (wiped memory) and, on kResult with
// kOutcomeAuthtokSet, hands it to the next PAM module as PAM_AUTHTOK.
inline constexpr std::uint8_t kItemNewAuthtok = 0x01;
// kItemOldAuthtok: the answer is the current password (a change flow); the
// module keeps it and hands it on as PAM_OLDAUTHTOK after a confirmed write.
inline constexpr std::uint8_t kItemOldAuthtok = 0x02;
// kItemUseAuthtok: the helper asks for the password this login has just
// proved (account phase). A module that kept it answers without showing the
// prompt; the helper verifies it against the directory either way.
inline constexpr std::uint8_t kItemUseAuthtok = 0x04;
inline constexpr std::uint8_t kItemFlagsKnown = 0x07;

// Answer flags.
inline constexpr std::uint8_t kAnswerNone = 0x01;      // step had no prompt
inline constexpr std::uint8_t kAnswerCancelled = 0x02; // conversation failed
inline constexpr std::uint8_t kAnswerFlagsKnown = 0x03;

enum class Outcome : std::uint8_t {
  kPasswordWritten = 1,  // new password is in AD; module sets PAM_AUTHTOK
  kNotWritten = 2,       // nothing changed
  kUnknown = 3,          // could not learn whether AD took it
  kCancelled = 4,        // user left the flow
  kUnavailable = 5,      // service down/misconfigured
  kDone = 6,             // a flow without a password outcome finished
  kUnlocked = 7,         // account unlocked; the module sets PAM_AUTHTOK from
                         // the kept kItemNewAuthtok answer (the current password)
  kNotApplicable = 8,    // not a directory account: other modules decide
};
inline constexpr std::uint8_t kMaxOutcome = 8;

}  // namespace sspr::wire
